"""Is the scene still? Frame differencing on a small grey copy.

Samples taken while someone walks through are still scored (graffiti does not hide behind a cyclist
for long); what motion decides is the picture an operator sees (:class:`detector.edge.evidence.EvidencePicker`)
and when the clean reference view and the tamper reference are taken.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detector.edge.config import MotionConfig


@dataclass(frozen=True)
class MotionSample:
    moving_fraction: float  # fraction of (downscaled) pixels whose grey level changed by >= pixel_delta
    still: bool
    changed: np.ndarray | None = None  # bool mask on the downscaled copy: the pixels that changed

    def moving_fraction_in(self, xyxy: tuple[int, int, int, int], frame_size: tuple[int, int]) -> float:
        """Fraction of changed pixels inside a box of the frame (the whole frame's without a mask)."""
        if self.changed is None:
            return self.moving_fraction
        h, w = self.changed.shape
        fw, fh = frame_size
        x1, x2 = (min(w, max(0, int(round(v * w / fw)))) for v in (xyxy[0], xyxy[2]))
        y1, y2 = (min(h, max(0, int(round(v * h / fh)))) for v in (xyxy[1], xyxy[3]))
        region = self.changed[y1:y2, x1:x2]
        return float(region.mean()) if region.size else self.moving_fraction


def shrink_grey(frame_bgr: np.ndarray, width_px: int) -> np.ndarray:
    """A grey copy (uint8) at most ``width_px`` wide (area resampling; never enlarged)."""
    import cv2

    h, w = frame_bgr.shape[:2]
    scale = min(1.0, width_px / float(w))
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    grey = frame_bgr if frame_bgr.ndim == 2 else cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
    return grey if size == (w, h) else cv2.resize(grey, size, interpolation=cv2.INTER_AREA)


def small_grey(frame_bgr: np.ndarray, width_px: int) -> np.ndarray:
    """Downscaled, lightly blurred grey copy (uint8) used by the motion and health checks.

    The pipeline hands both checks one shared grey copy already shrunk to the wider of their two widths
    (:func:`shrink_grey`), so the full frame is converted and resized once."""
    import cv2

    return cv2.GaussianBlur(shrink_grey(frame_bgr, width_px), (3, 3), 0)


class MotionDetector:
    """Compares each sample with the previous one; the first sample counts as still."""

    def __init__(self, config: MotionConfig) -> None:
        self.config = config
        self._prev: np.ndarray | None = None

    def update(self, frame_bgr: np.ndarray) -> MotionSample:
        """One sample (a BGR frame, or its grey version: the pipeline converts once for motion and health)."""
        if not self.config.enabled:
            return MotionSample(0.0, True)
        import cv2

        cur = small_grey(frame_bgr, self.config.width_px)
        prev, self._prev = self._prev, cur
        if prev is None or prev.shape != cur.shape:
            return MotionSample(0.0, True)
        changed = cv2.absdiff(cur, prev) >= self.config.pixel_delta
        frac = float(np.count_nonzero(changed)) / changed.size
        return MotionSample(frac, frac <= self.config.still_fraction, changed)
