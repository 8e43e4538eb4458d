"""The operator page's behaviour over real HTTP (the browser tests check how it looks and reacts):
HTML error pages with the way on, queue count and paging, camera badges, drawn regions, removal
with confirmation, local-time markup and Swagger UI without a CDN."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest

from tests.review.conftest import PASSWORD, Site
from tests.review.helpers import Server, csrf_of, detection, make_event, post_event, sign_in

HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture()
def alice(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=20.0) as c:
        assert sign_in(c, "alice", PASSWORD).status_code == 303
        yield c


def _alert(server: Server, site: Site, **kw: object) -> dict:
    ev, files = detection(**kw)  # type: ignore[arg-type]
    with httpx.Client(base_url=server.url, timeout=20.0) as c:
        assert post_event(c, site.token, ev, files).status_code == 201
    return ev


def _act(c: httpx.Client, event_id: str, headers: dict[str, str] | None = None, **data: str) -> httpx.Response:
    csrf = csrf_of(c.get(f"/events/{event_id}").text)
    return c.post(f"/events/{event_id}/action", data={**data, "csrf": csrf}, headers=headers or {})


def test_deciding_an_alert_another_operator_already_decided_shows_who_and_offers_reopen(
        alice: httpx.Client, server: Server, site: Site) -> None:
    ev = _alert(server, site, camera="south")
    with httpx.Client(base_url=server.url, timeout=20.0) as carol:
        assert sign_in(carol, "carol", PASSWORD).status_code == 303
        csrf = csrf_of(carol.get(f"/events/{ev['id']}").text)  # carol has the page open ...
        assert _act(alice, ev["id"], action="reject", reason="poster").status_code == 303  # ... alice decides first
        r = carol.post(f"/events/{ev['id']}/action", data={"action": "confirm", "csrf": csrf}, headers=HTML)
    assert r.status_code == 409 and r.headers["content-type"].startswith("text/html")
    message = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", r.text))
    assert "already false alarm by alice" in message and "Reopen it to decide again?" in message
    assert 'id="btn-error-reopen"' in r.text and f'href="/events/{ev["id"]}"' in r.text
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" title="[^"]+ UTC" data-local>', r.text)
    # API clients still get one JSON line.
    api = alice.post(f"/events/{ev['id']}/action", data={"action": "confirm", "csrf": csrf_of(alice.get("/queue").text)})
    assert api.status_code == 409 and api.json()["detail"].endswith("reopen it first")


def test_unknown_pages_are_html_for_browsers_and_json_for_api_clients(alice: httpx.Client) -> None:
    page = alice.get("/cameras/nowhere", headers=HTML)
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "camera nowhere: not found" in page.text and 'href="/cameras"' in page.text
    assert alice.get("/cameras/nowhere").json()["detail"] == "camera nowhere: not found"


def test_queue_shows_the_total_and_pages_through_every_open_alert(alice: httpx.Client, server: Server,
                                                                  site: Site) -> None:
    from detector.review import store
    from detector.review.db import make_engine, make_sessionmaker

    sm = make_sessionmaker(make_engine(site.db_url))
    made = []
    for _ in range(55):  # more than one page; stored directly (the upload path is tested elsewhere)
        ev = make_event(camera="east", device="pi-2", score=0.8, threshold=0.6, bbox=[0, 0, 10, 10])
        store.insert_event(sm, ev, {})
        made.append(ev["id"])
    first = alice.get("/queue?camera=east")
    assert re.search(r'id="queue-count">1–50 of 55 open alerts', first.text)
    assert first.text.count('class="alert-row"') == 50 and 'id="page-next"' in first.text
    second = alice.get("/queue?camera=east&page=2")
    assert re.search(r'id="queue-count">51–55 of 55 open alerts', second.text)
    shown = set(re.findall(r'id="row-([0-9a-f-]{36})"', first.text + second.text))
    assert shown == set(made)
    assert alice.get("/queue?camera=east&page=999").status_code == 200  # past the end: the last page


def test_queue_flags_alerts_from_cameras_in_tamper_or_offline(alice: httpx.Client, server: Server, site: Site) -> None:
    ev = _alert(server, site, camera="north")
    with httpx.Client(base_url=server.url) as c:
        tamper = make_event(camera="north", type="camera_tamper", detail={"reason": "dark"})
        assert post_event(c, site.token, tamper, []).status_code == 201
    page = alice.get("/queue")
    row = page.text.split(f'id="row-{ev["id"]}"')[1].split("</tr>")[0]
    assert "state-bg-tamper" in row and "tamper" in row
    assert 'id="camera-trouble"' in page.text


def test_an_operator_drawn_region_is_what_the_edge_gets(alice: httpx.Client, server: Server, site: Site) -> None:
    ev = _alert(server, site, camera="south", seed=6)
    drawn = [[100, 50], [300, 50], [300, 200], [100, 200]]
    assert _act(alice, ev["id"], action="accept_region", polygon=json.dumps(drawn), note="mural").status_code == 303
    regions = httpx.get(server.url + "/api/v1/accepted-regions", params={"camera": "south"},
                        headers={"Authorization": f"Bearer {site.token}"}).json()
    mine = next(r for r in regions if r["note"] == "mural")
    assert mine["polygon"] == [[float(x), float(y)] for x, y in drawn]


@pytest.mark.parametrize(("polygon", "message"), [
    ("[[1, 2], [3, 4]]", "polygon: expected 3 to 64"),
    ('[[0, 0], [NaN, 1], [5, 5]]', "polygon: expected 3 to 64"),
    ("not json", "polygon: expected JSON"),
    ("[[10, 10], [10, 10], [10, 10]]", "polygon: the drawn region is empty"),
], ids=["two-points", "nan", "not-json", "empty"])
def test_a_drawn_region_that_is_not_one_is_refused_and_the_alert_stays_open(
        alice: httpx.Client, server: Server, site: Site, polygon: str, message: str) -> None:
    ev = _alert(server, site, camera="south")
    r = _act(alice, ev["id"], action="accept_region", polygon=polygon)
    assert r.status_code == 422 and r.json()["detail"].startswith(message)
    assert alice.get(f"/api/v1/events/{ev['id']}").json()["status"] == "open"


def test_region_removal_asks_first_and_shows_it_on_the_camera_picture(alice: httpx.Client, server: Server,
                                                                        site: Site) -> None:
    ev = _alert(server, site, camera="south", seed=9)
    assert _act(alice, ev["id"], action="accept_region", note="to remove").status_code == 303
    camera = alice.get("/cameras/south").text
    region_id = int(re.findall(r'id="region-poly-(\d+)"', camera)[-1])
    assert 'id="camera-picture"' in camera and f'href="/regions/{region_id}/remove"' in camera
    csrf = csrf_of(camera)
    bare = alice.post(f"/regions/{region_id}/remove", data={"csrf": csrf})  # no confirmation: only the question
    assert bare.status_code == 200 and 'id="btn-remove-confirm"' in bare.text
    assert f'id="region-poly-{region_id}"' in alice.get(f"/regions/{region_id}/remove").text
    assert f'id="region-poly-{region_id}"' in alice.get("/cameras/south").text
    done = alice.post(f"/regions/{region_id}/remove", data={"csrf": csrf, "confirm": "yes"})
    assert done.status_code == 303
    assert f'id="region-poly-{region_id}"' not in alice.get("/cameras/south").text
    assert alice.get(f"/regions/{region_id}/remove", headers=HTML).status_code == 404


def test_swagger_ui_is_served_from_the_package_without_a_cdn(alice: httpx.Client) -> None:
    docs = alice.get("/docs")
    assert docs.status_code == 200
    assert "://" not in re.sub(r'(href|src)="/[^"]*"', "", "".join(re.findall(r'(?:href|src)="[^"]*"', docs.text)))
    for asset in re.findall(r'(?:href|src)="(/docs-assets/[^"]+)"', docs.text):
        got = alice.get(asset)
        assert got.status_code == 200 and len(got.content) > 500, asset
    assert "/docs-assets/swagger-ui-bundle.js" in docs.text
