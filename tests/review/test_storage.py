"""Storage: data survives a restart, SQLite runs in WAL mode, schema migrations apply in order."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from detector.errors import ConfigError
from detector.review.db import make_engine
from detector.review.migrations import LATEST, current_version, migrate
from tests.review.conftest import PASSWORD, TEST_DB, make_site
from tests.review.helpers import csrf_of, detection, post_event, sign_in, start_server


def test_restart_keeps_events_decisions_sessions_and_duplicate_detection(tmp_path: Path) -> None:
    site = make_site(tmp_path / "data")
    ev, files = detection()
    srv = start_server(site.data)
    try:
        with httpx.Client(base_url=srv.url) as c:
            assert post_event(c, site.token, ev, files).status_code == 201
            assert sign_in(c, "alice", PASSWORD).status_code == 303
            csrf = csrf_of(c.get(f"/events/{ev['id']}").text)
            assert c.post(f"/events/{ev['id']}/action", data={"action": "confirm", "csrf": csrf}).status_code == 303
            cookies = dict(c.cookies)
    finally:
        srv.stop()
    srv = start_server(site.data)
    try:
        with httpx.Client(base_url=srv.url, cookies=cookies) as c:
            assert c.get("/queue").status_code == 200  # the session key lives in the data folder
            assert c.get(f"/api/v1/events/{ev['id']}").json()["status"] == "confirmed"
            assert c.get(f"/evidence/{ev['id']}/frame").status_code == 200
            assert post_event(c, site.token, ev, files).json()["status"] == "duplicate"
    finally:
        srv.stop()


def test_sqlite_database_runs_in_wal_mode(tmp_path: Path) -> None:
    if TEST_DB:
        pytest.skip("GRAFFITI_REVIEW_TEST_DB points the suite at another database")
    site = make_site(tmp_path / "data")
    with sqlite3.connect(site.data / "review.sqlite3") as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_fresh_database_is_created_at_the_latest_schema_version(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    assert current_version(engine) is None
    assert migrate(engine) == LATEST
    assert current_version(engine) == LATEST
    assert migrate(engine) == LATEST  # idempotent


def test_older_database_gets_the_missing_migrations(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    migrate(engine)
    with engine.begin() as conn:  # turn it back into a version-1 database
        conn.execute(text("DROP INDEX ix_audit_time"))
        conn.execute(text("DELETE FROM schema_version"))
        conn.execute(text("INSERT INTO schema_version (version, applied_utc) VALUES (1, '2026-01-01')"))
    assert current_version(engine) == 1
    assert migrate(engine) == LATEST
    with engine.connect() as conn:
        names = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type='index'"))}
    assert "ix_audit_time" in names


def test_database_newer_than_the_program_is_refused(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO schema_version (version, applied_utc) VALUES (999, '2030-01-01')"))
    with pytest.raises(ConfigError, match="schema version 999 is newer"):
        migrate(engine)
