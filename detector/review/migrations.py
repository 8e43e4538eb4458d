"""Versioned schema migrations: a ``schema_version`` table and ordered migration functions.

A fresh database gets every table as the models describe them now and is stamped with the latest
version. An existing one runs, in order, each migration newer than its stamp, in one transaction each.
A database newer than this program is refused rather than guessed at.

``open_database`` is the one way the service, its CLI and the demo open the database: engine,
migration to the latest version, sessionmaker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, func, insert, inspect, select, text
from sqlalchemy.orm import sessionmaker

from detector.errors import ConfigError
from detector.review.db import Base, SchemaVersion, make_engine, make_sessionmaker, safe_url

if TYPE_CHECKING:
    from detector.review.settings import ReviewSettings


def _v2_audit_time_index(conn: Connection) -> None:
    """v2: the audit page lists newest first; index it by time."""
    # Plain DDL: building an Index object here would attach a second copy to the model's table.
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_audit_time ON audit (time_utc)"))


def _v3_sessions_limiter_bigint(conn: Connection) -> None:
    """v3: server-side sessions and the shared login limiter; frames_seen as 64-bit (PostgreSQL's
    INTEGER is 32-bit: a camera passes 2^31 frames in two years at 30 fps)."""
    from detector.review.db import LoginBucket, WebSessionRow

    Base.metadata.create_all(conn, tables=[WebSessionRow.__table__, LoginBucket.__table__])  # type: ignore[list-item]
    if conn.dialect.name == "postgresql":
        conn.execute(text("ALTER TABLE cameras ALTER COLUMN frames_seen TYPE BIGINT"))


# (version, function). Version 1 is the initial schema; append new ones, never edit old ones.
MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [
    (2, _v2_audit_time_index),
    (3, _v3_sessions_limiter_bigint),
]
LATEST = max([1] + [v for v, _ in MIGRATIONS])


def current_version(engine: Engine) -> int | None:
    """The stamped schema version, or None for an empty database."""
    if not inspect(engine).has_table("schema_version"):
        return None
    with engine.connect() as conn:
        return conn.execute(select(func.max(SchemaVersion.version))).scalar()


def migrate(engine: Engine) -> int:
    """Bring the database to ``LATEST`` and return the version it is at."""
    from sqlalchemy.exc import DBAPIError

    try:
        version = current_version(engine)
    except DBAPIError as exc:  # the first connection: unreachable server, bad path, wrong password
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
        raise ConfigError(f"--db {safe_url(str(engine.url))}: cannot open the database ({reason})") from None
    if version is None:
        with engine.begin() as conn:
            Base.metadata.create_all(conn)
            conn.execute(insert(SchemaVersion).values(version=LATEST))
        return LATEST
    if version > LATEST:
        raise ConfigError(
            f"database schema version {version} is newer than this program understands ({LATEST}); "
            "upgrade tunnel-graffiti-detector"
        )
    for target, step in MIGRATIONS:
        if target > version:
            with engine.begin() as conn:
                step(conn)
                conn.execute(insert(SchemaVersion).values(version=target))
            version = target
    return version


@dataclass(frozen=True)
class Database:
    """An open review database at the latest schema version; ``sm`` is what every ``store`` function
    takes. Use it as a context manager (or call ``close``) where it is opened for one command."""

    engine: Engine
    sm: sessionmaker

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


def open_database(settings: ReviewSettings) -> Database:
    """Open ``settings.db_url`` (SQLite synchronous=FULL unless ``settings.durable`` is off) and bring it
    to the latest schema; a bad URL, a missing driver or a database that cannot be opened is a one-line
    ConfigError."""
    engine = make_engine(settings.db_url, settings.durable)
    try:
        migrate(engine)
    except BaseException:
        engine.dispose()
        raise
    return Database(engine, make_sessionmaker(engine))
