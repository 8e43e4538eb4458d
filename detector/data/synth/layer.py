"""A paint layer (premultiplied colour + coverage) that painters draw into and scenes composite.

Graffiti, posters and stains are painted on their own flat layer ("decal") and then warped onto the
wall in perspective, so the same painter serves a frontal close-up, a foreshortened tunnel wall
and the simulated stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Layer:
    rgb: np.ndarray  # float32 H×W×3, premultiplied BGR
    alpha: np.ndarray  # float32 H×W coverage in [0, 1]

    @classmethod
    def blank(cls, width_px: int, height_px: int) -> Layer:
        return cls(np.zeros((height_px, width_px, 3), np.float32), np.zeros((height_px, width_px), np.float32))

    @property
    def width_px(self) -> int:
        return int(self.alpha.shape[1])

    @property
    def height_px(self) -> int:
        return int(self.alpha.shape[0])

    def over(self, colour: np.ndarray | tuple[float, float, float], mask: np.ndarray,
             box: tuple[int, int, int, int] | None = None) -> None:
        """Paint ``colour`` (BGR, or an H×W×3 image) with coverage ``mask`` over what is there.

        With ``box`` (x1, y1, x2, y2) the mask covers only that part of the layer.
        """
        x1, y1, x2, y2 = box if box is not None else (0, 0, self.width_px, self.height_px)
        m = np.asarray(mask, np.float32)
        # Work only on the rows/columns the mask touches: most strokes cover a small part of a layer.
        rows = np.flatnonzero(m.max(axis=1) > 1e-3)
        if rows.size == 0:
            return
        cols = np.flatnonzero(m[rows[0]:rows[-1] + 1].max(axis=0) > 1e-3)
        r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        m = np.minimum(m[r0:r1, c0:c1], 1.0)
        rgb = self.rgb[y1 + r0:y1 + r1, x1 + c0:x1 + c1]
        alpha = self.alpha[y1 + r0:y1 + r1, x1 + c0:x1 + c1]
        c = np.asarray(colour, np.float32)
        if c.ndim == 3:
            c = c[r0:r1, c0:c1]
        m3 = m[..., None]
        rgb += c * m3 - rgb * m3
        alpha += m - alpha * m


def composite(base: np.ndarray, layer_rgb: np.ndarray, layer_alpha: np.ndarray) -> None:
    """In place: ``base`` (float32 H×W×3) ← premultiplied layer over base."""
    base *= (1 - layer_alpha)[..., None]
    base += layer_rgb


def paint_into(canvas: Layer, painters: dict, kind: str, rng: np.random.Generator,
               box: tuple[int, int, int, int], progress: float, what: str) -> None:
    """Clip ``box`` to the canvas and call ``painters[kind]`` on it; tiny boxes (< 8 px) paint nothing."""
    if kind not in painters:
        raise ValueError(f"unknown {what} kind {kind!r}; expected one of {', '.join(painters)}")
    x1, y1, x2, y2 = (int(v) for v in box)
    x1, y1 = max(0, x1), max(0, y1)
    x2, y2 = min(canvas.width_px, x2), min(canvas.height_px, y2)
    if x2 - x1 < 8 or y2 - y1 < 8:
        return
    painters[kind](canvas, rng, (x1, y1, x2, y2), float(progress))
