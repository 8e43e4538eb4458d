"""One camera's loop: sample → health/motion → mask → wall model → changed tiles scored → gate → decision → events.

With the wall model on (the default), the sample is scaled once to model scale and fed to the
camera's wall estimate; only tiles whose wall estimate changed are scored (on the estimate, not the
live frame), and their scores are gated against the commissioned baseline before the decision
engine sees them (:mod:`detector.edge.judge`). The live frame is what evidence pictures show.
With ``wall.enabled = false`` every sample's live tiles are scored, as before.

Runs in its own thread. Every time-based rule runs on the source's clock (``Frame.t_s``), so a file
processed with ``--fast`` makes the same decisions as in real time. A frame that fails is logged and
skipped; nothing a camera does stops the other cameras or the runner.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np

from detector.edge.config import CameraConfig
from detector.edge.decision import Closed, DecisionEngine, DecisionParams, Grown, Opened
from detector.edge.evidence import Detection, EvidencePicker, camera_event, evidence_files, graffiti_event
from detector.edge.health import HealthMonitor
from detector.edge.judge import CommissionReport, JudgeParams, WallJudge
from detector.edge.motion import MotionDetector, MotionSample
from detector.edge.session import ModelHolder, ModelSession
from detector.edge.sources import Frame, Source, open_source, redact_url
from detector.edge.wall import ChangeParams, WallParams
from detector.events import CameraStats, Event
from detector.tiling import (
    TilePlan,
    masked_frame,
    plan_tiles,
    polygon_mask,
    scaled_tiles,
    tiles_in_regions,
    union_box,
)

log = logging.getLogger("detector.edge.camera")

EmitFn = Callable[[Event, dict[str, bytes]], None]
SaveFn = Callable[[dict | None, bool], None]  # (snapshot or None: forget it, full) → the runner's state store


def commission_request_path(data_dir: Path, camera: str) -> Path:
    """The file whose appearance asks a running camera to retake its baseline from the current wall."""
    return Path(data_dir) / f"commission-{camera}.request"


def decision_params(cfg: CameraConfig, model: ModelSession) -> DecisionParams:
    """Thresholds from the config where set, else from the model's contract."""
    d = cfg.decision
    threshold = d.threshold if d.threshold is not None else model.meta.threshold
    clean = d.clean_threshold if d.clean_threshold is not None else model.meta.clean_threshold
    clean = min(clean, threshold)
    return DecisionParams(threshold=threshold, clean_threshold=clean, floor=d.floor, window=d.window,
                          confirm_s=d.confirm_s, clean_s=d.clean_s, join_s=d.join_s)


class CameraWorker:
    def __init__(self, name: str, cfg: CameraConfig, device: str, models: ModelHolder, emit: EmitFn,
                 realtime: bool, stop: threading.Event, source: Source | None = None) -> None:
        self.name = name
        self.cfg = cfg
        self.device = device
        self.models = models
        self.emit_fn = emit
        self.realtime = realtime
        self.stop = stop
        self.source = source or open_source(name, cfg.source, watch_folders=realtime,
                                            reconnect_initial_s=cfg.reconnect_initial_s,
                                            reconnect_max_s=cfg.reconnect_max_s)
        self.motion = MotionDetector(cfg.motion)
        self.health = HealthMonitor(cfg.health)
        self.picker = EvidencePicker(cfg.evidence.still_wait_samples, cfg.motion.still_fraction)
        self.plan: TilePlan | None = None
        self.engine: DecisionEngine | None = None
        self.judge: WallJudge | None = None
        self._scale = 1.0
        self.commission_request: Path | None = None  # a file whose appearance asks to re-commission
        self._rejected_seen: set[str] = set()
        self._remote_rejected: list[tuple[str, list[tuple[float, float]]]] = []
        self._model: ModelSession | None = None
        self._event_ids: dict[int, str] = {}
        self._remote_accepted: list[list[tuple[float, float]]] = []
        self._accepted_dirty = False
        self._privacy: np.ndarray | None = None
        self.reference_view: np.ndarray | None = None
        # Stats for the heartbeat (read from the main thread).
        self.frames_seen = 0
        self.events_emitted = 0
        self._infer_ms: deque[float] = deque(maxlen=500)
        self._last_frame_mono: float | None = None
        self._started_mono = time.monotonic()
        self._last_t_s: float | None = None
        self._last_wall: float | None = None
        self.offline = False
        self._pace: tuple[float, float] | None = None
        self.thread: threading.Thread | None = None
        # State kept across restarts (detector.edge.state / camera_state): set by the runner.
        self.state_saver: SaveFn | None = None
        self.state_light_every_s = 30.0
        self.state_full_every_s = 600.0
        self._restore: list[dict] = []
        self._closed_ids: set[str] = set()
        self._light_saved_mono = time.monotonic()
        self._full_saved: float | None = None  # source time (recording) or monotonic time (live) of the last full save
        self._commissioned_saved: set[int] = set()  # baselines already saved once they were done

    # ------------------------------------------------------------------ state across restarts
    def export_state(self, full: bool = True) -> dict:
        """A snapshot (JSON values and numpy arrays) of what a restart must keep; call between frames."""
        from detector.edge.camera_state import export_camera

        return export_camera(self, full)

    def restore_state(self, full: dict | None, light: dict | None,
                      closed_ids: set[str] | frozenset[str] = frozenset()) -> list[str]:
        """Re-adopt saved snapshots (before ``start()``): the source position and health now, the rest
        (engine, open events, wall model, baseline) when the first frame has the same size."""
        from detector.edge.camera_state import choose, restore_early

        self._restore = choose(full, light, self.source.live)
        self._closed_ids = set(closed_ids)
        done: list[str] = []
        for snap in self._restore:
            done += restore_early(self, snap)
        return done

    def _apply_restore(self) -> None:
        from detector.edge.camera_state import restore_camera

        done: list[str] = []
        for snap in self._restore:
            done += restore_camera(self, snap, self._closed_ids)
        self._restore = []
        if done:
            log.info("camera %s: restored %s from before the restart", self.name, ", ".join(dict.fromkeys(done)))

    def _save_state(self, full: bool) -> None:
        if self.state_saver is None:
            return
        try:
            self.state_saver(self.export_state(full), full)
        except Exception:  # never worth a camera: the previous state stays on disk
            log.exception("camera %s: saving its state failed", self.name)
        self._light_saved_mono = time.monotonic()

    def _maybe_save_state(self, frame: Frame) -> None:
        now = frame.t_s if not self.source.live else time.monotonic()
        if self._full_saved is None:
            self._full_saved = now
        base = self.judge.baseline if self.judge is not None else None
        commissioned = base is not None and base.done and id(base) not in self._commissioned_saved
        if commissioned:  # a baseline just taken is worth keeping at once (it costs minutes to retake)
            self._commissioned_saved.add(id(base))
        if commissioned or now - self._full_saved >= self.state_full_every_s:
            self._full_saved = now
            self._save_state(full=True)
        elif time.monotonic() - self._light_saved_mono >= self.state_light_every_s:
            self._save_state(full=False)

    # ------------------------------------------------------------------ public
    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, name=f"camera-{self.name}", daemon=True)
        self.thread.start()

    def set_remote_accepted(self, polygons: list[list[tuple[float, float]]]) -> None:
        """Accepted regions from the review service (applied before the next frame)."""
        self._remote_accepted = polygons
        self._accepted_dirty = True

    def set_remote_rejected(self, rejected: list[tuple[str, list[tuple[float, float]]]]) -> None:
        """Rejected events from the review service (id, polygon): their tiles take the current wall as
        baseline once and stay quiet until they change again."""
        self._remote_rejected = [r for r in rejected if r[0] not in self._rejected_seen]

    def stats(self) -> CameraStats:
        ms = np.asarray(list(self._infer_ms), dtype=np.float64)
        age = None if self._last_frame_mono is None else round(time.monotonic() - self._last_frame_mono, 1)
        state = "starting" if self.frames_seen == 0 and not self.offline else "online"
        if self.offline:
            state = "offline"
        elif self.health.tampered:
            state = "tamper"
        return CameraStats(
            frames_seen=self.frames_seen,
            last_frame_age_s=age,
            inference_ms_p50=round(float(np.percentile(ms, 50)), 2) if ms.size else None,
            inference_ms_p95=round(float(np.percentile(ms, 95)), 2) if ms.size else None,
            state=state,
        )

    # ------------------------------------------------------------------ loop
    def run(self) -> None:
        interval = self.cfg.interval_s
        due: float | None = None
        next_tick = time.monotonic()
        try:
            while not self.stop.is_set():
                if self.source.live:
                    wait = next_tick - time.monotonic()
                    if wait > 0 and self.stop.wait(wait):
                        break
                    next_tick = time.monotonic() + interval
                try:
                    frame = self.source.next_sample(due)
                except Exception:  # a source bug must not end the camera: log, pause, try again
                    log.exception("camera %s: reading the source failed; retrying in 5 s", self.name)
                    if self.stop.wait(5.0):
                        break
                    continue
                if frame is None:
                    if self.source.finished:
                        break
                    self._check_offline_live()
                    if not self.source.live:
                        self.stop.wait(0.2)
                    continue
                if self.realtime and not self.source.live and self._pace_wait(frame):
                    break
                self._on_frame(frame)
                due = frame.t_s + interval
        finally:
            self._finish()

    def _pace_wait(self, frame: Frame) -> bool:
        """Real-time playback of a clocked source: sleep until the frame's time; True if stopped."""
        now = time.monotonic()
        if self._pace is None:
            self._pace = (frame.t_s, now)
        delay = (frame.t_s - self._pace[0]) - (now - self._pace[1])
        return delay > 0 and self.stop.wait(delay)

    def _check_offline_live(self) -> None:
        if not self.source.live or self.offline:
            return
        ref = self._last_frame_mono if self._last_frame_mono is not None else self._started_mono
        silent_s = time.monotonic() - ref
        if silent_s >= self.cfg.offline_after_s:
            self.offline = True
            log.warning("camera %s: offline (no frames for %.0f s)", self.name, silent_s)
            self._emit(camera_event("camera_offline", self.device, self.name, time.time(),
                                    {"no_frames_s": round(silent_s, 1), "source": redact_url(self.cfg.source)}), {})

    def _on_frame(self, frame: Frame) -> None:
        if self.source.live:
            if self.offline:
                offline_s = time.monotonic() - (self._last_frame_mono or self._started_mono)
                self._back_online(frame, offline_s)
        elif self._last_t_s is not None and frame.t_s - self._last_t_s > self.cfg.offline_after_s:
            # A gap in a recording/folder: the same offline/online pair a live run would have sent.
            gap = frame.t_s - self._last_t_s
            self._emit(camera_event("camera_offline", self.device, self.name,
                                    (self._last_wall or frame.wall_time) + self.cfg.offline_after_s,
                                    {"no_frames_s": round(self.cfg.offline_after_s, 1)},
                                    source=self.cfg.source, source_time_s=self._last_t_s), {})
            self.offline = True
            self._back_online(frame, gap)
        self._last_frame_mono = time.monotonic()
        self._last_t_s, self._last_wall = frame.t_s, frame.wall_time
        try:
            self.process(frame)
        except Exception:  # a bad frame or a bug must not take the camera down
            log.exception("camera %s: frame %s failed and was skipped", self.name, frame.label)

    def _back_online(self, frame: Frame, offline_s: float) -> None:
        self.offline = False
        log.info("camera %s: online again after %.0f s", self.name, offline_s)
        self._emit(camera_event("camera_online", self.device, self.name, frame.wall_time,
                                {"offline_s": round(offline_s, 1)}, source=self.cfg.source,
                                source_time_s=self._source_time(frame)), {})

    # ------------------------------------------------------------------ one frame
    def _prepare(self, frame_size: tuple[int, int], model: ModelSession) -> tuple[TilePlan, DecisionEngine]:
        c = self.cfg
        if self.plan is None or self.plan.frame_size != frame_size or self.engine is None:
            if self.plan is not None:
                log.warning("camera %s: frame size changed to %dx%d; decision state restarts", self.name, *frame_size)
            self.plan = plan_tiles(frame_size, c.tiling.tile_px, c.tiling.overlap, c.watch, c.ignore)
            self._privacy = polygon_mask(frame_size, c.ignore) if c.ignore else None
            self.judge = self._make_judge(frame_size, model)
            grid_w = self.judge.grid_hw[1] if self.judge is not None else 0
            cells = [frozenset(int(b) for b in blocks) for blocks in self.judge.blocks] if self.judge is not None else None
            self.engine = DecisionEngine(decision_params(c, model), self.plan.neighbours, grid_width=grid_w,
                                         tile_cells=cells)
            self._accepted_dirty = True
            self._model = model
            if self._restore:
                self._apply_restore()
            log.info("camera %s: %dx%d frames, %d tiles of %d px", self.name, *frame_size, len(self.plan.tiles),
                     c.tiling.tile_px)
        if model is not self._model:
            self.engine.params = decision_params(c, model)
            self._model = model
            if self.judge is not None:
                if abs(self._model_scale(model) - self._scale) > 1e-9:
                    log.warning("camera %s: the new model's input size changes the wall scale; the wall "
                                "model and baseline restart", self.name)
                    self.judge = self._make_judge(frame_size, model)
                else:
                    self.judge.invalidate_scores()
        if self._accepted_dirty:
            polys = list(c.accepted) + list(self._remote_accepted)
            self.engine.set_accepted(tiles_in_regions(self.plan, polys, c.decision.accepted_fraction))
            self._accepted_dirty = False
        return self.plan, self.engine

    def _model_scale(self, model: ModelSession) -> float:
        return model.spec.input_size[1] / float(self.cfg.tiling.tile_px)

    def _make_judge(self, frame_size: tuple[int, int], model: ModelSession) -> WallJudge | None:
        wc = self.cfg.wall
        if not wc.enabled or self.plan is None:
            return None
        self._scale = scale = self._model_scale(model)
        w, h = frame_size
        size_hw = (max(1, int(round(h * scale))), max(1, int(round(w * scale))))
        tiles = [tuple(int(round(v * scale)) for v in t.xyxy) for t in self.plan.tiles]
        return WallJudge(
            WallParams(slot_s=wc.slot_s, slots=wc.slots),
            JudgeParams(commission_s=wc.commission_s, refresh_s=wc.refresh_s, score_margin=wc.score_margin,
                        change_fraction=wc.change_fraction, refine_s=wc.refine_s),
            ChangeParams(),
            tiles,  # type: ignore[arg-type]
            size_hw,
        )

    def process(self, frame: Frame) -> None:
        img = frame.image
        if img is None or img.ndim != 3 or img.shape[2] != 3 or img.shape[0] < 8 or img.shape[1] < 8:
            log.warning("camera %s: frame %s is not a BGR image; skipped", self.name, frame.label)
            return
        h, w = img.shape[:2]
        model = self.models.current
        plan, engine = self._prepare((w, h), model)
        motion = self.motion.update(img)
        self._check_health(frame, motion)
        if self.judge is not None:
            decisions = self._judge_sample(frame, plan, engine, model, motion)
        else:
            t0 = time.perf_counter()
            scores = model.score(scaled_tiles(masked_frame(img, plan), plan, model.spec.input_size))
            self._infer_ms.append((time.perf_counter() - t0) * 1000.0)
            decisions = engine.update(frame.t_s, scores.tolist())
        self.frames_seen += 1
        for detection, chosen in self.picker.poll(img, frame.t_s, motion):
            self._emit_opened(detection, chosen)
        self.picker.offer(img, frame.t_s, motion)
        for d in decisions:
            if isinstance(d, Opened):
                log.info("camera %s: graffiti confirmed on %d tile(s), score %.3f", self.name, len(d.tile_scores), d.score)
                detection = Detection(d, frame.wall_time, model.ref)
                box = union_box([plan.tiles[i] for i in d.tile_scores])
                picked = self.picker.pick(detection, img, frame.t_s, motion, box)
                if picked is not None:
                    self._emit_opened(detection, picked)
            elif isinstance(d, Grown):
                log.info("camera %s: open event grew by %d tile(s)", self.name, len(d.added))
            elif isinstance(d, Closed):
                self._emit_closed(d, frame, motion, model)
                if self.judge is not None:
                    self.judge.event_closed(set(d.tile_scores))
        if motion.still and engine.is_clean() and not self.health.tampered:
            self.reference_view = img
        for detection, chosen in self.picker.release_adopted(img):  # decided before the restart, stored by none
            self._emit_opened(detection, chosen)
        self._maybe_save_state(frame)

    def _judge_sample(self, frame: Frame, plan: TilePlan, engine: DecisionEngine, model: ModelSession,
                      motion: MotionSample) -> list[Closed | Grown | Opened]:
        """Feed the wall model; score the tiles whose wall changed; gate; decide."""
        import cv2

        judge = self.judge
        assert judge is not None
        self._apply_requests(plan, engine, judge)
        hw = judge.wall.size_hw
        scaled = cv2.resize(masked_frame(frame.image, plan), (hw[1], hw[0]), interpolation=cv2.INTER_AREA)
        open_tiles = engine.all_open_tiles()
        step = judge.sample(frame.t_s, scaled, open_tiles)
        if step.to_score:
            t0 = time.perf_counter()
            scores = model.score(judge.crops(step.to_score))
            self._infer_ms.append((time.perf_counter() - t0) * 1000.0)
            judge.scored(frame.t_s, step.to_score, scores)
        if not judge.wall.valid:
            return []
        gated, cells, report = judge.judge(frame.t_s, engine.params.threshold, open_tiles)
        if report is not None:
            self._emit_commission(report, frame, motion, model)
        base = judge.baseline
        if base is None or not base.done:
            return []
        return engine.update(frame.t_s, gated, cells)

    def _apply_requests(self, plan: TilePlan, engine: DecisionEngine, judge: WallJudge) -> None:
        """Operator rejections (quiet until changed) and re-commissioning asked for by a file."""
        base = judge.baseline
        if self._remote_rejected and base is not None and base.done:  # else kept until there is a baseline
            pending, self._remote_rejected = self._remote_rejected, []
            for event_id, polygon in pending:
                self._rejected_seen.add(event_id)
                tiles = tiles_in_regions(plan, [polygon], self.cfg.decision.accepted_fraction)
                if not tiles:
                    continue
                dropped = engine.forget(tiles)
                self.picker.drop(dropped)
                for key in dropped:
                    self._event_ids.pop(key, None)
                judge.rebaseline(tiles)
                log.info("camera %s: rejected event %s: %d tile(s) re-baselined, quiet until they change",
                         self.name, event_id, len(tiles))
        req = self.commission_request
        if req is not None and req.exists():
            try:
                req.unlink()
            except OSError as exc:
                log.warning("camera %s: could not remove %s: %s", self.name, req, exc)
            judge.baselines.clear()
            log.info("camera %s: re-commissioning the baseline from the current wall", self.name)

    def _emit_commission(self, report: CommissionReport, frame: Frame, motion: MotionSample,
                         model: ModelSession) -> None:
        """Marks that already look like graffiti at commissioning: one report for the operator."""
        if self.plan is None or self.engine is None:
            return
        picture = self.picker.still_picture(frame.image, motion)
        h, w = picture.shape[:2]
        ev = graffiti_event(
            "commissioning_report", self.device, self.name, frame.wall_time, report.tile_scores, self.plan.tiles,
            (w, h), model.ref, self.engine.params.threshold, max(report.tile_scores.values()), [], frame.t_s,
            detail={"mode": report.mode, "tiles": len(report.tile_scores), "t_s": round(frame.t_s, 2)},
            source=self.cfg.source, source_time_s=self._source_time(frame),
        )
        log.warning("camera %s: commissioning found %d tile(s) that already look like graffiti (%s view); "
                    "reported for review, not alerted", self.name, len(report.tile_scores), report.mode)
        files = evidence_files(ev, self._private(picture), ev.bbox, None, self.cfg.evidence.jpeg_quality,
                               self.cfg.evidence.crop_margin)
        self._emit(ev, files)

    def _check_health(self, frame: Frame, motion: MotionSample) -> None:
        was = self.health.tampered
        sample = self.health.measure(frame.image, motion.still)
        report = self.health.update(frame.t_s, sample)
        if report is not None:
            log.warning("camera %s: tamper: %s", self.name, report.detail["reason"])
            h, w = frame.image.shape[:2]
            ev = camera_event("camera_tamper", self.device, self.name, frame.wall_time, report.detail, (w, h),
                              source=self.cfg.source, source_time_s=self._source_time(frame))
            files = evidence_files(ev, self._private(frame.image), None, self._private(self.reference_view),
                                   self.cfg.evidence.jpeg_quality, self.cfg.evidence.crop_margin)
            self._emit(ev, files)
        elif was and not self.health.tampered:
            log.info("camera %s: view healthy again", self.name)

    def _private(self, img: np.ndarray | None) -> np.ndarray | None:
        """Evidence never shows ignored (privacy) areas."""
        if img is None or self._privacy is None or img.shape[:2] != self._privacy.shape:
            return img
        out = img.copy()
        out[self._privacy > 0] = 128
        return out

    def _emit_opened(self, detection: Detection, chosen: np.ndarray) -> None:
        if self.plan is None or self.engine is None:
            return
        d = detection.decision
        h, w = chosen.shape[:2]
        ev = graffiti_event(
            "graffiti_detected", self.device, self.name, detection.wall_time, d.tile_scores, self.plan.tiles, (w, h),
            detection.model, self.engine.params.threshold, d.score, d.score_history, d.t_s,
            detail={"hot_for_s": round(d.t_s - d.hot_since_s, 1), "window": self.engine.params.window,
                    "confirm_s": self.engine.params.confirm_s, "t_s": round(d.t_s, 2)},
            source=self.cfg.source, source_time_s=detection.wall_time if self.source.live else d.t_s,
        )
        files = evidence_files(ev, self._private(chosen), ev.bbox, self._private(self.reference_view),
                               self.cfg.evidence.jpeg_quality, self.cfg.evidence.crop_margin)
        self._event_ids[d.key] = ev.id
        self._emit(ev, files)

    def _emit_closed(self, d: Closed, frame: Frame, motion: MotionSample, model: ModelSession) -> None:
        waiting = self.picker.take(d.key)
        if waiting is not None:  # closed before a still frame came: report the detection first
            self._emit_opened(waiting, frame.image)
        related = self._event_ids.pop(d.key, None)
        if self.plan is None or self.engine is None:  # cannot happen: _prepare ran before any decision
            return
        picture = self.picker.still_picture(frame.image, motion)
        h, w = picture.shape[:2]
        ev = graffiti_event(
            "graffiti_cleaned", self.device, self.name, frame.wall_time, d.tile_scores, self.plan.tiles, (w, h),
            model.ref, self.engine.params.clean_threshold, d.score, d.score_history, d.t_s, related_event=related,
            detail={"open_for_s": round(d.t_s - d.opened_t_s, 1), "clean_s": self.engine.params.clean_s,
                    "t_s": round(d.t_s, 2)},
            source=self.cfg.source, source_time_s=frame.wall_time if self.source.live else d.t_s,
        )
        log.info("camera %s: graffiti cleaned (event %s)", self.name, related)
        files = evidence_files(ev, self._private(picture), ev.bbox, None, self.cfg.evidence.jpeg_quality,
                               self.cfg.evidence.crop_margin)
        self._emit(ev, files)

    def _source_time(self, frame: Frame) -> float:
        """The time that identifies an event (its id): a recording's own clock, a live camera's wall clock."""
        return frame.wall_time if self.source.live else frame.t_s

    def _emit(self, event: Event, files: dict[str, bytes]) -> None:
        try:
            self.emit_fn(event, files)
            self.events_emitted += 1
        except Exception:
            log.exception("camera %s: could not store %s event %s", self.name, event.type, event.id)
            return
        self._save_state(full=False)  # a restart right after it must know what was reported

    def _finish(self) -> None:
        for detection, chosen in self.picker.flush():
            self._emit_opened(detection, chosen)
        if not self.source.live and self.source.finished and self.state_saver is not None:
            try:  # a recording processed to its end: a new run starts from its beginning
                self.state_saver(None, True)
            except OSError as exc:
                log.warning("camera %s: could not clear its saved state: %s", self.name, exc)
        elif self.plan is not None:
            self._save_state(full=True)
        try:
            self.source.close()
        except Exception as exc:  # closing must never block shutdown
            log.warning("camera %s: closing source failed: %s", self.name, exc)

