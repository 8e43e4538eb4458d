"""One capture process per live camera, so a stalled camera never delays another.

Why a process and not a thread: OpenCV's FFmpeg backend opens every stream under one process-wide
lock, so a camera that accepts the RTSP connection and never answers holds every other camera's
(re)connect — and a video file's open — for as long as its own open takes (measured: a file open
waited 2.5 s behind a stalled RTSP open with a 3 s timeout; 30 s without one). In its own process each
camera has its own lock, and a decoder that crashes or hangs takes only its own camera down. The open
and read timeouts (``CAP_PROP_OPEN_TIMEOUT_MSEC`` / ``CAP_PROP_READ_TIMEOUT_MSEC``) still bound how
long a camera's own reconnect can hang.

The child grabs continuously (keeping the stream drained) and decodes a frame only when the parent
asks for one; messages over a ``multiprocessing`` pipe: parent → child ``"want"`` / ``"stop"``; child →
parent ``("frame", seq, t_mono, t_wall, image)``, ``("state", connected, reconnects)`` and
``("log", level, message)`` (the parent logs them under its own logger).
"""

from __future__ import annotations

import logging
import os
import time
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # OpenCV is imported in the capture process only
    import cv2


def open_capture(url: str, open_timeout_s: float, read_timeout_s: float) -> cv2.VideoCapture | None:
    """An opened ``cv2.VideoCapture`` (FFmpeg with timeouts for URLs and files), or None."""
    import cv2

    if url.strip().isdigit() or url.startswith("/dev/video"):
        cap = cv2.VideoCapture(int(url) if url.strip().isdigit() else url)
    else:
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(open_timeout_s * 1000),
                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(read_timeout_s * 1000)]
        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    if not cap.isOpened():
        cap.release()
        return None
    cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    return cap


def capture_main(conn: Connection, name: str, url: str, shown_url: str, reconnect_initial_s: float,
                 reconnect_max_s: float, open_timeout_s: float, read_timeout_s: float) -> None:
    """The child process: open, grab, answer frame requests, reconnect with backoff, until told to stop."""
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # FFmpeg's timeout warnings: we log our own line
    parent = os.getppid()
    child = _Child(conn, name, url, shown_url, reconnect_initial_s, reconnect_max_s, open_timeout_s, read_timeout_s)
    try:
        child.loop(parent)
    except (BrokenPipeError, EOFError, ConnectionResetError, KeyboardInterrupt):
        pass
    finally:
        child.release()


class _Child:
    def __init__(self, conn: Connection, name: str, url: str, shown_url: str, reconnect_initial_s: float,
                 reconnect_max_s: float, open_timeout_s: float, read_timeout_s: float) -> None:
        self.conn = conn
        self.name = name
        self.url = url
        self.shown = shown_url
        self.initial = reconnect_initial_s
        self.max = reconnect_max_s
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.cap: cv2.VideoCapture | None = None
        self.want = False
        self.stop = False
        self.seq = 0
        self.reconnects = 0

    def log(self, level: int, message: str) -> None:
        self.conn.send(("log", level, message))

    def poll(self, timeout_s: float = 0.0) -> None:
        """Read the parent's requests (waiting up to ``timeout_s`` for the first)."""
        while self.conn.poll(timeout_s):
            msg = self.conn.recv()
            if msg == "stop":
                self.stop = True
            elif msg == "want":
                self.want = True
            timeout_s = 0.0

    def wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stop and time.monotonic() < deadline:
            self.poll(min(0.2, max(0.0, deadline - time.monotonic())))

    def loop(self, parent: int) -> None:
        backoff = self.initial
        failures = 0
        while not self.stop:
            if os.getppid() != parent:  # the runner died (kill -9): do not linger
                return
            self.poll()
            if self.cap is None:
                self.cap = open_capture(self.url, self.open_timeout_s, self.read_timeout_s)
                if self.cap is None:
                    self.log(logging.WARNING, f"camera {self.name}: cannot open {self.shown}; retrying in {backoff:.1f} s")
                    self.wait(backoff)
                    backoff = min(backoff * 2.0, self.max)
                    continue
                self.log(logging.INFO, f"camera {self.name}: connected to {self.shown}")
                self.conn.send(("state", True, self.reconnects))
                failures = 0
            if not self.cap.grab():
                failures += 1
                if failures >= 5:
                    self.log(logging.WARNING, f"camera {self.name}: stream lost; reconnecting")
                    self.release()
                    self.reconnects += 1
                    self.conn.send(("state", False, self.reconnects))
                    self.wait(backoff)
                    backoff = min(backoff * 2.0, self.max)
                else:
                    self.wait(0.05)
                continue
            failures, backoff = 0, self.initial
            if self.want:
                ok, img = self.cap.retrieve()
                if ok and img is not None and img.size:
                    self.seq += 1
                    self.conn.send(("frame", self.seq, time.monotonic(), time.time(), img))
                    self.want = False

    def release(self) -> None:
        if self.cap is not None:
            try:
                self.cap.release()
            finally:
                self.cap = None
