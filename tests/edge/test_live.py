"""Live sources: the grab thread keeps only the newest frame, reconnects, and offline/online events."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np

from detector.edge.camera import CameraWorker
from detector.edge.config import CameraConfig, WallConfig
from detector.edge.model_holder import ModelHolder
from detector.edge.sources import LiveCapture
from detector.events import Event
from tests.edge.edge_models import redness_model, wall


def write_video(path: Path, n: int, fps: float = 25.0) -> None:
    """Frames whose top-left pixel encodes the frame number (so a test can tell which one it got)."""
    writer = cv2.VideoWriter(str(path.with_suffix(".tmp.avi")), cv2.VideoWriter_fourcc(*"MJPG"), fps, (160, 120))
    for i in range(n):
        img = wall(160, 120)
        img[:16, :16] = (i * 2) % 256
        writer.write(img)
    writer.release()
    path.with_suffix(".tmp.avi").replace(path)


def wait_for(predicate, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def test_live_capture_returns_only_new_frames_and_reconnects_after_the_stream_ends(tmp_path: Path) -> None:
    video = tmp_path / "stream.avi"
    write_video(video, 40)
    cap = LiveCapture("cam", str(video), reconnect_initial_s=0.05, reconnect_max_s=0.1)
    cap.start()
    try:
        first = cap.next_sample(None)
        assert first is not None and first.image.shape == (120, 160, 3)
        time.sleep(0.3)  # the grab thread runs on meanwhile: the next sample skips stale frames
        second = cap.next_sample(None)
        assert second is not None and second.seq > first.seq
        # The file ends within a moment (a dropped stream); the capture reconnects and delivers again.
        assert wait_for(lambda: cap.reconnects >= 1, 10.0)
        assert cap.next_sample(None) is not None
    finally:
        cap.close()
    assert not cap._thread.is_alive()  # type: ignore[union-attr]


def test_camera_that_never_opens_goes_offline_and_online_when_it_appears(tmp_path: Path) -> None:
    video = tmp_path / "later.avi"
    holder = ModelHolder(redness_model(tmp_path / "m.onnx"), threads=1)
    events: list[Event] = []
    stop = threading.Event()
    # The per-frame path (wall model off) scores every sample, so inference figures exist after 2 frames.
    cfg = CameraConfig(source=str(video), interval_s=0.1, offline_after_s=0.5, reconnect_initial_s=0.05,
                       reconnect_max_s=0.2, wall=WallConfig(enabled=False))
    source = LiveCapture("north", str(video), cfg.reconnect_initial_s, cfg.reconnect_max_s)
    worker = CameraWorker("north", cfg, "dev", holder, lambda e, f: events.append(e), realtime=True, stop=stop,
                          source=source)
    source.start()
    worker.start()
    try:
        assert wait_for(lambda: [e.type for e in events] == ["camera_offline"], 10.0), events
        write_video(video, 100)
        assert wait_for(lambda: [e.type for e in events] == ["camera_offline", "camera_online"], 15.0), events
        assert wait_for(lambda: worker.frames_seen >= 2, 10.0)
        assert worker.stats().state == "online" and worker.stats().inference_ms_p50 is not None
    finally:
        stop.set()
        worker.thread.join(10)  # type: ignore[union-attr]
    assert not worker.thread.is_alive()  # type: ignore[union-attr]
    assert np.isfinite(events[1].detail["offline_s"])
