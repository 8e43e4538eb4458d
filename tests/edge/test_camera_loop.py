"""A camera's thread loop on its own (``CameraLoop``): recordings with gaps, live cameras that go quiet,
sources and frames that fail, real-time pacing and stopping. Real emitter, scripted sources."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from detector.edge.camera_loop import CameraLoop
from detector.edge.config import CameraConfig
from detector.edge.emitter import EventEmitter
from detector.edge.evidence import event_id
from detector.edge.sources import Frame, Source
from tests.edge.conftest import wait_until

IMG = np.zeros((16, 16, 3), np.uint8)
WALL0 = 1.7e9


class Recording(Source):
    """A clocked source that hands out frames at the given source times, then finishes."""

    def __init__(self, times: list[float], fail_first: int = 0) -> None:
        super().__init__("north")
        self.times = list(times)
        self.fail_first = fail_first
        self.closed = False

    def next_sample(self, due_t_s: float | None) -> Frame | None:
        if self.fail_first > 0:
            self.fail_first -= 1
            raise OSError("the disk hiccuped")
        if not self.times:
            self.finished = True
            return None
        t = self.times.pop(0)
        return Frame(IMG, t, WALL0 + t, 0, f"t={t}")

    def close(self) -> None:
        self.closed = True


class Quiet(Source):
    """A live camera that sends nothing until ``feed`` is set, then one frame per call."""

    live = True

    def __init__(self) -> None:
        super().__init__("north")
        self.feed = threading.Event()

    def next_sample(self, due_t_s: float | None) -> Frame | None:
        if not self.feed.is_set():
            return None
        return Frame(IMG, time.monotonic(), time.time(), 0)


def make_loop(source: Source, realtime: bool = False, interval_s: float = 5.0, offline_after_s: float = 60.0,
              on_frame: Any = None) -> tuple[CameraLoop, list[Any], list[Frame], list[str]]:
    events: list[Any] = []
    frames: list[Frame] = []
    calls: list[str] = []
    cfg = CameraConfig(source="rec.mp4", offline_after_s=offline_after_s)
    emitter = EventEmitter("north", cfg, "dev", lambda e, f: events.append(e), source.live)
    loop = CameraLoop("north", source, interval_s, offline_after_s, realtime, threading.Event(), emitter,
                      on_frame or frames.append, lambda: calls.append("finish"), retry_s=0.01)
    return loop, events, frames, calls


def test_a_gap_in_a_recording_gives_one_offline_and_one_online_at_the_recordings_times() -> None:
    source = Recording([0.0, 5.0, 10.0, 200.0, 205.0])
    loop, events, frames, calls = make_loop(source)
    loop.run()
    assert [f.t_s for f in frames] == [0.0, 5.0, 10.0, 200.0, 205.0]
    assert [e.type for e in events] == ["camera_offline", "camera_online"]
    offline, online = events
    assert offline.id == event_id("dev", "north", "rec.mp4", "camera_offline", 10.0)  # identified by the last frame
    assert offline.detail == {"no_frames_s": 60.0}
    assert online.detail == {"offline_s": 190.0}
    assert not loop.offline and loop.last_t_s == 205.0 and loop.last_wall == WALL0 + 205.0
    assert calls == ["finish"] and source.closed


def test_a_source_that_raises_is_retried_and_the_camera_goes_on() -> None:
    source = Recording([0.0, 5.0], fail_first=2)
    loop, events, frames, calls = make_loop(source)
    loop.run()
    assert [f.t_s for f in frames] == [0.0, 5.0] and events == [] and calls == ["finish"]


def test_a_frame_that_fails_is_skipped_and_the_next_is_taken() -> None:
    seen: list[float] = []

    def on_frame(frame: Frame) -> None:
        seen.append(frame.t_s)
        if frame.t_s == 5.0:
            raise ValueError("a bug on this frame")

    loop, _, _, calls = make_loop(Recording([0.0, 5.0, 10.0]), on_frame=on_frame)
    loop.run()
    assert seen == [0.0, 5.0, 10.0] and loop.last_t_s == 10.0 and calls == ["finish"]


def test_a_silent_live_camera_is_reported_offline_once_and_online_with_its_next_frame() -> None:
    source = Quiet()
    loop, events, frames, calls = make_loop(source, interval_s=0.02, offline_after_s=0.15)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: loop.offline, 10.0)
        time.sleep(0.2)  # still silent: no second report
        assert [e.type for e in events] == ["camera_offline"]
        assert events[0].detail["no_frames_s"] >= 0.1 and events[0].detail["source"] == "rec.mp4"
        assert loop.frame_age_s() is None
        source.feed.set()
        assert wait_until(lambda: len(events) == 2 and len(frames) > 0, 10.0)
        assert events[1].type == "camera_online" and not loop.offline
        age = loop.frame_age_s()
        assert age is not None and age < 10.0
    finally:
        loop.stop.set()
        thread.join(10.0)
    assert not thread.is_alive() and calls == ["finish"]


def test_real_time_playback_keeps_the_recordings_pace_and_a_stop_ends_the_wait() -> None:
    source = Recording([0.0, 0.3, 3600.0])  # the third frame is an hour of recording later
    loop, _, frames, calls = make_loop(source, realtime=True)
    thread = threading.Thread(target=loop.run, daemon=True)
    t0 = time.monotonic()
    thread.start()
    assert wait_until(lambda: len(frames) == 2, 10.0)
    assert time.monotonic() - t0 >= 0.3  # the second frame waited for its time
    loop.stop.set()  # while waiting for the third
    thread.join(10.0)
    assert not thread.is_alive() and [f.t_s for f in frames] == [0.0, 0.3] and calls == ["finish"]
    assert source.closed
