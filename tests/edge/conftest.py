"""Fixtures for edge delivery tests: a real HTTP receiver and a real mosquitto broker on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from detector.events import Event
from tests.edge.receiver import ReviewReceiver


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate, timeout_s: float = 10.0, step_s: float = 0.02) -> bool:  # type: ignore[no-untyped-def]
    """Bounded polling loop: True as soon as ``predicate()`` holds, False after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return bool(predicate())


def make_event(camera: str = "north", type: str = "graffiti_detected", frame_bytes: int = 2000) -> tuple[Event, dict[str, bytes]]:
    """A valid event with a frame and a crop (distinct fake JPEG bytes per event)."""
    ev = Event(device="tunnel-7", camera=camera, type=type, score=0.91, threshold=0.6,
               bbox=(10, 20, 330, 340), frame_size=(1280, 720),
               evidence={"frame": "frame.jpg", "crop": "crop.jpg"} if frame_bytes else {})
    tag = ev.id.encode()
    files = {"frame.jpg": (b"\xff\xd8frame" + tag * (frame_bytes // len(tag) + 1))[:frame_bytes], "crop.jpg": b"\xff\xd8crop" + tag} if frame_bytes else {}
    return ev, files


@pytest.fixture
def receiver() -> Iterator[ReviewReceiver]:
    rx = ReviewReceiver().start()
    yield rx
    rx.stop()


class Mosquitto:
    """A mosquitto broker on a free 127.0.0.1 port that tests can stop and start again (same port)."""

    def __init__(self, exe: str, workdir: Path) -> None:
        self.exe = exe
        self.port = free_port()
        self.workdir = workdir
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"persistence true\npersistence_location {workdir}/\nautosave_interval 1\n"
            # as root, mosquitto drops to user 'mosquitto', which cannot write pytest's private tmp dir
            + ("user root\n" if os.geteuid() == 0 else "")
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.workdir / "mosquitto.log", "ab") as log:  # the child keeps its own copy of the fd
            self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=log)
        if not wait_until(self._accepting, 10.0):
            self.stop()
            raise RuntimeError(f"mosquitto did not listen on 127.0.0.1:{self.port}; see {self.workdir}/mosquitto.log")

    def _accepting(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited with {self.proc.returncode}; see {self.workdir}/mosquitto.log")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # SIGTERM: saves persistent sessions
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


def mosquitto_exe() -> str | None:
    return shutil.which("mosquitto") or shutil.which("mosquitto", path=os.pathsep.join(["/usr/sbin", "/usr/local/sbin"]))


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    exe = mosquitto_exe()
    if exe is None:
        pytest.skip("mosquitto is not installed (scripts/test installs it: apt-get install -y mosquitto)")
    (tmp_path / "broker").mkdir()
    b = Mosquitto(exe, tmp_path / "broker")
    b.start()
    yield b
    b.stop()
