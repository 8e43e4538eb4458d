"""Shared plumbing of the operator pages: the signed session cookie, sign-in guard, CSRF check and
the Jinja2 environment."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from starlette.templating import Jinja2Templates

from detector.review import auth, views


class NeedSignIn(Exception):
    """Raised by page dependencies when no operator is signed in; answered with a redirect."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


COOKIE = "graffiti_review"


def current_session(request: Request) -> auth.WebSession | None:
    """The cookie's session; a signed-in one only while its row exists (sign-out, a password change or
    removing the user deletes it, for every worker at once). A revoked one reads as signed out."""
    from detector.review import store

    settings = request.app.state.settings
    sess = auth.read_session(request.cookies.get(COOKIE), settings.session_secret, settings.session_max_age_s)
    if sess is not None and sess.user and not store.session_alive(request.app.state.sm, sess):
        return auth.WebSession(user=None, csrf=sess.csrf, issued_s=sess.issued_s)
    return sess


def client_ip(request: Request) -> str:
    """The client's address: the peer, or behind a trusted reverse proxy the last address in
    X-Forwarded-For that is not itself a trusted proxy (earlier entries are the client's to forge)."""
    peer = request.client.host if request.client else "?"
    trusted = request.app.state.settings.trusted_proxies
    if peer not in trusted:
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop[:64]
    return peer


def require_user(request: Request) -> auth.WebSession:
    """Page dependency: the signed-in operator's session, else a redirect to the sign-in page."""
    sess = current_session(request)
    if sess is None or not sess.user:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise NeedSignIn(path)
    return sess


def check_csrf(sess: auth.WebSession | None, form: Any) -> None:
    """Every state-changing form carries the session's CSRF token; anything else is refused."""
    token = form.get("csrf") if form is not None else None
    if not auth.csrf_ok(sess, token if isinstance(token, str) else None):
        raise HTTPException(403, "csrf: missing or wrong form token; reload the page and try again")


def set_session_cookie(request: Request, response: Response, sess: auth.WebSession) -> None:
    settings = request.app.state.settings
    response.set_cookie(COOKIE, auth.sign_session(sess, settings.session_secret),
                        max_age=settings.session_max_age_s, httponly=True, samesite="strict",
                        secure=settings.secure_cookies, path="/")


@lru_cache(maxsize=1)
def templates() -> Jinja2Templates:
    t = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))
    t.env.globals.update(views.TEMPLATE_GLOBALS)
    t.env.filters.update(views.TEMPLATE_FILTERS)
    return t


def render(request: Request, name: str, sess: auth.WebSession | None, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    """A page; text that is not valid Unicode (rows stored before the wire format was checked) is
    shown with U+FFFD instead of failing the whole page."""
    html = templates().get_template(name).render({"request": request, "sess": sess, **context})
    body = html.encode("utf-8", "replace")
    return HTMLResponse(body, status_code=status_code)


ERROR_TITLES = {400: "Bad request", 403: "Not allowed", 404: "Not found", 409: "Already decided",
                413: "Too large", 422: "Not accepted", 429: "Too many tries"}


def error_page(request: Request, status_code: int, message: str, event: Any = None) -> HTMLResponse:
    """An HTML error page: what happened, and links (or a button) to carry on from there."""
    sess = current_session(request)
    return render(request, "error.html", sess, status_code=status_code, code=status_code,
                  title=ERROR_TITLES.get(status_code, "Something went wrong"), message=views.json_safe(message),
                  ev=event, path=request.url.path)
