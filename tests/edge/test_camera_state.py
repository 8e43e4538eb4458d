"""A camera's exported state restores exactly: a worker restored from a snapshot makes the same
decisions on the following frames as the worker that never stopped (real ORT, real wall model)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from detector.edge.camera import CameraWorker
from detector.edge.config import CameraConfig, DecisionConfig, TilingConfig, WallConfig
from detector.edge.model_holder import ModelHolder
from detector.edge.sources import Frame, Source
from detector.edge.state import StateStore
from tests.edge.edge_models import paint, redness_model, wall
from tests.edge.test_runner import PATCH


class Recording(Source):
    """A clocked source fed by the test (its position is the number of frames handed out)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.k = 0

    def next_sample(self, due_t_s: float | None) -> Frame | None:
        return None

    def position(self) -> dict:  # type: ignore[override]
        return {"kind": "test", "k": self.k}

    def seek(self, position: dict) -> bool:  # type: ignore[override]
        self.k = int(position["k"])
        return True


def make_worker(holder: ModelHolder, events: list) -> CameraWorker:  # type: ignore[type-arg]
    cfg = CameraConfig(source="rec", interval_s=5, tiling=TilingConfig(tile_px=64),
                       decision=DecisionConfig(window=5, confirm_s=20, clean_s=60),
                       wall=WallConfig(slot_s=5, slots=3, commission_s=10))
    return CameraWorker("north", cfg, "dev", holder, lambda e, f: events.append((e.type, e.id)), False,
                        threading.Event(), source=Recording("north"))


def frames(n: int, paint_from: int, paint_until: int) -> list[np.ndarray]:
    base = wall(320, 240)
    return [paint(base, PATCH) if paint_from <= i < paint_until else base for i in range(n)]


def test_a_restored_worker_decides_exactly_as_the_one_that_never_stopped(tmp_path: Path) -> None:
    holder = ModelHolder(redness_model(tmp_path / "m.onnx"), threads=1)
    views = frames(80, paint_from=12, paint_until=40)
    a_events: list[tuple[str, str]] = []
    a = make_worker(holder, a_events)
    a.pipeline.rejected_seen.add("6f1c2a9e-3b1d-4c55-9a43-0f6c1f0b7d21")
    cut = 25  # after the detection: an open event, a commissioned baseline, a full wall model
    for i, img in enumerate(views[:cut]):
        a.process(Frame(img, i * 5.0, 1.7e9 + i * 5.0, i))
    assert [t for t, _ in a_events] == ["graffiti_detected"] and a.engine is not None and a.engine.open_keys
    store = StateStore(tmp_path / "state")
    store.save("north", a.export_state(full=True))

    b_events: list[tuple[str, str]] = []
    b = make_worker(holder, b_events)
    b.restore_state(store.load("north"), None)
    for i, img in enumerate(views[cut:], start=cut):
        frame = Frame(img, i * 5.0, 1.7e9 + i * 5.0, i)
        a.process(frame)
        b.process(frame)
        assert b.engine is not None and a.engine is not None
        assert b.engine.medians() == a.engine.medians(), f"diverged at frame {i}"
    assert b_events == a_events[1:]  # the same cleaning, with the same id, closing the same detection
    assert [t for t, _ in b_events] == ["graffiti_cleaned"]
    assert b.pipeline.rejected_seen == a.pipeline.rejected_seen


def test_a_live_snapshot_moves_its_times_onto_the_new_clock(tmp_path: Path) -> None:
    from detector.edge.camera_state import shift_for

    snap = {"clocked": False, "mono_at_save": time.monotonic() - 100.0, "wall_at_save": time.time() - 160.0}
    # after a reboot the monotonic clock restarts: saved times move so that time spent down counts as passed
    assert abs(shift_for(snap) - (-60.0)) < 0.5
    assert shift_for({"clocked": True, "mono_at_save": 0.0, "wall_at_save": 0.0}) == 0.0


def test_a_detection_decided_but_not_yet_stored_is_reported_after_the_restart(tmp_path: Path) -> None:
    from detector.edge.decision import Opened
    from detector.edge.evidence import Detection, event_id

    holder = ModelHolder(redness_model(tmp_path / "m.onnx"), threads=1)
    views = frames(40, paint_from=12, paint_until=40)
    a_events: list[tuple[str, str]] = []
    a = make_worker(holder, a_events)
    for i, img in enumerate(views[:25]):
        a.process(Frame(img, i * 5.0, 1.7e9 + i * 5.0, i))
    assert a.engine is not None
    (key,) = a.engine.open_keys
    tiles = sorted(a.engine.all_open_tiles())  # of its one open event
    # As if the runner died while the detection waited for a still picture: decided, not stored.
    decided = Opened(key, 120.0, dict.fromkeys(tiles, 0.9), 0.9, 100.0, [(110.0, 0.9), (120.0, 0.9)])
    a.picker.adopt([Detection(decided, 1.7e9 + 120.0, holder.current.ref)])
    a.events.event_ids.pop(key)
    snapshot = a.export_state(full=True)

    b_events: list[tuple[str, str]] = []
    b = make_worker(holder, b_events)
    b.restore_state(snapshot, None)
    b.process(Frame(views[25], 125.0, 1.7e9 + 125.0, 25))
    assert b_events == [("graffiti_detected", event_id("dev", "north", "rec", "graffiti_detected", 120.0, tiles))]
    assert b.events.event_ids == {key: b_events[0][1]}  # its cleaning will refer to it


def test_a_camera_hands_freed_memory_back_once_a_minute_of_stream_time(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import detector.edge.camera as camera

    calls: list[int] = []
    holder = ModelHolder(redness_model(tmp_path / "m.onnx"), threads=1)
    worker = make_worker(holder, [])
    monkeypatch.setattr(camera, "return_freed_memory", lambda: calls.append(1) or True)
    views = frames(60, paint_from=100, paint_until=100)  # 60 samples 5 s apart: 5 minutes of a clean wall
    for i, img in enumerate(views):
        worker.process(Frame(img, i * 5.0, 1.7e9 + i * 5.0, i))
    assert len(calls) == 5  # at 0, 60, 120, 180 and 240 s
    worker.process(Frame(views[0], 0.0, 1.7e9, 60))  # the stream starts again (a recording rewound)
    assert len(calls) == 6
