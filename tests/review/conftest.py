"""Fixtures: a review data folder with one operator and one device, and a real server on it.

The API, page, input and fuzz tests run on SQLite and on PostgreSQL: ``site`` is parametrized by
database kind. PostgreSQL needs a server: ``scripts/test`` starts a throwaway one and exports
``GRAFFITI_REVIEW_PG_URL`` (a URL of its maintenance database, e.g.
``postgresql+psycopg://postgres@127.0.0.1:5433/postgres``); each site gets a database of its own
there. Without it the PostgreSQL cases skip, saying so."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.review.helpers import Server, start_server

PASSWORD = "correct horse battery"


@dataclass
class Site:
    data: Path
    token: str  # device pi-1: cameras north, south
    other_token: str  # device pi-2: camera east
    db_url: str = ""


PG_URL = os.environ.get("GRAFFITI_REVIEW_PG_URL") or None
DB_KINDS = ["sqlite", "postgresql"]
NO_PG = ("no PostgreSQL server for the review tests: scripts/test starts one; or set GRAFFITI_REVIEW_PG_URL="
         "postgresql+psycopg://USER@HOST:PORT/postgres (a server where USER may CREATE DATABASE)")


def fresh_pg_database() -> str:
    """A new, empty database on the test PostgreSQL server; its URL. Skips when there is none."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if not PG_URL:
        pytest.skip(NO_PG)
    name = f"review_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


# Run the suite against another database with e.g.
# GRAFFITI_REVIEW_TEST_DB=postgresql+psycopg://postgres@127.0.0.1:55432/review (each site starts empty).
TEST_DB = os.environ.get("GRAFFITI_REVIEW_TEST_DB") or None


def site_db_url(data: Path) -> str:
    from detector.review.settings import default_db_url

    return TEST_DB or default_db_url(data)


def make_site(data: Path, kind: str = "sqlite") -> Site:
    from sqlalchemy import text

    from detector.review import store
    from detector.review.db import Base, make_engine, make_sessionmaker
    from detector.review.migrations import migrate
    from detector.review.settings import load_settings

    db = fresh_pg_database() if kind == "postgresql" else TEST_DB
    settings = load_settings(data, db)
    engine = make_engine(settings.db_url)
    if db and kind != "postgresql":
        Base.metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS schema_version"))
    migrate(engine)
    sm = make_sessionmaker(engine)
    store.add_user(sm, "alice", PASSWORD)
    store.add_user(sm, "carol", PASSWORD)  # for the rate-limit test, which locks her out for a minute
    token = store.add_device(sm, "pi-1", ["north", "south"])
    other = store.add_device(sm, "pi-2", ["east"])
    engine.dispose()
    assert token and other
    return Site(data, token, other, settings.db_url)


@pytest.fixture(scope="module", params=DB_KINDS)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Site:
    return make_site(tmp_path_factory.mktemp("review") / "data", request.param)


@pytest.fixture(scope="module")
def sqlite_site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return make_site(tmp_path_factory.mktemp("review") / "data")


@pytest.fixture(scope="module")
def server(site: Site) -> Iterator[Server]:
    # Small limits so the oversize tests need only small bodies.
    srv = start_server(site.data, "--max-request-mb", "0.5", "--max-file-mb", "0.25", db_url=site.db_url)
    yield srv
    srv.stop()
