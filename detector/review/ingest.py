"""Checking and storing what a device uploads: the event JSON and its evidence pictures.

Files are stored under names the server chooses (``evidence/YYYY/MM/DD/<event id>.<random>/<role>.<ext>``);
the names the device sent are only matched against ``event["evidence"]``, never used as paths.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector.events import SchemaError, validate_event_dict

ROLE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
IMAGE_EXT = {b"\xff\xd8\xff": ".jpg", b"\x89PNG": ".png", b"RIFF": ".webp", b"BM": ".bmp"}


class IngestError(ValueError):
    """An upload the service refuses; ``status_code`` is the HTTP status, the message names the field."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class EvidenceFile:
    role: str
    name: str  # as the device named it
    data: bytes
    width: int
    height: int


def parse_event(text: str | None) -> dict[str, Any]:
    """The ``event`` form field → validated event dict (id normalised to the canonical UUID form)."""
    if text is None:
        raise IngestError(422, "event: form field missing (expected the event JSON)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestError(422, f"event: not valid JSON ({exc.msg} at position {exc.pos})") from None
    try:
        event = validate_event_dict(data)
    except SchemaError as exc:
        raise IngestError(422, str(exc)) from None
    event["id"] = str(uuid.UUID(event["id"]))
    for role in event.get("evidence", {}):
        if not ROLE.match(role):
            raise IngestError(422, f"evidence: role {role!r} expected lower-case letters, digits, '_'")
    return event


def check_image(name: str, data: bytes) -> tuple[int, int]:
    """(width, height) of an evidence picture, or IngestError when it does not decode."""
    import cv2
    import numpy as np

    try:
        img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR) if data else None
    except cv2.error:  # e.g. a header claiming more pixels than OPENCV_IO_MAX_IMAGE_PIXELS (set by the app)
        raise IngestError(422, f"files[{name}]: not a decodable image (or more than 40 megapixels)") from None
    if img is None:
        raise IngestError(422, f"files[{name}]: not a decodable image")
    return int(img.shape[1]), int(img.shape[0])


def match_files(event: dict[str, Any], files: list[tuple[str, bytes]], max_file_bytes: int) -> list[EvidenceFile]:
    """Pair uploaded parts with the roles in ``event["evidence"]``: every part must be listed there,
    every listed name must be uploaded once, and every part must be a real picture within size."""
    by_name = {name: role for role, name in event.get("evidence", {}).items()}
    seen: dict[str, bytes] = {}
    for name, data in files:
        if name not in by_name:
            raise IngestError(422, f"files: {name!r} is not named in event.evidence")
        if name in seen:
            raise IngestError(422, f"files: {name!r} uploaded twice")
        if len(data) > max_file_bytes:
            raise IngestError(413, f"files[{name}]: {len(data)} bytes, limit {max_file_bytes}")
        seen[name] = data
    for role, name in event.get("evidence", {}).items():
        if name not in seen:
            raise IngestError(422, f"evidence.{role}: file {name!r} is not in the upload")
    out = []
    for name, data in seen.items():
        w, h = check_image(name, data)
        out.append(EvidenceFile(role=by_name[name], name=name, data=data, width=w, height=h))
    return out


def _ext(data: bytes) -> str:
    for magic, ext in IMAGE_EXT.items():
        if data.startswith(magic):
            return ext
    return ".img"


def write_evidence(evidence_dir: Path, event: dict[str, Any], files: list[EvidenceFile]) -> dict[str, dict[str, Any]]:
    """Write the pictures into a temporary folder, then move it into place in one rename; returns
    role → {path (relative to evidence_dir), name, width, height, bytes}."""
    day = event["time"][:10].replace("-", "/") if re.match(r"^\d{4}-\d{2}-\d{2}", event["time"]) else "undated"
    # A per-upload suffix: two racing uploads of one id never touch each other's files.
    rel_dir = Path(day) / f"{event['id']}.{uuid.uuid4().hex[:8]}"
    final = evidence_dir / rel_dir
    tmp = evidence_dir / ".incoming" / rel_dir.name
    tmp.mkdir(parents=True, exist_ok=True)
    meta: dict[str, dict[str, Any]] = {}
    for f in files:
        fname = f.role + _ext(f.data)
        (tmp / fname).write_bytes(f.data)
        meta[f.role] = {"path": str(rel_dir / fname), "name": f.name, "width": f.width, "height": f.height,
                        "bytes": len(f.data)}
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(final)
    return meta


def remove_evidence(evidence_dir: Path, meta: dict[str, dict[str, Any]]) -> None:
    dirs = {(evidence_dir / m["path"]).parent for m in meta.values()}
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


def evidence_path(evidence_dir: Path, meta: dict[str, Any] | None) -> Path | None:
    """Absolute path of a stored picture, only if it resolves inside the evidence folder."""
    if not meta or "path" not in meta:
        return None
    root = evidence_dir.resolve()
    path = (root / meta["path"]).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None
