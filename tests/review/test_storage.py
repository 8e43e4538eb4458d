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


def test_sqlite_commits_are_durable_synchronous_full(tmp_path: Path) -> None:
    if TEST_DB:
        pytest.skip("GRAFFITI_REVIEW_TEST_DB points the suite at another database")
    engine = make_engine(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL


def test_start_up_sweep_finishes_interrupted_uploads_and_removes_orphan_evidence(tmp_path: Path) -> None:
    """A crash (kill -9, power cut) can leave: a staged folder with no row (before the commit), a staged
    folder whose row exists (between commit and rename), and from older versions a stored folder with
    no row. The next start cleans all three up."""
    import os
    import shutil

    from detector.review import ingest, store
    from detector.review.db import make_sessionmaker
    from tests.review.conftest import site_db_url
    from tests.review.helpers import detection

    site = make_site(tmp_path / "data")
    evidence = site.data / "evidence"
    sm = make_sessionmaker(make_engine(site_db_url(site.data)))
    ev, files = detection()
    event = ingest.parse_event(__import__("json").dumps(ev))
    checked = ingest.match_files(event, files, 10**7)
    committed = ingest.stage_evidence(evidence, event, checked)  # row committed, then the crash
    assert store.insert_event(sm, event, committed.meta)
    lost, lost_files = detection(seed=2)
    lost_ev = ingest.parse_event(__import__("json").dumps(lost))
    uncommitted = ingest.stage_evidence(evidence, lost_ev, ingest.match_files(lost_ev, lost_files, 10**7))
    orphan = evidence / "2026" / "01" / "02" / "0b7c3a56-0000-4000-8000-000000000000.deadbeef"
    orphan.mkdir(parents=True)
    shutil.copy(committed.tmp / "frame.jpg", orphan / "frame.jpg")
    an_hour_ago = __import__("time").time() - 3600
    for d in (committed.tmp, uncommitted.tmp, orphan):
        os.utime(d, (an_hour_ago, an_hour_ago))
    srv = start_server(site.data)
    try:
        assert not committed.tmp.exists() and (committed.final / "frame.jpg").is_file()
        assert not uncommitted.tmp.exists() and not uncommitted.final.exists()
        assert not orphan.exists()
        with httpx.Client(base_url=srv.url) as c:
            assert sign_in(c, "alice", PASSWORD).status_code == 303
            assert c.get(f"/evidence/{ev['id']}/frame").status_code == 200
    finally:
        srv.stop()


def test_a_young_staged_folder_of_an_upload_in_flight_is_left_alone(tmp_path: Path) -> None:
    from detector.review import ingest

    evidence = tmp_path / "evidence"
    young = evidence / ".incoming" / "5c0ffee0-0000-4000-8000-000000000000.cafe0000"
    young.mkdir(parents=True)
    report = ingest.sweep_orphans(evidence, set(), min_age_s=120)
    assert young.is_dir() and report.removed == 0
    assert ingest.sweep_orphans(evidence, set(), min_age_s=0).removed == 1 and not young.exists()
