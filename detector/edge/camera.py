"""One camera: its thread loop, its per-sample pipeline and its events, put together.

:class:`CameraWorker` is what the runner holds per camera. The work is done by three units, each
testable on its own: :class:`~detector.edge.camera_loop.CameraLoop` (the thread loop: sampling
interval, real-time pacing, offline/online), :class:`~detector.edge.pipeline.SamplePipeline` (sample →
motion and health → wall model → scoring → decision) and :class:`~detector.edge.emitter.EventEmitter`
(events with their evidence pictures). The worker wires them together, keeps the camera's state
saved across restarts (:mod:`detector.edge.camera_state`) and reports its figures for the heartbeat.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from detector.edge.camera_loop import CameraLoop
from detector.edge.config import CameraConfig
from detector.edge.decision import DecisionEngine
from detector.edge.emitter import EmitFn, EventEmitter
from detector.edge.evidence import EvidencePicker
from detector.edge.health import HealthMonitor
from detector.edge.judge import WallJudge
from detector.edge.model_holder import ModelHolder
from detector.edge.pipeline import Polygon, SamplePipeline
from detector.edge.sources import Frame, Source, open_source
from detector.edge.wall import WallParams
from detector.events import CameraStats
from detector.onnxmodel import return_freed_memory
from detector.tiling import TilePlan

log = logging.getLogger("detector.edge.camera")
TRIM_EVERY_S = 60.0  # source seconds between two return_freed_memory() calls of a camera

SaveFn = Callable[[dict[str, Any] | None, bool], None]  # (snapshot or None: forget it, full) → the runner's state store


def commission_request_path(data_dir: Path, camera: str) -> Path:
    """The file whose appearance asks a running camera to retake its baseline from the current wall."""
    return Path(data_dir) / f"commission-{camera}.request"


class CameraWorker:
    """One camera, run in its own thread (``start``) or driven frame by frame (``process``)."""

    def __init__(self, name: str, cfg: CameraConfig, device: str, models: ModelHolder, emit: EmitFn,
                 realtime: bool, stop: threading.Event, source: Source | None = None) -> None:
        self.name = name
        self.cfg = cfg
        self.device = device
        self.models = models
        self.realtime = realtime
        self.stop = stop
        self.source = source or open_source(name, cfg.source, watch_folders=realtime,
                                            reconnect_initial_s=cfg.reconnect_initial_s,
                                            reconnect_max_s=cfg.reconnect_max_s)
        self.pipeline = SamplePipeline(name, cfg, models)
        self.events = EventEmitter(name, cfg, device, emit, self.source.live)
        self.events.on_stored = lambda: self._save_state(full=False)
        self.loop = CameraLoop(name, self.source, cfg.interval_s, cfg.offline_after_s, realtime, stop, self.events,
                               self.process, self._finish)
        self.thread: threading.Thread | None = None
        # State kept across restarts (detector.edge.state / camera_state): set by the runner.
        self.state_saver: SaveFn | None = None
        self.state_light_every_s = 30.0
        self.state_full_every_s = 600.0
        self._restore: list[dict[str, Any]] = []
        self._closed_ids: set[str] = set()
        self._light_saved_mono = time.monotonic()
        self._full_saved: float | None = None  # source time (recording) or monotonic time (live) of the last full save
        self._commissioned_saved: set[int] = set()  # baselines already saved once they were done
        self._trimmed: float | None = None  # source or monotonic time of the last return_freed_memory()

    # ------------------------------------------------------------------ what the units hold
    @property
    def plan(self) -> TilePlan | None:
        return self.pipeline.plan

    @property
    def engine(self) -> DecisionEngine | None:
        return self.pipeline.engine

    @property
    def judge(self) -> WallJudge | None:
        return self.pipeline.judge

    @property
    def health(self) -> HealthMonitor:
        return self.pipeline.health

    @property
    def picker(self) -> EvidencePicker:
        return self.events.picker

    @property
    def frames_seen(self) -> int:
        return self.pipeline.frames_seen

    @property
    def events_emitted(self) -> int:
        return self.events.events_emitted

    @property
    def offline(self) -> bool:
        return self.loop.offline

    @property
    def reference_view(self) -> np.ndarray | None:
        return self.events.reference_view

    @property
    def emit_fn(self) -> EmitFn:
        """Where events go (the demo wraps it to follow progress)."""
        return self.events.emit_fn

    @emit_fn.setter
    def emit_fn(self, emit: EmitFn) -> None:
        self.events.emit_fn = emit

    @property
    def commission_request(self) -> Path | None:
        """A file whose appearance asks to re-commission the baseline (``graffiti edge commission``)."""
        return self.pipeline.commission_request

    @commission_request.setter
    def commission_request(self, path: Path | None) -> None:
        self.pipeline.commission_request = path

    # ------------------------------------------------------------------ state across restarts
    def export_state(self, full: bool = True) -> dict[str, Any]:
        """A snapshot (JSON values and numpy arrays) of what a restart must keep; call between frames."""
        from detector.edge.camera_state import export_camera

        return export_camera(self, full)

    def restore_state(self, full: dict[str, Any] | None, light: dict[str, Any] | None,
                      closed_ids: set[str] | frozenset[str] = frozenset()) -> list[str]:
        """Re-adopt saved snapshots (before ``start()``): the source position and health now, the rest
        (engine, open events, wall model, baseline) when the first frame has the same size."""
        from detector.edge.camera_state import choose, restore_early

        self._restore = choose(full, light, self.source.live)
        self._closed_ids = set(closed_ids)
        self.pipeline.on_new_plan = self._apply_restore if self._restore else None
        done: list[str] = []
        for snap in self._restore:
            done += restore_early(self, snap)
        return done

    def _apply_restore(self) -> None:
        """Once the first frame gave the tile plan, engine and judge: put their saved state back."""
        from detector.edge.camera_state import restore_camera

        self.pipeline.on_new_plan = None
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

    def _clock(self, frame: Frame) -> float:
        """The time the periodic jobs go by: the recording's own time, or monotonic time for a live source."""
        return frame.t_s if not self.source.live else time.monotonic()

    def _maybe_save_state(self, frame: Frame) -> None:
        now = self._clock(frame)
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

    def run(self) -> None:
        """The camera's loop, in the calling thread, until stopped or the source has finished."""
        self.loop.run()

    def set_remote_accepted(self, polygons: list[Polygon]) -> None:
        """Accepted regions from the review service (applied before the next frame)."""
        self.pipeline.set_remote_accepted(polygons)

    def set_remote_rejected(self, rejected: list[tuple[str, Polygon]]) -> None:
        """Rejected events from the review service (id, polygon): their tiles take the current wall as
        baseline once and stay quiet until they change again."""
        self.pipeline.set_remote_rejected(rejected)

    def stats(self) -> CameraStats:
        ms = np.asarray(list(self.pipeline.infer_ms), dtype=np.float64)
        age_s = self.loop.frame_age_s()
        age = None if age_s is None else round(age_s, 1)
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

    # ------------------------------------------------------------------ one frame
    def process(self, frame: Frame) -> None:
        """One sample through the pipeline, its events out, the state saved when due."""
        sample = self.pipeline.observe(frame)
        if sample is None:
            return
        if sample.tamper is not None:
            self.events.tamper(sample)
        self.events.forget(self.pipeline.apply_requests())
        self.pipeline.decide(sample)
        self.events.decided(sample)
        self._maybe_save_state(frame)
        self._maybe_return_memory(frame)

    def _maybe_return_memory(self, frame: Frame) -> None:
        """Hand the allocator's freed memory back to the system at most every ``TRIM_EVERY_S``.

        Freed temporaries stay in the process under glibc. Once a minute is enough for the rare large
        ones (a commissioning, a model swap, a switch to IR) not to stay resident; after every sample
        the next one would fault the same pages in again (``scripts/bench_edge.py``, docs/benchmarks.md).
        """
        now = self._clock(frame)
        if self._trimmed is None or not 0 <= now - self._trimmed < TRIM_EVERY_S:
            self._trimmed = now
            return_freed_memory()

    def _warn_if_too_short(self) -> None:
        """A recording that ended before the wall model had a baseline could not alert on anything: say so,
        with how much footage it needs, rather than end with a silent "0 events" (a short test clip)."""
        judge, loop, wall = self.judge, self.loop, self.cfg.wall
        if not wall.enabled or (judge is not None and any(b.done for b in judge.baselines.values())):
            return
        enter_s = WallParams(slot_s=wall.slot_s, slots=wall.slots).enter_s
        need_s = enter_s + wall.commission_s
        had_s = 0.0 if loop.first_t_s is None or loop.last_t_s is None else loop.last_t_s - loop.first_t_s
        log.warning("camera %s: the recording ended after %.0f s, before the wall model had its baseline (it needs "
                    "about %.0f s of footage: %.0f s for the wall estimate, then wall.commission_s %.0f s), so nothing "
                    "in it could alert; for a short clip score its frames with 'graffiti edge score', or set "
                    "wall.enabled = false", self.name, had_s, need_s, enter_s, wall.commission_s)

    def _finish(self) -> None:
        self.events.flush()
        if not self.source.live and self.source.finished:
            self._warn_if_too_short()
        if not self.source.live and self.source.finished and self.state_saver is not None:
            try:  # a recording processed to its end: a new run starts from its beginning
                self.state_saver(None, True)
            except OSError as exc:
                log.warning("camera %s: could not clear its saved state: %s", self.name, exc)
        elif self.plan is not None:
            self._save_state(full=True)
