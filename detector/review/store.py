"""Storage operations for devices, operators, ingest and camera status (no web code here).

Every function takes a ``sessionmaker`` and runs one short transaction, so the API, the pages and the
CLI share the same rules (e.g. a graffiti_cleaned event closes its alert whoever delivers it).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from detector.errors import ConfigError
from detector.events import ALERT_TYPES, NAME_RULE, is_name
from detector.review import auth
from detector.review.db import (
    AuditEntry,
    Camera,
    Device,
    DeviceCamera,
    EventRow,
    LoginBucket,
    User,
    WebSessionRow,
    utcnow,
)

USER_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
CLOSED_BY_DEVICE = "cleaned_by_device"


def check_name(kind: str, name: str) -> str:
    """Device and camera names: the wire's rule (``detector.events.NAME_RULE``), so every camera
    registered here can be configured on an edge device."""
    if not is_name(name):
        raise ConfigError(f"{kind} {name!r}: expected {NAME_RULE}")
    return name


def is_user_name(name: str) -> bool:
    """Operator names (never sent by a device): 1-64 letters, digits, '_', '.' or '-'."""
    return bool(name) and len(name) <= 64 and set(name) <= USER_NAME_CHARS


def check_user_name(name: str) -> str:
    if not is_user_name(name):
        raise ConfigError(f"user {name!r}: expected 1-64 letters, digits, '_', '.' or '-'")
    return name


def parse_time(text: str) -> datetime:
    """ISO 8601 (with 'Z' or an offset; naive means UTC) → naive UTC datetime. ValueError when it is
    not one or lies outside what UTC can represent."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is not None:
        try:
            dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
        except OverflowError:
            raise ValueError(f"{text}: outside the representable UTC range") from None
    return dt


def audit(s: Session, actor: str, action: str, event_id: str | None = None, camera: str | None = None,
          detail: str = "") -> None:
    s.add(AuditEntry(actor=actor, action=action, event_id=event_id, camera=camera, detail=detail))


# --- operators -----------------------------------------------------------------------------------------

def add_user(sm: sessionmaker, name: str, password: str) -> None:
    """Create an operator, or set a new password when the name exists."""
    check_user_name(name)
    if len(password) < auth.MIN_PASSWORD_LEN:
        raise ConfigError(f"password: expected at least {auth.MIN_PASSWORD_LEN} characters")
    with sm.begin() as s:
        user = s.scalar(select(User).where(User.name == name))
        if user is None:
            s.add(User(name=name, password_hash=auth.hash_password(password)))
            audit(s, "cli", "add_user", detail=name)
        else:
            user.password_hash = auth.hash_password(password)
            ended = _end_sessions(s, name)
            audit(s, "cli", "set_password", detail=f"{name} ({ended} sessions ended)")


def remove_user(sm: sessionmaker, name: str) -> int:
    """Delete an operator and end every session of theirs at once; returns how many sessions ended.
    Their past decisions and audit entries stay (they name the user as text)."""
    with sm.begin() as s:
        user = s.scalar(select(User).where(User.name == name))
        if user is None:
            raise ConfigError(f"user {name!r}: no such operator")
        s.delete(user)
        ended = _end_sessions(s, name)
        audit(s, "cli", "remove_user", detail=f"{name} ({ended} sessions ended)")
    return ended


def check_user(sm: sessionmaker, name: str, password: str) -> bool:
    user = None
    if is_user_name(name):  # anything else cannot be a user; still spend the hashing time
        with sm() as s:
            user = s.scalar(select(User).where(User.name == name))
    stored = user.password_hash if user else auth.DUMMY_PASSWORD_HASH
    return auth.verify_password(password, stored) and user is not None


# --- operator sessions (server side) -----------------------------------------------------------------

def _end_sessions(s: Session, user: str) -> int:
    from sqlalchemy import delete

    return int(s.execute(delete(WebSessionRow).where(WebSessionRow.user == user)).rowcount or 0)  # type: ignore[attr-defined]


def start_session(sm: sessionmaker, sess: auth.WebSession, max_age_s: int) -> None:
    """Record a signed-in session (and drop expired ones, so the table stays small)."""
    from sqlalchemy import delete

    if not (sess.sid and sess.user):
        raise ValueError("start_session: needs a signed-in session with an id")
    now = utcnow()
    with sm.begin() as s:
        s.execute(delete(WebSessionRow).where(WebSessionRow.expires_utc < now))
        s.add(WebSessionRow(id_sha256=auth.token_sha256(sess.sid), user=sess.user, created_utc=now,
                            expires_utc=now + timedelta(seconds=max_age_s)))


def session_alive(sm: sessionmaker, sess: auth.WebSession) -> bool:
    """True while the signed-in session's row exists, names the same user and has not expired."""
    if not sess.sid or not sess.user or not isinstance(sess.sid, str) or len(sess.sid) > 100:
        return False
    with sm() as s:
        row = s.get(WebSessionRow, auth.token_sha256(sess.sid))
        return row is not None and row.user == sess.user and row.expires_utc > utcnow()


def end_session(sm: sessionmaker, sess: auth.WebSession) -> None:
    from sqlalchemy import delete

    if sess.sid:
        with sm.begin() as s:
            s.execute(delete(WebSessionRow).where(WebSessionRow.id_sha256 == auth.token_sha256(sess.sid)))


# --- login limiter (shared by every worker through the database) ----------------------------------------

LOGIN_IP_FACTOR = 6  # one address may fail this many times the per-user limit over all names (a spray)


def _bucket_keys(ip: str, user: str, max_failures: int) -> list[tuple[str, int]]:
    ip = ip[:64]
    user = user.lower()[:64].encode("utf-8", "replace").decode("utf-8").replace("\x00", "")
    return [(f"{ip}|{user}", max_failures), (f"{ip}|*", max_failures * LOGIN_IP_FACTOR)]


def _ensure_buckets(sm: sessionmaker, keys: list[str]) -> None:
    with sm() as s:
        have = set(s.scalars(select(LoginBucket.key).where(LoginBucket.key.in_(keys))))
    for key in keys:
        if key in have:
            continue
        try:
            with sm.begin() as s:
                s.add(LoginBucket(key=key, times=[], touched=0))
        except IntegrityError:  # another request made it first: fine
            pass


def reserve_login(sm: sessionmaker, ip: str, user: str, max_failures: int, window_s: float) -> float:
    """Reserve one sign-in attempt for (ip, user) before the password is checked: 0 when it may go
    ahead (and it now counts), else the seconds until one may. The bucket rows are locked for the
    check-and-add (a write first: SQLite's write lock, PostgreSQL's row lock), so 60 concurrent
    tries get exactly ``max_failures`` checks, across workers too."""
    import time as _time

    from sqlalchemy import update

    keys = _bucket_keys(ip, user, max_failures)
    _ensure_buckets(sm, [k for k, _ in keys])
    with sm.begin() as s:
        for key, _ in sorted(keys):  # lock in one order everywhere: no deadlock between two tries
            s.execute(update(LoginBucket).where(LoginBucket.key == key).values(touched=LoginBucket.touched + 1))
        now = _time.time()
        wait = 0.0
        rows = {b.key: b for b in s.scalars(select(LoginBucket).where(LoginBucket.key.in_([k for k, _ in keys])))}
        recent: dict[str, list[float]] = {}
        for key, limit in keys:
            times = [t for t in (rows[key].times or []) if isinstance(t, int | float) and 0 <= now - t < window_s]
            recent[key] = times
            if len(times) >= limit:
                wait = max(wait, window_s - (now - sorted(times)[len(times) - limit]))
        for key, _ in keys:
            rows[key].times = recent[key] + ([] if wait > 0 else [now])
            rows[key].updated_s = now
    if random.random() < 0.02:  # now and then, forget keys nobody tried within the window (a spray of names)
        from sqlalchemy import delete

        with sm.begin() as s:
            s.execute(delete(LoginBucket).where(LoginBucket.updated_s < now - window_s))
    return max(0.0, wait)


def login_succeeded(sm: sessionmaker, ip: str, user: str, max_failures: int) -> None:
    """A right password: forget this user's attempts from this address, and take back the reserved
    attempt from the address-wide count (only failures count there)."""
    keys = _bucket_keys(ip, user, max_failures)
    with sm.begin() as s:
        for (key, _), clear in zip(keys, (True, False), strict=True):
            row = s.get(LoginBucket, key)
            if row is None:
                continue
            row.times = [] if clear else list(row.times or [])[:-1]


# --- devices ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeviceInfo:
    name: str
    cameras: frozenset[str]


def add_device(sm: sessionmaker, name: str, cameras: list[str], new_token: bool = False) -> str | None:
    """Register a device and the cameras it may report. Returns the new token (shown once), or None
    when the device existed and ``new_token`` was not asked for (its token is unchanged)."""
    check_name("device", name)
    if not cameras:
        raise ConfigError("CAMERA: expected at least one camera name")
    for cam in cameras:
        check_name("camera", cam)
    token: str | None = None
    with sm.begin() as s:
        dev = s.scalar(select(Device).where(Device.name == name))
        if dev is None:
            token = auth.new_device_token()
            dev = Device(name=name, token_sha256=auth.token_sha256(token))
            s.add(dev)
            s.flush()
        elif new_token:
            token = auth.new_device_token()
            dev.token_sha256 = auth.token_sha256(token)
        have = set(s.scalars(select(DeviceCamera.camera).where(DeviceCamera.device_id == dev.id)))
        for cam in cameras:
            if cam not in have:
                s.add(DeviceCamera(device_id=dev.id, camera=cam))
            if s.get(Camera, cam) is None:
                s.add(Camera(name=cam, device=name))
        audit(s, "cli", "add_device", detail=f"{name}: {', '.join(cameras)}" + (" (new token)" if token else ""))
    return token


def remove_device(sm: sessionmaker, name: str) -> None:
    """Delete a device: its token stops working at once (it is looked up on every request). Its
    events, and the cameras' history, stay."""
    from sqlalchemy import delete

    with sm.begin() as s:
        dev = s.scalar(select(Device).where(Device.name == name))
        if dev is None:
            raise ConfigError(f"device {name!r}: no such device")
        s.execute(delete(DeviceCamera).where(DeviceCamera.device_id == dev.id))
        s.delete(dev)
        audit(s, "cli", "remove_device", detail=name)


def device_for_token(sm: sessionmaker, token: str) -> DeviceInfo | None:
    if len(token) > 200 or not token.isascii():
        return None
    digest = auth.token_sha256(token)
    with sm() as s:
        dev = s.scalar(select(Device).where(Device.token_sha256 == digest))
        if dev is None:
            return None
        cams = frozenset(s.scalars(select(DeviceCamera.camera).where(DeviceCamera.device_id == dev.id)))
        return DeviceInfo(name=dev.name, cameras=cams)


# --- ingest ----------------------------------------------------------------------------------------------

def event_exists(sm: sessionmaker, event_id: str) -> bool:
    with sm() as s:
        return s.get(EventRow, event_id) is not None


def insert_event(sm: sessionmaker, event: dict[str, Any], evidence: dict[str, dict[str, Any]]) -> bool:
    """Store a validated event; apply its side effects on alerts and cameras. False when its id was
    already stored (a replay), in which case nothing changes."""
    when = parse_time(event["time"])
    row = EventRow(
        id=event["id"], device=event["device"], camera=event["camera"], type=event["type"], time_utc=when,
        score=event.get("score"), threshold=event.get("threshold"), related_event=event.get("related_event"),
        evidence=evidence, payload=event,
        status="open" if event["type"] in ALERT_TYPES else None,
    )
    try:
        with sm.begin() as s:
            s.add(row)
            s.flush()
            cam = _camera(s, event["camera"], event["device"])
            cam.last_event_utc = max(filter(None, [cam.last_event_utc, when]))
            _apply_side_effects(s, event, cam)
    except IntegrityError:
        return False
    return True


def referenced_evidence_dirs(sm: sessionmaker) -> set[str]:
    """Every evidence folder (relative to the evidence root) that a stored row points to."""
    out: set[str] = set()
    with sm() as s:
        for (evidence,) in s.execute(select(EventRow.evidence)):
            for meta in (evidence or {}).values() if isinstance(evidence, dict) else ():
                if isinstance(meta, dict) and isinstance(meta.get("path"), str):
                    out.add(str(Path(meta["path"]).parent))
    return out


def open_events(sm: sessionmaker, device: str, camera: str | None = None) -> list[EventRow]:
    """This device's alerts that are still open or confirmed (not rejected, cleaned or accepted)."""
    with sm() as s:
        q = select(EventRow).where(EventRow.device == device, EventRow.status.in_(("open", "confirmed")))
        if camera is not None:
            q = q.where(EventRow.camera == camera)
        return list(s.scalars(q.order_by(EventRow.time_utc)))


def _camera(s: Session, name: str, device: str) -> Camera:
    cam = s.get(Camera, name)
    if cam is None:
        cam = Camera(name=name, device=device, state="unknown", state_detail="")
        s.add(cam)
    return cam


def _apply_side_effects(s: Session, event: dict[str, Any], cam: Camera) -> None:
    etype = event["type"]
    actor = f"device:{event['device']}"
    if etype == "graffiti_cleaned" and event.get("related_event"):
        alert = s.get(EventRow, event["related_event"])
        if (alert is not None and alert.type == "graffiti_detected" and alert.camera == event["camera"]
                and alert.status in ("open", "confirmed")):
            alert.status = CLOSED_BY_DEVICE
            audit(s, actor, "cleaned_by_device", alert.id, alert.camera, f"device event {event['id']}")
    elif etype in ("camera_offline", "camera_online", "camera_tamper"):
        cam.state = {"camera_offline": "offline", "camera_online": "online", "camera_tamper": "tamper"}[etype]
        detail = event.get("detail") or {}
        cam.state_detail = ", ".join(f"{k}: {v}" for k, v in detail.items()) if isinstance(detail, dict) else ""
        audit(s, actor, etype, event["id"], cam.name, cam.state_detail)


def record_heartbeat(sm: sessionmaker, device: DeviceInfo, hb: dict[str, Any]) -> list[str]:
    """Fold a heartbeat into the device and its cameras; returns camera names it may not report."""
    now = utcnow()
    ignored = []
    with sm.begin() as s:
        dev = s.scalar(select(Device).where(Device.name == device.name))
        if dev is None:
            return list(hb.get("cameras", {}))
        dev.last_heartbeat_utc = now
        dev.last_heartbeat = hb
        for name, stats in hb.get("cameras", {}).items():
            if name not in device.cameras:
                ignored.append(name)
                continue
            cam = _camera(s, name, device.name)
            cam.device = device.name
            cam.last_heartbeat_utc = now
            age = stats.get("last_frame_age_s")
            if isinstance(age, int | float):
                cam.last_frame_utc = now - timedelta(seconds=float(age))
            if stats.get("state") in ("starting", "online", "offline", "tamper"):
                cam.state = stats["state"]
                if cam.state in ("online", "starting"):
                    cam.state_detail = ""
            cam.frames_seen = stats.get("frames_seen") if isinstance(stats.get("frames_seen"), int) else None
            p50 = stats.get("inference_ms_p50")
            cam.inference_ms_p50 = float(p50) if isinstance(p50, int | float) else None
    return ignored


# --- camera status ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CameraStatus:
    name: str
    device: str
    state: str  # online | offline | tamper | stale (no recent heartbeat) | starting | no_heartbeat | unknown
    state_detail: str
    last_heartbeat_utc: datetime | None
    last_frame_utc: datetime | None
    last_event_utc: datetime | None
    open_alerts: int
    frames_seen: int | None
    inference_ms_p50: float | None

    @property
    def online(self) -> bool:
        return self.state == "online"


def camera_statuses(sm: sessionmaker, online_after_s: float, name: str | None = None) -> list[CameraStatus]:
    """Cameras with their effective state: a camera whose device has gone quiet is 'stale', whatever
    it said last."""
    from sqlalchemy import func

    now = utcnow()
    with sm() as s:
        q = select(Camera).order_by(Camera.name)
        if name is not None:
            q = q.where(Camera.name == name)
        cams = list(s.scalars(q))
        counts = dict(s.execute(
            select(EventRow.camera, func.count()).where(EventRow.status == "open").group_by(EventRow.camera)
        ).all())
    out = []
    for c in cams:
        state = c.state
        if state == "unknown" and c.last_event_utc is not None:
            state = "no_heartbeat"  # events arrive, but its device never sent a heartbeat
        if state in ("online", "starting") and (
            c.last_heartbeat_utc is None or (now - c.last_heartbeat_utc).total_seconds() > online_after_s
        ):
            state = "stale" if c.last_heartbeat_utc is not None else state
        out.append(CameraStatus(
            name=c.name, device=c.device, state=state, state_detail=c.state_detail,
            last_heartbeat_utc=c.last_heartbeat_utc, last_frame_utc=c.last_frame_utc,
            last_event_utc=c.last_event_utc, open_alerts=int(counts.get(c.name, 0)),
            frames_seen=c.frames_seen, inference_ms_p50=c.inference_ms_p50,
        ))
    return out
