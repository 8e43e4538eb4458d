"""The edge's frame sources: live cameras (RTSP/HTTP/USB), video files, folders of images.

Two kinds, told apart by ``live`` (the contract, ``Source`` and ``Frame``, is ``detector/frames.py``):
- live sources (cameras, a watched folder) are sampled on the wall clock: a grab thread keeps only
  the newest frame, so a slow model never works through a queue of stale frames;
- clocked sources (a video file, a folder processed once, ``sim://``) are read on their own clock:
  ``next_sample(due_t_s)`` returns the first frame at or after ``due_t_s``, so ``--fast`` reaches the
  same decisions as real time.

Other kinds (the simulated tunnel camera, ``sim://``) are registered by the CLI in
``detector.frames`` and opened from there; the edge does not import them.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detector.data.names import IMAGE_EXTENSIONS
from detector.frames import Frame, Source, SourceError, registered_factory

__all__ = ["Frame", "FolderSource", "LiveCapture", "Source", "SourceError", "VideoFileSource", "is_live_spec",
           "open_source", "redact_url"]

if TYPE_CHECKING:  # imported where used: OpenCV only when a camera or file is opened
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

    import cv2

log = logging.getLogger("detector.edge.sources")

VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".mjpeg", ".mjpg", ".ts"}


class LiveCapture(Source):
    """RTSP/HTTP stream or USB camera, read in its own process (``detector.edge.capture``).

    A stalled or crashing camera cannot delay or take down another: each has its own capture
    process (restarted if it dies), with open/read timeouts; it reconnects with exponential backoff.
    """

    live = True

    def __init__(self, name: str, url: str, reconnect_initial_s: float = 1.0, reconnect_max_s: float = 60.0,
                 open_timeout_s: float = 5.0, read_timeout_s: float = 5.0) -> None:
        super().__init__(name)
        self.url = url
        self.reconnect_initial_s = reconnect_initial_s
        self.reconnect_max_s = reconnect_max_s
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self._stop = threading.Event()
        self._got = threading.Condition()
        self._frame: Frame | None = None
        self._last_returned = -1
        self._thread: threading.Thread | None = None
        self._proc: BaseProcess | None = None
        self._conn: Connection | None = None
        self._send_lock = threading.Lock()
        self.connected = False
        self.reconnects = 0
        self.restarts = 0  # capture processes that died and were started again

    def start(self) -> None:
        self._spawn()
        self._thread = threading.Thread(target=self._pump, name=f"grab-{self.name}", daemon=True)
        self._thread.start()

    def _spawn(self) -> None:
        import multiprocessing as mp

        from detector.edge.capture import capture_main

        ctx = mp.get_context("spawn")  # never fork a process that runs ORT threads
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        proc = ctx.Process(target=capture_main, name=f"capture-{self.name}", daemon=True, args=(
            child_conn, self.name, self.url, redact_url(self.url), self.reconnect_initial_s, self.reconnect_max_s,
            self.open_timeout_s, self.read_timeout_s))
        proc.start()
        child_conn.close()
        old = self._conn
        self._proc, self._conn = proc, parent_conn
        if old is not None:
            old.close()

    def _pump(self) -> None:
        """Receive frames, state and log lines from the capture process; restart it if it dies."""
        backoff = self.reconnect_initial_s
        while not self._stop.is_set():
            conn = self._conn
            assert conn is not None  # spawned before this thread starts
            try:
                if not conn.poll(0.2):
                    if self._proc is not None and not self._proc.is_alive():
                        raise EOFError
                    continue
                msg = conn.recv()
            except (EOFError, OSError):
                if self._stop.is_set():
                    return
                code = self._proc.exitcode if self._proc is not None else None
                log.error("camera %s: capture process ended (exit %s); starting it again in %.1f s",
                          self.name, code, backoff)
                self.connected = False
                if self._stop.wait(backoff):
                    return
                backoff = min(backoff * 2.0, self.reconnect_max_s)
                self.restarts += 1
                self._spawn()
                continue
            kind = msg[0]
            if kind == "frame":
                _, seq, t_mono, t_wall, img = msg
                backoff = self.reconnect_initial_s
                with self._got:
                    self._frame = Frame(img, t_mono, t_wall, self.restarts * 1_000_000_000 + seq, f"#{seq}")
                    self._got.notify_all()
            elif kind == "state":
                self.connected, self.reconnects = bool(msg[1]), int(msg[2])
            elif kind == "log":
                log.log(int(msg[1]), "%s", msg[2])

    def next_sample(self, due_t_s: float | None, wait_s: float = 2.0) -> Frame | None:
        """The newest frame (decoded now), or None when the camera gives none within ``wait_s``."""
        try:
            with self._send_lock:
                if self._conn is None:
                    return None  # not started
                self._conn.send("want")
        except (OSError, ValueError, AttributeError):
            return None  # the capture process is being restarted
        deadline = time.monotonic() + wait_s
        with self._got:
            while (self._frame is None or self._frame.seq == self._last_returned) and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._got.wait(left)
            frame = self._frame
        if frame is None or frame.seq == self._last_returned:
            return None
        self._last_returned = frame.seq
        return frame

    def close(self) -> None:
        self._stop.set()
        with self._got:
            self._got.notify_all()
        if self._conn is not None:
            try:
                with self._send_lock:
                    self._conn.send("stop")
            except (OSError, ValueError):
                pass
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        if self._proc is not None:
            self._proc.join(timeout=2.0)
            if self._proc.is_alive():  # stuck inside OpenCV's open/read: nothing in it is worth waiting for
                self._proc.kill()
                self._proc.join(timeout=2.0)
        if self._conn is not None:
            self._conn.close()


class VideoFileSource(Source):
    """A video file read on its own clock (frame index / fps)."""

    def __init__(self, name: str, path: Path) -> None:
        super().__init__(name)
        self.path = Path(path)
        self._cap: cv2.VideoCapture | None = None
        self._index = -1
        self._fps = 0.0
        self._wall0 = 0.0

    def start(self) -> None:
        import cv2

        if not self.path.is_file():
            raise SourceError(f"camera {self.name}: video file {self.path} not found")
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise SourceError(f"camera {self.name}: cannot open video file {self.path} (not a video OpenCV can read)")
        self._cap = cap
        self._fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not 0.1 <= self._fps <= 1000:
            self._fps = 25.0
        self._wall0 = time.time()

    def next_sample(self, due_t_s: float | None) -> Frame | None:
        if self._cap is None or self.finished:
            return None
        while True:
            if not self._cap.grab():
                self.finished = True
                return None
            self._index += 1
            t = self._index / self._fps
            if due_t_s is not None and t + 1e-9 < due_t_s:
                continue
            ok, img = self._cap.retrieve()
            if not ok or img is None or not img.size:
                log.warning("camera %s: corrupt frame %d in %s skipped", self.name, self._index, self.path.name)
                continue
            return Frame(img, t, self._wall0 + t, self._index, f"frame {self._index}")

    def position(self) -> dict[str, Any] | None:
        return {"kind": "video", "path": str(self.path), "size": _size(self.path), "index": self._index,
                "fps": self._fps, "wall0": self._wall0}

    def seek(self, position: dict[str, Any]) -> bool:
        """Continue after the last frame read (same file, same size), on the first run's wall clock."""
        import cv2

        if (position.get("kind") != "video" or position.get("path") != str(self.path)
                or position.get("size") != _size(self.path) or self._cap is None):
            return False
        index = int(position.get("index", -1))
        if index >= 0 and not self._cap.set(cv2.CAP_PROP_POS_FRAMES, index + 1):
            for _ in range(index + 1):  # a container that cannot seek: read up to the position
                if not self._cap.grab():
                    break
        self._index = index
        self._wall0 = float(position.get("wall0", self._wall0))
        return True

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class FolderSource(Source):
    """Images in a folder, ordered by modification time (their clock).

    ``watch=False`` (``--fast``): every image is a candidate sample, then the source finishes.
    ``watch=True``: live — each call returns the newest image that arrived since the last one.
    """

    def __init__(self, name: str, path: Path, watch: bool) -> None:
        super().__init__(name)
        self.path = Path(path)
        self.live = watch
        self._done: set[str] = set()
        self._last_mtime = float("-inf")
        self._seq = 0

    def start(self) -> None:
        if not self.path.is_dir():
            raise SourceError(f"camera {self.name}: image folder {self.path} not found")

    def _listing(self) -> list[tuple[float, str]]:
        out = []
        try:
            with os.scandir(self.path) as it:
                for e in it:
                    if e.is_file() and Path(e.name).suffix.lower() in IMAGE_EXTENSIONS and not e.name.startswith("."):
                        try:
                            out.append((e.stat().st_mtime, e.name))
                        except OSError:
                            continue
        except OSError as exc:
            log.warning("camera %s: cannot list %s (%s)", self.name, self.path, exc.strerror)
        out.sort()
        return out

    def next_sample(self, due_t_s: float | None) -> Frame | None:
        from detector.preprocess import read_image

        listing = self._listing()
        # Only names at the newest time reached can come up again (older ones are filtered by time),
        # and files that are gone are forgotten: memory stays bounded however many images pass.
        self._done = {n for m, n in listing if n in self._done and m >= self._last_mtime}
        candidates = [(m, n) for m, n in listing if n not in self._done and m >= self._last_mtime]
        if self.live:
            candidates = candidates[::-1]  # newest first; older unseen ones are stale and skipped
        for mtime, name in candidates:
            if not self.live and due_t_s is not None and mtime + 1e-9 < due_t_s:
                self._done.add(name)
                continue
            self._done.add(name)
            img = read_image(str(self.path / name))
            if img is None:
                log.warning("camera %s: unreadable or truncated image %s skipped", self.name, name)
                continue
            if self.live:
                self._done.update(n for _, n in candidates)
            self._last_mtime = mtime
            self._seq += 1
            return Frame(img, mtime, mtime, self._seq, name)
        if not self.live:
            self.finished = True
        return None

    def position(self) -> dict[str, Any] | None:
        return {"kind": "folder", "path": str(self.path), "last_mtime": self._last_mtime,
                "done": sorted(self._done), "seq": self._seq}

    def seek(self, position: dict[str, Any]) -> bool:
        """Skip the images already processed (by modification time, and the names at that time)."""
        if position.get("kind") != "folder" or position.get("path") != str(self.path):
            return False
        last = position.get("last_mtime")
        self._last_mtime = float("-inf") if last is None else float(last)
        self._done = {str(n) for n in position.get("done", [])}
        self._seq = int(position.get("seq", 0))
        return True


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def redact_url(url: str) -> str:
    """Hide a password in rtsp://user:pass@host URLs before logging."""
    return re.sub(r"(://[^:/@]+:)[^@/]+@", r"\1***@", url)


def is_live_spec(spec: str) -> bool:
    """A camera source that is a stream or a device (URL, USB index, /dev/video*), not a file or folder."""
    s = spec.strip()
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", s)) or s.isdigit() or s.startswith("/dev/video")


def open_source(name: str, spec: str, watch_folders: bool, reconnect_initial_s: float = 1.0,
                reconnect_max_s: float = 60.0) -> Source:
    """Pick the source kind from the config string (URL scheme, digits, file suffix, folder)."""
    s = spec.strip()
    factory = registered_factory(s)
    if factory is not None:
        return factory(name, s)
    if s.startswith("sim://"):
        raise SourceError(f"camera {name}: sim:// (the simulated tunnel camera) is registered by the graffiti "
                          "command line; in your own program call detector.frames.register_source_kind('sim', "
                          "detector.data.sim.source.SimSource.from_url) first")
    if is_live_spec(s):
        return LiveCapture(name, s, reconnect_initial_s, reconnect_max_s)
    path = Path(s)
    if path.is_dir() or (not path.suffix and not path.exists()):
        return FolderSource(name, path, watch=watch_folders)
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        raise SourceError(f"camera {name}: source {s} is a single image; use a folder of images or 'graffiti edge score'")
    return VideoFileSource(name, path)
