"""What a camera must remember across a restart, as plain JSON values and numpy arrays.

Used by ``CameraWorker.export_state`` / ``restore_state`` and written by :mod:`detector.edge.state`.
Each part exports and restores its own state (``DecisionEngine``, ``WallJudge`` with its
``WallEstimate``, ``HealthMonitor``); this module composes them per camera.
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

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from detector.edge.camera_loop import CameraLoop
    from detector.edge.emitter import EventEmitter
    from detector.edge.model_holder import ModelHolder
    from detector.edge.pipeline import SamplePipeline
    from detector.edge.sources import Source


class CameraParts(Protocol):
    """What a camera's state is read from and put back into (a ``CameraWorker``)."""

    source: Source
    models: ModelHolder
    loop: CameraLoop
    pipeline: SamplePipeline
    events: EventEmitter


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
        "engine": pipeline.engine.export_state() if pipeline.engine is not None else None,
        "judge": pipeline.judge.export_state(full) if pipeline.judge is not None else None,
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
    if judge is not None and isinstance(snap.get("judge"), dict) and judge.restore_state(snap["judge"], shift):
        done.append("wall model and baseline" if "wall" in snap["judge"] else "tile scores")
    ids = {int(k): str(v) for k, v in snap.get("event_ids", {}).items()}
    closed = [k for k, v in ids.items() if v in closed_ids]  # the operator closed them while the runner was down
    if engine is not None and isinstance(snap.get("engine"), dict) and \
            engine.restore_state(snap["engine"], shift, closed=closed):
        open_keys = set(engine.open_keys)
        events.event_ids = {k: v for k, v in ids.items() if k in open_keys}
        done.append(f"{len(open_keys)} open event(s)" + (f" ({len(closed)} closed meanwhile)" if closed else ""))
        restored: list[Detection] = []
        model = worker.models.current.ref  # the model deciding now: the one that decided is not recorded
        for p in snap.get("pending", []):
            if int(p["key"]) not in open_keys:
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
