"""Fixtures: a review data folder with one operator and one device, and a real server on it."""

from __future__ import annotations

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


def make_site(data: Path) -> Site:
    from detector.review import store
    from detector.review.db import make_engine, make_sessionmaker
    from detector.review.migrations import migrate
    from detector.review.settings import load_settings

    settings = load_settings(data)
    engine = make_engine(settings.db_url)
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
