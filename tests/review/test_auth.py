"""Credentials: scrypt passwords, hashed device tokens, signed session cookies, the login limiter."""

from __future__ import annotations

import time

import pytest

from detector.review import auth

SECRET = b"k" * 32


def test_password_hash_is_salted_scrypt_and_verifies_only_the_right_password() -> None:
    h1, h2 = auth.hash_password("hunter22!"), auth.hash_password("hunter22!")
    assert h1.startswith("scrypt$") and h1 != h2
    assert auth.verify_password("hunter22!", h1)
    assert not auth.verify_password("hunter22?", h1)


@pytest.mark.parametrize("stored", ["", "plain", "md5$1$2$3$4$5", "scrypt$x$8$1$AA$AA"], ids=["empty", "plain", "other-algo", "bad-n"])
def test_malformed_password_hash_never_verifies(stored: str) -> None:
    assert not auth.verify_password("anything", stored)


def test_device_token_is_random_and_stored_as_sha256() -> None:
    a, b = auth.new_device_token(), auth.new_device_token()
    assert a != b and len(a) > 40
    assert len(auth.token_sha256(a)) == 64 and auth.token_sha256(a) != a


def test_session_cookie_round_trips_and_rejects_tampering_and_expiry() -> None:
    sess = auth.new_session("alice")
    cookie = auth.sign_session(sess, SECRET)
    assert auth.read_session(cookie, SECRET, 3600) == sess
    body, mac = cookie.rsplit(".", 1)
    forged = auth.sign_session(auth.WebSession("mallory", sess.csrf, sess.issued_s), b"x" * 32)
    assert auth.read_session(forged, SECRET, 3600) is None
    assert auth.read_session(body + "." + mac[:-2] + "AA", SECRET, 3600) is None
    old = auth.sign_session(auth.WebSession("alice", "c", time.time() - 7200), SECRET)
    assert auth.read_session(old, SECRET, 3600) is None


def _sm(tmp_path):  # type: ignore[no-untyped-def]
    from detector.review.db import make_engine, make_sessionmaker
    from detector.review.migrations import migrate
    from tests.review.conftest import site_db_url

    engine = make_engine(site_db_url(tmp_path))
    migrate(engine)
    return make_sessionmaker(engine)


def test_login_limiter_blocks_after_max_failures_within_the_window_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from detector.review import store

    sm = _sm(tmp_path)
    for _ in range(3):
        assert store.reserve_login(sm, "1.2.3.4", "bob", 3, 0.5) == 0
    assert store.reserve_login(sm, "1.2.3.4", "bob", 3, 0.5) > 0
    assert store.reserve_login(sm, "1.2.3.4", "BOB", 3, 0.5) > 0  # names are case-insensitive
    assert store.reserve_login(sm, "5.6.7.8", "bob", 3, 0.5) == 0
    time.sleep(0.55)
    assert store.reserve_login(sm, "1.2.3.4", "bob", 3, 0.5) == 0


def test_login_limiter_also_caps_one_address_spraying_many_user_names(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from detector.review import store

    sm = _sm(tmp_path)
    for i in range(2 * store.LOGIN_IP_FACTOR):
        assert store.reserve_login(sm, "9.9.9.9", f"user{i}", 2, 60) == 0
    assert store.reserve_login(sm, "9.9.9.9", "someone-new", 2, 60) > 0
    assert store.reserve_login(sm, "8.8.8.8", "someone-new", 2, 60) == 0


def test_a_right_password_clears_that_users_count_but_not_other_failures(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from detector.review import store

    sm = _sm(tmp_path)
    for _ in range(2):
        store.reserve_login(sm, "1.1.1.1", "ann", 3, 60)
    assert store.reserve_login(sm, "1.1.1.1", "ann", 3, 60) == 0
    store.login_succeeded(sm, "1.1.1.1", "ann", 3)
    for _ in range(3):
        assert store.reserve_login(sm, "1.1.1.1", "ann", 3, 60) == 0


def test_limiter_forgets_keys_nobody_tried_within_the_window(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import random

    from sqlalchemy import func, select

    from detector.review import store
    from detector.review.db import LoginBucket

    sm = _sm(tmp_path)
    for i in range(20):  # a spray of names from one address
        store.reserve_login(sm, "7.7.7.7", f"name{i}", 3, 0.2)
    with sm() as s:
        assert s.scalar(select(func.count()).select_from(LoginBucket)) == 21  # 20 names + the address
    time.sleep(0.25)
    state = random.getstate()
    random.seed(3)  # the prune runs on ~2 % of attempts; try until it has
    try:
        for _ in range(400):
            store.reserve_login(sm, "8.8.8.8", "fresh", 1000, 0.2)
            with sm() as s:
                if s.scalar(select(func.count()).select_from(LoginBucket)) == 2:
                    break
    finally:
        random.setstate(state)
    with sm() as s:
        assert sorted(s.scalars(select(LoginBucket.key))) == ["8.8.8.8|*", "8.8.8.8|fresh"]
