"""The edge camera loop in-process over a simulated stream, without delivery: for benchmarks and tests.

It runs the edge runner's own ``CameraWorker`` (motion, health, tiling, one batched model run,
decision, evidence) on a ``SimSource`` (``detector/data/sim/source.py``), with the edge config's defaults unless overridden,
so what it reports is what a device would have reported; only the outbox and HTTP are left out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detector.data.sim.source import SimSource
from detector.demo.truth import TimedEvent
from detector.errors import ConfigError

EPOCH0_S = 1_800_000_000.0  # wall-clock epoch of stream time 0 (any fixed value; events use it)
ScoresFn = Callable[[float, np.ndarray], None]  # (stream t_s, per-tile scores) after each model run


@dataclass
class CameraRun:
    events: list[TimedEvent] = field(default_factory=list)
    samples: int = 0
    seconds: float = 0.0  # wall time of the whole loop
    render_s: float = 0.0  # of which rendering the simulated frames
    tiles: list[tuple[int, int, int, int]] = field(default_factory=list)  # the tile plan's boxes
    evidence: dict[str, bytes] = field(default_factory=dict)  # graffiti_detected event id → frame JPEG
    model_runs: int = 0  # tiles scored (wall model on: only tiles whose wall changed, and refreshes)
    model_runs_saved: int = 0  # tiles the wall model did not need to score

    @property
    def samples_per_s(self) -> float:
        return self.samples / max(self.seconds, 1e-9)


class _Recording:
    """The current model, with each score() result handed to ``on_scores`` (diagnostics only)."""

    def __init__(self, model: Any, on_scores: ScoresFn, clock: Callable[[], float]) -> None:
        self._model, self._on_scores, self._clock = model, on_scores, clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def score(self, tiles: Any) -> np.ndarray:
        scores: np.ndarray = self._model.score(tiles)
        self._on_scores(self._clock(), scores)
        return scores

    def score_windows(self, image: Any, boxes: Any) -> np.ndarray:
        scores: np.ndarray = self._model.score_windows(image, boxes)
        self._on_scores(self._clock(), scores)
        return scores


class _Holder:
    def __init__(self, current: Any) -> None:
        self.current = current


def camera_config(settings: dict[str, Any] | None = None) -> Any:
    """A CameraConfig from the edge config's defaults plus ``settings`` (e.g. {"interval_s": 5,
    "decision": {"clean_s": 300}}), validated like edge.toml (errors name cameras.sim.<key>)."""
    from detector.edge.config import parse_edge_config

    cam = {"source": "sim://0", **(settings or {})}
    cfg = parse_edge_config({"device": {"name": "sim-device"}, "cameras": {"sim": cam}})
    return cfg.cameras["sim"]


def model_run_settings(model: dict[str, Any], threads: int) -> tuple[int, None, int]:
    """(threads, reference frame, max_batch) for a ModelHolder from an edge ``[model]`` table's overrides,
    validated like edge.toml (errors name model.<key>). Unset: ``threads`` and all tiles in one run (the
    scores are the same at any max_batch; one run is the fastest here)."""
    from detector.edge.config import parse_edge_config

    if "path" in model or "reference_frame" in model:
        raise ConfigError("model.path / model.reference_frame: give the model file as the benchmark's --model")
    cfg = parse_edge_config({"device": {"name": "sim-device"}, "model": dict(model),
                             "cameras": {"sim": {"source": "sim://0"}}}).model
    return (cfg.threads if "threads" in model else threads), None, (cfg.max_batch if "max_batch" in model else 0)


def sim_camera_settings(settings: dict[str, Any] | None, threads: int = 1) -> tuple[Any, tuple[int, None, int]]:
    """(camera config, ModelHolder's (threads, reference frame, max_batch)) from a benchmark's settings: the
    camera's keys, and a ``model`` table for how the model runs; validated like edge.toml."""
    settings = dict(settings or {})
    model_set = settings.pop("model", None) or {}
    return camera_config(settings), model_run_settings(model_set, threads)


def run_camera(stream: Any, model_path: Path, settings: dict[str, Any] | None = None, start_s: float = 0.0,
               end_s: float | None = None, threads: int = 1, on_scores: ScoresFn | None = None,
               on_event: Callable[[TimedEvent], None] | None = None) -> CameraRun:
    """Run one camera over ``stream`` [start_s, end_s) in this thread; returns its events on the stream clock."""
    from detector.edge.camera import CameraWorker
    from detector.edge.model_holder import ModelHolder

    cfg, run_args = sim_camera_settings(settings, threads)
    holder = ModelHolder(Path(model_path), *run_args)
    source = SimSource("sim", stream, start_s, end_s, epoch0_s=EPOCH0_S)
    run = CameraRun()

    def emit(event: Any, files: dict[str, bytes]) -> None:
        d = event.to_dict()
        if event.type == "graffiti_detected" and "frame" in event.evidence:
            run.evidence[event.id] = files[event.evidence["frame"]]
        t = d.get("detail", {}).get("t_s")
        timed = TimedEvent.from_dict(d, t_s=float(t) if t is not None else source.last_t_s)
        run.events.append(timed)
        if on_event is not None:
            on_event(timed)

    models: Any = holder
    if on_scores is not None:
        models = _Holder(_Recording(holder.current, on_scores, lambda: source.last_t_s))
    worker = CameraWorker("sim", cfg, "sim-device", models, emit, False, threading.Event(), source=source)
    t0 = time.perf_counter()
    worker.run()
    run.seconds = time.perf_counter() - t0
    run.samples = worker.frames_seen
    run.render_s = source.render_s
    run.tiles = [t.xyxy for t in worker.plan.tiles] if worker.plan is not None else []
    if worker.judge is not None:
        run.model_runs, run.model_runs_saved = worker.judge.model_runs, worker.judge.model_runs_saved
    return run
