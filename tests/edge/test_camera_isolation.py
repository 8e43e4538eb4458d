"""Cameras are isolated: a camera that accepts the connection and never answers (a real local socket)
never delays another camera, and it reports itself offline while the healthy one keeps working."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from detector.edge.config import parse_edge_config
from detector.edge.runner import EdgeRunner
from detector.edge.sources import LiveCapture, VideoFileSource
from tests.edge.edge_models import write_folder
from tests.edge.test_live import wait_for, write_video
from tests.edge.test_runner import config, delivered, scene


class StalledServer:
    """Accepts TCP connections and never sends a byte (a camera hung after the handshake)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def still_waiting(self) -> bool:
        """True while some accepted connection is open and the client has not given up on it."""
        for conn in self.accepted:
            readable, _, _ = select.select([conn], [], [], 0)
            if not readable:
                return True  # nothing arrived, not even EOF: the client is still waiting for us
            try:
                data = conn.recv(4096, socket.MSG_PEEK)
            except OSError:
                continue
            if data:  # it sent its request (RTSP OPTIONS) and waits for an answer that never comes
                return True
        return False

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def stalled() -> Iterator[StalledServer]:
    server = StalledServer()
    yield server
    server.close()


def test_a_stalled_camera_never_delays_another_camera_opening_or_reading(tmp_path: Path, stalled: StalledServer) -> None:
    video = tmp_path / "healthy.avi"
    write_video(video, 200)
    hung = LiveCapture("hung", f"rtsp://127.0.0.1:{stalled.port}/stream", open_timeout_s=30, read_timeout_s=30)
    hung.start()
    healthy = LiveCapture("healthy", str(video))
    recorded = VideoFileSource("recorded", video)
    try:
        assert wait_for(lambda: bool(stalled.accepted), 20.0), "the stalled camera never connected"
        assert stalled.still_waiting()
        healthy.start()
        recorded.start()  # opened in this process while the stalled open is in progress
        frame = healthy.next_sample(None, wait_s=15.0)
        assert frame is not None and frame.image.shape == (120, 160, 3)
        assert recorded.next_sample(None) is not None
        # Both healthy cameras worked while the stalled camera was still inside its open (30 s timeout):
        assert stalled.still_waiting() and not hung.connected
        assert healthy.next_sample(None, wait_s=5.0) is not None  # and keeps working
    finally:
        for src in (hung, healthy, recorded):
            src.close()


def test_runner_with_a_stalled_camera_beside_a_healthy_folder_camera(tmp_path: Path, stalled: StalledServer) -> None:
    folder = tmp_path / "incoming"
    write_folder(folder, scene(1, paint_from=None), interval_s=1, t0=time.time() - 1)
    cfg = config(tmp_path, str(folder), interval_s=0.2, offline_after_s=2)
    cfg["cameras"]["hung"] = {**cfg["cameras"]["north"], "source": f"rtsp://127.0.0.1:{stalled.port}/live",
                              "reconnect_initial_s": 0.2, "reconnect_max_s": 0.5}
    runner = EdgeRunner(parse_edge_config(cfg, tmp_path), realtime=True)
    runner.setup()
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: bool(stalled.accepted), 20.0)
        seen = runner.workers["north"].frames_seen
        for i in range(3):  # new images keep arriving at the healthy camera while the other hangs
            img = tmp_path / f"new{i}.png"
            write_folder(tmp_path / "staging", scene(1, paint_from=None), interval_s=1, t0=time.time())
            (tmp_path / "staging" / "frame_00000.png").replace(folder / img.name)
            assert wait_for(lambda n=seen + i + 1: runner.workers["north"].frames_seen >= n, 10.0)
        assert wait_for(lambda: runner.workers["hung"].stats().state == "offline", 10.0)
        assert runner.workers["north"].stats().state == "online"
    finally:
        runner.request_stop()
        thread.join(60)
    assert not thread.is_alive()
    kinds = [(e["camera"], e["type"]) for e in delivered(tmp_path)]
    assert ("hung", "camera_offline") in kinds and not any(cam == "north" for cam, _ in kinds), kinds
