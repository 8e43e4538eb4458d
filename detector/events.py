"""The versioned event and heartbeat schema shared by the edge runner and the review service.

An event is JSON (docs/events.md, its reference generated from this module). Evidence pictures travel
beside it as files whose names the event lists under ``evidence``; names are plain file names (no
folders). Every wire rule lives here, used by both ends: the schema checks, reading received JSON,
pairing the files with ``evidence``, and the device/camera name rule.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
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
# Events an operator decides on (confirm / reject / cleaned / accept region): the review queue's alerts.
ALERT_TYPES = ("graffiti_detected", "commissioning_report")

# Evidence file names: letters, digits, '.', '_', '-'; no path separators, no leading dot.
EVIDENCE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")

# Device and camera names, one rule at both ends: the edge names files after a camera
# (``state/<camera>.json``, ``<camera>.<generation>.npz``, so no '.') and the review service registers the
# names an edge may report; a name one side accepts the other accepts too.
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"  # the whole name must match (re.fullmatch)
NAME = re.compile(rf"^(?:{NAME_PATTERN})\Z")  # anchored, so .match works too (\Z: no trailing newline)
NAME_RULE = "1-64 letters, digits, '_' or '-', starting with a letter or digit"


def is_name(value: object) -> bool:
    """Whether ``value`` is a device or camera name (``NAME_RULE``)."""
    return isinstance(value, str) and NAME.match(value) is not None


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


# --- wire-format rules -----------------------------------------------------------------------------------
# One set of rules for what may travel: the edge checks what it queues, the review service checks what
# it receives, with the same function. Everything stored must render: finite numbers only, text without
# NUL or lone surrogates, bounded sizes, and times that a database and datetime can hold.

ROLE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")  # evidence roles: 'frame', 'crop', 'reference', ...
MAX_NAME_CHARS = 64  # device, camera (the review database's column width)
MAX_TEXT_CHARS = 2000  # any other string
MAX_TILES = 4096
MAX_HISTORY = 10_000
MAX_DETAIL_KEYS = 64
MAX_EVIDENCE = 16
MAX_PIXELS_SIDE = 100_000  # frame sizes and box coordinates (8K is 7680)
MAX_PAST = timedelta(days=20 * 366)  # an event time this far back is a broken clock, not an old event
MAX_FUTURE = timedelta(days=366)  # replayed/simulated streams (the demo) run ahead of the clock
MAX_COUNT = 2**63 - 1  # integers a database BIGINT holds
MAX_AGE_S = 20 * 366 * 86400.0


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored and shown (NUL, lone surrogate), or None when it is fine."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode text)"
    return None


def _text(where: str, value: Any, max_chars: int = MAX_TEXT_CHARS, empty_ok: bool = True) -> str:
    if not isinstance(value, str) or (not value and not empty_ok):
        raise SchemaError(f"{where}: expected a {'' if empty_ok else 'non-empty '}string, found {_show(value)}")
    if len(value) > max_chars:
        raise SchemaError(f"{where}: expected at most {max_chars} characters, found {len(value)}")
    problem = text_problem(value)
    if problem:
        raise SchemaError(f"{where}: {problem}")
    return value


def _show(value: Any) -> str:
    """A short, printable rendering of a bad value for an error message (never a lone surrogate)."""
    text = repr(value)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _finite(v: Any) -> bool:
    """A finite int/float (an int too big for a float, e.g. 10**400, is not)."""
    if isinstance(v, int):
        return abs(v) <= MAX_COUNT
    return math.isfinite(v)


def _number(where: str, value: Any, lo: float, hi: float, nullable: bool = False) -> float | None:
    if value is None and nullable:
        return None
    if not _is_number(value) or not _finite(value) or not lo <= value <= hi:
        null = " or null" if nullable else ""
        raise SchemaError(f"{where}: expected a finite number in [{lo:g}, {hi:g}]{null}, found {_show(value)}")
    return float(value)


def _count(where: str, value: Any, lo: int, hi: int, nullable: bool = False) -> int | None:
    if value is None and nullable:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        null = " or null" if nullable else ""
        raise SchemaError(f"{where}: expected a whole number in [{lo}, {hi}]{null}, found {_show(value)}")
    return value


def _box(where: str, value: Any) -> None:
    if (not isinstance(value, list | tuple) or len(value) != 4
            or not all(_is_number(v) and _finite(v) and 0 <= v <= MAX_PIXELS_SIDE for v in value)
            or value[2] < value[0] or value[3] < value[1]):
        raise SchemaError(f"{where}: expected [x1, y1, x2, y2] frame pixels (finite, 0..{MAX_PIXELS_SIDE}, "
                          f"x1 <= x2, y1 <= y2), found {_show(value)}")


def _uuid(where: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) > 64:
        raise SchemaError(f"{where}: expected a UUID string, found {_show(value)}")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise SchemaError(f"{where}: expected a UUID, found {_show(value)}") from None


def parse_wire_time(where: str, value: Any, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (``Z``, an offset, or naive = UTC) as an aware UTC datetime; SchemaError naming
    ``where`` otherwise. With ``now`` (the receiver's clock) it must also lie within
    [now - MAX_PAST, now + MAX_FUTURE]: the sender's own check has no clock to compare with (a replayed
    or simulated stream carries its own times), the receiver's does."""
    if not isinstance(value, str) or len(value) > 64:
        raise SchemaError(f"{where}: expected an ISO 8601 timestamp string, found {_show(value)}")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SchemaError(f"{where}: expected an ISO 8601 timestamp, found {_show(value)}") from None
    try:
        dt = dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)
        dt.timestamp()
    except (ValueError, OverflowError):
        raise SchemaError(f"{where}: {_show(value)} is outside the range of representable UTC times") from None
    if now is None:
        return dt
    if not now - MAX_PAST <= dt <= now + MAX_FUTURE:
        raise SchemaError(f"{where}: {value} is not within {MAX_PAST.days // 366} years before and "
                          f"{MAX_FUTURE.days} days after the receiver's clock ({now.isoformat(timespec='seconds')}); "
                          "check the device clock")
    return dt


def _scalar_ok(v: Any) -> bool:
    if v is None or isinstance(v, bool):
        return True
    if _is_number(v):
        return _finite(v)
    return isinstance(v, str) and len(v) <= MAX_TEXT_CHARS and text_problem(v) is None


def check_detail(where: str, value: Any) -> dict[str, Any]:
    """``detail``: an object whose values are scalars (text, finite numbers, booleans, null), or small
    lists/objects of scalars nested at most two deep (e.g. what an outbox says it dropped)."""
    if not isinstance(value, dict):
        raise SchemaError(f"{where}: expected an object of scalars, found {_show(value)}")
    if len(value) > MAX_DETAIL_KEYS:
        raise SchemaError(f"{where}: expected at most {MAX_DETAIL_KEYS} keys, found {len(value)}")
    for key, v in value.items():
        _text(f"{where} key", key, MAX_NAME_CHARS, empty_ok=False)
        check_clean(f"{where}.{key}", v, depth=2)
    return value


def check_clean(where: str, value: Any, depth: int = 0) -> None:
    """Any JSON value: finite numbers, clean text, nesting at most 4 deep (for fields this version
    does not know, so a newer edge's additions are kept but can always be shown)."""
    if depth > 4:
        raise SchemaError(f"{where}: nested too deeply")
    if isinstance(value, dict | list) and len(value) > MAX_TILES:
        raise SchemaError(f"{where}: more than {MAX_TILES} items")
    if isinstance(value, dict):
        for k, v in value.items():
            _text(f"{where} key", k, MAX_NAME_CHARS)
            check_clean(f"{where}.{k}", v, depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_clean(f"{where}[{i}]", v, depth + 1)
    elif not _scalar_ok(value):
        raise SchemaError(f"{where}: expected text without NUL/lone surrogates or a finite number, found {_show(value)}")


def load_json(what: str, text: str | bytes) -> Any:
    """Parse a received JSON body; SchemaError naming ``what`` ('event', 'heartbeat') when it is not JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{what}: not valid JSON ({exc.msg} at position {exc.pos})") from None
    except (ValueError, RecursionError) as exc:  # e.g. a 5000-digit number, lists nested 100000 deep, bad UTF-8
        raise SchemaError(f"{what}: not usable JSON ({str(exc)[:80] or type(exc).__name__})") from None


def pair_evidence(evidence: dict[str, str], names: Iterable[str]) -> dict[str, str]:
    """The files sent beside an event (their names, in order) against its ``evidence`` (role → file
    name): each file is named there, once, and every file named there is sent. Returns file name →
    role; SchemaError naming the file otherwise. The edge's outbox and the review service's upload
    check with this one rule."""
    by_name = {name: role for role, name in evidence.items()}
    seen: set[str] = set()
    for name in names:
        if name not in by_name:
            raise SchemaError(f"files: {name!r} is not named in event.evidence")
        if name in seen:
            raise SchemaError(f"files: {name!r} uploaded twice")
        seen.add(name)
    for role, name in evidence.items():
        if name not in seen:
            raise SchemaError(f"evidence.{role}: file {name!r} is not in the upload")
    return by_name


KNOWN_EVENT_KEYS = frozenset(("schema", "id", "device", "camera", "type", "time", "score", "threshold", "tiles",
                              "bbox", "frame_size", "model", "evidence", "related_event", "score_history",
                              "detail", "evidence_dropped"))


def validate_event_dict(data: Any, now: datetime | None = None) -> dict[str, Any]:
    """Check an event dict received over the wire; return it, or raise SchemaError naming the field.

    ``now``: the receiver's clock, to refuse times years away (see ``parse_wire_time``).
    The id and related_event are normalised to the canonical UUID form (36 characters)."""
    if not isinstance(data, dict):
        raise SchemaError("event: expected a JSON object")
    if data.get("schema") != EVENT_SCHEMA:
        raise SchemaError(f"schema: expected {EVENT_SCHEMA!r}, found {_show(data.get('schema'))}")
    data["id"] = _uuid("id", data.get("id"))
    for key in ("device", "camera"):
        _text(key, data.get(key), MAX_NAME_CHARS, empty_ok=False)
    if data.get("type") not in EVENT_TYPES:
        raise SchemaError(f"type: expected one of {', '.join(EVENT_TYPES)}, found {_show(data.get('type'))}")
    parse_wire_time("time", data.get("time"), now)
    for key in ("score", "threshold"):
        _number(key, data.get(key), 0.0, 1.0, nullable=True)
    tiles = data.get("tiles", [])
    if not isinstance(tiles, list) or len(tiles) > MAX_TILES:
        raise SchemaError(f"tiles: expected a list of at most {MAX_TILES} tiles")
    for i, t in enumerate(tiles):
        if not isinstance(t, dict) or set(t) != {"xyxy", "score"}:
            raise SchemaError(f"tiles[{i}]: expected {{'xyxy': [x1, y1, x2, y2], 'score': number}}")
        _box(f"tiles[{i}].xyxy", t["xyxy"])
        _number(f"tiles[{i}].score", t["score"], 0.0, 1.0)
    if data.get("bbox") is not None:
        _box("bbox", data["bbox"])
    fs = data.get("frame_size")
    if fs is not None and (not isinstance(fs, list | tuple) or len(fs) != 2
                           or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_PIXELS_SIDE
                                      for v in fs)):
        raise SchemaError(f"frame_size: expected [width, height], two whole numbers in [1, {MAX_PIXELS_SIDE}], "
                          f"or null, found {_show(fs)}")
    model = data.get("model")
    if model is not None:
        if not isinstance(model, dict) or set(model) != {"name", "version", "sha256"}:
            raise SchemaError("model: expected {'name', 'version', 'sha256'} or null")
        for key in ("name", "version", "sha256"):
            _text(f"model.{key}", model[key], 200)
    evidence = data.get("evidence", {})
    if not isinstance(evidence, dict) or len(evidence) > MAX_EVIDENCE:
        raise SchemaError(f"evidence: expected an object mapping at most {MAX_EVIDENCE} roles to file names")
    for role, name in evidence.items():
        if not ROLE.match(role):
            raise SchemaError(f"evidence: role {_show(role)} expected lower-case letters, digits, '_' (at most 32)")
        if not isinstance(name, str) or not EVIDENCE_NAME.match(name) or ".." in name:
            raise SchemaError(f"evidence.{role}: expected a plain file name (letters, digits, '.', '_', '-'), "
                              f"found {_show(name)}")
    if data.get("related_event") is not None:
        data["related_event"] = _uuid("related_event", data["related_event"])
    hist = data.get("score_history", [])
    if not isinstance(hist, list) or len(hist) > MAX_HISTORY:
        raise SchemaError(f"score_history: expected a list of at most {MAX_HISTORY} [seconds_before, score] pairs")
    for i, pair in enumerate(hist):
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise SchemaError(f"score_history[{i}]: expected a [seconds_before, score] pair, found {_show(pair)}")
        _number(f"score_history[{i}][0]", pair[0], -MAX_AGE_S, MAX_AGE_S)
        _number(f"score_history[{i}][1]", pair[1], 0.0, 1.0)
    check_detail("detail", data.get("detail", {}))
    dropped = data.get("evidence_dropped")
    if dropped is not None and (not isinstance(dropped, list) or len(dropped) > MAX_EVIDENCE
                                or not all(isinstance(r, str) and ROLE.match(r) for r in dropped)):
        raise SchemaError(f"evidence_dropped: expected a list of evidence role names, found {_show(dropped)}")
    for key in data:
        if key not in KNOWN_EVENT_KEYS:
            _text("event key", key, MAX_NAME_CHARS, empty_ok=False)
            check_clean(key, data[key])
    return data


CAMERA_STATES = ("starting", "online", "offline", "tamper")


def parse_event_json(text: str | bytes, now: datetime | None = None) -> dict[str, Any]:
    """A received event's JSON text → the checked event dict (``validate_event_dict``)."""
    return validate_event_dict(load_json("event", text), now)


def parse_heartbeat_json(text: str | bytes, now: datetime | None = None) -> dict[str, Any]:
    """A received heartbeat's JSON text → the checked heartbeat dict (``validate_heartbeat_dict``)."""
    return validate_heartbeat_dict(load_json("heartbeat", text), now)


def validate_heartbeat_dict(data: Any, now: datetime | None = None) -> dict[str, Any]:
    """Check a heartbeat received over the wire; return it, or raise SchemaError naming the field."""
    if not isinstance(data, dict):
        raise SchemaError("heartbeat: expected a JSON object")
    if data.get("schema") != HEARTBEAT_SCHEMA:
        raise SchemaError(f"schema: expected {HEARTBEAT_SCHEMA!r}, found {_show(data.get('schema'))}")
    _text("device", data.get("device"), MAX_NAME_CHARS, empty_ok=False)
    cams = data.get("cameras", {})
    if not isinstance(cams, dict) or len(cams) > 256 or not all(isinstance(v, dict) for v in cams.values()):
        raise SchemaError("cameras: expected an object mapping camera name to its stats object")
    for name, stats in cams.items():
        _text("cameras key", name, MAX_NAME_CHARS, empty_ok=False)
        where = f"cameras.{name}"
        _count(f"{where}.frames_seen", stats.get("frames_seen", 0), 0, MAX_COUNT)
        _number(f"{where}.last_frame_age_s", stats.get("last_frame_age_s"), 0.0, MAX_AGE_S, nullable=True)
        for key in ("inference_ms_p50", "inference_ms_p95"):
            _number(f"{where}.{key}", stats.get(key), 0.0, 1e7, nullable=True)
        state = stats.get("state", "starting")
        if not isinstance(state, str) or len(state) > 32:
            raise SchemaError(f"{where}.state: expected one of {', '.join(CAMERA_STATES)}, found {_show(state)}")
        check_clean(where, stats)
    _count("outbox_depth", data.get("outbox_depth", 0), 0, MAX_COUNT)
    _number("disk_free_mb", data.get("disk_free_mb"), 0.0, 1e12, nullable=True)
    _number("cpu_temp_c", data.get("cpu_temp_c"), -100.0, 200.0, nullable=True)
    if data.get("time") is not None:
        parse_wire_time("time", data["time"], now)
    for key, value in data.items():
        _text("heartbeat key", key, MAX_NAME_CHARS, empty_ok=False)
        if key != "cameras":
            check_clean(key, value)
    return data


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
