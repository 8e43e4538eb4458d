"""Wall, floor and ceiling materials, evaluated per pixel from the surface maps (a small shader).

Materials seen in pedestrian tunnels: board-marked concrete panels with seams and form-tie holes,
glazed tiles with a grout grid (often with a coloured band), painted concrete block, brick, and a
plain painted render. Floors are asphalt or concrete with grime; ceilings are bare concrete.
Colours are linear BGR floats in [0, 1] (albedo); lighting multiplies them later.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from detector.data.synth.geometry import CEILING, FLOOR, LEFT, OUTSIDE, RIGHT, SurfaceMaps
from detector.data.synth.noise import bank_noise, cell_hash, sample_wrapped, smooth_line

WALL_KINDS = ("concrete", "tiles", "block", "brick", "render")

_TILE_COLOURS = [(0.85, 0.86, 0.86), (0.70, 0.80, 0.85), (0.55, 0.72, 0.62), (0.45, 0.68, 0.80),
                 (0.80, 0.62, 0.45), (0.62, 0.60, 0.58), (0.30, 0.52, 0.70), (0.75, 0.78, 0.55)]
_PAINT_COLOURS = [(0.80, 0.82, 0.82), (0.62, 0.72, 0.75), (0.55, 0.66, 0.58), (0.70, 0.76, 0.80),
                  (0.50, 0.55, 0.60), (0.40, 0.50, 0.45), (0.72, 0.70, 0.62), (0.35, 0.35, 0.38)]


@dataclass
class Material:
    """Parameters of one surface's look; drawn once per scene (or once per simulated camera)."""

    kind: str
    base: np.ndarray  # BGR albedo
    alt: np.ndarray  # second colour: tile band, lower dado paint, other brick colour
    cell_w_m: float  # panel / tile / block / brick width
    cell_h_m: float
    joint_m: float  # seam / grout / mortar width
    joint: np.ndarray  # joint colour
    band_m: tuple[float, float]  # height range of the coloured band / dado (empty when lo == hi)
    mottle: float  # strength of low-frequency colour variation
    grain: float  # strength of fine grain
    cell_var: float  # brightness variation between cells
    grime: float  # dirt darkening towards the floor
    tex: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((2, 2), np.float32))
    streaks: float = 0.0  # strength of dark runs down the wall


def _jitter(rng: np.random.Generator, colour: tuple[float, float, float] | np.ndarray, amount: float) -> np.ndarray:
    return np.clip(np.asarray(colour, np.float32) * (1 + rng.normal(0, amount, 3)).astype(np.float32), 0.03, 0.95)


def random_material(rng: np.random.Generator, kind: str | None = None) -> Material:
    """A random wall material of ``kind`` (one of WALL_KINDS, or random), more or less weathered."""
    import dataclasses

    m = _material(rng, kind)
    return dataclasses.replace(m, streaks=float(rng.choice([0.0, 0.08, 0.15, 0.25])))


def _material(rng: np.random.Generator, kind: str | None) -> Material:
    kind = kind or str(rng.choice(WALL_KINDS, p=[0.32, 0.26, 0.18, 0.12, 0.12]))
    tex = bank_noise(rng)
    grey = rng.uniform(0.38, 0.68)
    tint = np.array([1 + rng.normal(0, 0.04), 1, 1 + rng.normal(0.02, 0.04)], np.float32)
    if kind == "concrete":
        base = np.clip(grey * tint, 0, 1)
        return Material(kind, base, base * 0.9, rng.uniform(1.2, 2.6), rng.uniform(0.6, 1.6), rng.uniform(0.006, 0.014),
                        base * 0.55, (0.0, 0.0), rng.uniform(0.06, 0.16), rng.uniform(0.03, 0.07),
                        rng.uniform(0.02, 0.08), rng.uniform(0.1, 0.45), tex)
    if kind == "tiles":
        i, j = rng.choice(len(_TILE_COLOURS), 2, replace=False)
        side = rng.choice([0.1, 0.15, 0.2, 0.25])
        h = side * rng.choice([1.0, 1.0, 0.5])
        lo = rng.uniform(0.6, 1.6)
        band = (lo, lo + rng.uniform(0.15, 0.5)) if rng.random() < 0.55 else (0.0, 0.0)
        return Material(kind, _jitter(rng, _TILE_COLOURS[i], 0.05), _jitter(rng, _TILE_COLOURS[j], 0.05), side, h,
                        rng.uniform(0.003, 0.007), np.full(3, rng.uniform(0.2, 0.55), np.float32), band,
                        rng.uniform(0.02, 0.06), 0.015, rng.uniform(0.02, 0.07), rng.uniform(0.05, 0.35), tex)
    if kind == "block":
        i, j = rng.choice(len(_PAINT_COLOURS), 2, replace=False)
        base = _jitter(rng, _PAINT_COLOURS[i], 0.05)
        dado = (0.0, rng.uniform(0.8, 1.3)) if rng.random() < 0.5 else (0.0, 0.0)
        return Material(kind, base, _jitter(rng, _PAINT_COLOURS[j], 0.05), 0.44, 0.215, 0.011, base * 0.8, dado,
                        rng.uniform(0.03, 0.08), rng.uniform(0.05, 0.1), 0.02, rng.uniform(0.1, 0.4), tex)
    if kind == "brick":
        base = _jitter(rng, (0.22, 0.30, 0.55) if rng.random() < 0.7 else (0.40, 0.55, 0.65), 0.1)
        return Material(kind, base, _jitter(rng, base * rng.uniform(0.6, 0.85), 0.1), 0.225, 0.075, 0.01,
                        _jitter(rng, (0.55, 0.58, 0.6), 0.08), (0.0, 0.0), rng.uniform(0.05, 0.12), 0.07,
                        rng.uniform(0.08, 0.18), rng.uniform(0.1, 0.4), tex)
    i, j = rng.choice(len(_PAINT_COLOURS), 2, replace=False)
    base = _jitter(rng, _PAINT_COLOURS[i], 0.05)
    dado = (0.0, rng.uniform(0.9, 1.4)) if rng.random() < 0.6 else (0.0, 0.0)
    return Material("render", base, _jitter(rng, _PAINT_COLOURS[j], 0.05), 3.0, 3.0, 0.0, base, dado,
                    rng.uniform(0.05, 0.12), 0.04, 0.0, rng.uniform(0.15, 0.5), tex)


def _shade_wall(m: Material, u: np.ndarray, v: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Albedo of wall pixels (1-D arrays of texture coordinates) for material ``m``."""
    row = np.floor(v / m.cell_h_m)
    shift = (row % 2) * 0.5 * m.cell_w_m if m.kind in ("block", "brick") else 0.0
    uu = u + shift
    col = np.floor(uu / m.cell_w_m)
    colour = np.broadcast_to(m.base, (u.size, 3)).copy()
    lo, hi = m.band_m
    if hi > lo:
        in_band = (v >= lo) & (v < hi)
        colour[in_band] = m.alt
    if m.kind == "brick":
        pick = cell_hash(col, row, 3.0) < 0.35
        colour[pick] = m.alt
    var = 1 + m.cell_var * (cell_hash(col, row) - 0.5) * 2
    n_lo = sample_wrapped(m.tex, u.reshape(-1, 1), v.reshape(-1, 1), 40.0).ravel()
    n_hi = sample_wrapped(m.tex, u.reshape(-1, 1) + 3.1, v.reshape(-1, 1) + 1.7, 700.0).ravel()
    shade = var * (1 + m.mottle * n_lo + m.grain * n_hi * np.clip(0.004 / fp, 0, 1))
    # Grime: dirt splashed up from the floor, and streaks run down from the top (the texture
    # sampled stretched vertically: long thin runs).
    shade *= 1 - m.grime * np.clip(1 - v / 0.45, 0, 1) ** 2 * (0.7 + 0.3 * n_lo)
    runs = sample_wrapped(m.tex, u.reshape(-1, 1) * 6.0, v.reshape(-1, 1) * 0.15, 40.0).ravel()
    shade *= 1 - m.streaks * np.clip(runs * 2.5 - 0.4, 0, 1) * np.clip(n_lo * 2.0 + 0.2, 0, 1)  # in patches
    colour *= shade[:, None]
    if m.joint_m > 0:
        du = np.abs(uu / m.cell_w_m - np.round(uu / m.cell_w_m)) * m.cell_w_m
        dv = np.abs(v / m.cell_h_m - np.round(v / m.cell_h_m)) * m.cell_h_m
        cover = np.maximum(smooth_line(du, m.joint_m / 2, fp), smooth_line(dv, m.joint_m / 2, fp))
        colour += (m.joint[None, :] * (0.9 + 0.2 * n_lo[:, None]) - colour) * cover[:, None]
    if m.kind == "concrete":
        # Form-tie holes: a regular grid of small dark plugs inside each panel.
        pu, pv = m.cell_w_m / 3, m.cell_h_m / 2
        hu = (u - pu / 2) / pu
        hv = (v - pv / 2) / pv
        d = np.hypot((hu - np.round(hu)) * pu, (hv - np.round(hv)) * pv)
        hole = smooth_line(d, 0.014, fp)
        colour *= (1 - 0.55 * hole)[:, None]
    return colour


def _shade_floor(tex: np.ndarray, u: np.ndarray, v: np.ndarray, fp: np.ndarray, base: float,
                 line_x: float | None) -> np.ndarray:
    n = sample_wrapped(tex, u.reshape(-1, 1), v.reshape(-1, 1), 25.0).ravel()
    g = sample_wrapped(tex, u.reshape(-1, 1), v.reshape(-1, 1), 900.0).ravel()
    val = base * (1 + 0.18 * n + 0.12 * g * np.clip(0.004 / fp, 0, 1))
    colour = np.stack([val * 1.02, val, val * 0.97], axis=1)
    if line_x is not None:
        dash = (np.mod(u, 3.0) < 1.8).astype(np.float32)
        cover = smooth_line(np.abs(v - line_x), 0.05, fp) * dash
        colour += (0.75 - colour) * cover[:, None]
    return colour


@dataclass
class Surfaces:
    """The look of one tunnel: material of each wall, floor and ceiling, and the daylight outside."""

    left: Material
    right: Material
    ceiling: Material
    floor_tex: np.ndarray
    floor_base: float
    floor_line_x: float | None
    outside: np.ndarray  # BGR colour of the daylight beyond the mouth (before exposure)


def random_surfaces(rng: np.random.Generator) -> Surfaces:
    left = random_material(rng)
    right = left if rng.random() < 0.75 else random_material(rng)
    ceiling = left if (left.kind == "tiles" and rng.random() < 0.5) else random_material(rng, "concrete")
    return Surfaces(left, right, ceiling, bank_noise(rng), float(rng.uniform(0.15, 0.4)),
                    float(rng.uniform(-0.5, 0.5)) if rng.random() < 0.3 else None,
                    _jitter(rng, (0.85, 0.9, 0.88), 0.08))


def shade(maps: SurfaceMaps, surfaces: Surfaces) -> np.ndarray:
    """Albedo image (float32 H×W×3, BGR) of the bare tunnel."""
    out = np.empty(maps.surface.shape + (3,), np.float32)
    for sid, mat in ((LEFT, surfaces.left), (RIGHT, surfaces.right), (CEILING, surfaces.ceiling)):
        idx = maps.surface == sid
        if idx.any():
            out[idx] = _shade_wall(mat, maps.u[idx], maps.v[idx], maps.footprint[idx])
    idx = maps.surface == FLOOR
    if idx.any():
        out[idx] = _shade_floor(surfaces.floor_tex, maps.u[idx], maps.v[idx], maps.footprint[idx],
                                surfaces.floor_base, surfaces.floor_line_x)
    idx = maps.surface == OUTSIDE
    if idx.any():
        out[idx] = surfaces.outside
    return out
