"""Where the review service keeps its data and the limits it enforces, resolved once at start-up."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from detector.errors import ConfigError

SECRET_FILE = "session.key"
DB_FILE = "review.sqlite3"


@dataclass(frozen=True)
class ReviewSettings:
    """Everything the app factory needs. ``data_dir`` holds the SQLite file, the evidence folder and
    the session-signing key, so copying that one folder moves the whole service."""

    data_dir: Path
    db_url: str
    session_secret: bytes
    max_request_bytes: int = 12 * 1024 * 1024  # one event upload, all parts together
    max_file_bytes: int = 4 * 1024 * 1024  # one evidence picture
    max_files: int = 8
    online_after_s: float = 180.0  # a camera is online when its device sent a heartbeat this recently
    session_max_age_s: int = 12 * 3600
    login_max_failures: int = 5  # per client IP and user name ...
    login_window_s: float = 60.0  # ... within this many seconds, then 429
    secure_cookies: bool = False  # set when served over HTTPS only
    # Addresses of reverse proxies whose X-Forwarded-For is believed (the client address for the login
    # limiter and the audit trail); anyone else's header is ignored.
    trusted_proxies: tuple[str, ...] = ()
    durable: bool = True  # fsync evidence before the 201 (off only for benchmarks comparing the cost)
    sweep_min_age_s: float = 120.0  # the start-up evidence sweep leaves younger folders alone

    @property
    def evidence_dir(self) -> Path:
        return self.data_dir / "evidence"


def default_db_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / DB_FILE).resolve()}"


def load_settings(data_dir: Path, db_url: str | None = None, **overrides: object) -> ReviewSettings:
    """Create the data folder if needed and read (or create once) the key that signs session cookies,
    so operators stay signed in across restarts."""
    data_dir = Path(data_dir)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "evidence").mkdir(exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--data {data_dir}: cannot create the data folder ({exc.strerror})") from None
    key_path = data_dir / SECRET_FILE
    try:
        empty = key_path.is_file() and key_path.stat().st_size == 0  # e.g. power lost just after creating it
        if not key_path.exists() or empty:
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if empty else os.O_EXCL), 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        secret = bytes.fromhex(key_path.read_text().strip())
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not the hex key this program writes"
        raise ConfigError(f"--data {data_dir}: cannot use {SECRET_FILE} ({why}); remove it to make a new one "
                          "(operators then sign in again)") from None
    if len(secret) < 16:
        raise ConfigError(f"--data {data_dir}: {SECRET_FILE} is too short to sign sessions; remove it to make a new one")
    url = db_url or os.environ.get("GRAFFITI_REVIEW_DB") or default_db_url(data_dir)
    if "://" not in url:
        raise ConfigError(f"--db: expected a database URL like sqlite:///path or postgresql://host/db, found {url!r}")
    return ReviewSettings(data_dir=data_dir, db_url=url, session_secret=secret, **overrides)  # type: ignore[arg-type]
