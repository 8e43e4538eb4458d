"""Property-based fuzzing over real HTTP: no input to the device API or the operator pages gets a
500, and whatever the service accepted renders afterwards. Runs on SQLite and PostgreSQL (``site``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.review.conftest import PASSWORD, Site
from tests.review.helpers import Server, csrf_of, detection, make_event, post_event, sign_in

FUZZ = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Any text, lone surrogates and NUL included (sent as JSON escapes).
any_text = st.text(st.characters(exclude_categories=()), max_size=12)
numbers = st.integers(min_value=-(2**80), max_value=2**80) | st.floats(allow_nan=True, allow_infinity=True)
scalars = st.none() | st.booleans() | numbers | any_text
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(any_text, inner, max_size=4), max_leaves=12)
times = st.datetimes().map(lambda d: d.isoformat()) | st.sampled_from(
    ["9999-12-31T23:59:59.000-05:00", "0001-01-01T00:00:00.000+05:00", "2026-11-29T10:00:00Z", "yesterday"])
boxes = st.lists(numbers, min_size=4, max_size=4) | json_values
EVENT_FIELDS = {
    "time": times, "score": numbers | st.none(), "threshold": numbers | st.none(), "bbox": boxes,
    "frame_size": st.lists(numbers | any_text, max_size=3) | json_values,
    "tiles": st.lists(st.fixed_dictionaries({"xyxy": boxes, "score": numbers | any_text}), max_size=3) | json_values,
    "score_history": st.lists(st.lists(numbers, max_size=3), max_size=4) | json_values,
    "detail": st.dictionaries(any_text, json_values, max_size=3) | json_values,
    "related_event": any_text | st.uuids().map(str) | st.none(), "model": json_values,
    "camera": st.sampled_from(["north", "south", "east"]) | any_text, "type": any_text | st.sampled_from(
        ["graffiti_detected", "graffiti_cleaned", "camera_tamper", "camera_offline"]),
    "evidence_dropped": json_values, "id": any_text, "unknown": json_values,
}
event_changes = st.dictionaries(st.sampled_from(sorted(EVENT_FIELDS)), st.none(), max_size=4).flatmap(
    lambda keys: st.fixed_dictionaries({k: EVENT_FIELDS[k] for k in keys}))


def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=True, ensure_ascii=True)


@pytest.fixture(scope="module")
def op(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30.0) as c:
        assert sign_in(c, "alice", PASSWORD).status_code == 303
        yield c


@FUZZ
@given(change=event_changes)
def test_no_event_upload_gets_a_server_error_and_what_is_accepted_renders(
        server: Server, site: Site, op: httpx.Client, change: dict[str, Any]) -> None:
    ev = {**make_event(score=0.9, threshold=0.6, bbox=[10, 10, 200, 120], frame_size=[640, 360]), **change}
    r = httpx.post(server.url + "/api/v1/events", data={"event": _dumps(ev)},
                   headers={"Authorization": f"Bearer {site.token}"}, timeout=30.0)
    assert r.status_code < 500, r.text
    if r.status_code == 201:
        event_id = r.json()["id"]
        for path in (f"/events/{event_id}", f"/api/v1/events/{event_id}", "/api/v1/events?limit=20", "/queue",
                     "/cameras", f"/cameras/{quote(str(ev['camera']), safe='')}"):
            got = op.get(path)
            assert got.status_code == 200, (path, got.text[:300])


@FUZZ
@given(cameras=st.dictionaries(st.sampled_from(["north", "south"]) | any_text,
                               st.dictionaries(st.sampled_from(["frames_seen", "last_frame_age_s", "inference_ms_p50",
                                                                "state", "x"]), json_values, max_size=4), max_size=3),
       extra=st.dictionaries(st.sampled_from(["outbox_depth", "disk_free_mb", "cpu_temp_c", "time", "y"]),
                             json_values, max_size=3))
def test_no_heartbeat_gets_a_server_error(server: Server, site: Site, op: httpx.Client, cameras: dict,
                                          extra: dict) -> None:
    hb = {"schema": "graffiti-heartbeat/1", "device": "pi-1", "cameras": cameras, **extra}
    r = httpx.post(server.url + "/api/v1/heartbeats", content=_dumps(hb), timeout=30.0,
                   headers={"Authorization": f"Bearer {site.token}", "Content-Type": "application/json"})
    assert r.status_code < 500, r.text
    assert op.get("/cameras").status_code == 200
    assert op.get("/api/v1/cameras").status_code == 200


PATHS = ["/events/{}", "/api/v1/events/{}", "/cameras/{}", "/evidence/{}/frame", "/queue?camera={}",
         "/queue?status={}&sort={}", "/audit?camera={}", "/api/v1/events?camera={}", "/api/v1/events?since={}",
         "/api/v1/events?type={}&status={}", "/api/v1/events?limit={}", "/login?next={}",
         "/api/v1/accepted-regions?camera={}", "/api/v1/rejected-regions?camera={}",
         "/api/v1/devices/me/open-events?camera={}"]


@FUZZ
@given(template=st.sampled_from(PATHS), parts=st.lists(any_text | st.uuids().map(str), min_size=2, max_size=2))
def test_no_page_or_query_gets_a_server_error(server: Server, site: Site, op: httpx.Client, template: str,
                                              parts: list[str]) -> None:
    path = template.format(*(quote(p.encode("utf-8", "surrogatepass"), safe="") for p in parts))
    headers = {"Authorization": f"Bearer {site.token}"} if "regions" in path or "devices/me" in path else {}
    r = op.get(path, headers=headers)
    assert r.status_code < 500, (path, r.text[:300])


@pytest.fixture(scope="module")
def alert(server: Server, site: Site) -> str:
    ev, files = detection(camera="south", seed=7)
    with httpx.Client(base_url=server.url, timeout=30.0) as c:
        assert post_event(c, site.token, ev, files).status_code == 201
    return str(ev["id"])


@FUZZ
@given(form=st.fixed_dictionaries({}, optional={
    "action": st.sampled_from(["confirm", "reject", "cleaned", "accept_region", "reopen"]) | any_text,
    "reason": st.sampled_from(["poster", "stain"]) | any_text, "note": any_text,
    "polygon": any_text | json_values.map(_dumps), "stay": st.just("1"), "sort": any_text}))
def test_no_decision_form_gets_a_server_error(op: httpx.Client, alert: str, form: dict[str, str]) -> None:
    csrf = csrf_of(op.get(f"/events/{alert}").text)
    fields = {k: v.encode("utf-8", "replace").decode("utf-8") for k, v in form.items()}
    r = op.post(f"/events/{alert}/action", data={**fields, "csrf": csrf})
    assert r.status_code < 500, r.text[:300]
    assert op.get(f"/events/{alert}").status_code == 200
    assert op.get(f"/events/{uuid.uuid4()}").status_code == 404
