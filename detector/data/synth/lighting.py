"""Lighting: strip lights along the roof, daylight through the mouths, an IR illuminator, exposure.

Irradiance is a weighted sum of fields computed once per camera (strip lights, daylight, IR), so a
simulated stream changes the lighting of every frame with three multiply-adds instead of re-lighting
the tunnel. Tone mapping imitates a CCTV camera's auto-exposure and gamma.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detector.data.synth.geometry import CEILING, OUTSIDE, SurfaceMaps, Tunnel

LAMP_COLOURS = {  # BGR tint of the lamps
    "led": (1.0, 1.0, 1.0),
    "fluorescent": (0.95, 1.0, 0.88),
    "sodium": (0.35, 0.68, 1.0),
    "warm": (0.72, 0.88, 1.0),
}
MODES = ("day", "strip", "night", "ir")


@dataclass(frozen=True)
class LightRig:
    """Where the lamps are: one row along the roof, every ``spacing_m``, at lateral ``x_m``."""

    spacing_m: float
    offset_m: float
    x_m: float
    length_m: float  # length of one fitting
    broken: tuple[int, ...] = ()  # indices of fittings that are off


@dataclass
class LightFields:
    strip: np.ndarray  # H×W irradiance from all strip lights at unit intensity
    day: np.ndarray  # H×W irradiance from daylight at the mouths at unit strength
    ir: np.ndarray  # H×W irradiance from an IR lamp beside the camera
    fixture: np.ndarray  # H×W coverage of lit lamp fittings (emissive)
    outside: np.ndarray  # H×W bool: pixels beyond the mouths


@dataclass(frozen=True)
class Lighting:
    """Levels of each light source at one moment; ``ir`` switches the camera to greyscale night mode."""

    ambient: float
    strip: float
    day: float
    ir: float = 0.0
    lamp: str = "led"
    exposure_target: float = 0.42  # mid-grey the auto-exposure aims for
    flicker: float = 1.0


def random_rig(rng: np.random.Generator, tunnel: Tunnel) -> LightRig:
    spacing = float(rng.uniform(3.0, 7.0))
    width = tunnel.left_m + tunnel.right_m
    x = -tunnel.left_m + width * float(rng.choice([0.5, 0.2, 0.8]))
    broken = tuple(int(i) for i in rng.choice(40, size=rng.integers(0, 3), replace=False))
    return LightRig(spacing, float(rng.uniform(0, spacing)), x, float(rng.uniform(0.6, 1.5)), broken)


def random_lighting(rng: np.random.Generator) -> Lighting:
    """Light levels and where the auto-exposure settles: output mid-grey = sqrt(target), so a night
    target of 0.03 gives a dark, noisy frame and a day target of 0.5 a bright one."""
    mode = str(rng.choice(MODES, p=[0.35, 0.35, 0.15, 0.15]))
    lamp = str(rng.choice(list(LAMP_COLOURS)))
    if mode == "day":
        return Lighting(rng.uniform(0.05, 0.15), rng.uniform(0.3, 1.0), rng.uniform(1.0, 4.0), lamp=lamp,
                        exposure_target=rng.uniform(0.18, 0.55))
    if mode == "strip":
        return Lighting(rng.uniform(0.03, 0.1), rng.uniform(0.7, 1.3), rng.uniform(0.0, 0.3), lamp=lamp,
                        exposure_target=rng.uniform(0.1, 0.45))
    if mode == "night":
        return Lighting(rng.uniform(0.005, 0.03), rng.uniform(0.3, 0.8), 0.0, lamp=lamp,
                        exposure_target=rng.uniform(0.03, 0.2))
    return Lighting(0.01, rng.uniform(0.0, 0.2), 0.0, ir=rng.uniform(0.8, 1.2), lamp=lamp,
                    exposure_target=rng.uniform(0.07, 0.35))


def light_fields(maps: SurfaceMaps, tunnel: Tunnel, rig: LightRig) -> LightFields:
    """Per-pixel irradiance fields for unit strength of each source.

    Irradiance varies smoothly, so it is computed on every 4th pixel and interpolated; only the
    lamp fittings (sharp bright bars) are evaluated at full resolution.
    """
    import cv2

    h, w = maps.surface.shape
    step = 4 if min(h, w) >= 64 else 1
    small = maps.xyz[step // 2::step, step // 2::step]
    x, y, z = small[..., 0], small[..., 1], small[..., 2]
    lamp_y = -tunnel.ceiling_m + 0.05
    k0 = np.floor((z - rig.offset_m) / rig.spacing_m)
    strip = np.zeros_like(z)
    for dk in (-2, -1, 0, 1, 2):
        k = k0 + dk
        zk = rig.offset_m + k * rig.spacing_m
        on = np.ones_like(z) if not rig.broken else (~np.isin(np.mod(k, 40), rig.broken)).astype(np.float32)
        d2 = (x - rig.x_m) ** 2 + (y - lamp_y) ** 2 + (z - zk) ** 2
        strip += on * 5.0 / (d2 + 2.0)
    decay = 6.0
    day = np.exp(-np.clip(tunnel.length_m - z, 0, None) / decay) + np.exp(-np.clip(z + tunnel.back_m, 0, None) / decay)
    day = day + 0.02
    dist2 = x * x + y * y + z * z
    spot = np.clip(z / np.sqrt(dist2 + 1e-6), 0, 1) ** 6
    ir = 6.0 * spot / (dist2 + 6.0)  # soft near field: the IR lamp sits beside the lens, not on the roof

    def up(a: np.ndarray) -> np.ndarray:
        a = a.astype(np.float32)
        return a if step == 1 else cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)

    strip, day, ir = up(strip), up(day), up(ir)
    x, z = maps.xyz[..., 0], maps.xyz[..., 2]
    # The lamp fittings themselves: bright bars on the roof.
    zk = rig.offset_m + np.round((z - rig.offset_m) / rig.spacing_m) * rig.spacing_m
    kk = np.mod(np.round((z - rig.offset_m) / rig.spacing_m), 40)
    on = ~np.isin(kk, rig.broken) if rig.broken else np.ones(z.shape, bool)
    fp = maps.footprint
    bar = (np.clip((rig.length_m / 2 + fp - np.abs(z - zk)) / (2 * fp), 0, 1)
           * np.clip((0.07 + fp - np.abs(x - rig.x_m)) / (2 * fp), 0, 1))
    fixture = np.where((maps.surface == CEILING) & on, bar, 0).astype(np.float32)
    outside = maps.surface == OUTSIDE
    return LightFields(strip, day, ir, fixture, outside)


def expose(albedo: np.ndarray, fields: LightFields, light: Lighting, outside_bgr: np.ndarray,
           shadow: np.ndarray | None = None, extra: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Light the albedo, auto-expose and gamma-encode. Returns (float32 BGR in [0, 1], sensor gain).

    ``shadow`` multiplies the irradiance (H×W), ``extra`` adds white light to it (a headlamp).
    """
    lamp = np.asarray(LAMP_COLOURS[light.lamp], np.float32)
    if light.ir > 0:
        grey = albedo @ np.array([0.2, 0.5, 0.3], np.float32)
        irr = light.ambient + light.strip * light.flicker * fields.strip + light.ir * fields.ir
        if extra is not None:
            irr = irr + extra
        if shadow is not None:
            irr = irr * shadow
        lin = (grey * irr)[..., None] * np.ones(3, np.float32)
        lin[fields.outside] = 0.02 + light.day * 0.5
    else:
        irr = (light.ambient + light.day * fields.day)[..., None] * np.array([1.0, 1.0, 0.97], np.float32)
        irr = irr + (light.strip * light.flicker * fields.strip)[..., None] * lamp
        if extra is not None:
            irr = irr + extra[..., None]
        if shadow is not None:
            irr = irr * shadow[..., None]
        lin = albedo * irr
        lin[fields.outside] = outside_bgr * (0.03 + 6.0 * light.day)
        lin += (fields.fixture * 8.0 * light.strip * light.flicker)[..., None] * lamp
    # Auto-exposure: bring a mid-high percentile of the wall to the target, within the gain range.
    sample = lin[::4, ::4].mean(axis=2)
    level = float(np.percentile(sample, 60)) + 1e-4
    gain = float(np.clip(light.exposure_target / level, 0.3, 60.0))
    out = np.sqrt(np.clip(lin * gain, 0, 1))  # gamma 2: close to sRGB and much cheaper than a power
    return out.astype(np.float32), gain
