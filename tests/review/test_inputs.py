"""Inputs that used to be accepted and then break things (issue 11), over real HTTP: each is refused
with 422 naming the field and leaves no evidence behind, and whatever is already stored still renders."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.review.conftest import PASSWORD, Site
from tests.review.helpers import Server, csrf_of, detection, make_event, post_event, sign_in


@pytest.fixture()
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=20.0) as c:
        yield c


@pytest.fixture()
def alice(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=20.0) as c:
        assert sign_in(c, "alice", PASSWORD).status_code == 303
        yield c


def _evidence_dirs(data: Path, event_id: str) -> list[Path]:
    return [p for p in (data / "evidence").rglob(f"{event_id}.*") if p.is_dir()]


def _incoming(data: Path) -> list[Path]:
    d = data / "evidence" / ".incoming"
    return list(d.iterdir()) if d.is_dir() else []


BAD_EVENTS: list[tuple[dict[str, Any], str]] = [
    ({"time": "9999-12-31T23:59:59.000-05:00"}, "time"),
    ({"time": "0001-01-01T00:00:00.000+05:00"}, "time"),
    ({"time": "2099-01-01T00:00:00Z"}, "time"),
    ({"tiles": [{"xyxy": [0, 0, 160, 160], "score": math.nan}]}, "tiles[0].score"),
    ({"frame_size": ["a", "b"]}, "frame_size"),
    ({"frame_size": [math.inf, 720]}, "frame_size"),
    ({"score_history": [[1]]}, "score_history[0]"),
    ({"detail": ["a", "list"]}, "detail"),
    ({"detail": {"reason": "\ud800"}}, "detail.reason"),
    ({"detail": {"reason": "dark\x00"}}, "detail.reason"),
    ({"bbox": [0, 0, math.inf, 100]}, "bbox"),
    ({"related_event": "r" * 40}, "related_event"),
    ({"score": math.nan}, "score"),
    ({"camera": "north\x00"}, "camera"),
]
BAD_IDS = ["time-9999-minus-5h", "time-0001-plus-5h", "time-far-future", "tile-score-nan", "frame-size-text",
           "frame-size-inf", "history-not-pairs", "detail-list", "detail-lone-surrogate", "detail-nul", "bbox-inf",
           "related-event-long", "score-nan", "camera-nul"]


@pytest.mark.parametrize(("change", "field"), BAD_EVENTS, ids=BAD_IDS)
def test_event_that_would_break_storage_or_pages_is_refused_422_and_leaves_no_evidence(
        client: httpx.Client, site: Site, change: dict[str, Any], field: str) -> None:
    ev, files = detection()
    for attempt in range(2):  # the edge retries: each try must leave nothing behind
        r = post_event(client, site.token, {**ev, **change}, files)
        assert r.status_code == 422, (attempt, r.text)
        assert r.json()["detail"].startswith(field), r.json()["detail"]
    assert not _evidence_dirs(site.data, ev["id"])
    assert not _incoming(site.data)
    assert client.get(f"/api/v1/events/{ev['id']}", headers={"Authorization": f"Bearer {site.token}"}).status_code == 404


@pytest.mark.parametrize(("stats", "field"), [
    ({"last_frame_age_s": math.nan}, "cameras.north.last_frame_age_s"),
    ({"last_frame_age_s": 1e300}, "cameras.north.last_frame_age_s"),
    ({"frames_seen": 2**70}, "cameras.north.frames_seen"),
    ({"inference_ms_p50": -math.inf}, "cameras.north.inference_ms_p50"),
    ({"state": "online\x00"}, "cameras.north"),
], ids=["age-nan", "age-1e300", "frames-2-70", "p50-minus-inf", "state-nul"])
def test_heartbeat_with_unstorable_numbers_is_refused_422(client: httpx.Client, site: Site, stats: dict,
                                                          field: str) -> None:
    body = json.dumps({"schema": "graffiti-heartbeat/1", "device": "pi-1", "cameras": {"north": stats}})  # NaN as NaN
    r = client.post("/api/v1/heartbeats", content=body,
                    headers={"Authorization": f"Bearer {site.token}", "Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["detail"].startswith(field)


def test_heartbeat_with_a_large_but_real_frame_count_is_stored(client: httpx.Client, site: Site) -> None:
    hb = {"schema": "graffiti-heartbeat/1", "device": "pi-1",
          "cameras": {"north": {"state": "online", "frames_seen": 2**40, "last_frame_age_s": 0.5}}}
    r = client.post("/api/v1/heartbeats", json=hb, headers={"Authorization": f"Bearer {site.token}"})
    assert r.status_code == 200


@pytest.mark.parametrize("body", ["[" * 50_000 + "]" * 50_000, '{"x": ' + "9" * 6000 + "}"],
                         ids=["nested-50000-deep", "6000-digit-number"])
def test_event_json_the_parser_cannot_hold_is_422(client: httpx.Client, site: Site, body: str) -> None:
    r = client.post("/api/v1/events", data={"event": body}, headers={"Authorization": f"Bearer {site.token}"})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("event:")


# --- what is already stored (rows from before these checks) always renders ---------------------------

JUNK: dict[str, dict[str, Any]] = {
    "nan-tile": {"tiles": [{"xyxy": [0, 0, 10, 10], "score": math.nan}, {"xyxy": "x"}], "threshold": math.nan},
    "text-frame-size": {"frame_size": ["a", "b"], "bbox": [0, 0, 1e999, 100]},
    "history-singletons": {"score_history": [[1], "x", [1, 2, 3]]},
    "detail-list": {"detail": ["a", {"b": [1]}]},
    "lone-surrogate": {"detail": {"reason": "\ud800"}, "model": {"name": "\udfff"}},
    "not-a-dict-tiles": {"tiles": {"a": 1}, "score_history": None, "bbox": "wide"},
}


def _store_junk(site: Site, name: str, change: dict[str, Any]) -> str | None:
    """A row written straight into the database as an older version would have stored it; None when
    this database cannot hold such a value at all (then nothing can ever have stored it)."""
    from sqlalchemy.exc import SQLAlchemyError

    from detector.review import store
    from detector.review.db import make_engine, make_sessionmaker

    ev = make_event(camera="south", **{"score": 0.9, "threshold": 0.6, **change})
    engine = make_engine(site.db_url)
    try:
        store.insert_event(make_sessionmaker(engine), ev, {})
    except (SQLAlchemyError, ValueError):
        return None
    finally:
        engine.dispose()
    return str(ev["id"])


@pytest.mark.parametrize("name", sorted(JUNK))
def test_pages_and_api_render_whatever_is_stored(alice: httpx.Client, site: Site, name: str) -> None:
    event_id = _store_junk(site, name, JUNK[name])
    if event_id is None:
        pytest.skip(f"{name}: this database refuses such a value, so no row can hold it")
    for path in (f"/events/{event_id}", "/queue", "/queue?status=open&sort=score", "/cameras/south", "/cameras",
                 "/api/v1/events", f"/api/v1/events/{event_id}", "/api/v1/events?camera=south", "/audit"):
        r = alice.get(path)
        assert r.status_code == 200, (path, r.text[:300])
    assert json.loads(alice.get(f"/api/v1/events/{event_id}").text)["id"] == event_id


def test_accepting_a_stored_event_with_an_unusable_box_never_serves_a_broken_region(
        alice: httpx.Client, site: Site, server: Server) -> None:
    event_id = _store_junk(site, "inf-box", {"bbox": [0, 0, 1e999, 100], "tiles": []})
    if event_id is None:
        pytest.skip("this database refuses an infinite number in JSON")
    csrf = csrf_of(alice.get(f"/events/{event_id}").text)
    r = alice.post(f"/events/{event_id}/action", data={"action": "accept_region", "csrf": csrf})
    assert r.status_code in (303, 422)
    regions = httpx.get(server.url + "/api/v1/accepted-regions", params={"camera": "south"},
                        headers={"Authorization": f"Bearer {site.token}"}).json()
    for region in regions:
        assert all(isinstance(v, float) and math.isfinite(v) for pt in region["polygon"] for v in pt)


# --- what the edge polls -------------------------------------------------------------------------------

def test_rejected_events_boxes_are_served_to_their_device_for_suppression(
        alice: httpx.Client, client: httpx.Client, site: Site) -> None:
    ev, files = detection(camera="south", seed=3)
    assert post_event(client, site.token, ev, files).status_code == 201
    csrf = csrf_of(alice.get(f"/events/{ev['id']}").text)
    assert alice.post(f"/events/{ev['id']}/action",
                      data={"action": "reject", "reason": "poster", "csrf": csrf}).status_code == 303
    auth = {"Authorization": f"Bearer {site.token}"}
    got = client.get("/api/v1/rejected-regions", params={"camera": "south"}, headers=auth).json()
    mine = next(r for r in got if r["event_id"] == ev["id"])
    x1, y1, x2, y2 = ev["bbox"]
    assert mine["bbox"] == [x1, y1, x2, y2] and mine["polygon"][2] == [x2, y2]
    assert mine["reason"] == "poster" and mine["rejected_utc"].endswith("Z") and mine["frame_size"] == ev["frame_size"]
    # Another device's token does not see this camera.
    other = client.get("/api/v1/rejected-regions", params={"camera": "south"},
                       headers={"Authorization": f"Bearer {site.other_token}"})
    assert other.status_code == 403
    # Reopened: no longer suppressed.
    csrf = csrf_of(alice.get(f"/events/{ev['id']}").text)
    assert alice.post(f"/events/{ev['id']}/action", data={"action": "reopen", "csrf": csrf}).status_code == 303
    got = client.get("/api/v1/rejected-regions", params={"camera": "south"}, headers=auth).json()
    assert ev["id"] not in [r["event_id"] for r in got]


def test_open_events_of_a_device_lists_only_its_live_alerts(alice: httpx.Client, client: httpx.Client,
                                                             site: Site) -> None:
    live, files = detection(camera="north", seed=4)
    done, files2 = detection(camera="north", seed=5)
    offline = make_event(camera="north", type="camera_offline", detail={"offline_s": 60})
    for ev, f in ((live, files), (done, files2), (offline, [])):
        assert post_event(client, site.token, ev, f).status_code == 201
    csrf = csrf_of(alice.get(f"/events/{done['id']}").text)
    assert alice.post(f"/events/{done['id']}/action",
                      data={"action": "reject", "reason": "stain", "csrf": csrf}).status_code == 303
    r = client.get("/api/v1/devices/me/open-events", headers={"Authorization": f"Bearer {site.token}"})
    assert r.status_code == 200 and r.json()["device"] == "pi-1"
    ids = r.json()["ids"]
    assert live["id"] in ids and done["id"] not in ids and offline["id"] not in ids
    other = client.get("/api/v1/devices/me/open-events", headers={"Authorization": f"Bearer {site.other_token}"})
    assert live["id"] not in other.json()["ids"]
    assert client.get("/api/v1/devices/me/open-events").status_code == 401


@pytest.mark.parametrize("path", [
    "/api/v1/events/" + "x" * 5000, "/api/v1/events/%00", f"/api/v1/events/{str(uuid.uuid4()).upper()}",
    "/api/v1/events?camera=%00", "/api/v1/events?since=0001-01-01T00:00:00%2B05:00",
    "/events/%00", "/queue?camera=%00", "/cameras/%00", "/audit?camera=%00", "/evidence/%00/frame",
], ids=["long-id", "nul-id", "upper-id", "nul-camera", "since-overflow", "page-nul-id", "queue-nul-camera",
        "camera-nul", "audit-nul", "evidence-nul"])
def test_odd_paths_and_queries_answer_without_a_server_error(alice: httpx.Client, path: str) -> None:
    r = alice.get(path)
    assert r.status_code < 500, r.text[:300]


def test_a_commissioning_report_is_an_alert_the_operator_decides_and_a_rejection_reaches_the_edge(
        alice: httpx.Client, client: httpx.Client, site: Site) -> None:
    """Marks that looked like graffiti when the edge took its wall baseline arrive as one
    commissioning_report: it is in the queue like an alert, and rejecting it is served to the device."""
    ev, files = detection(camera="south", seed=6)
    ev["type"] = "commissioning_report"
    ev["detail"] = {"mode": "colour", "tiles": len(ev["tiles"])}
    assert post_event(client, site.token, ev, files).status_code == 201
    page = alice.get(f"/events/{ev['id']}")
    assert page.status_code == 200 and "Commissioning report" in page.text and 'id="btn-confirm"' in page.text
    assert ev["id"] in alice.get("/queue").text
    csrf = csrf_of(page.text)
    assert alice.post(f"/events/{ev['id']}/action",
                      data={"action": "reject", "reason": "poster", "csrf": csrf}).status_code == 303
    auth = {"Authorization": f"Bearer {site.token}"}
    got = client.get("/api/v1/rejected-regions", params={"camera": "south"}, headers=auth).json()
    assert ev["id"] in [r["event_id"] for r in got]
