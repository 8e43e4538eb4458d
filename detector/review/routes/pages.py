"""The operator web page: sign-in, alert queue, event detail with actions, cameras, audit trail."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from detector.events import text_problem
from detector.review import auth, ingest, store, views, workflow
from detector.review.routes.web import (
    check_csrf,
    client_ip,
    current_session,
    render,
    require_user,
    set_session_cookie,
)

router = APIRouter(include_in_schema=False)
User = Annotated[auth.WebSession, Depends(require_user)]


def _name_or_none(name: str | None) -> str | None:
    """A camera name from a URL, or None when it cannot be one (so odd input never reaches the database)."""
    if not name or len(name) > 64 or text_problem(name) is not None:
        return None
    return name


def _safe_next(target: str | None) -> str:
    """Only same-site paths after sign-in (no '//host' or 'https://...' open redirects)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/queue"


@router.get("/")
def home() -> Response:
    return RedirectResponse("/queue", status_code=303)


@router.get("/login")
def login_page(request: Request, next: str = "/queue") -> Response:
    sess = current_session(request)
    if sess is not None and sess.user:
        return RedirectResponse(_safe_next(next), status_code=303)
    sess = sess or auth.new_session(None)  # an anonymous session only to carry the CSRF token
    page = render(request, "login.html", sess, next=_safe_next(next), error=None)
    set_session_cookie(request, page, sess)
    return page


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    sess = current_session(request)
    check_csrf(sess, form)
    user = str(form.get("user") or "").strip()
    password = str(form.get("password") or "")
    target = _safe_next(str(form.get("next") or "/queue"))
    ip = client_ip(request)
    settings = request.app.state.settings
    sm = request.app.state.sm
    # Reserve the attempt before checking the password: concurrent tries cannot all slip through.
    wait_s = await run_in_threadpool(store.reserve_login, sm, ip, user, settings.login_max_failures,
                                     settings.login_window_s)
    if wait_s > 0:
        resp = render(request, "login.html", sess, status_code=429, next=target,
                      error=f"Too many failed sign-ins. Try again in {int(wait_s) + 1} s.")
        resp.headers["Retry-After"] = str(int(wait_s) + 1)
        return resp
    ok = bool(user) and await run_in_threadpool(store.check_user, sm, user, password)
    if not ok:
        return render(request, "login.html", sess, status_code=401, next=target, error="Wrong user name or password.")
    await run_in_threadpool(store.login_succeeded, sm, ip, user, settings.login_max_failures)
    fresh = auth.new_session(user)  # fresh CSRF token and session id on privilege change
    await run_in_threadpool(store.start_session, sm, fresh, settings.session_max_age_s)
    done = RedirectResponse(target, status_code=303)
    set_session_cookie(request, done, fresh)
    return done


@router.post("/logout")
async def logout(request: Request, sess: User) -> Response:
    check_csrf(sess, await request.form())
    await run_in_threadpool(store.end_session, request.app.state.sm, sess)
    resp = RedirectResponse("/login", status_code=303)
    set_session_cookie(request, resp, auth.new_session(None))
    return resp


PAGE_SIZE = 50
ATTENTION_STATES = ("tamper", "offline", "stale", "no_heartbeat")


@router.get("/queue")
def queue_page(request: Request, sess: User, status: str = "open", sort: str = "newest",
               camera: str | None = None, done: str | None = None, last: str | None = None,
               page: str = "1") -> Response:
    if status not in ("open", "confirmed", "closed"):
        status = "open"
    sort = "score" if sort == "score" else "newest"
    sm = request.app.state.sm
    camera = _name_or_none(camera)
    total = workflow.queue_count(sm, status, camera)
    pages = max(1, -(-total // PAGE_SIZE))
    number = min(max(int(page) if page.isdigit() and len(page) < 7 else 1, 1), pages)
    rows = workflow.queue(sm, status, sort, camera, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
    cams = {c.name: c for c in store.camera_statuses(sm, request.app.state.settings.online_after_s)}
    trouble = [c for c in cams.values() if c.state in ATTENTION_STATES]
    return render(request, "queue.html", sess, rows=rows, status=status, sort=sort, camera=camera or "",
                  counts=workflow.count_by_status(sm), done=views.json_safe(done), last=_id_or_none(last),
                  total=total, page=number, pages=pages, page_size=PAGE_SIZE, cams=cams, trouble=trouble,
                  attention=ATTENTION_STATES)


def _id_or_none(event_id: str | None) -> str | None:
    return event_id if event_id and _is_uuid(event_id) else None


def _is_uuid(text: str) -> bool:
    import uuid

    try:
        return len(text) == 36 and str(uuid.UUID(text)) == text
    except ValueError:
        return False


@router.get("/events/{event_id}")
def event_page(request: Request, event_id: str, sess: User, sort: str = "newest",
               done: str | None = None, last: str | None = None) -> Response:
    sm = request.app.state.sm
    ev = workflow.get_event(sm, event_id)
    if ev is None:
        raise HTTPException(404, f"event {views.json_safe(event_id)[:80]}: not found")
    ref = None if "reference" in (ev.evidence or {}) else workflow.reference_event(sm, ev)
    prev_id, next_id = workflow.neighbours(sm, ev, sort)
    related = workflow.get_event(sm, ev.related_event) if ev.related_event else None
    return render(
        request, "event.html", sess, ev=ev, ref=ref, related=related, prev_id=prev_id, next_id=next_id, sort=sort,
        done=views.json_safe(done), last=_id_or_none(last),
        tiles=views.heat_tiles(ev.payload), frame_size=views.frame_size(ev.payload, ev.evidence or {}),
        box=views.event_box(ev.payload), detail=views.detail_items(ev.payload.get("detail")),
        spark=views.sparkline(ev.payload), reasons=workflow.REJECT_REASONS,
        history=workflow.audit_trail(sm, 50, event_id=ev.id),
        camera=next(iter(store.camera_statuses(sm, request.app.state.settings.online_after_s, ev.camera)), None),
    )


@router.post("/events/{event_id}/action")
async def event_action(request: Request, event_id: str, sess: User) -> Response:
    from detector.review.routes.web import error_page

    form = await request.form()
    check_csrf(sess, form)
    action = str(form.get("action") or "")
    sort = "score" if form.get("sort") == "score" else "newest"
    sm = request.app.state.sm
    try:
        before = workflow.get_event(sm, event_id)
        prev_id, next_id = workflow.neighbours(sm, before, sort) if before else (None, None)
        polygon = None
        if action == "accept_region" and before is not None:
            drawn = form.get("polygon")
            polygon = workflow.parse_polygon(drawn if isinstance(drawn, str) else None,
                                              views.frame_size(before.payload, before.evidence or {}))
        await run_in_threadpool(workflow.decide, sm, event_id, action, sess.user or "?",
                                str(form.get("reason") or ""), str(form.get("note") or ""), polygon)
    except workflow.DecisionError as exc:
        if views.wants_html(request):  # e.g. another operator decided first: say who and when, offer reopen
            now = workflow.get_event(sm, event_id) if exc.event is not None else None  # as it is after the rollback
            return error_page(request, exc.status_code, str(exc), now)
        raise HTTPException(exc.status_code, str(exc)) from None
    query = urlencode({"done": action, "last": event_id, "sort": sort})
    if action == "reopen" or form.get("stay"):
        return RedirectResponse(f"/events/{event_id}?{query}", status_code=303)
    follow = next_id or prev_id  # keep triaging: the next open alert in queue order
    target = f"/events/{follow}?{query}" if follow else f"/queue?{query}"
    return RedirectResponse(target, status_code=303)


@router.get("/evidence/{event_id}/{role}")
def evidence(request: Request, event_id: str, role: str, sess: User) -> Response:
    ev = workflow.get_event(request.app.state.sm, event_id)
    path = ingest.evidence_path(request.app.state.settings.evidence_dir, (ev.evidence or {}).get(role) if ev else None)
    if path is None:
        raise HTTPException(404, f"evidence {views.json_safe(event_id)[:80]}/{views.json_safe(role)[:40]}: not found")
    return FileResponse(path, headers={"Cache-Control": "private, max-age=86400"})


@router.get("/cameras")
def cameras_page(request: Request, sess: User) -> Response:
    sm = request.app.state.sm
    cams = store.camera_statuses(sm, request.app.state.settings.online_after_s)
    return render(request, "cameras.html", sess, cams=cams)


@router.get("/cameras/{name}")
def camera_page(request: Request, name: str, sess: User) -> Response:
    sm = request.app.state.sm
    cams = store.camera_statuses(sm, request.app.state.settings.online_after_s, name) if _name_or_none(name) else []
    if not cams:
        raise HTTPException(404, f"camera {views.json_safe(name)[:80]}: not found")
    events = workflow.list_events(sm, workflow.EventFilter(camera=name, limit=50))
    picture = workflow.latest_frame_event(sm, name)
    regions = [(r, poly) for r in workflow.regions(sm, name) if (poly := workflow.safe_polygon(r.polygon))]
    rejected = [(e, b) for e in workflow.rejected_boxes(sm, name, 50) if (b := workflow.safe_box(e.payload))]
    return render(request, "camera.html", sess, cam=cams[0], events=events, regions=regions, rejected=rejected,
                  picture=picture, picture_size=views.frame_size(picture.payload, picture.evidence or {})
                  if picture else None, open_alerts=workflow.queue(sm, "open", camera=name),
                  trail=workflow.audit_trail(sm, 30, camera=name))


def _region_or_404(sm: object, region_id: int) -> tuple[object, list[list[float]] | None]:
    region = next((r for r in workflow.regions(sm) if r.id == region_id), None)  # type: ignore[arg-type]
    if region is None:
        raise HTTPException(404, f"region {region_id}: no such accepted region (already removed?)")
    return region, workflow.safe_polygon(region.polygon)


@router.get("/regions/{region_id}/remove")
def remove_region_page(request: Request, region_id: int, sess: User) -> Response:
    """Removal asks first, showing the region on the camera's picture."""
    sm = request.app.state.sm
    region, poly = _region_or_404(sm, region_id)
    picture = workflow.latest_frame_event(sm, region.camera)  # type: ignore[attr-defined]
    return render(request, "remove_region.html", sess, region=region, poly=poly, picture=picture,
                  picture_size=views.frame_size(picture.payload, picture.evidence or {}) if picture else None)


@router.post("/regions/{region_id}/remove")
async def remove_region(request: Request, region_id: int, sess: User) -> Response:
    form = await request.form()
    check_csrf(sess, form)
    if form.get("confirm") != "yes":  # a bare POST (old page, stray click) only shows the question
        return remove_region_page(request, region_id, sess)
    try:
        region = await run_in_threadpool(workflow.remove_region, request.app.state.sm, region_id, sess.user or "?")
    except workflow.DecisionError as exc:
        raise HTTPException(exc.status_code, str(exc)) from None
    return RedirectResponse(f"/cameras/{region.camera}?removed={region_id}", status_code=303)


@router.get("/audit")
def audit_page(request: Request, sess: User, camera: str | None = None) -> Response:
    camera = _name_or_none(camera)
    trail = workflow.audit_trail(request.app.state.sm, 500, camera=camera)
    return render(request, "audit.html", sess, trail=trail, camera=camera or "")
