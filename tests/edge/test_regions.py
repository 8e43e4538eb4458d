"""Accepted regions from a real HTTP server on 127.0.0.1: fetched, applied, failures never fatal."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from detector.edge.regions import AcceptedRegionsClient, RegionsError
from tests.edge.edge_models import write_folder
from tests.edge.test_runner import PATCH, config, delivered, run_fast, scene

TOKEN = "device-token"


class RegionsServer:
    """GET /api/v1/accepted-regions?camera=NAME with bearer auth; answers what the test sets."""

    def __init__(self) -> None:
        self.regions: dict[str, list[dict[str, Any]]] = {}
        self.rejected: dict[str, list[dict[str, Any]]] | None = None  # None: an older service (404)
        self.status = 200
        self.body: bytes | None = None  # overrides the JSON answer
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                parts = urlsplit(self.path)
                camera = parse_qs(parts.query).get("camera", [""])[0]
                server.requests.append((parts.path, self.headers.get("Authorization")))
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self._send(401, b'{"detail": "bad token"}')
                elif parts.path == "/api/v1/rejected-regions" and server.rejected is not None:
                    self._send(200, json.dumps(server.rejected.get(camera, [])).encode())
                elif parts.path != "/api/v1/accepted-regions":
                    self._send(404, b"{}")
                elif server.status != 200:
                    self._send(server.status, b'{"detail": "boom"}')
                else:
                    self._send(200, server.body if server.body is not None else json.dumps(server.regions.get(camera, [])).encode())

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> RegionsServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[RegionsServer]:
    with RegionsServer() as s:
        yield s


def region(camera: str, poly: list[list[float]]) -> dict[str, Any]:
    return {"id": 1, "camera": camera, "polygon": poly, "note": "permitted mural"}


def test_client_fetches_the_cameras_regions_with_the_device_token(server: RegionsServer) -> None:
    server.regions["north"] = [region("north", [[0, 0], [10, 0], [10, 10]])]
    got = AcceptedRegionsClient(server.url, TOKEN).fetch("north")
    assert [r.polygon for r in got] == [[(0.0, 0.0), (10.0, 0.0), (10.0, 10.0)]] and got[0].note == "permitted mural"
    assert server.requests[-1] == ("/api/v1/accepted-regions", f"Bearer {TOKEN}")
    assert AcceptedRegionsClient(server.url, TOKEN).fetch("south") == []


@pytest.mark.parametrize(
    ("status", "body", "token", "match"),
    [
        (500, None, TOKEN, "HTTP 500"),
        (200, b"<html>", TOKEN, "not JSON"),
        (200, b'[{"polygon": [[0, 0]]}]', TOKEN, r"\[0\]\.polygon: expected at least 3"),
        (200, None, "wrong", "HTTP 401"),
    ],
    ids=["server_error", "not_json", "bad_polygon", "bad_token"],
)
def test_client_errors_say_what_went_wrong(server: RegionsServer, status: int, body: bytes | None, token: str,
                                           match: str) -> None:
    server.status, server.body = status, body
    with pytest.raises(RegionsError, match=match):
        AcceptedRegionsClient(server.url, token).fetch("north")


def test_unreachable_service_is_a_regions_error() -> None:
    with RegionsServer() as s:
        url = s.url
    with pytest.raises(RegionsError, match="GET http://127.0.0.1"):
        AcceptedRegionsClient(url, TOKEN, timeout_s=2).fetch("north")


def test_region_accepted_in_the_review_service_never_alerts(tmp_path: Path, server: RegionsServer) -> None:
    x1, y1, x2, y2 = PATCH
    server.regions["north"] = [region("north", [[x1 - 30, y1 - 30], [x2 + 30, y1 - 30], [x2 + 30, y2 + 30], [x1 - 30, y2 + 30]])]
    write_folder(tmp_path / "frames", scene(40, paint_from=5), interval_s=5)
    cfg = config(tmp_path, str(tmp_path / "frames"))
    cfg["review"] = {"url": server.url, "token": TOKEN}
    run_fast(cfg, tmp_path)
    assert delivered(tmp_path) == []
    assert server.requests and server.requests[0][0] == "/api/v1/accepted-regions"


def test_review_service_down_is_logged_and_detection_goes_on(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with RegionsServer() as s:
        url = s.url  # closed at once: nothing listens there any more
    write_folder(tmp_path / "frames", scene(40, paint_from=5), interval_s=5)
    cfg = config(tmp_path, str(tmp_path / "frames"))
    cfg["review"] = {"url": url, "token": TOKEN, "timeout_s": 2}
    run_fast(cfg, tmp_path)
    assert [e["type"] for e in delivered(tmp_path)] == ["graffiti_detected"]
    assert "accepted regions for camera north not updated (will retry)" in caplog.text


def test_client_fetches_rejected_alerts_and_an_older_service_has_none(server: RegionsServer) -> None:
    client = AcceptedRegionsClient(server.url, TOKEN, timeout_s=2)
    assert client.fetch_rejected("north") == []  # no such endpoint (HTTP 404): nothing rejected
    server.rejected = {"north": [
        {"event_id": "e1", "camera": "north", "polygon": [[0, 0], [10, 0], [10, 10], [0, 10]], "bbox": [0, 0, 10, 10]},
        {"event_id": "e2", "camera": "north", "polygon": None, "bbox": None},  # no box: nothing to re-baseline
    ]}
    got = client.fetch_rejected("north")
    assert [(r.event_id, r.polygon[2]) for r in got] == [("e1", (10.0, 10.0))]
    server.rejected = {"north": [{"event_id": "e3", "polygon": [[0, 0], [1, 1]]}]}
    with pytest.raises(RegionsError, match=r"\[0\]\.polygon"):
        client.fetch_rejected("north")
