"""What a camera must remember across a restart, as plain JSON values and numpy arrays.

Used by ``CameraWorker.export_state`` / ``restore_state`` and written by :mod:`detector.edge.state`.
Two depths: a *light* snapshot (the decision engine with its open events and their ids, the health
monitor's reference, the source position, the judge's per-tile scores — a few kB, saved after every
event and every ``light_every_s``) and a *full* one that adds the big arrays (the wall model's slots
and estimate, the commissioned baselines, the clean reference picture — megabytes, saved every
``full_every_s`` so an SD card is not worn out).

Times: a recording's clock continues after a restart (its position is restored), so its times are
kept as they are; a live camera's clock is the monotonic clock, which restarts with the machine, so
its times are shifted by the difference between the old and the new clock (wall-clock time that
passed while the runner was down counts as time that passed).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from detector.edge.decision import DecisionEngine, _Open, _Tile
from detector.edge.judge import Baseline, WallJudge

if TYPE_CHECKING:
    from detector.edge.camera_loop import CameraLoop
    from detector.edge.emitter import EventEmitter
    from detector.edge.pipeline import SamplePipeline
    from detector.edge.session import ModelHolder
    from detector.edge.sources import Source


class CameraParts(Protocol):
    """What a camera's state is read from and put back into (a ``CameraWorker``)."""

    source: Source
    models: ModelHolder
    loop: CameraLoop
    pipeline: SamplePipeline
    events: EventEmitter


def _t(value: float | None, shift_s: float) -> float | None:
    return None if value is None else float(value) + shift_s


def export_engine(engine: DecisionEngine) -> dict[str, Any]:
    return {
        "tiles": [{"samples": list(t.samples), "median": t.median, "hot_since": t.hot_since,
                   "cold_since": t.cold_since} for t in engine._tiles],
        "open": [{"key": ev.key, "opened_t_s": ev.opened_t_s, "tiles": sorted(ev.tiles), "cells": sorted(ev.cells)}
                 for ev in engine._open.values()],
        "next_key": engine._next_key,
        "history": [[t, list(s)] for t, s in engine._history],
        "last_t_s": engine.last_t_s,
    }


def restore_engine(engine: DecisionEngine, state: dict[str, Any], shift_s: float) -> bool:
    """Put a saved engine state back; False (nothing changed) when it does not fit this tile plan."""
    tiles = state.get("tiles")
    if not isinstance(tiles, list) or len(tiles) != len(engine._tiles):
        return False
    window = engine.params.window
    engine._tiles = [_Tile(deque((float(s) for s in t["samples"]), maxlen=window), float(t["median"]),
                           _t(t["hot_since"], shift_s), _t(t["cold_since"], shift_s)) for t in tiles]
    engine._open = {int(ev["key"]): _Open(int(ev["key"]), float(ev["opened_t_s"]) + shift_s,
                                          {int(i) for i in ev["tiles"]}, {int(c) for c in ev.get("cells", [])})
                    for ev in state.get("open", [])}
    engine._next_key = max([int(state.get("next_key", 1)), *(k + 1 for k in engine._open)])
    engine._history = deque(((float(t) + shift_s, [float(v) for v in s]) for t, s in state.get("history", [])),
                            maxlen=engine._history.maxlen)
    engine.last_t_s = _t(state.get("last_t_s"), shift_s)
    return True


def export_judge(judge: WallJudge, full: bool) -> dict[str, Any]:
    thumbs = judge._scored_thumb
    out: dict[str, Any] = {
        "tiles": len(judge.tiles),
        "size_hw": list(judge.wall.size_hw),
        "scores": judge.scores.copy(),
        "scored_at": judge.scored_at.copy(),
        "changed_since": judge._changed_since.copy(),
        "hot_modes": {str(i): sorted(m) for i, m in judge._hot_modes.items()},
        "pending": {mode: sorted(t) for mode, t in judge._pending.items()},
        "model_runs": judge.model_runs,
        "model_runs_saved": judge.model_runs_saved,
    }
    if full:
        have = np.array([t is not None for t in thumbs], dtype=bool)
        out["thumbs_have"] = have
        out["thumbs"] = np.stack([t if t is not None else np.zeros((16, 16), np.float32) for t in thumbs]) \
            if thumbs else np.zeros((0, 16, 16), np.float32)
        out["baselines"] = {mode: {"grey": b.grey, "scores": b.scores, "started_s": b.started_s, "done": b.done,
                                   "carried": sorted(b.carried),
                                   **({"paint": b.paint} if b.paint is not None else {})}
                          for mode, b in judge.baselines.items()}
        wall = judge.wall
        out["wall"] = {**wall.export_state(), "version": wall.version, "mode_version": wall.mode_version,
                       "slot_start": wall._slot_start, "acc": wall._acc, "moved": wall._moved.copy()}
    return out


def restore_judge(judge: WallJudge, state: dict[str, Any], shift_s: float) -> bool:
    """Put a saved judge back (its wall model too, when the state is a full one); False when it does not fit."""
    n = len(judge.tiles)
    if state.get("tiles") != n or list(state.get("size_hw", [])) != list(judge.wall.size_hw):
        return False
    w = state.get("wall")
    if isinstance(w, dict):
        if not judge.wall.restore_state(w):
            return False
        judge.wall.mode_version = int(w.get("mode_version", 0))
        judge.wall.version = int(w.get("version", judge.wall.version))
        judge.wall._slot_start = _t(w.get("slot_start"), shift_s)
        acc = w.get("acc")
        judge.wall._acc = acc.copy() if isinstance(acc, np.ndarray) and acc.shape == judge.wall.ring.shape[1:] else None
        if judge.wall._acc is None:
            judge.wall._slot_start = None
        moved = w.get("moved")
        if isinstance(moved, np.ndarray) and moved.shape == judge.wall._moved.shape:
            judge.wall._moved[...] = moved
        judge._mode_version = judge.wall.mode_version
        judge._seen_version = judge.wall.version  # the scores below belong to this estimate
        baselines = state.get("baselines", {})
        judge.baselines = {mode: Baseline(b["grey"].copy(), b["scores"].astype(np.float32),
                                          float(b["started_s"]) + shift_s, bool(b["done"]),
                                          {int(i) for i in b["carried"]},
                                          b["paint"].astype(bool) if isinstance(b.get("paint"), np.ndarray) else None)
                           for mode, b in baselines.items()}
        have, thumbs = state.get("thumbs_have"), state.get("thumbs")
        if isinstance(have, np.ndarray) and isinstance(thumbs, np.ndarray) and len(have) == n:
            judge._scored_thumb = [thumbs[i].astype(np.float32) if have[i] else None for i in range(n)]
    judge.scores[...] = np.asarray(state["scores"], dtype=np.float32)
    judge.scored_at[...] = np.asarray(state["scored_at"], dtype=np.float64) + shift_s
    judge._changed_since[...] = np.asarray(state["changed_since"], dtype=np.float64) + shift_s
    judge._hot_modes = {int(i): set(m) for i, m in state.get("hot_modes", {}).items()}
    judge._pending = {mode: {int(i) for i in t} for mode, t in state.get("pending", {}).items()}
    judge.model_runs = int(state.get("model_runs", 0))
    judge.model_runs_saved = int(state.get("model_runs_saved", 0))
    judge._change_key = (-1, -1, -1)  # recompute the structural change against the restored baseline
    return True


# ---------------------------------------------------------------- one camera worker
def export_camera(worker: CameraParts, full: bool) -> dict[str, Any]:
    """A snapshot of a ``CameraWorker`` (called in its own thread, between two frames)."""
    import time

    src, loop, pipeline, events = worker.source, worker.loop, worker.pipeline, worker.events
    snap: dict[str, Any] = {
        "full": full,
        "clocked": not src.live,
        "mono_at_save": time.monotonic(),
        "wall_at_save": time.time(),
        "frame_size": list(pipeline.plan.frame_size) if pipeline.plan is not None else None,
        "source": src.position() if not src.live else None,
        "health": pipeline.health.export_state(),
        "event_ids": {str(k): v for k, v in events.event_ids.items()},
        "pending": [{"key": p.decision.key, "wall_time": p.wall_time, "t_s": p.decision.t_s,
                     "tile_scores": {str(i): s for i, s in p.decision.tile_scores.items()},
                     "score": p.decision.score, "hot_since_s": p.decision.hot_since_s,
                     "score_history": [list(h) for h in p.decision.score_history]}
                    for p in events.picker.waiting],
        "offline": loop.offline,
        "rejected_seen": sorted(pipeline.rejected_seen),  # re-baselined already: not again after a restart
        "last_t_s": loop.last_t_s,
        "last_wall": loop.last_wall,
        "engine": export_engine(pipeline.engine) if pipeline.engine is not None else None,
        "judge": export_judge(pipeline.judge, full) if pipeline.judge is not None else None,
    }
    if full and events.reference_view is not None:
        snap["reference_view"] = events.reference_view
    return snap


def shift_for(snap: dict[str, Any]) -> float:
    """How much to add to a snapshot's times to put them on this process's source clock."""
    import time

    if snap.get("clocked"):
        return 0.0
    return (time.monotonic() - time.time()) - (float(snap["mono_at_save"]) - float(snap["wall_at_save"]))


def choose(full: dict[str, Any] | None, light: dict[str, Any] | None, live: bool) -> list[dict[str, Any]]:
    """The snapshots to apply, oldest first.

    A recording resumes from the full snapshot alone: it holds the position and everything that
    decides, consistently, and the span after it is processed again (the same decisions give the same
    event ids, which the outbox and the receivers store once). A live camera takes the full snapshot
    (wall model, baselines) and then the newer light one (open events, their ids, the engine).
    """
    if not live:
        return [full] if full is not None else []
    out = [s for s in (full, light) if s is not None]
    return sorted(out, key=lambda s: float(s.get("wall_at_save", 0.0)))


def restore_camera(worker: CameraParts, snap: dict[str, Any], closed_ids: set[str]) -> list[str]:
    """Apply one snapshot to a worker whose plan/engine/judge exist; returns what was restored (for the log)."""
    from detector.edge.decision import Opened
    from detector.edge.evidence import Detection

    done: list[str] = []
    pipeline, events = worker.pipeline, worker.events
    if pipeline.plan is None or list(pipeline.plan.frame_size) != list(snap.get("frame_size") or []):
        return done
    shift = shift_for(snap)
    engine, judge = pipeline.engine, pipeline.judge
    if judge is not None and isinstance(snap.get("judge"), dict) and restore_judge(judge, snap["judge"], shift):
        done.append("wall model and baseline" if "wall" in snap["judge"] else "tile scores")
    if engine is not None and isinstance(snap.get("engine"), dict) and restore_engine(engine, snap["engine"], shift):
        ids = {int(k): str(v) for k, v in snap.get("event_ids", {}).items()}
        closed = [k for k, v in ids.items() if v in closed_ids]
        if closed:  # the operator closed them while the runner was down: not carried on
            engine._open = {k: ev for k, ev in engine._open.items() if k not in closed}
        events.event_ids = {k: v for k, v in ids.items() if k in engine._open}
        done.append(f"{len(engine._open)} open event(s)" + (f" ({len(closed)} closed meanwhile)" if closed else ""))
        restored: list[Detection] = []
        model = worker.models.current.ref  # the model deciding now: the one that decided is not recorded
        for p in snap.get("pending", []):
            if int(p["key"]) not in engine._open:
                continue
            d = Opened(int(p["key"]), float(p["t_s"]) + shift, {int(i): float(s) for i, s in p["tile_scores"].items()},
                       float(p["score"]), float(p["hot_since_s"]) + shift,
                       [(float(t) + shift, float(s)) for t, s in p["score_history"]])
            restored.append(Detection(d, float(p["wall_time"]), model))
        events.picker.adopt(restored)
    ref = snap.get("reference_view")
    if isinstance(ref, np.ndarray) and list(ref.shape[:2][::-1]) == list(snap.get("frame_size") or []):
        events.reference_view = ref
    return done


def restore_early(worker: CameraParts, snap: dict[str, Any]) -> list[str]:
    """What can be restored before the first frame: the source position, health, offline state."""
    done: list[str] = []
    loop, health = worker.loop, worker.pipeline.health
    pos = snap.get("source")
    if snap.get("clocked") and isinstance(pos, dict) and worker.source.seek(pos):
        done.append("source position")
        last = snap.get("last_t_s")
        loop.last_t_s = None if last is None else float(last)
        lw = snap.get("last_wall")
        loop.last_wall = None if lw is None else float(lw)
    if isinstance(snap.get("health"), dict):
        health.restore_state(snap["health"])
        if health.reference is not None:
            done.append("tamper reference view")
    if snap.get("offline") and worker.source.live:
        loop.offline = True
    worker.pipeline.rejected_seen |= {str(i) for i in snap.get("rejected_seen", [])}
    return done
