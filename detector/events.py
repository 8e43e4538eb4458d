"""The versioned event and heartbeat schema shared by the edge runner and the review service.

An event is JSON (documented in the README, "Event schema"). Evidence pictures travel beside it as
files whose names the event lists under ``evidence``; names are plain file names (no folders).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

EVENT_SCHEMA = "graffiti-event/1"
HEARTBEAT_SCHEMA = "graffiti-heartbeat/1"

EVENT_TYPES = (
    "graffiti_detected",  # a tile group's evidence held long enough: graffiti is there
    "graffiti_cleaned",  # an open detection's score stayed low long enough: it is gone
    "camera_offline",  # no frames for camera.offline_after_s
    "camera_online",  # frames again after camera_offline
    "camera_tamper",  # too dark, uniform, blurred, or the view moved
    "commissioning_report",  # marks that already looked like graffiti when the wall's baseline was taken
)

# Evidence file names: letters, digits, '.', '_', '-'; no path separators, no leading dot.
EVIDENCE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")


def utc_now_iso() -> str:
    """Current UTC time as ISO 8601 with milliseconds and 'Z' (the schema's time format)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class TileScore:
    xyxy: tuple[int, int, int, int]  # frame pixels
    score: float


@dataclass
class ModelRef:
    name: str
    version: str
    sha256: str


@dataclass
class Event:
    device: str
    camera: str
    type: str
    time: str = field(default_factory=utc_now_iso)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    score: float | None = None  # the evidence (median) score that triggered it, when it has one
    threshold: float | None = None
    tiles: list[TileScore] = field(default_factory=list)
    bbox: tuple[int, int, int, int] | None = None  # union of the tiles, frame pixels (xyxy)
    frame_size: tuple[int, int] | None = None  # (width, height)
    model: ModelRef | None = None
    evidence: dict[str, str] = field(default_factory=dict)  # role ('frame', 'crop') → file name
    related_event: str | None = None  # for graffiti_cleaned: the id of the graffiti_detected event
    score_history: list[tuple[float, float]] = field(default_factory=list)  # (seconds before 'time', score)
    detail: dict[str, Any] = field(default_factory=dict)  # e.g. tamper reason, offline duration
    schema: str = EVENT_SCHEMA

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SchemaError(ValueError):
    """An event/heartbeat dict does not match the schema; the message names the field."""


def validate_event_dict(data: Any) -> dict[str, Any]:
    """Check an event dict received over the wire; return it, or raise SchemaError naming the field."""
    if not isinstance(data, dict):
        raise SchemaError("event: expected a JSON object")
    if data.get("schema") != EVENT_SCHEMA:
        raise SchemaError(f"schema: expected {EVENT_SCHEMA!r}, found {data.get('schema')!r}")
    for key in ("id", "device", "camera", "type", "time"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise SchemaError(f"{key}: expected a non-empty string, found {data.get(key)!r}")
    try:
        uuid.UUID(data["id"])
    except ValueError:
        raise SchemaError(f"id: expected a UUID, found {data['id']!r}") from None
    if data["type"] not in EVENT_TYPES:
        raise SchemaError(f"type: expected one of {', '.join(EVENT_TYPES)}, found {data['type']!r}")
    try:
        datetime.fromisoformat(data["time"].replace("Z", "+00:00"))
    except ValueError:
        raise SchemaError(f"time: expected an ISO 8601 timestamp, found {data['time']!r}") from None
    for key in ("score", "threshold"):
        v = data.get(key)
        if v is not None and (not isinstance(v, int | float) or isinstance(v, bool) or not 0 <= v <= 1):
            raise SchemaError(f"{key}: expected a number in [0, 1] or null, found {v!r}")
    tiles = data.get("tiles", [])
    if not isinstance(tiles, list):
        raise SchemaError("tiles: expected a list")
    for i, t in enumerate(tiles):
        if not isinstance(t, dict) or not _is_box(t.get("xyxy")) or not isinstance(t.get("score"), int | float):
            raise SchemaError(f"tiles[{i}]: expected {{'xyxy': [x1, y1, x2, y2], 'score': number}}")
    if data.get("bbox") is not None and not _is_box(data["bbox"]):
        raise SchemaError("bbox: expected [x1, y1, x2, y2] or null")
    evidence = data.get("evidence", {})
    if not isinstance(evidence, dict):
        raise SchemaError("evidence: expected an object mapping role to file name")
    for role, name in evidence.items():
        if not isinstance(name, str) or not EVIDENCE_NAME.match(name) or ".." in name:
            raise SchemaError(f"evidence.{role}: expected a plain file name (letters, digits, '.', '_', '-'), found {name!r}")
    return data


def _is_box(v: Any) -> bool:
    return isinstance(v, list | tuple) and len(v) == 4 and all(isinstance(x, int | float) for x in v)


@dataclass
class CameraStats:
    frames_seen: int = 0
    last_frame_age_s: float | None = None
    inference_ms_p50: float | None = None
    inference_ms_p95: float | None = None
    state: str = "starting"  # starting | online | offline | tamper


@dataclass
class Heartbeat:
    device: str
    cameras: dict[str, CameraStats] = field(default_factory=dict)
    outbox_depth: int = 0
    disk_free_mb: float | None = None
    cpu_temp_c: float | None = None
    time: str = field(default_factory=utc_now_iso)
    schema: str = HEARTBEAT_SCHEMA

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
