"""The stream's per-frame lighting and camera, with OpenCV calls instead of numpy expressions.

A 1280×720 frame is 2.8 million floats per operation; numpy makes a temporary for each step,
OpenCV's fused, vectorised calls do not. Same model as ``synth.lighting.expose`` and
``synth.camera.apply_sensor``, with the light's colour applied per frame instead of per pixel
(daylight and lamp tint are mixed by their share of the light at mid-grey).
"""

from __future__ import annotations

import numpy as np

from detector.data.synth.camera import Sensor, burn_and_compress
from detector.data.synth.lighting import LAMP_COLOURS, LightFields, Lighting
from detector.data.synth.osd import Osd

IR_WEIGHTS = np.array([[0.2, 0.5, 0.3]], np.float32)  # how the IR camera sees colours (BGR)


class FastFrame:
    """Light, expose and finish frames of one fixed camera."""

    def __init__(self, fields: LightFields, outside_bgr: np.ndarray, falloff: np.ndarray, sensor: Sensor) -> None:
        import cv2

        self.fields = fields
        self.sensor = sensor
        out = fields.outside.astype(np.float32)
        self.emit_out = cv2.merge([out * float(c) for c in outside_bgr])
        self.emit_fix = cv2.merge([fields.fixture] * 3)
        # Vignetting is folded into the irradiance (squared, because gamma 2 follows).
        vig = (1 - sensor.vignette * falloff) ** 2
        self.irr_mask = ((~fields.outside) * vig).astype(np.float32)
        self.emit_out = cv2.multiply(self.emit_out, cv2.merge([vig.astype(np.float32)] * 3))

    def expose(self, albedo: np.ndarray, light: Lighting, shadow: np.ndarray | None = None,
               extra: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        """Lit, auto-exposed, gamma-encoded float32 BGR frame in [0, 1] and the sensor gain."""
        import cv2

        f = self.fields
        if light.ir > 0:
            irr = cv2.addWeighted(f.strip, light.strip * light.flicker, f.ir, light.ir, light.ambient)
        else:
            irr = cv2.addWeighted(f.strip, light.strip * light.flicker, f.day, light.day, light.ambient)
        if extra is not None:
            irr = cv2.add(irr, extra)
        if shadow is not None:
            irr = cv2.multiply(irr, shadow)
        irr = cv2.multiply(irr, self.irr_mask)
        if light.ir > 0:
            grey = cv2.transform(albedo, IR_WEIGHTS)
            lin = cv2.cvtColor(cv2.multiply(grey, irr), cv2.COLOR_GRAY2BGR)
            lin = cv2.scaleAdd(cv2.cvtColor(f.outside.astype(np.float32), cv2.COLOR_GRAY2BGR), 0.02 + light.day * 0.5, lin)
            tint = np.ones(3, np.float32)
        else:
            lamp = np.asarray(LAMP_COLOURS[light.lamp], np.float32)
            day_share = light.day * float(np.median(f.day[::16, ::16]))
            strip_share = light.strip * light.flicker * float(np.median(f.strip[::16, ::16]))
            share = day_share / max(day_share + strip_share + light.ambient, 1e-6)
            tint = share * np.array([1.0, 1.0, 0.97], np.float32) + (1 - share) * lamp
            lin = cv2.multiply(albedo, cv2.cvtColor(irr, cv2.COLOR_GRAY2BGR))
            lin = cv2.scaleAdd(self.emit_out, 0.03 + 6.0 * light.day, lin)
            lin = cv2.scaleAdd(self.emit_fix, 8.0 * light.strip * light.flicker, lin)
        level = float(np.percentile(lin[::8, ::8].mean(axis=2), 60)) + 1e-4
        gain = float(np.clip(light.exposure_target / level, 0.3, 60.0))
        scale = np.array([float(gain * t) for t in tint] + [0.0], np.float64)
        # Values above 1 stay until the 8-bit conversion saturates them (a little bloom through the blur).
        return cv2.sqrt(cv2.multiply(lin, scale)), gain  # type: ignore[call-overload]

    def finish(self, img: np.ndarray, gain: float, noise: np.ndarray, osd: Osd | None = None) -> np.ndarray:
        """Lens blur, sensor noise (a pre-drawn H×W×3 field, same in each channel: luma noise), 8-bit, JPEG."""
        import cv2

        s = self.sensor
        if s.blur_sigma_px > 0.25:
            img = cv2.GaussianBlur(img, (0, 0), s.blur_sigma_px)
        sigma = s.read_noise * (1 + 0.6 * np.sqrt(max(gain, 0.0)))
        img = cv2.scaleAdd(noise, sigma, img)
        return burn_and_compress(cv2.convertScaleAbs(img, alpha=255.0), osd, s.jpeg_quality)
