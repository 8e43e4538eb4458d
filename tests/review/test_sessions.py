"""Sessions that really end, devices that can be removed, a login limiter that holds under concurrency
and across workers, and the client address behind a trusted proxy — all over real HTTP."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.review.conftest import DB_KINDS, PASSWORD, Site, make_site
from tests.review.helpers import REPO, Server, csrf_of, detection, post_event, sign_in, start_server


def graffiti(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "detector", "review", *args], input=stdin, capture_output=True,
                          text=True, cwd=REPO, timeout=60, start_new_session=True)


def _db_args(site: Site) -> list[str]:
    return ["--data", str(site.data), "--db", site.db_url]


@pytest.fixture(params=DB_KINDS)
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Site, Server]]:
    site = make_site(tmp_path / "data", request.param)
    srv = start_server(site.data, db_url=site.db_url)
    yield site, srv
    srv.stop()


def _signed_in(srv: Server, user: str = "alice") -> httpx.Client:
    c = httpx.Client(base_url=srv.url, timeout=20.0)
    assert sign_in(c, user, PASSWORD).status_code == 303
    return c


def _still_in(srv: Server, cookies: dict[str, str]) -> tuple[int, int]:
    """(status of /queue, status of the operator event API) for a copy of an old cookie."""
    with httpx.Client(base_url=srv.url, cookies=cookies, timeout=20.0) as c:
        return c.get("/queue").status_code, c.get("/api/v1/events").status_code


def test_sign_out_ends_the_session_even_for_a_saved_copy_of_the_cookie(fresh: tuple[Site, Server]) -> None:
    _, srv = fresh
    c = _signed_in(srv)
    saved = dict(c.cookies)
    assert _still_in(srv, saved) == (200, 200)
    assert c.post("/logout", data={"csrf": csrf_of(c.get("/queue").text)}).status_code == 303
    assert _still_in(srv, saved) == (303, 401)
    c.close()


def test_a_password_change_ends_every_session_of_that_user_only(fresh: tuple[Site, Server]) -> None:
    site, srv = fresh
    alice1, alice2, carol = _signed_in(srv), _signed_in(srv), _signed_in(srv, "carol")
    r = graffiti("add-user", "alice", "--password-stdin", *_db_args(site), stdin="a new long password\n")
    assert r.returncode == 0, r.stderr
    assert _still_in(srv, dict(alice1.cookies)) == (303, 401)
    assert _still_in(srv, dict(alice2.cookies)) == (303, 401)
    assert _still_in(srv, dict(carol.cookies)) == (200, 200)
    with httpx.Client(base_url=srv.url) as c:
        assert sign_in(c, "alice", PASSWORD).status_code == 401
    for c in (alice1, alice2, carol):
        c.close()


def test_remove_user_ends_their_sessions_and_sign_in(fresh: tuple[Site, Server]) -> None:
    site, srv = fresh
    carol = _signed_in(srv, "carol")
    r = graffiti("remove-user", "carol", *_db_args(site))
    assert r.returncode == 0 and "1 signed-in session ended" in r.stdout, r.stdout + r.stderr
    assert _still_in(srv, dict(carol.cookies)) == (303, 401)
    with httpx.Client(base_url=srv.url) as c:
        assert sign_in(c, "carol", PASSWORD).status_code == 401
    again = graffiti("remove-user", "carol", *_db_args(site))
    assert again.returncode == 2 and "user 'carol': no such operator" in again.stderr
    carol.close()


def test_remove_device_stops_its_token_at_once_and_keeps_its_events(fresh: tuple[Site, Server]) -> None:
    site, srv = fresh
    ev, files = detection()
    with httpx.Client(base_url=srv.url, timeout=20.0) as c:
        assert post_event(c, site.token, ev, files).status_code == 201
        r = graffiti("remove-device", "pi-1", *_db_args(site))
        assert r.returncode == 0, r.stderr
        again, _ = detection(seed=1)
        assert post_event(c, site.token, again, files).status_code == 401
        assert c.get("/api/v1/cameras", headers={"Authorization": f"Bearer {site.token}"}).status_code == 401
        assert c.get("/api/v1/cameras", headers={"Authorization": f"Bearer {site.other_token}"}).status_code == 200
    alice = _signed_in(srv)
    assert alice.get(f"/api/v1/events/{ev['id']}").json()["device"] == "pi-1"
    alice.close()
    missing = graffiti("remove-device", "pi-9", *_db_args(site))
    assert missing.returncode == 2 and "device 'pi-9': no such device" in missing.stderr


def _burst(srv: Server, n: int, user: str, headers: dict[str, str] | None = None) -> list[int]:
    """``n`` wrong-password sign-ins at once (one form, one anonymous session, many threads)."""
    with httpx.Client(base_url=srv.url, timeout=60.0) as c:
        csrf = csrf_of(c.get("/login").text)
        cookies = dict(c.cookies)

    def attempt(_: int) -> int:
        with httpx.Client(base_url=srv.url, cookies=cookies, timeout=60.0) as c:
            return c.post("/login", data={"user": user, "password": "wrong", "csrf": csrf, "next": "/queue"},
                          headers=headers or {}).status_code

    with ThreadPoolExecutor(max_workers=30) as pool:
        return list(pool.map(attempt, range(n)))


def test_concurrent_wrong_passwords_get_exactly_the_allowed_number_of_checks(fresh: tuple[Site, Server]) -> None:
    _, srv = fresh
    codes = _burst(srv, 60, "alice")
    assert codes.count(401) == 5 and codes.count(429) == 55, sorted(codes)


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(tmp_path: Path) -> None:
    site = make_site(tmp_path / "data")
    behind = start_server(site.data, "--trusted-proxy", "127.0.0.1")
    try:
        codes = [sign_in_from(behind, "198.51.100.7") for _ in range(6)]
        assert codes == [401] * 5 + [429]
        assert sign_in_from(behind, "198.51.100.8") == 401  # another client behind the same proxy
    finally:
        behind.stop()
    direct = start_server(site.data)  # no trusted proxy: the header is the client's to forge
    try:
        codes = [sign_in_from(direct, f"198.51.100.{i}", user="bob") for i in range(6)]
        assert codes == [401] * 5 + [429]
    finally:
        direct.stop()


def sign_in_from(srv: Server, client_ip: str, user: str = "alice") -> int:
    with httpx.Client(base_url=srv.url, timeout=20.0, headers={"X-Forwarded-For": f"{client_ip}, 127.0.0.1"}) as c:
        csrf = csrf_of(c.get("/login").text)
        return c.post("/login", data={"user": user, "password": "wrong", "csrf": csrf}).status_code


@pytest.mark.parametrize("kind", DB_KINDS)
def test_two_workers_on_one_database_answer_as_one(tmp_path: Path, kind: str) -> None:
    site = make_site(tmp_path / "data", kind)
    srv = start_server(site.data, "--workers", "2", ready_timeout_s=90, db_url=site.db_url)
    try:
        log = srv.log.read_text()
        assert "2 workers" in log
        ev, files = detection()
        with httpx.Client(base_url=srv.url, timeout=30.0) as c:
            assert post_event(c, site.token, ev, files).status_code == 201
            assert post_event(c, site.token, ev, files).status_code == 200  # the other worker knows it too
        alice = _signed_in(srv)
        saved = dict(alice.cookies)
        # New connections land on either worker: every one must know the session ...
        assert {_still_in(srv, saved) for _ in range(8)} == {(200, 200)}
        assert alice.post("/logout", data={"csrf": csrf_of(alice.get("/queue").text)}).status_code == 303
        # ... and every one must know it ended.
        assert {_still_in(srv, saved) for _ in range(8)} == {(303, 401)}
        alice.close()
        codes = _burst(srv, 24, "carol")
        assert codes.count(401) == 5 and codes.count(429) == 19, sorted(codes)
    finally:
        srv.stop()
