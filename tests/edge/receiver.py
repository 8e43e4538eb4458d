"""A tiny real HTTP receiver for delivery tests: the device side of the review API, stdlib only.

It implements what the sender relies on — bearer-token check, multipart parsing, idempotency by
event id (201 first time, 200 {"status": "duplicate"} after) — and records every request, so tests
can assert "each id stored exactly once, none lost". It can be stopped and restarted on the same port
(server down, then up), told to answer the next requests with given statuses, and to hold each
event request for ``hold_s`` after storing it (so a client can be killed mid-send).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from detector.events import SchemaError, pair_evidence, parse_event_json


class ReviewReceiver:
    def __init__(self, token: str = "device-token", port: int = 0) -> None:
        self.token = token
        self.port = port
        self.lock = threading.Lock()
        self.events: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, bytes]] = {}
        self.creates: Counter[str] = Counter()  # id → times it was stored (must stay 1)
        self.posts: list[str] = []  # every event POST's id, duplicates included
        self.duplicates = 0
        self.heartbeats: list[dict[str, Any]] = []
        self.fail_next: list[tuple[int, dict[str, str]]] = []  # (status, headers) for the next requests
        self.hold_s = 0.0
        self.holding = threading.Event()  # set while a stored event's answer is being held back
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ReviewReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

            def do_POST(self) -> None:
                receiver._handle(self)

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # ------------------------------------------------------------------ request handling
    def _reply(self, h: BaseHTTPRequestHandler, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        blob = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(blob)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(blob)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length", "0"))
        body = h.rfile.read(length)
        with self.lock:
            forced = self.fail_next.pop(0) if self.fail_next else None
        if forced is not None:
            self._reply(h, forced[0], {"detail": f"forced {forced[0]}"}, forced[1])
            return
        if h.headers.get("Authorization") != f"Bearer {self.token}":
            self._reply(h, 401, {"detail": "bad or missing device token"})
            return
        if h.path == "/api/v1/heartbeats":
            with self.lock:
                self.heartbeats.append(json.loads(body))
            self._reply(h, 201, {"status": "ok"})
            return
        if h.path != "/api/v1/events":
            self._reply(h, 404, {"detail": "not found"})
            return
        msg = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + h.headers.get("Content-Type", "").encode() + b"\r\n\r\n" + body
        )
        event: Any = b""
        names: list[str] = []
        files: dict[str, bytes] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name == "event":
                event = part.get_payload(decode=True)
            elif name == "files":
                names.append(str(part.get_filename()))
                files[names[-1]] = part.get_payload(decode=True)
        try:  # the review service's wire rules
            event = parse_event_json(event)
            pair_evidence(event.get("evidence", {}), names)
        except SchemaError as exc:
            self._reply(h, 422, {"detail": str(exc)})
            return
        with self.lock:
            self.posts.append(event["id"])
            duplicate = event["id"] in self.events
            if duplicate:
                self.duplicates += 1
            else:
                self.events[event["id"]] = event
                self.files[event["id"]] = files
                self.creates[event["id"]] += 1
        if self.hold_s and not duplicate:
            self.holding.set()
            threading.Event().wait(self.hold_s)
            self.holding.clear()
        if duplicate:
            self._reply(h, 200, {"status": "duplicate"})
        else:
            self._reply(h, 201, {"status": "created", "id": event["id"]})
