"""Camera state that survives restarts: written atomically in ``<data_dir>/state/``, re-adopted at start.

Why: a restart (kill -9, power cut, an update) must neither report the same graffiti again nor forget
to close it when it is cleaned, nor lose the view a camera was commissioned on. Each camera's state
is what its worker exports (``CameraWorker.export_state()``: open events with their tiles and ids,
the tamper reference view, the position reached in a file source, the wall model and baseline, ...)
— a mapping of JSON values and numpy arrays, opaque to this module.

On disk, per camera: ``<camera>.json`` (the JSON part, format version, when it was saved) and
``<camera>.<generation>.npz`` (the arrays, uncompressed). The arrays are written first, then the
JSON names them; each file is written to a temporary name, fsync'd and renamed, so a crash at any
moment leaves the previous complete state or the new one, never a mix. Older generations are
removed after the rename.

Also here: asking the review service which of this device's alerts are still open
(``GET /api/v1/devices/me/open-events``), so an event the operator closed while the device was down
is not carried on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from detector.events import NAME as _NAME  # the one device/camera name rule

log = logging.getLogger("detector.edge.state")

STATE_FORMAT = 1
_ARRAY = "__array__"


class StateError(Exception):
    """A saved state cannot be read (the message names the file); the camera starts afresh."""


class StateStore:
    """Per-camera state files in ``folder`` (normally ``<data_dir>/state``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _json_path(self, camera: str) -> Path:
        if not _NAME.match(camera):
            raise ValueError(f"camera name {camera!r} is not a plain name")
        return self.folder / f"{camera}.json"

    def save(self, camera: str, state: dict[str, Any]) -> None:
        """Write ``state`` (JSON values and numpy arrays, nested in dicts/lists) atomically."""
        path = self._json_path(camera)
        self.folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        body = _split(state, arrays)
        generation = time.time_ns()
        npz_name = f"{camera}.{generation}.npz" if arrays else None
        if npz_name is not None:
            tmp = self.folder / f".{npz_name}.tmp"
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)  # type: ignore[arg-type]
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.folder / npz_name)
        doc = {"format": STATE_FORMAT, "camera": camera, "saved_at": time.time(), "arrays": npz_name, "state": body}
        _write_atomic(path, json.dumps(doc, separators=(",", ":"), allow_nan=False).encode())
        _fsync_dir(self.folder)
        for old in self.folder.glob(f"{camera}.*.npz"):
            if old.name != npz_name:
                old.unlink(missing_ok=True)

    def load(self, camera: str) -> dict[str, Any] | None:
        """The saved state, None when there is none; StateError when it is damaged."""
        path = self._json_path(camera)
        if not path.is_file():
            return None
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StateError(f"{path}: unreadable camera state ({exc})") from None
        if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT or doc.get("camera") != camera:
            raise StateError(f"{path}: not a camera state of format {STATE_FORMAT} for camera {camera}")
        arrays: dict[str, np.ndarray] = {}
        if doc.get("arrays"):
            npz = self.folder / str(doc["arrays"])
            try:
                with np.load(npz, allow_pickle=False) as data:
                    arrays = {k: data[k] for k in data.files}
            except (OSError, ValueError) as exc:
                raise StateError(f"{npz}: unreadable camera state arrays ({exc})") from None
        try:
            state = _join(doc.get("state"), arrays)
        except KeyError as exc:
            raise StateError(f"{path}: array {exc} missing from {doc.get('arrays')}") from None
        if not isinstance(state, dict):
            raise StateError(f"{path}: expected a state object")
        state["_saved_at"] = float(doc.get("saved_at", 0.0))
        return state

    def clear(self, camera: str) -> None:
        """Forget a camera's state (a recording that was processed to its end starts afresh next time)."""
        self._json_path(camera).unlink(missing_ok=True)
        for old in self.folder.glob(f"{camera}.*.npz"):
            old.unlink(missing_ok=True)

    def discard(self, camera: str, reason: str) -> None:
        """Move a damaged state aside (kept for inspection, the newest only)."""
        path = self._json_path(camera)
        if path.exists():
            os.replace(path, path.with_name(path.name + ".bad"))
        log.error("camera %s: saved state discarded (%s); the camera starts afresh", camera, reason)


def _split(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """JSON-able copy of ``value`` with each numpy array replaced by a reference into ``arrays``."""
    if isinstance(value, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {_ARRAY: key}
    if isinstance(value, dict):
        return {str(k): _split(v, arrays) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_split(v, arrays) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _join(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, dict):
        if set(value) == {_ARRAY}:
            return arrays[value[_ARRAY]]
        return {k: _join(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_join(v, arrays) for v in value]
    return value


def _write_atomic(path: Path, blob: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(blob)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class OpenEventsError(Exception):
    """The review service could not say which events are open (network, status, answer)."""


def fetch_open_event_ids(base_url: str, token: str, timeout_s: float = 10.0) -> set[str]:
    """Ids of this device's alerts the review service still has open (``GET /api/v1/devices/me/open-events``)."""
    url = f"{base_url.rstrip('/')}/api/v1/devices/me/open-events"
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            body = resp.read(5_000_000)
    except urllib.error.HTTPError as exc:
        raise OpenEventsError(f"GET {url}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise OpenEventsError(f"GET {url}: {getattr(exc, 'reason', exc)}") from None
    try:
        data = json.loads(body)
        ids = data["ids"]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise OpenEventsError(f"GET {url}: expected {{\"ids\": [...]}}") from None
    return set(ids)
