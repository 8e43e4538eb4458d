"""The edge sender against the real review service (``graffiti review serve`` in a subprocess).

Proves the two halves agree on the wire format (multipart event + files, bearer token, heartbeats)
and that outage + resend still stores each event exactly once on the real server.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from detector.config import from_mapping
from detector.edge.delivery.config import DeliveryConfig
from detector.edge.delivery.sender import Delivery, open_outbox
from detector.events import Event, Heartbeat
from tests.conftest import REPO
from tests.edge.conftest import free_port, wait_until

pytest.importorskip("fastapi", reason="needs the [review] extra")
cv2 = pytest.importorskip("cv2", reason="needs opencv (the [edge] extra)")

pytestmark = pytest.mark.slow


def jpeg(seed: int, w: int = 160, h: int = 90) -> bytes:
    import numpy as np

    img = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return bytes(buf)


def serve(data: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(data.parent / "server.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "detector", "review", "serve", "--data", str(data), "--host", "127.0.0.1",
             "--port", str(port)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def stored_ids(data: Path) -> list[str]:
    with sqlite3.connect(data / "review.sqlite3") as conn:
        return [r[0] for r in conn.execute("SELECT id FROM events")]


def test_events_reach_the_real_review_service_once_across_an_outage_and_a_replay(tmp_path: Path) -> None:
    from tests.review.conftest import make_site

    site = make_site(tmp_path / "review")
    port = free_port()
    cfg = from_mapping(DeliveryConfig, {
        "retry_initial_s": 0.1, "retry_max_s": 0.5,
        "http": {"url": f"http://127.0.0.1:{port}", "token": site.token, "timeout_s": 10},
    }, "delivery").resolved(tmp_path / "edge")
    outbox = open_outbox(cfg)
    delivery = Delivery(cfg, outbox, device="pi-1")
    delivery.start()  # the server is not running yet
    ids = []
    for i, cam in enumerate(("north", "south", "north")):
        ev = Event(device="pi-1", camera=cam, type="graffiti_detected", score=0.9, threshold=0.6,
                   bbox=(10, 10, 90, 60), frame_size=(160, 90), evidence={"frame": "frame.jpg", "crop": "crop.jpg"})
        outbox.put_event(ev, {"frame.jpg": jpeg(i), "crop.jpg": jpeg(100 + i, 40, 30)})
        ids.append(ev.id)
    outbox.put_heartbeat(Heartbeat(device="pi-1"))
    assert wait_until(lambda: any(i.attempts for i in outbox.due("http", now=1e18)), 10.0)

    proc = serve(site.data, port)
    try:
        assert delivery.flush(60.0), f"{outbox.counts()}; server log: {site.data.parent / 'server.log'}"
        assert sorted(stored_ids(site.data)) == sorted(ids)

        # A crash after the server's 2xx but before "delivered" was recorded: everything is sent again.
        with sqlite3.connect(cfg.outbox_path) as conn:
            conn.execute("UPDATE deliveries SET state = 'pending', next_attempt_at = 0")
        delivery.wake()
        t0 = time.monotonic()
        assert delivery.flush(30.0)
        assert time.monotonic() - t0 < 30
        assert sorted(stored_ids(site.data)) == sorted(ids), "a replayed event was stored twice"
        assert outbox.counts()["http"]["parked"] == 0
    finally:
        delivery.stop(5.0)
        proc.terminate()
        proc.wait(10)


def test_an_event_whose_picture_is_gone_is_still_stored_by_the_real_review_service(tmp_path: Path) -> None:
    from tests.review.conftest import make_site

    site = make_site(tmp_path / "review")
    port = free_port()
    cfg = from_mapping(DeliveryConfig, {
        "retry_initial_s": 0.1, "retry_max_s": 0.5,
        "http": {"url": f"http://127.0.0.1:{port}", "token": site.token, "timeout_s": 10},
    }, "delivery").resolved(tmp_path / "edge")
    outbox = open_outbox(cfg)
    ev = Event(device="pi-1", camera="north", type="graffiti_detected", score=0.9, threshold=0.6,
               bbox=(10, 10, 90, 60), frame_size=(160, 90), evidence={"frame": "frame.jpg", "crop": "crop.jpg"})
    outbox.put_event(ev, {"frame.jpg": jpeg(1), "crop.jpg": jpeg(2, 40, 30)})
    (cfg.evidence_dir / ev.id / "frame.jpg").unlink()  # before this change: HTTP 422, parked for good
    proc = serve(site.data, port)
    delivery = Delivery(cfg, outbox, device="pi-1")
    try:
        assert wait_until(lambda: delivery.flush(1.0), 60.0), outbox.counts()
    finally:
        proc.terminate()
        proc.wait(10)
    assert stored_ids(site.data) == [ev.id]
    assert outbox.counts()["http"]["parked"] == 0
    with sqlite3.connect(site.data / "review.sqlite3") as conn:
        (payload,) = conn.execute("SELECT payload FROM events").fetchone()
    import json

    assert json.loads(payload)["evidence_dropped"] == ["frame"]
