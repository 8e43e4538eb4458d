"""A camera's events on their own (``EventEmitter``): decisions in hand-made samples become events with
their evidence pictures — the picture waits for a still frame, a cleaning refers to its detection,
ignored areas are never shown, a rejected detection is never reported, a failed store is survived."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detector.edge.config import CameraConfig
from detector.edge.decision import Closed, DecisionEngine, DecisionParams, Opened
from detector.edge.emitter import EventEmitter
from detector.edge.judge import CommissionReport
from detector.edge.motion import MotionSample
from detector.edge.pipeline import Sample
from detector.edge.sources import Frame
from detector.events import Event
from detector.onnxmodel import ModelSession
from detector.tiling import TilePlan, plan_tiles, polygon_mask
from tests.edge.edge_models import redness_model

STILL, MOVING = MotionSample(0.0, True), MotionSample(0.2, False)
PARAMS = DecisionParams(threshold=0.5, clean_threshold=0.2, floor=0.1, window=3, confirm_s=10, clean_s=20, join_s=60)
IGNORED = [(0.0, 0.0), (64.0, 0.0), (64.0, 64.0), (0.0, 64.0)]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ModelSession:
    return ModelSession(redness_model(tmp_path_factory.mktemp("model") / "m.onnx"), 1)


class Setup:
    def __init__(self, model: ModelSession, live: bool = False, ignore: list[Any] | None = None) -> None:
        self.model = model
        self.cfg = CameraConfig(source="rec", ignore=ignore or [])
        self.plan: TilePlan = plan_tiles((320, 240), 64, 0.0, [], self.cfg.ignore)
        self.engine = DecisionEngine(PARAMS, self.plan.neighbours)
        self.privacy = polygon_mask((320, 240), self.cfg.ignore) if self.cfg.ignore else None
        self.stored: list[tuple[Event, dict[str, bytes]]] = []
        self.emitter = EventEmitter("north", self.cfg, "dev", lambda e, f: self.stored.append((e, f)), live)

    def sample(self, t_s: float, shade: int, motion: MotionSample, decisions: list[Any] = (),  # type: ignore[assignment]
               clean_view: bool = False, commission: CommissionReport | None = None) -> Sample:
        img = np.full((240, 320, 3), shade, np.uint8)
        s = Sample(Frame(img, t_s, 1.7e9 + t_s, int(t_s)), self.model, self.plan, self.engine, self.privacy, motion,
                   commission=commission, decisions=list(decisions), clean_view=clean_view)
        self.emitter.decided(s)
        return s

    def types(self) -> list[str]:
        return [e.type for e, _ in self.stored]


def opened(key: int = 1, t_s: float = 30.0) -> Opened:
    return Opened(key, t_s, {0: 0.9, 1: 0.8}, 0.9, t_s - 10.0, [(t_s - 5.0, 0.9), (t_s, 0.9)])


def closed(key: int = 1, t_s: float = 90.0) -> Closed:
    return Closed(key, t_s, 30.0, {0: 0.1, 1: 0.1}, 0.1, [(t_s, 0.1)])


def shade_of(jpeg: bytes) -> float:
    import cv2

    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return float(img[100:, 100:].mean())


def test_a_detection_and_its_cleaning_are_reported_with_pictures_and_linked(model: ModelSession) -> None:
    s = Setup(model)
    s.sample(25.0, 90, STILL, clean_view=True)  # the clean reference view
    s.sample(30.0, 100, STILL, [opened()])
    (det, files), = s.stored
    assert det.type == "graffiti_detected" and set(det.evidence) == {"frame", "crop", "reference"}
    assert abs(shade_of(files["frame.jpg"]) - 100) < 3 and abs(shade_of(files["reference.jpg"]) - 90) < 3
    assert det.detail == {"hot_for_s": 10.0, "window": 3, "confirm_s": 10, "t_s": 30.0}
    assert s.emitter.event_ids == {1: det.id}
    s.sample(90.0, 100, STILL, [closed()])
    cleaned = s.stored[1][0]
    assert cleaned.type == "graffiti_cleaned" and cleaned.related_event == det.id and s.emitter.event_ids == {}
    assert s.emitter.events_emitted == 2


def test_a_detection_during_motion_waits_for_the_next_still_frame(model: ModelSession) -> None:
    s = Setup(model)
    s.sample(30.0, 100, MOVING, [opened()])
    s.sample(35.0, 110, MOVING)
    assert s.stored == [] and [d.decision.key for d in s.emitter.picker.waiting] == [1]
    s.sample(40.0, 150, STILL)
    (det, files), = s.stored
    assert abs(shade_of(files["frame.jpg"]) - 150) < 3  # the still frame, not the one it was decided on
    assert det.time.startswith("2023-11-14T22:13:50")  # ...but the time it was decided (1.7e9 + 30 s)


def test_a_cleaning_before_the_still_frame_reports_the_detection_first(model: ModelSession) -> None:
    s = Setup(model)
    s.sample(30.0, 100, MOVING, [opened()])
    s.sample(35.0, 110, MOVING, [closed(t_s=35.0)])
    assert s.types() == ["graffiti_detected", "graffiti_cleaned"]
    assert s.stored[1][0].related_event == s.stored[0][0].id and s.emitter.picker.waiting == []


def test_a_forgotten_detection_is_never_reported(model: ModelSession) -> None:
    s = Setup(model)
    s.sample(30.0, 100, MOVING, [opened()])
    s.emitter.forget([1])
    s.sample(35.0, 150, STILL)
    s.emitter.flush()
    assert s.stored == []


def test_shutdown_reports_a_waiting_detection_with_the_stillest_frame(model: ModelSession) -> None:
    s = Setup(model)
    s.sample(30.0, 100, MotionSample(0.3, False), [opened()])
    s.sample(35.0, 140, MotionSample(0.1, False))
    s.emitter.flush()
    (det, files), = s.stored
    assert det.type == "graffiti_detected" and abs(shade_of(files["frame.jpg"]) - 140) < 3


def test_ignored_areas_are_grey_in_every_picture(model: ModelSession) -> None:
    import cv2

    s = Setup(model, ignore=[IGNORED])
    s.sample(30.0, 200, STILL, [opened()])
    (_, files), = s.stored
    img = cv2.imdecode(np.frombuffer(files["frame.jpg"], np.uint8), cv2.IMREAD_COLOR)
    assert abs(float(img[8:56, 8:56].mean()) - 128) < 3 and abs(float(img[120:, 120:].mean()) - 200) < 3


def test_a_commissioning_report_shows_the_latest_still_frame(model: ModelSession) -> None:
    s = Setup(model)
    s.sample(20.0, 60, STILL)
    s.sample(25.0, 120, MOVING, commission=CommissionReport("day", 25.0, {0: 0.8}))
    (ev, files), = s.stored
    assert ev.type == "commissioning_report" and ev.score == 0.8 and ev.detail["mode"] == "day"
    assert abs(shade_of(files["frame.jpg"]) - 60) < 3


def test_camera_events_of_a_recording_have_ids_from_its_clock(model: ModelSession) -> None:
    s = Setup(model)
    frame = Frame(np.zeros((240, 320, 3), np.uint8), 200.0, 1.7e9 + 200.0, 40)
    s.emitter.offline_gap(1.7e9 + 70.0, 10.0)
    s.emitter.online(frame, 190.0)
    again = Setup(model)
    again.emitter.offline_gap(1.7e9 + 70.0, 10.0)
    again.emitter.online(frame, 190.0)
    assert s.types() == ["camera_offline", "camera_online"]
    assert [e.id for e, _ in s.stored] == [e.id for e, _ in again.stored]  # a replay gives the same ids
    s.emitter.offline_live(75.0)
    assert s.stored[-1][0].detail == {"no_frames_s": 75.0, "source": "rec"}


def test_a_store_that_fails_is_logged_and_the_camera_goes_on(model: ModelSession, caplog: pytest.LogCaptureFixture,
                                                            tmp_path: Path) -> None:
    s = Setup(model)
    saves: list[int] = []
    s.emitter.on_stored = lambda: saves.append(1)

    def broken(event: Event, files: dict[str, bytes]) -> None:
        raise OSError("disk full")

    s.emitter.emit_fn = broken
    s.sample(30.0, 100, STILL, [opened()])
    assert s.emitter.events_emitted == 0 and saves == [] and "could not store graffiti_detected" in caplog.text
    s.emitter.emit_fn = lambda e, f: s.stored.append((e, f))
    s.sample(90.0, 100, STILL, [closed()])
    assert s.types() == ["graffiti_cleaned"] and saves == [1]
