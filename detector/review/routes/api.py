"""The device API (``/api/v1``): events with evidence, heartbeats, accepted regions, read access.

Errors are ``{"detail": "<field>: <what was expected>"}`` with 401 (token), 403 (device/camera not
this token's), 413 (too large) and 422 (invalid), as agreed in the shared brief.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from detector.events import EVENT_TYPES, SchemaError, parse_heartbeat_json, text_problem
from detector.review import ingest, store, workflow
from detector.review.store import DeviceInfo
from detector.review.views import iso_utc, json_safe

router = APIRouter(prefix="/api/v1", tags=["device API"])

UPLOAD_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object",
            "required": ["event"],
            "properties": {
                "event": {"type": "string", "description": "the event JSON (schema graffiti-event/1)"},
                "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                          "description": "one part per evidence picture; filename = a name in event.evidence"},
            },
        }}},
    }
}


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer realm="graffiti-review"'})


def device_auth(request: Request) -> DeviceInfo:
    """The device whose token is in ``Authorization: Bearer ...``, else 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("Authorization: expected 'Bearer <device token>'")
    device = store.device_for_token(request.app.state.sm, token.strip())
    if device is None:
        raise _unauthorized("Authorization: unknown device token")
    return device


def reader_auth(request: Request) -> DeviceInfo | None:
    """Read access: a device token (sees its own cameras) or a signed-in operator (sees all → None)."""
    from detector.review.routes.web import current_session

    if request.headers.get("authorization"):
        return device_auth(request)
    sess = current_session(request)
    if sess is None or not sess.user:
        raise _unauthorized("Authorization: expected a device token or an operator session")
    return None


def _plain_name(name: str) -> bool:
    return 0 < len(name) <= 64 and text_problem(name) is None


def _check_device(device: DeviceInfo, event_device: str, camera: str | None) -> None:
    if event_device != device.name:
        raise HTTPException(403, f"device: this token belongs to {device.name!r}, the payload says {event_device!r}")
    if camera is not None and camera not in device.cameras:
        raise HTTPException(403, f"camera: device {device.name!r} may not report camera {camera!r} "
                                 f"(add it with graffiti review add-device {camera} --device {device.name})")


@router.post("/events", status_code=201, openapi_extra=UPLOAD_DOC,
             responses={200: {"description": "duplicate: this event id is already stored"},
                        401: {"description": "bad or missing token"}, 403: {"description": "device/camera mismatch"},
                        413: {"description": "too large"}, 422: {"description": "invalid event or evidence"}})
async def post_event(request: Request, device: Annotated[DeviceInfo, Depends(device_auth)]) -> JSONResponse:
    """Store one event and its evidence pictures. Replaying an id stores nothing and answers 200."""
    settings = request.app.state.settings
    sm = request.app.state.sm
    try:
        form = await request.form(max_files=settings.max_files, max_fields=4,
                                  max_part_size=settings.max_request_bytes)
    except HTTPException as exc:
        raise HTTPException(422, f"multipart body: {exc.detail}") from None
    try:
        unknown = sorted(set(form.keys()) - {"event", "files"})
        if unknown:
            raise ingest.IngestError(422, f"{unknown[0]}: unexpected form field (expected 'event' and 'files')")
        raw = form.get("event")
        event = ingest.parse_event(raw if isinstance(raw, str) else None)
        _check_device(device, event["device"], event["camera"])
        if store.event_exists(sm, event["id"]):
            return JSONResponse({"status": "duplicate", "id": event["id"]}, status_code=200)
        parts: list[tuple[str, bytes]] = []
        for part in form.getlist("files"):
            if not isinstance(part, UploadFile):
                raise ingest.IngestError(422, "files: expected file parts, found a text field")
            if part.size is not None and part.size > settings.max_file_bytes:
                raise ingest.IngestError(413, f"files[{part.filename}]: {part.size} bytes, limit {settings.max_file_bytes}")
            parts.append((part.filename or "", await part.read()))
        files = await run_in_threadpool(ingest.match_files, event, parts, settings.max_file_bytes)
    except ingest.IngestError as exc:
        raise HTTPException(exc.status_code, str(exc)) from None
    finally:
        await form.close()
    durable = settings.durable
    staged = await run_in_threadpool(ingest.stage_evidence, settings.evidence_dir, event, files, durable)
    try:
        created = await run_in_threadpool(store.insert_event, sm, event, staged.meta)
    except BaseException:
        ingest.discard_staged(staged)  # no row, no pictures: the edge will send it again
        raise
    if not created:
        ingest.discard_staged(staged)
        return JSONResponse({"status": "duplicate", "id": event["id"]}, status_code=200)
    await run_in_threadpool(ingest.publish_evidence, staged, durable)
    return JSONResponse({"status": "created", "id": event["id"]}, status_code=201)


@router.post("/heartbeats", responses={401: {}, 403: {}, 422: {}})
async def post_heartbeat(request: Request, device: Annotated[DeviceInfo, Depends(device_auth)]) -> dict[str, Any]:
    """Record that the device is alive and fold its per-camera stats into camera status."""
    try:
        hb = parse_heartbeat_json(await request.body(), now=datetime.now(timezone.utc))
    except SchemaError as exc:
        raise HTTPException(422, str(exc)) from None
    _check_device(device, hb["device"], None)
    ignored = await run_in_threadpool(store.record_heartbeat, request.app.state.sm, device, hb)
    return {"status": "ok", "ignored_cameras": ignored}


@router.get("/accepted-regions")
def get_accepted_regions(request: Request, device: Annotated[DeviceInfo, Depends(device_auth)],
                         camera: Annotated[str, Query(description="camera name")]) -> list[dict[str, Any]]:
    """Regions operators accepted (permitted murals) for one of this device's cameras; the edge runner
    stops alerting inside them."""
    _check_device(device, device.name, camera)
    return [{"id": r.id, "camera": r.camera, "polygon": poly, "note": json_safe(r.note)}
            for r in workflow.regions(request.app.state.sm, camera)
            if (poly := workflow.safe_polygon(r.polygon)) is not None]


@router.get("/rejected-regions")
def get_rejected_regions(request: Request, device: Annotated[DeviceInfo, Depends(device_auth)],
                         camera: Annotated[str, Query(description="camera name")]) -> list[dict[str, Any]]:
    """False alarms an operator rejected on one of this device's cameras, newest decision first: the
    edge keeps each box quiet until that area changes again ("suppress until changed"). ``bbox`` is
    ``[x1, y1, x2, y2]`` in the pixels of a ``frame_size`` frame; ``polygon`` is the same box as
    points, like an accepted region's."""
    _check_device(device, device.name, camera)
    out = []
    for e in workflow.rejected_boxes(request.app.state.sm, camera):
        box = workflow.safe_box(e.payload)
        if box is None:
            continue
        x1, y1, x2, y2 = box
        fs = e.payload.get("frame_size") if isinstance(e.payload, dict) else None
        out.append({"event_id": e.id, "camera": e.camera, "bbox": box,
                    "polygon": [[x1, y1], [x2, y1], [x2, y2], [x1, y2]],
                    "frame_size": json_safe(fs) if isinstance(fs, list) and len(fs) == 2 else None,
                    "rejected_utc": iso_utc(e.decided_utc), "event_time_utc": iso_utc(e.time_utc),
                    "reason": json_safe(e.reason)})
    return out


@router.get("/devices/me/open-events")
def get_open_events(request: Request, device: Annotated[DeviceInfo, Depends(device_auth)],
                    camera: Annotated[str | None, Query(description="only this camera")] = None) -> dict[str, Any]:
    """The ids of this device's alerts that are still open or confirmed (not rejected, cleaned or
    accepted), oldest first; after a restart the edge can tell which of its events are still live."""
    if camera is not None:
        _check_device(device, device.name, camera)
    rows = store.open_events(request.app.state.sm, device.name, camera)
    return {"device": device.name, "ids": [r.id for r in rows],
            "events": [{"id": r.id, "camera": r.camera, "type": r.type, "status": r.status,
                        "time_utc": iso_utc(r.time_utc)} for r in rows]}


def event_json(row: Any) -> dict[str, Any]:
    payload = row.payload if isinstance(row.payload, dict) else {}
    return json_safe({**payload, "status": row.status, "verdict": row.verdict, "reason": row.reason,
                      "note": row.note, "decided_by": row.decided_by,
                      "decided_utc": iso_utc(row.decided_utc), "received_utc": iso_utc(row.received_utc)})


@router.get("/events")
def get_events(
    request: Request,
    reader: Annotated[DeviceInfo | None, Depends(reader_auth)],
    camera: str | None = None,
    type: Annotated[str | None, Query(description=f"one of {', '.join(EVENT_TYPES)}")] = None,
    status: Annotated[str | None, Query(description=f"alert status: {', '.join(workflow.STATUSES)}")] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601; events at or after this time")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Events newest first, filtered. A device token sees only its own cameras' events."""
    if type is not None and type not in EVENT_TYPES:
        raise HTTPException(422, f"type: expected one of {', '.join(EVENT_TYPES)}, found {type!r}")
    if status is not None and status not in workflow.STATUSES:
        raise HTTPException(422, f"status: expected one of {', '.join(workflow.STATUSES)}, found {status!r}")
    if camera is not None and not _plain_name(camera):
        return []  # no camera has such a name
    try:
        since_utc = store.parse_time(since.isoformat()) if since else None
    except ValueError:
        raise HTTPException(422, "since: outside the range of representable UTC times") from None
    f = workflow.EventFilter(camera=camera, type=type, status=status, since=since_utc, limit=limit,
                              cameras_allowed=reader.cameras if reader else None)
    return [event_json(r) for r in workflow.list_events(request.app.state.sm, f)]


@router.get("/events/{event_id}")
def get_event(request: Request, event_id: str,
              reader: Annotated[DeviceInfo | None, Depends(reader_auth)]) -> dict[str, Any]:
    row = workflow.get_event(request.app.state.sm, event_id)
    if row is None or (reader is not None and row.camera not in reader.cameras):
        raise HTTPException(404, f"event {json_safe(event_id)[:80]}: not found")
    return event_json(row)


@router.get("/cameras")
def get_cameras(request: Request, reader: Annotated[DeviceInfo | None, Depends(reader_auth)]) -> list[dict[str, Any]]:
    """Camera status: online/stale/offline/tamper, last frame, last heartbeat, open alerts."""
    settings = request.app.state.settings
    out = []
    for c in store.camera_statuses(request.app.state.sm, settings.online_after_s):
        if reader is not None and c.name not in reader.cameras:
            continue
        out.append({"camera": c.name, "device": c.device, "state": c.state, "online": c.online,
                    "detail": json_safe(c.state_detail), "open_alerts": c.open_alerts,
                    **{k: iso_utc(v) for k, v in (
                        ("last_heartbeat_utc", c.last_heartbeat_utc), ("last_frame_utc", c.last_frame_utc),
                        ("last_event_utc", c.last_event_utc))}})
    return out


@router.get("/health", tags=["service"])
def health() -> dict[str, str]:
    """Readiness probe (no auth)."""
    return {"status": "ok"}
