"""Tables of the review service (SQLAlchemy 2 ORM) and the engine factory.

SQLite in WAL mode is the default (one file under ``--data``); the same models run on PostgreSQL when
``--db postgresql://...`` is given. Times are stored as naive UTC datetimes.

SQLite runs with ``synchronous=FULL``: a commit is on disk before the service answers 201, so a power
cut cannot lose an event the edge already counts as delivered (NORMAL in WAL mode can lose the last
commits). PostgreSQL's default ``synchronous_commit=on`` gives the same.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from detector.errors import ConfigError


def utcnow() -> datetime:
    """Naive UTC 'now' (the database stores naive UTC everywhere)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class SchemaVersion(Base):
    __tablename__ = "schema_version"
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    applied_utc: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_utc: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Device(Base):
    __tablename__ = "devices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_utc: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_heartbeat_utc: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_heartbeat: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class DeviceCamera(Base):
    """Which cameras a device may report (set by ``graffiti review add-device``)."""

    __tablename__ = "device_cameras"
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    camera: Mapped[str] = mapped_column(String(64), primary_key=True)


class Camera(Base):
    """Latest known state of one camera, folded from heartbeats and camera_* events."""

    __tablename__ = "cameras"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    device: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="unknown")  # online|offline|tamper|starting|unknown
    state_detail: Mapped[str] = mapped_column(Text, default="")
    last_heartbeat_utc: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_frame_utc: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_event_utc: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    frames_seen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    inference_ms_p50: Mapped[float | None] = mapped_column(Float, nullable=True)


class EventRow(Base):
    """One device event. ``status``/``verdict`` are only set for graffiti_detected (the alerts)."""

    __tablename__ = "events"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    device: Mapped[str] = mapped_column(String(64))
    camera: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(32))
    time_utc: Mapped[datetime] = mapped_column(DateTime)
    received_utc: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    related_event: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # role → {"path": under evidence/, "name": as sent, "width": px, "height": px, "bytes": n}
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # the event as received
    status: Mapped[str | None] = mapped_column(String(24), nullable=True)  # open|confirmed|rejected|cleaned|accepted|cleaned_by_device
    verdict: Mapped[str | None] = mapped_column(String(16), nullable=True)  # graffiti|clean (operator's)
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_utc: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    __table_args__ = (Index("ix_events_camera_time", "camera", "time_utc"), Index("ix_events_status", "status"))


class AuditEntry(Base):
    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    time_utc: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(80))  # operator name, or 'device:<name>', or 'cli'
    action: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    camera: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_audit_time", "time_utc"),)


class AcceptedRegion(Base):
    __tablename__ = "accepted_regions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera: Mapped[str] = mapped_column(String(64), index=True)
    polygon: Mapped[list[list[float]]] = mapped_column(JSON)  # [[x, y], ...] frame pixels
    note: Mapped[str] = mapped_column(Text, default="")
    event_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_by: Mapped[str] = mapped_column(String(80))
    created_utc: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class WebSessionRow(Base):
    """A signed-in operator's session. The cookie carries a random id; only its SHA-256 is stored, so
    sign-out, a password change or removing the user ends the session at once, in every worker."""

    __tablename__ = "web_sessions"
    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user: Mapped[str] = mapped_column(String(64), index=True)
    created_utc: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_utc: Mapped[datetime] = mapped_column(DateTime)


class LoginBucket(Base):
    """Recent sign-in attempts (epoch seconds) of one key: ``<ip>|<user>`` or ``<ip>|*``. One row per
    key, locked while an attempt is reserved, so concurrent tries and several workers count as one."""

    __tablename__ = "login_buckets"
    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    times: Mapped[list[float]] = mapped_column(JSON, default=list)
    touched: Mapped[int] = mapped_column(Integer, default=0)
    updated_s: Mapped[float] = mapped_column(Float, default=0.0, index=True)  # epoch s of the last attempt


def safe_url(url: str) -> str:
    """``url`` with any password masked, for error messages and logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: nothing to hide that we could find
        return url


def make_engine(url: str, durable: bool = True) -> Engine:
    """Engine for ``url``; SQLite gets WAL, foreign keys, a busy timeout and synchronous=FULL
    (NORMAL when ``durable`` is off: only for measuring what durability costs).

    A malformed URL, an unknown database kind or a missing driver is a one-line ConfigError."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        return _make_engine(url, durable)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(f"--db {safe_url(url)}: not a usable database URL ({str(exc).splitlines()[0]})") from None
    except ImportError as exc:
        raise ConfigError(
            f"--db {safe_url(url)}: the database driver '{exc.name}' is not installed; install it with pip "
            "(PostgreSQL: postgresql+psycopg://... and pip install 'psycopg[binary]')"
        ) from None


def _make_engine(url: str, durable: bool) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=FULL" if durable else "PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)
