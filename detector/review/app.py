"""The app factory: one FastAPI app serving the device API (``/api/v1``), the operator pages and the
OpenAPI docs (``/docs``), over one database and one evidence folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from detector.review.migrations import open_database
from detector.review.routes.web import NeedSignIn
from detector.review.settings import ReviewSettings
from detector.review.views import wants_html

HERE = Path(__file__).parent
PAGE_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Refuse request bodies over ``limit_bytes`` with 413: first by Content-Length, then by counting
    what actually streams in (a chunked upload has no Content-Length to trust)."""

    def __init__(self, app: ASGIApp, limit_bytes: int) -> None:
        self.app = app
        self.limit_bytes = limit_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit_bytes:
            await self._refuse(send, f"request body: {int(declared)} bytes, limit {self.limit_bytes}")
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit_bytes:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send, f"request body: more than {self.limit_bytes} bytes streamed")

    @staticmethod
    async def _refuse(send: Send, detail: str) -> None:
        resp = JSONResponse({"detail": detail}, status_code=413, headers={"Connection": "close"})
        await resp({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def create_app(settings: ReviewSettings) -> FastAPI:
    """Build the app over ``settings``: migrate the database, mount routes, static files and limits."""
    import os

    from detector.review import ingest, store
    from detector.review.routes import api, pages

    # A tiny JPEG can claim 20000×20000 pixels; cap what OpenCV will allocate when checking evidence
    # (read on the first decode, so set before any). 40 MP covers 8K cameras.
    os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(40_000_000))
    database = open_database(settings)
    app = FastAPI(
        title="Tunnel graffiti review service",
        version="1",
        docs_url=None,  # served below from the packaged Swagger UI (no CDN: works offline)
        redoc_url=None,
        description="Device ingest API (events, heartbeats, accepted regions) and the operator web page. "
        "Devices authenticate with `Authorization: Bearer <token>` from `graffiti review add-device`.",
    )
    app.state.settings = settings
    app.state.engine = database.engine
    app.state.sm = database.sm
    # After a crash: finish interrupted uploads, drop pictures no row refers to (see ingest).
    ingest.sweep_orphans(settings.evidence_dir, store.referenced_evidence_dirs(app.state.sm), settings.sweep_min_age_s)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _mount_docs(app)
    app.add_middleware(BodyLimit, limit_bytes=settings.max_request_bytes)

    @app.exception_handler(RequestValidationError)
    async def _one_line_validation(_request: Request, exc: RequestValidationError) -> Response:
        # One line naming the field, like every other 4xx here (FastAPI's default is a list).
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return JSONResponse({"detail": f"{where}: {first.get('msg', 'invalid')}"}, status_code=422)

    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Browsers get a page that says what happened and offers the way on; API clients get JSON.
        if wants_html(request):
            from detector.review.routes.web import error_page

            return error_page(request, exc.status_code, str(exc.detail))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(NeedSignIn)
    async def _to_sign_in(_request: Request, exc: NeedSignIn) -> Response:
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", status_code=303)

    @app.middleware("http")
    async def _security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        path = request.url.path
        if not path.startswith(("/docs", "/redoc", "/openapi.json")):
            response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not path.startswith(("/static", "/api/v1/health")):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app


def _mount_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the swagger-ui-bundle-v2 package's files; without that package, /docs
    says how to get it (the API itself works either way)."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse

    try:
        import swagger_ui_bundle

        assets: Path | None = Path(swagger_ui_bundle.swagger_ui_path)
    except ImportError:
        assets = None
    if assets is not None and (assets / "swagger-ui-bundle.js").is_file():
        app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        if assets is None:
            return HTMLResponse("<p>API docs need the swagger-ui-bundle-v2 package "
                                "(pip install 'tunnel-graffiti-detector[review]'); the schema is at "
                                "<a href='/openapi.json'>/openapi.json</a>.</p>", status_code=503)
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} · API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon-32x32.png")


def app_from_env() -> FastAPI:
    """For ``uvicorn --factory detector.review.app:app_from_env`` (and ``serve --workers N``): settings
    from GRAFFITI_REVIEW_DATA, GRAFFITI_REVIEW_DB and GRAFFITI_REVIEW_SETTINGS (a JSON object of
    ReviewSettings fields, e.g. {"trusted_proxies": ["127.0.0.1"]})."""
    import json
    import os

    from detector.errors import ConfigError
    from detector.review.settings import load_settings

    try:
        overrides = json.loads(os.environ.get("GRAFFITI_REVIEW_SETTINGS") or "{}")
    except ValueError:
        raise ConfigError("GRAFFITI_REVIEW_SETTINGS: expected a JSON object") from None
    if "trusted_proxies" in overrides:
        overrides["trusted_proxies"] = tuple(overrides["trusted_proxies"])
    return create_app(load_settings(Path(os.environ.get("GRAFFITI_REVIEW_DATA", "review-data")),
                                    os.environ.get("GRAFFITI_REVIEW_DB"), **overrides))
