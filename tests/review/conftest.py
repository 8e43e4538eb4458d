"""Fixtures: a review data folder with one operator and one device, and a real server on it."""

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


# Run the suite against another database with e.g.
# GRAFFITI_REVIEW_TEST_DB=postgresql+psycopg://postgres@127.0.0.1:55432/review (each site starts empty).
TEST_DB = os.environ.get("GRAFFITI_REVIEW_TEST_DB") or None


def site_db_url(data: Path) -> str:
    from detector.review.settings import default_db_url

    return TEST_DB or default_db_url(data)


def make_site(data: Path) -> Site:
    from sqlalchemy import text

    from detector.review import store
    from detector.review.db import Base, make_engine, make_sessionmaker
    from detector.review.migrations import migrate
    from detector.review.settings import load_settings

    settings = load_settings(data, TEST_DB)
    engine = make_engine(settings.db_url)
    if TEST_DB:
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
    return Site(data, token, other)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return make_site(tmp_path_factory.mktemp("review") / "data")


@pytest.fixture(scope="module")
def server(site: Site) -> Iterator[Server]:
    # Small limits so the oversize tests need only small bodies.
    srv = start_server(site.data, "--max-request-mb", "0.5", "--max-file-mb", "0.25")
    yield srv
    srv.stop()
