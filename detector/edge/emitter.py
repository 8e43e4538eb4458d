"""One camera's events: what the pipeline decided (and the camera's loop saw) becomes events with
their evidence pictures, handed to the runner's store.

It owns what reporting needs to remember: the detections waiting for a still picture
(:class:`~detector.edge.evidence.EvidencePicker`), the ids of the events it reported (a cleaning
refers to its detection), and the clean reference view shown beside each detection. Evidence never
shows the ignored (privacy) areas. A failure to store an event is logged and never stops the camera.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

import numpy as np

from detector.edge.config import CameraConfig
from detector.edge.decision import Closed, DecisionEngine, Grown, Opened
from detector.edge.evidence import Detection, EvidencePicker, camera_event, evidence_files, graffiti_event
from detector.edge.pipeline import Sample
from detector.edge.sources import Frame, redact_url
from detector.events import Event
from detector.tiling import TilePlan, union_box

log = logging.getLogger("detector.edge.camera")

EmitFn = Callable[[Event, dict[str, bytes]], None]


class EventEmitter:
    """Builds a camera's events and hands each to ``emit`` (the runner's durable store)."""

    def __init__(self, name: str, cfg: CameraConfig, device: str, emit: EmitFn, live: bool) -> None:
        self.name = name
        self.cfg = cfg
        self.device = device
        self.emit_fn = emit
        self.live = live  # a live camera's events are identified by the wall clock, a recording's by its own
        self.picker = EvidencePicker(cfg.evidence.still_wait_samples, cfg.motion.still_fraction)
        self.event_ids: dict[int, str] = {}  # open detection key → the id of its graffiti_detected event
        self.reference_view: np.ndarray | None = None  # the latest still, clean, healthy view
        self.events_emitted = 0
        self.on_stored: Callable[[], None] | None = None  # after each stored event (the camera saves its state)
        self._plan: TilePlan | None = None  # of the latest sample: what tile indices mean
        self._engine: DecisionEngine | None = None
        self._privacy: np.ndarray | None = None

    # ------------------------------------------------------------------ one sample
    def tamper(self, sample: Sample) -> None:
        """The view became unusable (dark, uniform, blurred, moved): one event, with the clean reference."""
        self._use(sample)
        report, frame = sample.tamper, sample.frame
        if report is None:
            return
        h, w = frame.image.shape[:2]
        ev = camera_event("camera_tamper", self.device, self.name, frame.wall_time, report.detail, (w, h),
                          source=self.cfg.source, source_time_s=self._source_time(frame))
        files = evidence_files(ev, self._private(frame.image), None, self._private(self.reference_view),
                               self.cfg.evidence.jpeg_quality, self.cfg.evidence.crop_margin)
        self._emit(ev, files)

    def forget(self, keys: Iterable[int]) -> None:
        """Open events an operator rejected: never reported, and no cleaning will refer to them."""
        keys = list(keys)
        self.picker.drop(keys)
        for key in keys:
            self.event_ids.pop(key, None)

    def decided(self, sample: Sample) -> None:
        """Everything the sample's decision step produced, in order: the commissioning report, the waiting
        detections that now have their picture, new detections, cleanings; then the clean reference view."""
        self._use(sample)
        frame, motion, img = sample.frame, sample.motion, sample.frame.image
        if sample.commission is not None:
            self._commissioning(sample)
        for detection, chosen in self.picker.poll(img, frame.t_s, motion):
            self._opened(detection, chosen)
        self.picker.offer(img, frame.t_s, motion)
        for d in sample.decisions:
            if isinstance(d, Opened):
                log.info("camera %s: graffiti confirmed on %d tile(s), score %.3f", self.name, len(d.tile_scores), d.score)
                detection = Detection(d, frame.wall_time, sample.model.ref)
                box = union_box([sample.plan.tiles[i] for i in d.tile_scores])
                picked = self.picker.pick(detection, img, frame.t_s, motion, box)
                if picked is not None:
                    self._opened(detection, picked)
            elif isinstance(d, Grown):
                log.info("camera %s: open event grew by %d tile(s)", self.name, len(d.added))
            elif isinstance(d, Closed):
                self._closed(d, sample)
        if sample.clean_view:
            self.reference_view = img
        for detection, chosen in self.picker.release_adopted(img):  # decided before the restart, stored by none
            self._opened(detection, chosen)

    def flush(self) -> None:
        """At shutdown: detections still waiting are reported with the stillest frame seen."""
        for detection, chosen in self.picker.flush():
            self._opened(detection, chosen)

    # ------------------------------------------------------------------ the camera's own state
    def offline_live(self, silent_s: float) -> None:
        """A live camera sent no frames for ``silent_s`` (an id drawn at random: a live clock never repeats)."""
        self._emit(camera_event("camera_offline", self.device, self.name, time.time(),
                                {"no_frames_s": round(silent_s, 1), "source": redact_url(self.cfg.source)}), {})

    def offline_gap(self, wall_time: float, last_t_s: float) -> None:
        """A gap in a recording or folder after ``last_t_s``: the offline event a live run would have sent."""
        self._emit(camera_event("camera_offline", self.device, self.name, wall_time,
                                {"no_frames_s": round(self.cfg.offline_after_s, 1)},
                                source=self.cfg.source, source_time_s=last_t_s), {})

    def online(self, frame: Frame, offline_s: float) -> None:
        self._emit(camera_event("camera_online", self.device, self.name, frame.wall_time,
                                {"offline_s": round(offline_s, 1)}, source=self.cfg.source,
                                source_time_s=self._source_time(frame)), {})

    # ------------------------------------------------------------------ inside
    def _use(self, sample: Sample) -> None:
        self._plan, self._engine, self._privacy = sample.plan, sample.engine, sample.privacy

    def _commissioning(self, sample: Sample) -> None:
        """Marks that already look like graffiti at commissioning: one report for the operator."""
        report, frame, engine = sample.commission, sample.frame, sample.engine
        assert report is not None
        picture = self.picker.still_picture(frame.image, sample.motion)
        h, w = picture.shape[:2]
        ev = graffiti_event(
            "commissioning_report", self.device, self.name, frame.wall_time, report.tile_scores, sample.plan.tiles,
            (w, h), sample.model.ref, engine.params.threshold, max(report.tile_scores.values()), [], frame.t_s,
            detail={"mode": report.mode, "tiles": len(report.tile_scores), "t_s": round(frame.t_s, 2)},
            source=self.cfg.source, source_time_s=self._source_time(frame),
        )
        log.warning("camera %s: commissioning found %d tile(s) that already look like graffiti (%s view); "
                    "reported for review, not alerted", self.name, len(report.tile_scores), report.mode)
        files = evidence_files(ev, self._private(picture), ev.bbox, None, self.cfg.evidence.jpeg_quality,
                               self.cfg.evidence.crop_margin)
        self._emit(ev, files)

    def _opened(self, detection: Detection, chosen: np.ndarray) -> None:
        if self._plan is None or self._engine is None:
            return
        d, params = detection.decision, self._engine.params
        h, w = chosen.shape[:2]
        ev = graffiti_event(
            "graffiti_detected", self.device, self.name, detection.wall_time, d.tile_scores, self._plan.tiles, (w, h),
            detection.model, params.threshold, d.score, d.score_history, d.t_s,
            detail={"hot_for_s": round(d.t_s - d.hot_since_s, 1), "window": params.window,
                    "confirm_s": params.confirm_s, "t_s": round(d.t_s, 2)},
            source=self.cfg.source, source_time_s=detection.wall_time if self.live else d.t_s,
        )
        files = evidence_files(ev, self._private(chosen), ev.bbox, self._private(self.reference_view),
                               self.cfg.evidence.jpeg_quality, self.cfg.evidence.crop_margin)
        self.event_ids[d.key] = ev.id
        self._emit(ev, files)

    def _closed(self, d: Closed, sample: Sample) -> None:
        frame = sample.frame
        waiting = self.picker.take(d.key)
        if waiting is not None:  # closed before a still frame came: report the detection first
            self._opened(waiting, frame.image)
        related = self.event_ids.pop(d.key, None)
        params = sample.engine.params
        picture = self.picker.still_picture(frame.image, sample.motion)
        h, w = picture.shape[:2]
        ev = graffiti_event(
            "graffiti_cleaned", self.device, self.name, frame.wall_time, d.tile_scores, sample.plan.tiles, (w, h),
            sample.model.ref, params.clean_threshold, d.score, d.score_history, d.t_s, related_event=related,
            detail={"open_for_s": round(d.t_s - d.opened_t_s, 1), "clean_s": params.clean_s,
                    "t_s": round(d.t_s, 2), "back_to_baseline": d.settled,
                    **({"settled_s": params.settled_s} if params.settled_s is not None else {})},
            source=self.cfg.source, source_time_s=frame.wall_time if self.live else d.t_s,
        )
        log.info("camera %s: graffiti cleaned (event %s)", self.name, related)
        files = evidence_files(ev, self._private(picture), ev.bbox, None, self.cfg.evidence.jpeg_quality,
                               self.cfg.evidence.crop_margin)
        self._emit(ev, files)

    def _private(self, img: np.ndarray | None) -> np.ndarray | None:
        """Evidence never shows ignored (privacy) areas."""
        if img is None or self._privacy is None or img.shape[:2] != self._privacy.shape:
            return img
        out = img.copy()
        out[self._privacy > 0] = 128
        return out

    def _source_time(self, frame: Frame) -> float:
        """The time that identifies an event (its id): a recording's own clock, a live camera's wall clock."""
        return frame.wall_time if self.live else frame.t_s

    def _emit(self, event: Event, files: dict[str, bytes]) -> None:
        try:
            self.emit_fn(event, files)
            self.events_emitted += 1
        except Exception:
            log.exception("camera %s: could not store %s event %s", self.name, event.type, event.id)
            return
        if self.on_stored is not None:
            self.on_stored()  # a restart right after it must know what was reported
