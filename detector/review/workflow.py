"""Operator decisions on alerts, the queue, the event read API, accepted regions and the audit trail.

An alert is a graffiti_detected event. Its ``status`` is where it is in the work flow
(open → confirmed → cleaned, or rejected / accepted); its ``verdict`` is what the operator said the
picture shows (graffiti or clean), which is what the dataset export uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import desc, select
from sqlalchemy.orm import sessionmaker

from detector.events import ALERT_TYPES
from detector.review.db import AcceptedRegion, AuditEntry, EventRow, utcnow
from detector.review.store import audit

# Why an operator calls an alert a false alarm; these double as the export's clean 'kind'.
REJECT_REASONS = ("poster", "sticker-permitted", "stain", "dirt", "crack", "shadow", "light", "person",
                  "vehicle", "mural", "camera-fault", "other")
ACTIONS = {  # action → (new status, verdict)
    "confirm": ("confirmed", "graffiti"),
    "reject": ("rejected", "clean"),
    "cleaned": ("cleaned", "graffiti"),
    "accept_region": ("accepted", "clean"),
    "reopen": ("open", None),
}
ACTIVE = ("open", "confirmed")
STATUSES = ("open", "confirmed", "rejected", "cleaned", "accepted", "cleaned_by_device")


class DecisionError(ValueError):
    """An action that does not apply (unknown event, wrong state, missing reason); the message says why.
    ``event`` is the alert as it is now, when there is one (the page offers the way on from there)."""

    def __init__(self, message: str, status_code: int = 409, event: EventRow | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.event = event


MAX_POLYGON_POINTS = 64


def parse_polygon(text: str | None, frame_wh: tuple[int, int]) -> list[list[float]] | None:
    """The region an operator drew (JSON ``[[x, y], ...]`` in frame pixels, 3 to 64 points), clipped to
    the frame; None when nothing was drawn. DecisionError (422) naming ``polygon`` when it is not one."""
    import json
    import math

    if text is None or not text.strip():
        return None
    try:
        pts = json.loads(text)
    except (ValueError, RecursionError):
        raise DecisionError("polygon: expected JSON [[x, y], ...] in frame pixels", 422) from None
    if (not isinstance(pts, list) or not 3 <= len(pts) <= MAX_POLYGON_POINTS
            or not all(isinstance(p, list) and len(p) == 2 and all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in p) for p in pts)):
        raise DecisionError(f"polygon: expected 3 to {MAX_POLYGON_POINTS} [x, y] points with finite numbers", 422)
    w, h = frame_wh
    out = [[round(min(max(float(x), 0.0), float(w)), 1), round(min(max(float(y), 0.0), float(h)), 1)] for x, y in pts]
    xs, ys = [p[0] for p in out], [p[1] for p in out]
    if max(xs) - min(xs) < 2 or max(ys) - min(ys) < 2:
        raise DecisionError("polygon: the drawn region is empty (less than 2 pixels wide or high)", 422)
    return out


def decide(sm: sessionmaker, event_id: str, action: str, user: str, reason: str = "", note: str = "",
           polygon: list[list[float]] | None = None) -> EventRow:
    """Apply an operator action to an alert and write it to the audit trail. ``polygon``: the region
    the operator drew for accept_region (frame pixels); without it the event's box is accepted."""
    if action not in ACTIONS:
        raise DecisionError(f"action: expected one of {', '.join(ACTIONS)}, found {action!r}", 422)
    if action == "reject" and reason not in REJECT_REASONS:
        raise DecisionError(f"reason: expected one of {', '.join(REJECT_REASONS)}, found {reason!r}", 422)
    from detector.review.views import json_safe

    note = json_safe(note).replace("\ufffd", "").strip()[:500]
    with sm.begin() as s:
        ev = s.get(EventRow, event_id)
        if ev is None or ev.type not in ALERT_TYPES:
            raise DecisionError(f"event {event_id}: no such alert", 404)
        if action == "reopen" and ev.status in ACTIVE:
            raise DecisionError(f"event {event_id}: already {ev.status}", event=ev)
        if action != "reopen" and ev.status not in ACTIVE:
            raise DecisionError(f"event {event_id}: already {ev.status}; reopen it first", event=ev)
        new_status, verdict = ACTIONS[action]
        ev.status = new_status
        if verdict is not None:
            ev.verdict = verdict
        if action == "reopen":
            ev.verdict = None
        ev.reason = reason if action == "reject" else ("mural" if action == "accept_region" else None)
        ev.note = note or None
        ev.decided_by = user
        ev.decided_utc = utcnow()
        detail = " · ".join(x for x in (reason if action == "reject" else "", note) if x)
        if action == "accept_region":
            polygon = polygon or _bbox_polygon(ev.payload)
            if polygon is None:
                raise DecisionError(f"event {event_id}: has no bbox to accept as a region", 422)
            region = AcceptedRegion(camera=ev.camera, polygon=polygon, note=note or "permitted mural",
                                    event_id=ev.id, created_by=user)
            s.add(region)
            s.flush()
            detail = f"region #{region.id} {polygon[0]}–{polygon[2]}" + (f" · {note}" if note else "")
        audit(s, user, action, ev.id, ev.camera, detail)
        return ev


def _bbox_polygon(payload: Any) -> list[list[float]] | None:
    from detector.review.views import event_box

    box = event_box(payload)
    if box is None:
        return None
    x1, y1, x2, y2 = box
    return [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]


def queue_count(sm: sessionmaker, status: str = "open", camera: str | None = None) -> int:
    """How many alerts ``queue`` would list without a limit."""
    from sqlalchemy import func

    with sm() as s:
        q = select(func.count()).select_from(EventRow).where(EventRow.type.in_(ALERT_TYPES))
        q = q.where(EventRow.status.notin_(ACTIVE)) if status == "closed" else q.where(EventRow.status == status)
        if camera:
            q = q.where(EventRow.camera == camera)
        return int(s.scalar(q) or 0)


def latest_frame_event(sm: sessionmaker, camera: str) -> EventRow | None:
    """The newest event of ``camera`` that carries a frame (the camera page draws regions on it)."""
    with sm() as s:
        q = select(EventRow).where(EventRow.camera == camera).order_by(desc(EventRow.time_utc)).limit(50)
        return next((e for e in s.scalars(q) if isinstance(e.evidence, dict) and "frame" in e.evidence), None)


def queue(sm: sessionmaker, status: str = "open", sort: str = "newest", camera: str | None = None,
          limit: int = 200, offset: int = 0) -> list[EventRow]:
    """Alerts in one status (or 'closed' for every finished one), newest or highest score first."""
    with sm() as s:
        q = select(EventRow).where(EventRow.type.in_(ALERT_TYPES))
        if status == "closed":
            q = q.where(EventRow.status.notin_(ACTIVE))
        else:
            q = q.where(EventRow.status == status)
        if camera:
            q = q.where(EventRow.camera == camera)
        order: list[Any] = [desc(EventRow.time_utc), desc(EventRow.received_utc)]
        if sort == "score":
            order = [desc(EventRow.score), desc(EventRow.time_utc)]
        if status == "closed":
            order = [desc(EventRow.decided_utc), desc(EventRow.time_utc)]
        return list(s.scalars(q.order_by(*order, EventRow.id).offset(offset).limit(limit)))


def count_by_status(sm: sessionmaker) -> dict[str, int]:
    from sqlalchemy import func

    with sm() as s:
        rows = s.execute(select(EventRow.status, func.count()).where(EventRow.type.in_(ALERT_TYPES))
                         .group_by(EventRow.status)).all()
    counts = {str(k): int(v) for k, v in rows}
    counts["closed"] = sum(v for k, v in counts.items() if k not in ACTIVE)
    return counts


def get_event(sm: sessionmaker, event_id: str | None) -> EventRow | None:
    """The event with this id; None for an unknown id or anything that is not a canonical UUID (ids
    are stored canonical, and a NUL or 5 kB of text must not reach the database)."""
    import uuid

    if not event_id or len(event_id) != 36:
        return None
    try:
        if str(uuid.UUID(event_id)) != event_id:
            return None
    except ValueError:
        return None
    with sm() as s:
        return s.get(EventRow, event_id)


@dataclass(frozen=True)
class EventFilter:
    camera: str | None = None
    type: str | None = None
    status: str | None = None
    since: datetime | None = None
    cameras_allowed: frozenset[str] | None = None  # a device token only sees its own cameras
    limit: int = 100


def list_events(sm: sessionmaker, f: EventFilter) -> list[EventRow]:
    with sm() as s:
        q = select(EventRow)
        if f.camera:
            q = q.where(EventRow.camera == f.camera)
        if f.type:
            q = q.where(EventRow.type == f.type)
        if f.status:
            q = q.where(EventRow.status == f.status)
        if f.since:
            q = q.where(EventRow.time_utc >= f.since)
        if f.cameras_allowed is not None:
            q = q.where(EventRow.camera.in_(sorted(f.cameras_allowed)))
        return list(s.scalars(q.order_by(desc(EventRow.time_utc)).limit(f.limit)))


def reference_event(sm: sessionmaker, ev: EventRow) -> EventRow | None:
    """The latest event of the same camera whose frame shows the wall clean: a false alarm's frame or
    a graffiti_cleaned frame, taken no later than this alert if possible."""
    with sm() as s:
        base = select(EventRow).where(
            EventRow.camera == ev.camera, EventRow.id != ev.id,
            (EventRow.status == "rejected") | (EventRow.type == "graffiti_cleaned"),
        ).order_by(desc(EventRow.time_utc))
        for q in (base.where(EventRow.time_utc <= ev.time_utc), base):
            for cand in s.scalars(q.limit(20)):
                if "frame" in (cand.evidence or {}):
                    return cand
    return None


def neighbours(sm: sessionmaker, ev: EventRow, sort: str = "newest") -> tuple[str | None, str | None]:
    """(previous, next) open alert around ``ev`` in the queue order, for j/k navigation."""
    with sm() as s:
        q = select(EventRow.id).where(EventRow.type.in_(ALERT_TYPES), EventRow.status == "open")
        order: list[Any] = [desc(EventRow.time_utc), desc(EventRow.received_utc)]
        if sort == "score":
            order = [desc(EventRow.score), desc(EventRow.time_utc)]
        ids = list(s.scalars(q.order_by(*order, EventRow.id).limit(50_000)))
    if ev.id not in ids:
        return None, ids[0] if ids else None
    i = ids.index(ev.id)
    return (ids[i - 1] if i > 0 else None), (ids[i + 1] if i + 1 < len(ids) else None)


def regions(sm: sessionmaker, camera: str | None = None) -> list[AcceptedRegion]:
    with sm() as s:
        q = select(AcceptedRegion).order_by(AcceptedRegion.id)
        if camera is not None:
            q = q.where(AcceptedRegion.camera == camera)
        return list(s.scalars(q))


def rejected_boxes(sm: sessionmaker, camera: str, limit: int = 500) -> list[EventRow]:
    """This camera's false alarms (status rejected) that have a box, newest decision first: the edge
    keeps these areas quiet until they change again."""
    with sm() as s:
        q = (select(EventRow).where(EventRow.camera == camera, EventRow.type.in_(ALERT_TYPES),
                                    EventRow.status == "rejected")
             .order_by(desc(EventRow.decided_utc)).limit(limit))
        return [e for e in s.scalars(q) if safe_box(e.payload) is not None]


def safe_polygon(poly: Any) -> list[list[float]] | None:
    """A stored region's polygon as at least 3 finite [x, y] points, or None (then it is not served:
    one bad row must not make the edge refuse every region of its camera)."""
    import math

    if not isinstance(poly, list) or len(poly) < 3:
        return None
    out = []
    for p in poly:
        if not isinstance(p, list | tuple) or len(p) != 2:
            return None
        try:
            x, y = float(p[0]), float(p[1])
        except (TypeError, ValueError, OverflowError):
            return None
        if not (math.isfinite(x) and math.isfinite(y)):
            return None
        out.append([x, y])
    return out


def safe_box(payload: Any) -> list[float] | None:
    """The event's box as four finite floats, or None (rows stored before validation may hold anything)."""
    import math

    box = payload.get("bbox") if isinstance(payload, dict) else None
    if not isinstance(box, list | tuple) or len(box) != 4:
        return None
    try:
        vals = [float(v) for v in box]
    except (TypeError, ValueError, OverflowError):
        return None
    if not all(math.isfinite(v) for v in vals) or vals[2] < vals[0] or vals[3] < vals[1]:
        return None
    return vals


def remove_region(sm: sessionmaker, region_id: int, user: str) -> AcceptedRegion:
    with sm.begin() as s:
        region = s.get(AcceptedRegion, region_id)
        if region is None:
            raise DecisionError(f"region {region_id}: no such accepted region", 404)
        s.delete(region)
        audit(s, user, "remove_region", region.event_id, region.camera, f"region #{region_id}")
        return region


def audit_trail(sm: sessionmaker, limit: int = 300, camera: str | None = None,
                event_id: str | None = None) -> list[AuditEntry]:
    with sm() as s:
        q = select(AuditEntry)
        if camera:
            q = q.where(AuditEntry.camera == camera)
        if event_id:
            q = q.where(AuditEntry.event_id == event_id)
        return list(s.scalars(q.order_by(desc(AuditEntry.time_utc), desc(AuditEntry.id)).limit(limit)))
