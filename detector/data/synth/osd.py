"""On-screen display: the camera name and time a CCTV camera burns into every frame.

Edge tiles at the frame's corners see it, so still scenes carry it too (in clean and graffiti
scenes alike) and the model learns that this text is not graffiti.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Osd:
    text: str
    origin_px: tuple[int, int]  # baseline-left of the text
    height_px: int

    def _font(self) -> tuple[int, float, int]:
        import cv2

        font = cv2.FONT_HERSHEY_SIMPLEX
        return font, cv2.getFontScaleFromHeight(font, max(6, self.height_px), 1), max(1, self.height_px // 10)

    def xyxy(self, width_px: int, height_px: int) -> tuple[float, float, float, float]:
        """Box of the drawn text (outline included), clipped to the image."""
        import cv2

        font, scale, thick = self._font()
        (w, h), base = cv2.getTextSize(self.text, font, scale, thick + 2)
        x, y = self.origin_px
        return (float(max(0, x)), float(max(0, y - h - 1)), float(min(width_px, x + w + 1)), float(min(height_px, y + base)))

    def draw(self, img_u8: np.ndarray) -> None:
        """White text with a black outline, in place."""
        import cv2

        font, scale, thick = self._font()
        cv2.putText(img_u8, self.text, self.origin_px, font, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
        cv2.putText(img_u8, self.text, self.origin_px, font, scale, (235, 235, 235), thick, cv2.LINE_AA)


def osd_text(camera_name: str, t_s: float, day_offset_s: float = 8 * 3600.0) -> str:
    """``CAM-03  2026-06-01 08:00:05``-style text for second ``t_s`` of a stream."""
    total = int(day_offset_s + t_s)
    day, rest = divmod(total, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return f"{camera_name}  2026-06-{1 + day % 28:02d} {h:02d}:{m:02d}:{s:02d}"


def random_osd(rng: np.random.Generator, size_px: int, text_height_frac: float) -> Osd:
    """An OSD line in a corner of a still view (as seen by the corner tile of a frame)."""
    name = f"CAM-{int(rng.integers(1, 40)):02d}"
    text = osd_text(name, float(rng.uniform(0, 86400 * 20)), 0.0)
    h = max(7, int(size_px * text_height_frac))
    top = bool(rng.random() < 0.7)
    x = int(size_px * rng.uniform(0.01, 0.05))
    y = int(h * 1.4) if top else int(size_px - h * 0.6)
    return Osd(text, (x, y), h)
