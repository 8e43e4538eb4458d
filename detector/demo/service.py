"""The review service for the demo: a real ``graffiti review serve`` process on 127.0.0.1 over SQLite
in the demo folder, with a demo operator and a demo device created by the service's own functions."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from detector.errors import DetectorError


class DemoError(DetectorError):
    """The demo could not run, or it ran and showed a missed detection or a false alarm."""


@dataclass(frozen=True)
class Accounts:
    user: str
    password: str
    device: str
    token: str


def provision(data: Path, device: str, cameras: list[str], user: str = "demo") -> Accounts:
    """Create (or reset) the demo operator and device in the review database under ``data``."""
    from detector.review import store
    from detector.review.migrations import open_database
    from detector.review.settings import load_settings

    with open_database(load_settings(data)) as database:
        password = secrets.token_urlsafe(9)
        store.add_user(database.sm, user, password)
        token = store.add_device(database.sm, device, cameras, new_token=True)
    if token is None:  # new_token=True always issues one; guard the type, not the logic
        raise DemoError(f"review: no token issued for device {device!r}")
    return Accounts(user, password, device, token)


def port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is no obstacle
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def pick_port(host: str, wanted: int | None, default: int = 8080) -> int:
    """``wanted`` if given (it must be free), else ``default`` or, when that is taken, any free port."""
    if wanted is not None:
        if not port_free(host, wanted):
            raise DemoError(f"--port {wanted}: already in use on {host} (another demo still running? pick another port)")
        return wanted
    if port_free(host, default):
        return default
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ReviewProcess:
    """``graffiti review serve`` in a child process; ``start()`` returns once /api/v1/health answers."""

    def __init__(self, data: Path, port: int, host: str = "127.0.0.1", log_path: Path | None = None) -> None:
        self.data = data
        self.host = host
        self.port = port
        self.log_path = log_path or data.parent / "review-service.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, ready_timeout_s: float = 60.0) -> None:
        import httpx

        cmd = [sys.executable, "-m", "detector", "review", "serve", "--data", str(self.data), "--host", self.host,
               "--port", str(self.port)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("GRAFFITI_REVIEW_DB", None)  # the demo always uses the SQLite file in its folder
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise DemoError(f"review service exited with status {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(self.url + "/api/v1/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise DemoError(f"review service not ready on {self.url} after {ready_timeout_s:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit within 10 s; safe to call twice."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def wait(self) -> int:
        """Block until the service exits (the demo's serve mode); returns its status."""
        return -1 if self.proc is None else self.proc.wait()
