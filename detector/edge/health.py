"""Camera health: too dark, uniform, blurred, or moved away from its reference view → camera_tamper.

A passing headlight or a person right in front of the lens makes one bad sample; only a problem that
persists for ``confirm_s`` is reported, at most once per ``repeat_s`` while it lasts, and it clears
(logged) when the view is healthy again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from detector.edge.config import HealthConfig
from detector.edge.motion import small_grey

WORK_WIDTH_PX = 320  # health is measured on a grey copy this wide


@dataclass(frozen=True)
class HealthSample:
    brightness: float  # mean grey level 0..255
    contrast: float  # grey standard deviation
    sharpness: float  # variance of the Laplacian on a 320 px wide copy
    shift_px: float | None  # view shift against the reference, frame pixels (None: no reference yet)
    reasons: tuple[str, ...]  # "dark", "uniform", "blurred", "moved"; empty when healthy

    @property
    def healthy(self) -> bool:
        return not self.reasons


@dataclass(frozen=True)
class TamperReport:
    reasons: tuple[str, ...]
    since_t_s: float
    detail: dict[str, float | str | None] = field(default_factory=dict)


def view_shift_px(reference: np.ndarray, grey: np.ndarray, scale: float,
                  window: np.ndarray | None = None) -> float:
    """Translation between two small grey views by phase correlation, in frame pixels (the Hanning
    ``window`` may be given: the health monitor keeps it between samples)."""
    import cv2

    # fresh float32 copies: cv2.phaseCorrelate may apply the window to its inputs in place
    a = reference.astype(np.float32)
    b = grey.astype(np.float32)
    if window is None or window.shape != a.shape:
        window = cv2.createHanningWindow((a.shape[1], a.shape[0]), cv2.CV_32F)
    (dx, dy), _response = cv2.phaseCorrelate(a, b, window)
    return float(np.hypot(dx, dy)) / scale


class HealthMonitor:
    """Measures each sample and turns persistent problems into rate-limited tamper reports."""

    def __init__(self, config: HealthConfig) -> None:
        self.config = config
        self.reference: np.ndarray | None = None  # small grey still view, set from the first healthy still
        self._problem_since: float | None = None
        self._reported_at: float | None = None
        self._healthy_since: float | None = None
        self.tampered = False
        self._resumed_report = False
        self._window: np.ndarray | None = None

    def measure(self, frame_bgr: np.ndarray, still: bool, frame_width: int | None = None) -> HealthSample:
        """Brightness, contrast, sharpness and shift of a frame (BGR, or its grey version, possibly already
        shrunk: then ``frame_width`` is the frame's own width, for the shift in frame pixels)."""
        import cv2

        c = self.config
        w = frame_width or frame_bgr.shape[1]
        grey = small_grey(frame_bgr, WORK_WIDTH_PX)
        scale = grey.shape[1] / float(w)
        mean, std = cv2.meanStdDev(grey)
        brightness, contrast = float(mean[0, 0]), float(std[0, 0])
        _, lap_std = cv2.meanStdDev(cv2.Laplacian(grey, cv2.CV_32F))
        sharpness = float(lap_std[0, 0]) ** 2
        reasons = []
        if brightness < c.dark_mean:
            reasons.append("dark")
        if contrast < c.uniform_std:
            reasons.append("uniform")
        # Blur and shift are only meaningful on a still, lit, textured view.
        shift = None
        if not reasons and still:
            if sharpness < c.blur_var:
                reasons.append("blurred")
            elif self.reference is None or self.reference.shape != grey.shape:
                self.reference = grey
            else:
                shift = view_shift_px(self.reference, grey, scale, self._hanning(grey.shape))
                if shift > c.shift_px:
                    reasons.append("moved")
        return HealthSample(brightness, contrast, sharpness, shift, tuple(reasons))

    def _hanning(self, shape: tuple[int, ...]) -> np.ndarray:
        """The phase correlation's Hanning window for views of this shape, made once."""
        import cv2

        if self._window is None or self._window.shape != shape:
            self._window = cv2.createHanningWindow((shape[1], shape[0]), cv2.CV_32F)
        return self._window

    def export_state(self) -> dict[str, object]:
        """What a restart must keep: the reference view (so a camera moved while the runner was down is
        still reported) and whether a tamper is being reported. Times are not kept: a live camera's
        clock restarts with the process."""
        return {"reference": self.reference, "tampered": self.tampered}

    def restore_state(self, state: dict[str, object]) -> None:
        ref = state.get("reference")
        if isinstance(ref, np.ndarray) and ref.ndim == 2:
            self.reference = ref.astype(np.uint8, copy=False)
        self.tampered = bool(state.get("tampered", False))
        self._resumed_report = self.tampered  # already reported before the restart: not again at once

    def update(self, t_s: float, sample: HealthSample) -> TamperReport | None:
        """Feed one measured sample; returns a report when a tamper event is due."""
        if not self.config.enabled:
            return None
        if self._resumed_report:  # the clock restarted: the report before the restart counts from now
            self._resumed_report = False
            self._reported_at = t_s
        if sample.healthy:
            self._problem_since = None
            if self.tampered:
                if self._healthy_since is None:
                    self._healthy_since = t_s
                if t_s - self._healthy_since >= self.config.confirm_s:
                    self.tampered = False
                    self._reported_at = None
            return None
        self._healthy_since = None
        if self._problem_since is None:
            self._problem_since = t_s
        if t_s - self._problem_since < self.config.confirm_s:
            return None
        due = self._reported_at is None or t_s - self._reported_at >= self.config.repeat_s
        if not due:
            return None
        self._reported_at = t_s
        self.tampered = True
        return TamperReport(
            reasons=sample.reasons,
            since_t_s=self._problem_since,
            detail={
                "reason": ",".join(sample.reasons),
                "brightness": round(sample.brightness, 1),
                "contrast": round(sample.contrast, 1),
                "sharpness": round(sample.sharpness, 1),
                "shift_px": None if sample.shift_px is None else round(sample.shift_px, 1),
                "duration_s": round(t_s - self._problem_since, 1),
            },
        )
