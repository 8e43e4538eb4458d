"""Where outbox items go: the review service over HTTP, a local folder (MQTT lives in mqtt.py).

A sink either returns (the item is delivered: the receiver acknowledged it), raises
``TransientSinkError`` (retry later: network down, 5xx, 408/429, wrong token or URL — things fixed
outside the item), or raises ``PermanentSinkError`` (this item will never be accepted, e.g. 422: it is
parked and logged loudly, never retried forever). Sinks are idempotent by event id, so a resend after
a crash between "sent" and "marked delivered" is harmless.

Only the standard library is used here, so the edge extra stays light.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import ssl
import uuid
from collections import deque
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from detector.edge.delivery.config import HttpSinkConfig, LocalSinkConfig
from detector.errors import ConfigError

EVENTS_PATH = "/api/v1/events"
HEARTBEATS_PATH = "/api/v1/heartbeats"
# Answers that say "the device/config is wrong", not "this item is wrong": keep the item, retry slowly.
_CONFIG_STATUSES = (401, 403, 404, 405)
_RETRY_STATUSES = (408, 425, 429)


class TransientSinkError(Exception):
    """Delivery failed for a reason that may pass; ``retry_after_s`` is the receiver's hint, if any."""

    def __init__(self, message: str, retry_after_s: float | None = None, config_problem: bool = False) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.config_problem = config_problem  # wrong token/URL: logged as ERROR, not as a network hiccup


class PermanentSinkError(Exception):
    """The receiver rejected this item for good (its content is the problem); it must not be retried."""


class Sink(Protocol):
    name: str

    def send_event(self, event: dict[str, Any], files: dict[str, Path]) -> None: ...

    def send_heartbeat(self, heartbeat: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def multipart_body(fields: dict[str, str], files: dict[str, bytes], file_field: str = "files") -> tuple[bytes, str]:
    """Build a multipart/form-data body by hand; returns (body, content type with boundary)."""
    boundary = "graffiti-" + uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n'
            f"Content-Type: application/json; charset=utf-8\r\n\r\n".encode() + value.encode() + b"\r\n"
        )
    for filename, blob in files.items():
        ctype = "image/jpeg" if filename.lower().endswith((".jpg", ".jpeg")) else (
            "image/png" if filename.lower().endswith(".png") else "application/octet-stream")
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{filename}"\r\n'
            f"Content-Type: {ctype}\r\n\r\n".encode() + blob + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class HttpSink:
    """POST events (multipart) and heartbeats (JSON) to the review service with the device token."""

    name = "http"

    def __init__(self, config: HttpSinkConfig) -> None:
        self.config = config
        self.token = config.read_token()
        parts = urlsplit(config.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._base = parts.path.rstrip("/")

    def send_event(self, event: dict[str, Any], files: dict[str, Path]) -> None:
        blobs: dict[str, bytes] = {}
        for name, path in files.items():
            try:
                blobs[name] = path.read_bytes()
            except FileNotFoundError:  # removed by hand since the outbox checked: the next try drops it
                raise TransientSinkError(f"event {event.get('id')}: picture {path} vanished while sending") from None
        body, ctype = multipart_body({"event": json.dumps(event, separators=(",", ":"))}, blobs)
        self._post(EVENTS_PATH, body, ctype, what=f"event {event.get('id')}")

    def send_heartbeat(self, heartbeat: dict[str, Any]) -> None:
        body = json.dumps(heartbeat, separators=(",", ":")).encode()
        self._post(HEARTBEATS_PATH, body, "application/json", what="heartbeat")

    def _post(self, path: str, body: bytes, ctype: str, what: str) -> None:
        conn: http.client.HTTPConnection
        if self._https:
            conn = http.client.HTTPSConnection(self._host, self._port, timeout=self.config.timeout_s,
                                               context=ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self.config.timeout_s)
        url = self._base + path
        try:
            conn.request("POST", url, body=body, headers={
                "Content-Type": ctype, "Authorization": f"Bearer {self.token}", "Content-Length": str(len(body)),
            })
            resp = conn.getresponse()
            status = resp.status
            text = resp.read(4096).decode("utf-8", "replace")
            retry_after = _retry_after(resp.getheader("Retry-After"))
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            raise TransientSinkError(f"POST {self.config.url}{path} ({what}): {type(exc).__name__}: {exc}") from None
        finally:
            conn.close()
        if 200 <= status < 300:
            return  # 201 created, 200 duplicate: both mean the server has it
        detail = _detail(text)
        msg = f"POST {self.config.url}{path} ({what}): HTTP {status} {detail}".rstrip()
        if status >= 500 or status in _RETRY_STATUSES:
            raise TransientSinkError(msg, retry_after)
        if status in _CONFIG_STATUSES:
            raise TransientSinkError(msg + " — check delivery.http.url and the device token", retry_after,
                                     config_problem=True)
        raise PermanentSinkError(msg)

    def close(self) -> None:
        pass


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _detail(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:200]
    if isinstance(data, dict) and "detail" in data:
        return str(data["detail"])[:200]
    return text.strip()[:200]


def _safe(part: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in part) or "_"


class LocalSink:
    """Write each event as a folder ``<dir>/events/<YYYY-MM-DD>/<time>_<camera>_<type>_<id>/``.

    The folder is assembled under ``<dir>/.staging/<id>`` and renamed into place, so a reader never
    sees a half-written event and a reader walking ``events/`` never meets a folder that vanishes
    under it; an existing folder for the id means "already delivered". Heartbeats replace
    ``<dir>/heartbeat.json`` (atomically). Past ``max_disk_mb`` (default 1 GiB) the oldest event
    folders are removed (the folders are listed once, then tracked in memory).
    """

    name = "local"

    def __init__(self, config: LocalSinkConfig) -> None:
        self.config = config
        self.root = Path(config.dir)
        self._folders: deque[tuple[Path, int]] | None = None  # event folders oldest first, with their bytes
        self._total = 0
        if self.root.exists() and not self.root.is_dir():  # a mistake, not an outage: say so at start
            raise ConfigError(f"delivery.local.dir: {self.root} is a file; expected a folder for the events")

    def send_event(self, event: dict[str, Any], files: dict[str, Path]) -> None:
        event_id = _safe(str(event["id"]))
        try:
            day = str(event["time"])[:10]
            stamp = str(event["time"])[11:19].replace(":", "")
            day_dir = self.root / "events" / _safe(day)
            if any(day_dir.glob(f"*_{event_id}")):
                return
            final = day_dir / f"{stamp}_{_safe(str(event['camera']))}_{_safe(str(event['type']))}_{event_id}"
            tmp = self.root / ".staging" / event_id  # outside events/: nothing there but complete events
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            for name, path in files.items():
                if path.exists():
                    shutil.copyfile(path, tmp / name)
            _write_synced(tmp / "event.json", json.dumps(event, indent=2).encode())
            day_dir.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        except OSError as exc:
            raise TransientSinkError(f"local sink {self.root}: {exc.strerror or exc}") from None
        if self.config.max_disk_mb:
            self._enforce_cap(final)

    def send_heartbeat(self, heartbeat: dict[str, Any]) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = self.root / ".heartbeat.json.tmp"
            _write_synced(tmp, json.dumps(heartbeat, indent=2).encode())
            os.replace(tmp, self.root / "heartbeat.json")
        except OSError as exc:
            raise TransientSinkError(f"local sink {self.root}: {exc.strerror or exc}") from None

    def _enforce_cap(self, added: Path) -> None:
        cap = int((self.config.max_disk_mb or 0) * 1048576)
        if self._folders is None:
            # oldest first: by when the folder was completed (names only have the event's second)
            found = sorted((p for p in (self.root / "events").glob("*/*") if p.is_dir()),
                           key=lambda p: (p.stat().st_mtime_ns, p.name))
            self._folders = deque((p, _folder_bytes(p)) for p in found)
            self._total = sum(size for _, size in self._folders)
        else:
            size = _folder_bytes(added)
            self._folders.append((added, size))
            self._total += size
        while self._total > cap and len(self._folders) > 1:  # never the newest
            old, size = self._folders.popleft()
            shutil.rmtree(old, ignore_errors=True)
            self._total -= size
            with contextlib.suppress(OSError):
                old.parent.rmdir()  # the day folder, once empty

    def close(self) -> None:
        pass


def _folder_bytes(folder: Path) -> int:
    try:
        return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    except OSError:
        return 0


def _write_synced(path: Path, blob: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(blob)
        fh.flush()
        os.fsync(fh.fileno())

