"""The edge runner's real delivery path (durable outbox + HTTP sink) against a running review
service: events and heartbeats arrive and show up on the operator page; accepted regions flow back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from detector.edge.delivery.config import DeliveryConfig, HttpSinkConfig
from detector.edge.delivery.sender import Delivery, open_outbox
from detector.edge.regions import AcceptedRegionsClient
from detector.events import CameraStats, Event, Heartbeat, ModelRef, TileScore
from tests.review.conftest import PASSWORD, Site
from tests.review.helpers import Server, csrf_of, jpeg, sign_in, tunnel_frame


@pytest.fixture(scope="module")
def site(sqlite_site: Site) -> Site:
    return sqlite_site  # the end-to-end checks run on the default database only

@pytest.fixture()
def delivery(server: Server, site: Site, tmp_path: Path) -> Iterator[Delivery]:
    cfg = DeliveryConfig(outbox_path=tmp_path / "outbox.sqlite3", evidence_dir=tmp_path / "evidence",
                         retry_initial_s=0.05, retry_max_s=0.5,
                         http=HttpSinkConfig(url=server.url, token=site.token, timeout_s=10))
    outbox = open_outbox(cfg)
    d = Delivery(cfg, outbox, device="pi-1", seed=0)
    yield d
    outbox.close()


def _edge_detection() -> tuple[Event, dict[str, bytes]]:
    frame, box = tunnel_frame(seed=7)
    h, w = frame.shape[:2]
    tiles = [TileScore((0, 60, 240, 300), 0.91), TileScore((180, 60, 420, 300), 0.72), TileScore((360, 60, 600, 300), 0.12)]
    ev = Event(device="pi-1", camera="north", type="graffiti_detected", score=0.88, threshold=0.6, tiles=tiles,
               bbox=(0, 60, 420, 300), frame_size=(w, h), model=ModelRef("graffiti-mnv3", "1.0.0", "a" * 64),
               evidence={"frame": f"{box[0]}-frame.jpg", "crop": "crop.jpg"},
               score_history=[(30.0, 0.2), (20.0, 0.7), (10.0, 0.85), (0.0, 0.88)])
    return ev, {f"{box[0]}-frame.jpg": jpeg(frame), "crop.jpg": jpeg(frame[60:300, 0:420])}


def test_edge_http_sink_delivers_events_and_heartbeats_that_show_up_on_the_page(
        delivery: Delivery, server: Server, site: Site) -> None:
    ev, files = _edge_detection()
    assert delivery.outbox.put_event(ev, files)
    delivery.outbox.put_heartbeat(Heartbeat(device="pi-1", cameras={
        "north": CameraStats(frames_seen=500, last_frame_age_s=1.0, inference_ms_p50=45.0, state="online")}))
    assert delivery.flush(30.0), "outbox did not drain into the review service"

    with httpx.Client(base_url=server.url, timeout=10) as op:
        assert sign_in(op, "alice", PASSWORD).status_code == 303
        assert ev.id in op.get("/queue").text
        page = op.get(f"/events/{ev.id}").text
        assert f"/evidence/{ev.id}/frame" in page and "graffiti-mnv3" in page
        assert op.get(f"/evidence/{ev.id}/frame").content[:3] == b"\xff\xd8\xff"
        assert 'state state-online' in op.get("/cameras").text.split('id="cam-north"')[1].split("</tr>")[0]

        # The operator accepts the area; the edge's own regions client sees it.
        op.post(f"/events/{ev.id}/action", data={"action": "accept_region", "csrf": csrf_of(page)})
        regions = AcceptedRegionsClient(server.url, site.token).fetch("north")
        assert [(0.0, 60.0), (420.0, 60.0), (420.0, 300.0), (0.0, 300.0)] in [r.polygon for r in regions]


def test_edge_resend_after_a_crash_is_stored_once_and_cleaned_event_closes_the_alert(
        delivery: Delivery, server: Server, site: Site, tmp_path: Path) -> None:
    ev, files = _edge_detection()
    assert delivery.outbox.put_event(ev, files)
    assert delivery.flush(30.0)
    # A second device outbox (as after a crash before "delivered" was recorded) sends the same event.
    cfg2 = DeliveryConfig(outbox_path=tmp_path / "o2" / "outbox.sqlite3", evidence_dir=tmp_path / "o2" / "ev",
                          http=HttpSinkConfig(url=server.url, token=site.token))
    box2 = open_outbox(cfg2)
    try:
        assert box2.put_event(ev, files)
        assert Delivery(cfg2, box2, device="pi-1").flush(30.0)  # 200 duplicate counts as delivered
    finally:
        box2.close()
    auth = {"Authorization": f"Bearer {site.token}"}
    listed = httpx.get(f"{server.url}/api/v1/events", params={"camera": "north", "limit": 1000}, headers=auth).json()
    assert [e["id"] for e in listed].count(ev.id) == 1

    clean_frame, _ = tunnel_frame(seed=7, tag=False)
    cleaned = Event(device="pi-1", camera="north", type="graffiti_cleaned", score=0.03, related_event=ev.id,
                    evidence={"frame": "after.jpg"})
    assert delivery.outbox.put_event(cleaned, {"after.jpg": jpeg(clean_frame)})
    assert delivery.flush(30.0)
    got = httpx.get(f"{server.url}/api/v1/events/{ev.id}", headers=auth).json()
    assert got["status"] == "cleaned_by_device"
