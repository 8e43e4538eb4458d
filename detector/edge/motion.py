"""Is the scene still? Frame differencing on a small grey copy, and the choice of evidence frame.

Samples taken while someone walks through are still scored (graffiti does not hide behind a
cyclist for long), but the picture an operator sees should show the wall, not the cyclist. So the
runner keeps the latest still frame and, when an event opens during motion, waits a few samples for
a still one, else takes the stillest it saw. Inside the event's box "still" also means unchanged since
the previous sample, so a writer standing still while painting is not in the picture.
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
        changed = cv2.absdiff(cur, prev) >= self.config.pixel_delta
        frac = float(np.count_nonzero(changed)) / changed.size
        return MotionSample(frac, frac <= self.config.still_fraction, changed)


@dataclass
class _Candidate:
    frame: np.ndarray
    t_s: float
    moving_fraction: float
    motion: MotionSample | None = None


@dataclass
class _Pending:
    waited: int  # samples with motion in the frame
    busy: int  # samples with a still frame but changes inside the event box (someone still painting)
    best: _Candidate
    box: tuple[int, int, int, int] | None
    frame_size: tuple[int, int] | None


class EvidencePicker:
    """Chooses the frame an opened event is illustrated with.

    ``offer`` is called with every sample; ``pick`` for a new event returns a frame at once when a
    still frame at or after the time the graffiti appeared is known, else None and the event waits:
    ``poll`` returns the frame once a still sample arrives or ``wait_samples`` samples have passed
    (then the stillest one seen).

    With the event's ``box``, "still" means nothing changed inside the box since the previous sample
    (motion elsewhere in the frame does not matter): a passer-by in front of the graffiti moves, and
    a writer who stands still while painting keeps changing the wall in front of them, so the picture
    waits (up to ``busy_wait_samples`` while only the box changes) until the wall is left alone.
    """

    def __init__(self, wait_samples: int, still_fraction: float = 0.005, busy_wait_samples: int = 120) -> None:
        self.wait_samples = wait_samples
        self.still_fraction = still_fraction
        self.busy_wait_samples = busy_wait_samples
        self.latest_still: _Candidate | None = None
        self._pending: dict[int, _Pending] = {}

    def _still(self, motion: MotionSample | None, box: tuple[int, int, int, int] | None,
               frame_size: tuple[int, int] | None) -> bool:
        """Still where it matters: inside the event box when there is one (someone walking elsewhere
        in the frame does not stand in front of the graffiti), else in the whole frame."""
        if motion is None:
            return False
        if box is None or frame_size is None or motion.changed is None:
            return motion.still
        return motion.moving_fraction_in(box, frame_size) <= self.still_fraction

    def offer(self, frame: np.ndarray, t_s: float, motion: MotionSample) -> None:
        if motion.still:
            self.latest_still = _Candidate(frame, t_s, motion.moving_fraction, motion)

    def pick(self, key: int, frame: np.ndarray, t_s: float, motion: MotionSample, since_t_s: float,
             box: tuple[int, int, int, int] | None = None) -> np.ndarray | None:
        """Frame for event ``key`` opened at ``t_s`` (graffiti visible since ``since_t_s``), or None to wait."""
        size = (frame.shape[1], frame.shape[0])
        if self._still(motion, box, size):
            return frame
        latest = self.latest_still
        if latest is not None and latest.t_s >= since_t_s and self._still(latest.motion, box, size):
            return latest.frame
        if self.wait_samples <= 0:
            return frame
        self._pending[key] = _Pending(0, 0, _Candidate(frame, t_s, self._fraction(motion, box, size), motion), box, size)
        return None

    @staticmethod
    def _fraction(motion: MotionSample, box: tuple[int, int, int, int] | None, size: tuple[int, int]) -> float:
        return motion.moving_fraction if box is None else motion.moving_fraction_in(box, size)

    def poll(self, frame: np.ndarray, t_s: float, motion: MotionSample) -> dict[int, np.ndarray]:
        """Pending events that now have their frame (call after ``offer`` for each later sample)."""
        ready: dict[int, np.ndarray] = {}
        for key, p in list(self._pending.items()):
            if self._still(motion, p.box, p.frame_size):
                ready[key] = frame
            else:
                size = p.frame_size or (frame.shape[1], frame.shape[0])
                fraction = self._fraction(motion, p.box, size)
                if fraction < p.best.moving_fraction:
                    p.best = _Candidate(frame, t_s, fraction, motion)
                if motion.still:
                    p.busy += 1
                else:
                    p.waited += 1
                if p.waited >= self.wait_samples or p.busy >= self.busy_wait_samples:
                    ready[key] = p.best.frame
                else:
                    continue
            del self._pending[key]
        return ready

    def flush(self) -> dict[int, np.ndarray]:
        """At shutdown: every pending event gets the stillest frame seen so far."""
        ready = {key: p.best.frame for key, p in self._pending.items()}
        self._pending.clear()
        return ready

    @property
    def pending(self) -> list[int]:
        return sorted(self._pending)
