"""The operator pages over real HTTP: sign-in guard, CSRF, login rate limit, actions and audit."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.review.conftest import PASSWORD, Site
from tests.review.helpers import Server, csrf_of, detection, post_event, sign_in


@pytest.fixture()
def anon(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10.0) as c:
        yield c


@pytest.fixture()
def alice(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10.0) as c:
        assert sign_in(c, "alice", PASSWORD).status_code == 303
        yield c


def _alert(server: Server, site: Site, **kw: object) -> dict:
    ev, files = detection(**kw)  # type: ignore[arg-type]
    with httpx.Client(base_url=server.url) as c:
        assert post_event(c, site.token, ev, files).status_code == 201
    return ev


@pytest.mark.parametrize("path", ["/", "/queue", "/queue?sort=score", "/cameras", "/cameras/north", "/audit",
                                  "/events/00000000-0000-0000-0000-000000000000",
                                  "/evidence/00000000-0000-0000-0000-000000000000/frame"],
                         ids=["root", "queue", "queue-sorted", "cameras", "camera", "audit", "event", "evidence"])
def test_unauthenticated_page_access_is_redirected_to_sign_in(anon: httpx.Client, path: str) -> None:
    r = anon.get(path)
    if path == "/":
        r = anon.get(r.headers["location"])
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=/")


def test_sign_in_sets_an_httponly_samesite_cookie_and_returns_to_the_page(anon: httpx.Client) -> None:
    anon.get("/login?next=/cameras")
    r = anon.post("/login", data={"user": "alice", "password": PASSWORD, "csrf": csrf_of(anon.get("/login").text),
                                  "next": "/cameras"})
    assert r.status_code == 303 and r.headers["location"] == "/cameras"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert anon.get("/cameras").status_code == 200


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example"],
                         ids=["scheme-relative", "absolute", "backslash"])
def test_sign_in_never_redirects_off_site(anon: httpx.Client, target: str) -> None:
    r = anon.post("/login", data={"user": "alice", "password": PASSWORD, "csrf": csrf_of(anon.get("/login").text),
                                  "next": target})
    assert r.headers["location"] == "/queue"


@pytest.mark.parametrize("csrf", [None, "forged-token"], ids=["missing", "wrong"])
def test_action_post_without_the_sessions_csrf_token_is_refused(alice: httpx.Client, server: Server, site: Site,
                                                                csrf: str | None) -> None:
    ev = _alert(server, site)
    form = {"action": "confirm"} | ({"csrf": csrf} if csrf else {})
    r = alice.post(f"/events/{ev['id']}/action", data=form)
    assert r.status_code == 403
    assert r.json()["detail"].startswith("csrf:")
    assert alice.get(f"/api/v1/events/{ev['id']}").json()["status"] == "open"


def test_login_post_without_csrf_is_refused(anon: httpx.Client) -> None:
    r = anon.post("/login", data={"user": "alice", "password": PASSWORD})
    assert r.status_code == 403


def test_a_csrf_token_from_another_session_is_refused(alice: httpx.Client, server: Server, site: Site) -> None:
    ev = _alert(server, site)
    with httpx.Client(base_url=server.url) as mallory:
        foreign = csrf_of(mallory.get("/login").text)
    r = alice.post(f"/events/{ev['id']}/action", data={"action": "confirm", "csrf": foreign})
    assert r.status_code == 403


def test_repeated_failed_sign_ins_are_rate_limited_per_user(server: Server) -> None:
    with httpx.Client(base_url=server.url) as c:
        codes = [sign_in(c, "bob", "wrong password").status_code for _ in range(5)]
        assert codes == [401] * 5
        sixth = sign_in(c, "bob", "wrong password")
        assert sixth.status_code == 429 and int(sixth.headers["retry-after"]) > 0
        assert "Too many failed sign-ins" in sixth.text
        # Another user from the same address is not locked out by bob's failures.
        assert sign_in(c, "alice", PASSWORD).status_code == 303


def test_rate_limit_holds_even_for_the_right_password(server: Server) -> None:
    with httpx.Client(base_url=server.url) as c:
        for _ in range(5):
            assert sign_in(c, "carol", "not it").status_code == 401
        assert sign_in(c, "carol", PASSWORD).status_code == 429


def test_confirm_moves_the_alert_out_of_the_open_queue_and_is_audited(alice: httpx.Client, server: Server,
                                                                      site: Site) -> None:
    ev = _alert(server, site)
    page = alice.get(f"/events/{ev['id']}")
    assert page.status_code == 200 and ev["id"] in page.text
    r = alice.post(f"/events/{ev['id']}/action", data={"action": "confirm", "csrf": csrf_of(page.text)})
    assert r.status_code == 303
    assert ev["id"] not in alice.get("/queue").text
    assert ev["id"] in alice.get("/queue?status=confirmed").text
    api = alice.get(f"/api/v1/events/{ev['id']}").json()
    assert (api["status"], api["verdict"], api["decided_by"]) == ("confirmed", "graffiti", "alice")
    audit = alice.get("/audit").text
    assert ev["id"][:8] in audit and "confirm" in audit


def test_reject_needs_a_reason_from_the_list(alice: httpx.Client, server: Server, site: Site) -> None:
    ev = _alert(server, site)
    csrf = csrf_of(alice.get(f"/events/{ev['id']}").text)
    bad = alice.post(f"/events/{ev['id']}/action", data={"action": "reject", "reason": "meh", "csrf": csrf})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("reason:")
    ok = alice.post(f"/events/{ev['id']}/action",
                    data={"action": "reject", "reason": "poster", "note": "gig poster", "csrf": csrf})
    assert ok.status_code == 303
    api = alice.get(f"/api/v1/events/{ev['id']}").json()
    assert (api["status"], api["verdict"], api["reason"], api["note"]) == ("rejected", "clean", "poster", "gig poster")
    again = alice.post(f"/events/{ev['id']}/action", data={"action": "confirm", "csrf": csrf})
    assert again.status_code == 409


def test_accept_region_publishes_the_event_box_to_the_edge(alice: httpx.Client, server: Server, site: Site) -> None:
    ev = _alert(server, site, camera="south")
    csrf = csrf_of(alice.get(f"/events/{ev['id']}").text)
    assert alice.post(f"/events/{ev['id']}/action",
                      data={"action": "accept_region", "note": "permitted mural", "csrf": csrf}).status_code == 303
    regions = httpx.get(server.url + "/api/v1/accepted-regions", params={"camera": "south"},
                        headers={"Authorization": f"Bearer {site.token}"}).json()
    x1, y1, x2, y2 = ev["bbox"]
    assert {"camera": "south", "polygon": [[x1, y1], [x2, y1], [x2, y2], [x1, y2]], "note": "permitted mural"}.items() \
        <= regions[-1].items()
    assert "permitted mural" in alice.get("/cameras/south").text


def test_queue_sorts_by_highest_score(alice: httpx.Client, server: Server, site: Site) -> None:
    low = _alert(server, site, score=0.61)
    high = _alert(server, site, score=0.99)
    newest_first = alice.get("/queue?sort=newest").text
    by_score = alice.get("/queue?sort=score").text
    assert newest_first.index(high["id"]) < newest_first.index(low["id"])  # high was sent last
    assert by_score.index(high["id"]) < by_score.index(low["id"])
    low2 = _alert(server, site, score=0.62)
    assert alice.get("/queue?sort=score").text.index(high["id"]) < alice.get("/queue?sort=score").text.index(low2["id"])
    assert alice.get("/queue?sort=newest").text.index(low2["id"]) < alice.get("/queue?sort=newest").text.index(high["id"])


def test_event_page_shows_the_reference_view_sent_with_the_event(alice: httpx.Client, server: Server, site: Site) -> None:
    ev = _alert(server, site, with_reference=True)
    page = alice.get(f"/events/{ev['id']}").text
    assert f"/evidence/{ev['id']}/reference" in page
    assert alice.get(f"/evidence/{ev['id']}/reference").headers["content-type"] == "image/jpeg"


def test_event_page_falls_back_to_the_last_false_alarm_frame_of_the_camera(alice: httpx.Client, server: Server,
                                                                          site: Site) -> None:
    first = _alert(server, site, camera="north")
    csrf = csrf_of(alice.get(f"/events/{first['id']}").text)
    alice.post(f"/events/{first['id']}/action", data={"action": "reject", "reason": "shadow", "csrf": csrf})
    later = _alert(server, site, camera="north")
    assert f"/evidence/{first['id']}/frame" in alice.get(f"/events/{later['id']}").text


def test_camera_page_lists_state_and_open_alerts(alice: httpx.Client) -> None:
    page = alice.get("/cameras")
    assert page.status_code == 200
    assert 'id="cam-north"' in page.text and 'id="cam-east"' in page.text


def test_sign_out_ends_the_session(alice: httpx.Client) -> None:
    csrf = csrf_of(alice.get("/queue").text)
    assert alice.post("/logout", data={"csrf": csrf}).status_code == 303
    assert alice.get("/queue").status_code == 303


def test_non_alert_events_have_a_detail_page_without_decision_buttons(alice: httpx.Client, server: Server,
                                                                    site: Site) -> None:
    from tests.review.helpers import jpeg, make_event, tunnel_frame

    alert = _alert(server, site)
    frame, _ = tunnel_frame(tag=False)
    cleaned = make_event(type="graffiti_cleaned", related_event=alert["id"], evidence={"frame": "a.jpg"})
    tamper = make_event(type="camera_tamper", detail={"reason": "lens covered"})
    with httpx.Client(base_url=server.url) as dev:
        assert post_event(dev, site.token, cleaned, [("a.jpg", jpeg(frame))]).status_code == 201
        assert post_event(dev, site.token, tamper, []).status_code == 201
    page = alice.get(f"/events/{cleaned['id']}")
    assert page.status_code == 200 and f"/events/{alert['id']}" in page.text and 'id="actions"' not in page.text
    page = alice.get(f"/events/{tamper['id']}")
    assert page.status_code == 200 and "lens covered" in page.text and "carries no frame" in page.text
