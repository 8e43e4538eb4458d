"""The CCTV camera's own artefacts: soft lens, vignetting, white balance, sensor noise, sharpening, JPEG.

Applied last, to the exposed image, so the same painted wall looks different on a cheap dome camera
at night (noisy, soft, blocky) and on a good camera by day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detector.data.synth.osd import Osd


@dataclass(frozen=True)
class Sensor:
    blur_sigma_px: float
    vignette: float  # darkening at the corners, 0..1
    wb: tuple[float, float, float]  # white-balance gains (BGR)
    read_noise: float  # noise std at gain 1 (fraction of full scale)
    sharpen: float  # unsharp-mask amount (cheap cameras over-sharpen)
    jpeg_quality: int  # 0 disables the JPEG round trip
    mono: bool = False
    chroma: bool = True  # colour noise (off in the stream to save time)


def random_sensor(rng: np.random.Generator, scale: float = 1.0) -> Sensor:
    """A random camera; ``scale`` < 1 when the render is a down-scaled view (less blur in pixels)."""
    wb = tuple(float(g) for g in 1 + rng.normal(0, 0.04, 3))
    return Sensor(float(rng.uniform(0.2, 1.3) * scale), float(rng.uniform(0.0, 0.35)), (wb[0], wb[1], wb[2]),
                  float(rng.uniform(0.003, 0.012)), float(rng.choice([0.0, 0.0, 0.4, 0.8])),
                  int(rng.choice([0, 35, 50, 65, 80])))


def falloff_map(h: int, w: int, centre: tuple[float, float] | None = None, radius_px: float | None = None) -> np.ndarray:
    """Squared distance from the optical centre, 0 at the centre and 1 at the corners of the (possibly
    larger, virtual) frame; the sensor's vignetting darkens in proportion to it."""
    cx, cy = centre if centre is not None else (w / 2, h / 2)
    r = radius_px if radius_px is not None else np.hypot(w / 2, h / 2)
    ys, xs = np.ogrid[:h, :w]
    d2 = ((xs - cx) ** 2 + (ys - cy) ** 2) / (r * r)
    return np.clip(d2, 0, 1).astype(np.float32)


def apply_sensor(img: np.ndarray, gain: float, sensor: Sensor, rng: np.random.Generator,
                 falloff: np.ndarray | None = None, noise: np.ndarray | None = None, osd: Osd | None = None) -> np.ndarray:
    """Exposed float image in [0, 1] → what the camera delivers (uint8 BGR).

    ``noise`` may be a pre-drawn standard-normal field (H×W) so a video can reuse a bank of noise.
    """
    import cv2

    out = img
    h, w = out.shape[:2]
    if sensor.blur_sigma_px > 0.25:
        out = cv2.GaussianBlur(out, (0, 0), sensor.blur_sigma_px)
    if falloff is not None and sensor.vignette > 0:
        out = cv2.multiply(out, cv2.merge([1 - sensor.vignette * falloff] * 3))
    if not sensor.mono:
        out = cv2.multiply(out, np.array([*sensor.wb, 0.0]))  # type: ignore[call-overload]
    sigma = sensor.read_noise * (1 + 0.6 * np.sqrt(max(gain, 0.0)))
    luma = noise if noise is not None else rng.standard_normal((h, w), np.float32)
    out = cv2.scaleAdd(cv2.merge([luma] * 3), sigma, out)
    if not sensor.mono and sensor.chroma:  # colour noise in 2×2 blocks, like a Bayer sensor's demosaicing
        small = rng.standard_normal((h // 2 + 1, w // 2 + 1, 3), np.float32)
        out = cv2.scaleAdd(cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST), sigma * 0.5, out)
    if sensor.sharpen > 0:
        soft = cv2.GaussianBlur(out, (0, 0), 1.2)
        out = cv2.addWeighted(out, 1 + sensor.sharpen, soft, -sensor.sharpen, 0.0)
    u8 = cv2.convertScaleAbs(out, alpha=255.0)  # rounds and saturates to 0..255
    return burn_and_compress(u8, osd, sensor.jpeg_quality)


def burn_and_compress(u8: np.ndarray, osd: Osd | None, jpeg_quality: int) -> np.ndarray:
    """The camera's last steps: burn its on-screen text in, then JPEG-compress (quality 0 = none)."""
    import cv2

    if osd is not None:
        osd.draw(u8)
    if jpeg_quality > 0:
        ok, buf = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
        if decoded is not None:
            u8 = decoded
    return u8
