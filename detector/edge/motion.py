"""Is the scene still? Frame differencing on a small grey copy, and the choice of evidence frame.

Samples taken while someone walks through are still scored (graffiti does not hide behind a
cyclist for long), but the picture an operator sees should show the wall, not the cyclist. So the
runner keeps the latest still frame and, when an event opens during motion, waits a few samples for
a still one, else takes the stillest it saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detector.edge.config import MotionConfig


@dataclass(frozen=True)
class MotionSample:
    moving_fraction: float  # fraction of (downscaled) pixels whose grey level changed by >= pixel_delta
    still: bool


def small_grey(frame_bgr: np.ndarray, width_px: int) -> np.ndarray:
    """Downscaled, lightly blurred grey copy (uint8) used by the motion and health checks."""
    import cv2

    h, w = frame_bgr.shape[:2]
    scale = min(1.0, width_px / float(w))
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    grey = frame_bgr if frame_bgr.ndim == 2 else cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(small, (3, 3), 0)


class MotionDetector:
    """Compares each sample with the previous one; the first sample counts as still."""

    def __init__(self, config: MotionConfig) -> None:
        self.config = config
        self._prev: np.ndarray | None = None

    def update(self, frame_bgr: np.ndarray) -> MotionSample:
        if not self.config.enabled:
            return MotionSample(0.0, True)
        import cv2

        cur = small_grey(frame_bgr, self.config.width_px)
        prev, self._prev = self._prev, cur
        if prev is None or prev.shape != cur.shape:
            return MotionSample(0.0, True)
        diff = cv2.absdiff(cur, prev)
        frac = float(np.count_nonzero(diff >= self.config.pixel_delta)) / diff.size
        return MotionSample(frac, frac <= self.config.still_fraction)


@dataclass
class _Candidate:
    frame: np.ndarray
    t_s: float
    moving_fraction: float


class EvidencePicker:
    """Chooses the frame an opened event is illustrated with.

    ``offer`` is called with every sample; ``pick`` for a new event returns a frame at once when a
    still frame at or after the time the graffiti appeared is known, else None and the event waits:
    ``poll`` returns the frame once a still sample arrives or ``wait_samples`` samples have passed
    (then the stillest one seen).
    """

    def __init__(self, wait_samples: int) -> None:
        self.wait_samples = wait_samples
        self.latest_still: _Candidate | None = None
        self._pending: dict[int, tuple[int, _Candidate]] = {}  # key → (samples waited, stillest so far)

    def offer(self, frame: np.ndarray, t_s: float, motion: MotionSample) -> None:
        if motion.still:
            self.latest_still = _Candidate(frame, t_s, motion.moving_fraction)

    def pick(self, key: int, frame: np.ndarray, t_s: float, motion: MotionSample, since_t_s: float) -> np.ndarray | None:
        """Frame for event ``key`` opened at ``t_s`` (graffiti visible since ``since_t_s``), or None to wait."""
        if motion.still:
            return frame
        if self.latest_still is not None and self.latest_still.t_s >= since_t_s:
            return self.latest_still.frame
        if self.wait_samples <= 0:
            return frame
        self._pending[key] = (0, _Candidate(frame, t_s, motion.moving_fraction))
        return None

    def poll(self, frame: np.ndarray, t_s: float, motion: MotionSample) -> dict[int, np.ndarray]:
        """Pending events that now have their frame (call after ``offer`` for each later sample)."""
        ready: dict[int, np.ndarray] = {}
        for key, (waited, best) in list(self._pending.items()):
            if motion.still:
                ready[key] = frame
            else:
                if motion.moving_fraction < best.moving_fraction:
                    best = _Candidate(frame, t_s, motion.moving_fraction)
                waited += 1
                if waited >= self.wait_samples:
                    ready[key] = best.frame
                else:
                    self._pending[key] = (waited, best)
                    continue
            del self._pending[key]
        return ready

    def flush(self) -> dict[int, np.ndarray]:
        """At shutdown: every pending event gets the stillest frame seen so far."""
        ready = {key: best.frame for key, (_, best) in self._pending.items()}
        self._pending.clear()
        return ready

    @property
    def pending(self) -> list[int]:
        return sorted(self._pending)
