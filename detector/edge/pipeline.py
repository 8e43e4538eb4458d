"""One camera's per-sample pipeline: sample → motion and health → (wall model → changed tiles scored →
gate) → decision. It decides; it emits nothing (:mod:`detector.edge.emitter` turns what it decided
into events).

With the wall model on (the default), the sample is scaled once to model scale and fed to the
camera's wall estimate; only tiles whose wall estimate changed are scored (on the estimate, not the
live frame), and their scores are gated against the commissioned baseline before the decision
engine sees them (:mod:`detector.edge.judge`). With ``wall.enabled = false`` every sample's live
tiles are scored. Every time-based rule runs on the source's clock (``Frame.t_s``), so a file
processed with ``--fast`` makes the same decisions as in real time.

A sample goes through three steps, so that what each step found is reported even when a later
step fails: :meth:`SamplePipeline.observe` (frame check, tile plan, motion, tamper check),
:meth:`SamplePipeline.apply_requests` (operator rejections, re-commissioning) and
:meth:`SamplePipeline.decide` (wall model, scoring, decision).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detector.edge.config import CameraConfig
from detector.edge.decision import Closed, Decision, DecisionEngine, DecisionParams
from detector.edge.health import WORK_WIDTH_PX, HealthMonitor, TamperReport
from detector.edge.judge import CommissionReport, JudgeParams, WallJudge
from detector.edge.model_holder import ModelHolder
from detector.edge.motion import MotionDetector, MotionSample, shrink_grey
from detector.edge.sources import Frame
from detector.edge.wall import ChangeParams, WallParams
from detector.onnxmodel import ModelSession
from detector.tiling import (
    REFERENCE_FRAME,
    TilePlan,
    cut_tiles,
    masked_frame,
    plan_tiles,
    polygon_mask,
    scaled_frame,
    tiles_in_regions,
)

log = logging.getLogger("detector.edge.camera")

Polygon = list[tuple[float, float]]


def decision_params(cfg: CameraConfig, model: ModelSession) -> DecisionParams:
    """Thresholds from the config where set, else from the model's contract."""
    d = cfg.decision
    threshold = d.threshold if d.threshold is not None else model.meta.threshold
    clean = d.clean_threshold if d.clean_threshold is not None else model.meta.clean_threshold
    clean = min(clean, threshold)
    return DecisionParams(threshold=threshold, clean_threshold=clean, floor=d.floor, window=d.window,
                          confirm_s=d.confirm_s, clean_s=d.clean_s, join_s=d.join_s,
                          settled_s=d.settled_wait_s if cfg.wall.enabled else None)


@dataclass
class Sample:
    """One sample on its way through the pipeline; each step fills in what it found."""

    frame: Frame
    model: ModelSession  # the model this sample is scored with
    plan: TilePlan
    engine: DecisionEngine
    privacy: np.ndarray | None  # ignored (privacy) areas of the frame, never shown in evidence
    motion: MotionSample
    tamper: TamperReport | None = None  # the view just became unusable (reported once)
    commission: CommissionReport | None = None  # marks that already looked like graffiti at commissioning
    decisions: list[Decision] = field(default_factory=list)
    clean_view: bool = False  # still, healthy and nothing open: the picture of the clean wall


class SamplePipeline:
    """The per-sample work of one camera, and the state it decides with (tile plan, decision engine,
    wall judge, motion and health); ``observe`` → ``apply_requests`` → ``decide`` for each sample."""

    def __init__(self, name: str, cfg: CameraConfig, models: ModelHolder) -> None:
        self.name = name
        self.cfg = cfg
        self.models = models
        self.motion = MotionDetector(cfg.motion)
        self.health = HealthMonitor(cfg.health)
        self.plan: TilePlan | None = None
        self.tile_px = cfg.tiling.tile_for(REFERENCE_FRAME)  # set from the first frame's size (_prepare)
        self.engine: DecisionEngine | None = None
        self.judge: WallJudge | None = None
        self.privacy: np.ndarray | None = None
        self.commission_request: Path | None = None  # a file whose appearance asks to re-commission
        self.rejected_seen: set[str] = set()  # rejected events already re-baselined
        self.on_new_plan: Callable[[], None] | None = None  # called once the tile plan, engine and judge exist
        self.frames_seen = 0
        self.infer_ms: deque[float] = deque(maxlen=500)
        self._scale = 1.0
        self._model: ModelSession | None = None
        self._remote_accepted: list[Polygon] = []
        self._remote_rejected: list[tuple[str, Polygon]] = []
        self._accepted_dirty = False

    # ------------------------------------------------------------------ from the review service
    def set_remote_accepted(self, polygons: list[Polygon]) -> None:
        """Accepted regions from the review service (applied before the next frame)."""
        self._remote_accepted = polygons
        self._accepted_dirty = True

    def set_remote_rejected(self, rejected: list[tuple[str, Polygon]]) -> None:
        """Rejected events from the review service (id, polygon): their tiles take the current wall as
        baseline once and stay quiet until they change again."""
        self._remote_rejected = [r for r in rejected if r[0] not in self.rejected_seen]

    # ------------------------------------------------------------------ the three steps
    def observe(self, frame: Frame) -> Sample | None:
        """Check the frame, (re)plan the tiles, measure motion and the view's health; None: not a usable
        BGR image (logged, skipped)."""
        img = frame.image
        if img is None or img.ndim != 3 or img.shape[2] != 3 or img.shape[0] < 8 or img.shape[1] < 8:
            log.warning("camera %s: frame %s is not a BGR image; skipped", self.name, frame.label)
            return None
        h, w = img.shape[:2]
        model = self.models.current
        plan, engine = self._prepare((w, h), model)
        import cv2

        # once: motion and health both start from one grey copy, shrunk to the wider of their two widths
        grey = shrink_grey(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), max(WORK_WIDTH_PX, self.cfg.motion.width_px))
        motion = self.motion.update(grey)
        sample = Sample(frame, model, plan, engine, self.privacy, motion)
        was = self.health.tampered
        report = self.health.update(frame.t_s, self.health.measure(grey, motion.still, frame_width=w))
        if report is not None:
            log.warning("camera %s: tamper: %s", self.name, report.detail["reason"])
            sample.tamper = report
        elif was and not self.health.tampered:
            log.info("camera %s: view healthy again", self.name)
        return sample

    def apply_requests(self) -> list[int]:
        """Operator rejections (quiet until changed) and re-commissioning asked for by a file (with the
        wall model only); returns the keys of the open events the rejections dropped."""
        judge, plan, engine = self.judge, self.plan, self.engine
        if judge is None or plan is None or engine is None:
            return []
        forgotten: list[int] = []
        base = judge.baseline
        if self._remote_rejected and base is not None and base.done:  # else kept until there is a baseline
            pending, self._remote_rejected = self._remote_rejected, []
            for event_id, polygon in pending:
                self.rejected_seen.add(event_id)
                tiles = tiles_in_regions(plan, [polygon], self.cfg.decision.accepted_fraction)
                if not tiles:
                    continue
                forgotten += engine.forget(tiles)
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
        return forgotten

    def decide(self, sample: Sample) -> None:
        """Score (the changed wall tiles, or every live tile without the wall model) and decide."""
        img, engine, model = sample.frame.image, sample.engine, sample.model
        if self.judge is not None:
            sample.decisions = self._judge_sample(sample)
        else:
            t0 = time.perf_counter()
            masked = masked_frame(img, sample.plan)
            scaled = scaled_frame(masked, sample.plan, model.spec.input_size)
            scores = (model.score_windows(*scaled) if scaled is not None
                      else model.score(cut_tiles(masked, sample.plan)))
            self.infer_ms.append((time.perf_counter() - t0) * 1000.0)
            sample.decisions = engine.update(sample.frame.t_s, scores.tolist())
        self.frames_seen += 1
        for d in sample.decisions:
            if isinstance(d, Closed) and self.judge is not None:
                self.judge.event_closed(set(d.tile_scores))
        sample.clean_view = sample.motion.still and engine.is_clean() and not self.health.tampered

    # ------------------------------------------------------------------ inside the steps
    def _prepare(self, frame_size: tuple[int, int], model: ModelSession) -> tuple[TilePlan, DecisionEngine]:
        c = self.cfg
        if self.plan is None or self.plan.frame_size != frame_size or self.engine is None:
            if self.plan is not None:
                log.warning("camera %s: frame size changed to %dx%d; decision state restarts", self.name, *frame_size)
            self.tile_px = c.tiling.tile_for(frame_size)
            self.plan = plan_tiles(frame_size, self.tile_px, c.tiling.overlap, c.watch, c.ignore)
            self.privacy = polygon_mask(frame_size, c.ignore) if c.ignore else None
            self.judge = self._make_judge(frame_size, model)
            grid_w = self.judge.grid_hw[1] if self.judge is not None else 0
            cells = [frozenset(int(b) for b in blocks) for blocks in self.judge.blocks] if self.judge is not None else None
            self.engine = DecisionEngine(decision_params(c, model), self.plan.neighbours, grid_width=grid_w,
                                         tile_cells=cells)
            self._accepted_dirty = True
            self._model = model
            if self.on_new_plan is not None:
                self.on_new_plan()
            log.info("camera %s: %dx%d frames, %d tiles of %d px", self.name, *frame_size, len(self.plan.tiles),
                     self.tile_px)
            if frame_size[0] * frame_size[1] < REFERENCE_FRAME[0] * REFERENCE_FRAME[1]:
                log.warning("camera %s: %dx%d frames are smaller than the %dx%d the model's operating point was "
                            "measured on; small pieces read weaker (at 640x360, 2 of 24 real-wall pieces in IR read "
                            "under the threshold): use a camera mode of at least %dx%d", self.name, *frame_size,
                            *REFERENCE_FRAME, *REFERENCE_FRAME)
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
        return model.spec.input_size[1] / float(self.tile_px)

    def _make_judge(self, frame_size: tuple[int, int], model: ModelSession) -> WallJudge | None:
        wc = self.cfg.wall
        if not wc.enabled or self.plan is None:
            return None
        self._scale = scale = self._model_scale(model)
        w, h = frame_size
        size_hw = (max(1, int(round(h * scale))), max(1, int(round(w * scale))))
        def scaled(v: int) -> int:
            return int(round(v * scale))

        tiles = [(scaled(x1), scaled(y1), scaled(x2), scaled(y2)) for x1, y1, x2, y2 in (t.xyxy for t in self.plan.tiles)]
        return WallJudge(
            WallParams(slot_s=wc.slot_s, slots=wc.slots),
            JudgeParams(commission_s=wc.commission_s, refresh_s=wc.refresh_s, score_margin=wc.score_margin,
                        change_fraction=wc.change_fraction, refine_s=wc.refine_s),
            ChangeParams(),
            tiles,
            size_hw,
        )

    def _judge_sample(self, sample: Sample) -> list[Decision]:
        """Feed the wall model; score the tiles whose wall changed; gate; decide."""
        import cv2

        judge, engine, model, frame = self.judge, sample.engine, sample.model, sample.frame
        assert judge is not None
        hw = judge.wall.size_hw
        scaled = cv2.resize(masked_frame(frame.image, sample.plan), (hw[1], hw[0]), interpolation=cv2.INTER_AREA)
        open_tiles = engine.all_open_tiles()
        step = judge.sample(frame.t_s, scaled, open_tiles)
        if step.to_score:
            t0 = time.perf_counter()
            scores = model.score(judge.crops(step.to_score))
            self.infer_ms.append((time.perf_counter() - t0) * 1000.0)
            judge.scored(frame.t_s, step.to_score, scores)
        if not judge.wall.valid:
            return []
        judged = judge.judge(frame.t_s, engine.params.threshold, open_tiles, engine.params.clean_threshold)
        sample.commission = judged.report
        base = judge.baseline
        if base is None or not base.done:
            return []
        return engine.update(frame.t_s, judged.gated, judged.cells, judged.settled, view=judge.mode,
                             paint=judged.paint)
