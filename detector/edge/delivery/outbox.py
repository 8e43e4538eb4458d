"""The durable outbox: every event and heartbeat is stored here (SQLite, WAL) before any send.

Why: the device runs unattended for months on flaky networks. An event is only "sent" once a sink
acknowledged it, so a crash, ``kill -9``, power loss or a server that is down for hours loses nothing;
the sender (``detector.edge.delivery.sender``) retries from this table. Evidence files live beside the DB in
``<evidence_dir>/<event id>/<name>``; they are written and fsync'd, then moved into place, then the row
is committed — so a committed row always has its files, and a crash leaves at most an orphan folder
that the next open removes.

Disk is bounded by ``max_disk_mb`` (accounted as evidence bytes + JSON bytes + a fixed row overhead).
When a new item does not fit, space is made in this order, each step logged: finished items (delivered
to every sink, or parked) oldest first; then undelivered heartbeats, oldest first (WARNING); then the
evidence pictures of undelivered events, status events before detections, oldest first (ERROR; the
event itself is still delivered, with ``detail.evidence_dropped``); last, whole undelivered events (ERROR).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from detector.edge.delivery.cap import (
    ROW_OVERHEAD_BYTES,
    log_prune,
    make_room,
    usage_bytes,
    without_evidence,
)
from detector.edge.delivery.repair import (
    EVENT_JSON,
    SalvagedItem,
    event_folders,
    read_event_json,
    salvage,
    write_event_json,
)
from detector.errors import DetectorError
from detector.events import Event, Heartbeat, pair_evidence, validate_event_dict

log = logging.getLogger("detector.edge.outbox")  # the name operators filter on (kept when the module moved)

SCHEMA_VERSION = 2
ORPHAN_GRACE_S = 3600.0  # evidence folders without a row are removed only when older than this
LEASE_S = 900.0  # an item being sent keeps its pictures this long at most (a crashed sender's lease expires)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,              -- 'event' | 'heartbeat'
    type TEXT NOT NULL DEFAULT '',   -- the event type; '' for heartbeats
    camera TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,        -- unix seconds when stored
    payload TEXT NOT NULL,           -- the event / heartbeat JSON
    payload_bytes INTEGER NOT NULL,
    files TEXT NOT NULL DEFAULT '[]',-- JSON list of evidence file names in <evidence_dir>/<id>/
    evidence_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS deliveries (
    item_seq INTEGER NOT NULL REFERENCES items(seq) ON DELETE CASCADE,
    sink TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',   -- pending | delivered | parked
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    updated_at REAL,
    sending_until REAL NOT NULL DEFAULT 0,   -- a sender holds the item until then: its pictures stay
    parks INTEGER NOT NULL DEFAULT 0,        -- times the receiver rejected it (automatic retries back off)
    PRIMARY KEY (item_seq, sink)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(sink, state, next_attempt_at);
"""


class OutboxError(DetectorError):
    """The outbox cannot be opened or written (the message names the file)."""


@dataclass
class SinkState:
    state: str  # pending | delivered | parked
    attempts: int
    next_attempt_at: float  # unix seconds (for parked items: the automatic retry)
    last_error: str | None


@dataclass
class ItemStatus:
    """One stored item and where it stands with each sink (``Outbox.listing``)."""

    id: str
    kind: str
    type: str
    camera: str
    created_at: float
    evidence_bytes: int
    sinks: dict[str, SinkState]


@dataclass
class OutboxItem:
    """One stored event or heartbeat as a sink sees it."""

    seq: int
    id: str
    kind: str  # 'event' | 'heartbeat'
    payload: dict[str, Any]
    files: dict[str, Path]  # evidence file name → path on disk
    attempts: int  # failed attempts so far for this sink


class Outbox:
    """SQLite outbox with per-sink delivery state. Thread-safe (one connection behind a lock).

    Several processes may open the same file (WAL mode, busy timeout); ``sinks`` names the sinks that
    new items are queued for, ``heartbeat_sinks`` (default: ``sinks``) those that take heartbeats.
    """

    def __init__(
        self,
        path: Path,
        evidence_dir: Path,
        max_disk_mb: float,
        sinks: Sequence[str] = (),
        heartbeat_sinks: Sequence[str] | None = None,
        keep_delivered_s: float = 7 * 86400.0,
        repair: bool = True,
    ) -> None:
        self.path = Path(path)
        self.evidence_dir = Path(evidence_dir)
        self.max_disk_bytes = int(max_disk_mb * 1024 * 1024)
        self.sinks = tuple(sinks)
        self.heartbeat_sinks = self.sinks if heartbeat_sinks is None else tuple(heartbeat_sinks)
        self.keep_delivered_s = keep_delivered_s
        # The WAL's share of the cap (it is truncated back to this after each checkpoint).
        self.wal_limit_bytes = int(min(4 << 20, max(64 << 10, self.max_disk_bytes // 16)))
        self.repair = repair  # False: a damaged file is an error, nothing is moved or removed (CLI use)
        self._lock = threading.RLock()
        self._listeners: list[Callable[[], None]] = []
        if self.path.is_dir():  # never "move aside" a folder as if it were a corrupt database
            raise OutboxError(f"{self.path}: is a folder; delivery.outbox_path must name the outbox database file")
        for folder, what in ((self.path.parent, "outbox folder"), (self.evidence_dir, "evidence folder")):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OutboxError(f"{folder}: cannot create the {what} ({exc.strerror})") from None
        self._conn = self._open()

    # ----------------------------------------------------------------- opening
    def _open(self) -> sqlite3.Connection:
        """Open (or create) the database; a damaged one is salvaged, an empty one beside evidence rebuilt."""
        found = f"{self.path.stat().st_size} bytes" if self.path.exists() else "missing"
        try:
            conn = self._connect()
        except sqlite3.DatabaseError as exc:
            if not self.repair:
                raise OutboxError(f"{self.path}: damaged outbox ({exc}); start the runner to repair it") from None
            return self._salvage_into_fresh(str(exc))
        if not self.repair:
            return conn
        self._conn = conn
        folders = [f for f in event_folders(self.evidence_dir) if (f / EVENT_JSON).is_file()]
        if folders and conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 0:
            adopted = self._adopt_folders(min_age_s=5.0)  # younger: another process may be committing it
            log.error("outbox %s was empty (%s) while %d event folder(s) with event.json exist in %s: "
                      "treated as damaged; rebuilt the queue from them (%d event(s) queued again)",
                      self.path, found, len(folders), self.evidence_dir, adopted)
        else:
            adopted = self._adopt_folders(min_age_s=60.0)
            if adopted:
                log.warning("outbox: %d event(s) found on disk but not in %s (a crash while storing); queued",
                            adopted, self.path)
        self._remove_orphans()
        return conn

    def _salvage_into_fresh(self, reason: str) -> sqlite3.Connection:
        aside = self._move_aside()
        try:
            conn = self._connect()
        except sqlite3.DatabaseError as exc2:
            raise OutboxError(f"{self.path}: cannot create a fresh outbox ({exc2})") from None
        self._conn = conn
        items, bad = salvage(aside)
        restored = self._restore(items)
        adopted = self._adopt_folders(min_age_s=0.0)
        self._remove_orphans()
        log.error(
            "outbox %s is corrupt (%s); salvaged %d readable item(s) row by row (%d unreadable), queued %d more "
            "event(s) from their event.json, and moved the damaged file aside to %s — inspect and delete it",
            self.path, reason, restored, bad, adopted, aside,
        )
        return conn

    def _restore(self, items: list[SalvagedItem]) -> int:
        """Insert salvaged rows into the fresh database, keeping what was already delivered."""
        n = 0
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for it in items:
                    folder = self.evidence_dir / it.id
                    names = [f for f in it.files if (folder / f).is_file()]
                    seq = self._insert(it.id, it.kind, it.type, it.camera, it.created_at, it.payload, names)
                    if seq is None:
                        continue
                    sinks = self.sinks if it.kind == "event" else self.heartbeat_sinks
                    self._conn.executemany(
                        "INSERT INTO deliveries(item_seq, sink, state, updated_at) VALUES (?, ?, ?, ?)",
                        [(seq, s, it.states.get(s, "pending") if it.states.get(s) != "parked" else "pending",
                          time.time()) for s in sinks])
                    n += 1
                self._conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        return n

    def _insert(self, item_id: str, kind: str, etype: str, camera: str, created_at: float, payload: dict[str, Any],
                names: list[str]) -> int | None:
        """Inside a transaction: one items row (None if the id is already stored)."""
        if self._conn.execute("SELECT 1 FROM items WHERE id = ?", (item_id,)).fetchone():
            return None
        text = json.dumps(payload, separators=(",", ":"))
        folder = self.evidence_dir / item_id
        size = sum((folder / n).stat().st_size for n in names)
        cur = self._conn.execute(
            "INSERT INTO items(id, kind, type, camera, created_at, payload, payload_bytes, files, evidence_bytes)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (item_id, kind, etype, camera, created_at, text, len(text), json.dumps(sorted(names)), size),
        )
        return cur.lastrowid

    def _adopt_folders(self, min_age_s: float) -> int:
        """Queue events whose folder holds an event.json but that the database does not know.

        ``min_age_s``: skip younger folders (another process may be about to commit its row).
        """
        with self._lock:
            known = {r[0] for r in self._conn.execute("SELECT id FROM items WHERE kind = 'event'")}
        cutoff = time.time() - min_age_s
        found = []
        for folder in event_folders(self.evidence_dir):
            if folder.name in known:
                continue
            try:
                if min_age_s and folder.stat().st_mtime > cutoff:
                    continue
            except OSError:
                continue
            data = read_event_json(folder)
            if data is not None:
                found.append((folder, data))
        if not found:
            return 0
        n = 0
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for folder, data in found:
                    listed = set((data.get("evidence") or {}).values())
                    names = sorted(f.name for f in folder.iterdir() if f.name in listed and f.is_file())
                    seq = self._insert(folder.name, "event", str(data["type"]), str(data["camera"]),
                                       folder.stat().st_mtime, data, names)
                    if seq is not None:
                        self._queue(seq, self.sinks)
                        n += 1
                self._conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        return n

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:  # a new file: let routine clean-up give freed pages back to the disk
                conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.DatabaseError(f"cannot switch to WAL journal mode (got {mode})")
            conn.execute("PRAGMA synchronous=FULL")  # a committed event survives power loss
            conn.execute("PRAGMA foreign_keys=ON")
            # The WAL counts against the disk cap: checkpoint it often and truncate it back to this size.
            conn.execute(f"PRAGMA journal_size_limit={self.wal_limit_bytes}")
            conn.execute(f"PRAGMA wal_autocheckpoint={max(16, self.wal_limit_bytes // 4096)}")
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {check}")
            if version not in (0, 1, SCHEMA_VERSION):
                raise OutboxError(
                    f"{self.path}: outbox schema version {version} is newer than this program's "
                    f"({SCHEMA_VERSION}); upgrade the software or move the file away"
                )
            conn.executescript(_SCHEMA)
            if version == 1:  # added in version 2: the send lease and the park count
                conn.execute("ALTER TABLE deliveries ADD COLUMN sending_until REAL NOT NULL DEFAULT 0")
                conn.execute("ALTER TABLE deliveries ADD COLUMN parks INTEGER NOT NULL DEFAULT 0")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _move_aside(self) -> Path:
        """Rename the damaged DB (+ WAL/SHM) to *.corrupt-<UTC time>; the evidence folders stay in place.

        Only the newest damaged copy is kept, so a failing SD card cannot fill the disk with them.
        """
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        for old in self.path.parent.glob(self.path.name + ".corrupt-*"):
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                os.replace(src, Path(str(aside) + suffix))
        return aside

    def _remove_orphans(self) -> None:
        """Remove folders that no row references and that cannot be queued again (no event.json):
        temporary folders of a crashed write, and old folders of a crash between file move and commit."""
        with self._lock:
            known = {r[0] for r in self._conn.execute("SELECT id FROM items WHERE kind = 'event'")}
        cutoff = time.time() - ORPHAN_GRACE_S
        for entry in self.evidence_dir.iterdir():
            if entry.name in known or (entry / EVENT_JSON).is_file():
                continue
            try:
                if entry.stat().st_mtime < cutoff or entry.name.startswith(".tmp-"):
                    if entry.name.startswith(".tmp-") and entry.stat().st_mtime >= time.time() - 60:
                        continue  # another process may be writing it right now
                    shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
                    log.info("outbox: removed orphan evidence %s", entry)
            except FileNotFoundError:
                continue

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after each new item is committed (the sender uses it to wake up)."""
        self._listeners.append(callback)

    def _notify(self) -> None:
        for cb in list(self._listeners):
            cb()

    # ----------------------------------------------------------------- writing
    def put_event(self, event: Event | dict[str, Any], files: dict[str, bytes]) -> bool:
        """Store an event and its evidence durably; False if an event with this id is already stored.

        ``files`` maps evidence file names (the values of ``event.evidence``) to their bytes.
        """
        data = event.to_dict() if isinstance(event, Event) else dict(event)
        validate_event_dict(json.loads(json.dumps(data)))
        pair_evidence(data.get("evidence", {}), files)  # the review service's upload rule (SchemaError)
        event_id = str(data["id"])
        with self._lock:
            if self._conn.execute("SELECT 1 FROM items WHERE id=?", (event_id,)).fetchone():
                return False
            payload = json.dumps(data, separators=(",", ":"))
            evidence_bytes = sum(len(b) for b in files.values())
            need = evidence_bytes + 2 * len(payload) + ROW_OVERHEAD_BYTES  # the row and event.json
            to_delete: list[str] = []
            to_strip: list[tuple[str, dict[str, Any]]] = []
            if need > self.cap_bytes:
                log.error(
                    "outbox: event %s evidence (%d bytes) alone exceeds the outbox cap (%d bytes); "
                    "storing the event without its pictures", event_id, evidence_bytes, self.cap_bytes,
                )
                data = without_evidence(data, "evidence larger than the outbox cap")
                payload = json.dumps(data, separators=(",", ":"))
                files, evidence_bytes = {}, 0
                need = 2 * len(payload) + ROW_OVERHEAD_BYTES
            self._write_evidence(event_id, files, data)
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                report = make_room(self._conn, need, self.cap_bytes, to_delete, to_strip)
                self._unlink_event_json(to_delete)  # before the commit: a crash never brings them back
                cur = self._conn.execute(
                    "INSERT INTO items(id, kind, type, camera, created_at, payload, payload_bytes, files, evidence_bytes)"
                    " VALUES (?, 'event', ?, ?, ?, ?, ?, ?, ?)",
                    (event_id, data["type"], data["camera"], time.time(), payload, len(payload),
                     json.dumps(sorted(files)), evidence_bytes),
                )
                self._queue(cur.lastrowid, self.sinks)
                self._conn.execute("COMMIT")
            except sqlite3.IntegrityError:
                self._rollback()  # another process queued this very folder meanwhile (its event.json)
                return False
            except BaseException as exc:
                self._rollback()
                shutil.rmtree(self.evidence_dir / event_id, ignore_errors=True)
                if isinstance(exc, sqlite3.Error):  # e.g. disk full, read-only file system
                    raise OutboxError(f"{self.path}: cannot store event {event_id} ({exc})") from exc
                raise
            self._delete_evidence(to_delete)
            self._strip_evidence(to_strip)
        log_prune(report, self.path, self.cap_bytes)
        self._notify()
        return True

    def put_heartbeat(self, hb: Heartbeat | dict[str, Any]) -> str:
        """Store a heartbeat for the heartbeat sinks; returns its outbox id."""
        data = hb.to_dict() if isinstance(hb, Heartbeat) else dict(hb)
        payload = json.dumps(data, separators=(",", ":"))
        item_id = "hb-" + str(uuid.uuid4())
        to_delete: list[str] = []
        to_strip: list[tuple[str, dict[str, Any]]] = []
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                report = make_room(self._conn, len(payload) + ROW_OVERHEAD_BYTES, self.cap_bytes, to_delete, to_strip)
                self._unlink_event_json(to_delete)
                cur = self._conn.execute(
                    "INSERT INTO items(id, kind, created_at, payload, payload_bytes) VALUES (?, 'heartbeat', ?, ?, ?)",
                    (item_id, time.time(), payload, len(payload)),
                )
                self._queue(cur.lastrowid, self.heartbeat_sinks)
                self._conn.execute("COMMIT")
            except BaseException as exc:
                self._rollback()
                if isinstance(exc, sqlite3.Error):
                    raise OutboxError(f"{self.path}: cannot store heartbeat ({exc})") from exc
                raise
            self._delete_evidence(to_delete)
            self._strip_evidence(to_strip)
        log_prune(report, self.path, self.cap_bytes)
        self._notify()
        return item_id

    def _queue(self, seq: int | None, sinks: Iterable[str]) -> None:
        self._conn.executemany(
            "INSERT INTO deliveries(item_seq, sink, updated_at) VALUES (?, ?, ?)",
            [(seq, s, time.time()) for s in sinks],
        )

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.OperationalError):  # no transaction was open
            self._conn.execute("ROLLBACK")

    def _write_evidence(self, event_id: str, files: dict[str, bytes], payload: dict[str, Any]) -> None:
        """Write the pictures and event.json into a temp folder, fsync each, then rename it into place."""
        tmp = self.evidence_dir / f".tmp-{event_id}"
        final = self.evidence_dir / event_id
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir(parents=True)
            for name, blob in files.items():
                with open(tmp / name, "wb") as fh:
                    fh.write(blob)
                    fh.flush()
                    os.fsync(fh.fileno())
            write_event_json(tmp, payload)
            _fsync_dir(tmp)
            if final.exists():  # left by a crash before its row was committed
                shutil.rmtree(final)
            os.replace(tmp, final)
            _fsync_dir(self.evidence_dir)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise OutboxError(f"{final}: cannot write evidence ({exc.strerror or exc})") from None

    def _unlink_event_json(self, item_ids: Iterable[str]) -> None:
        for item_id in item_ids:
            if not item_id.startswith("hb-"):
                (self.evidence_dir / item_id / EVENT_JSON).unlink(missing_ok=True)

    def _strip_evidence(self, stripped: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """After the disk cap dropped an event's pictures: rewrite its event.json, delete the pictures."""
        for item_id, payload in stripped:
            folder = self.evidence_dir / item_id
            try:
                write_event_json(folder, payload)
                for f in folder.iterdir():
                    if f.name != EVENT_JSON:
                        f.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("outbox: cannot strip the pictures of %s (%s)", item_id, exc)

    # ----------------------------------------------------------------- disk cap
    @property
    def cap_bytes(self) -> int:
        """What the accounted items may use: the cap less a reserve for the WAL and SQLite's page slack."""
        return max(1, self.max_disk_bytes - min(self.max_disk_bytes // 4, 2 * self.wal_limit_bytes + (1 << 20)))

    def usage_bytes(self) -> int:
        """Accounted outbox size: evidence bytes + JSON bytes + a fixed overhead per row."""
        with self._lock:
            return usage_bytes(self._conn)

    def _delete_evidence(self, item_ids: Iterable[str]) -> None:
        for item_id in item_ids:
            if not item_id.startswith("hb-"):
                shutil.rmtree(self.evidence_dir / item_id, ignore_errors=True)

    def prune(self, now: float | None = None) -> int:
        """Routine clean-up: finished heartbeats, and finished events older than ``keep_delivered_s``."""
        now = time.time() if now is None else now
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, id FROM items i WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.item_seq = i.seq"
                " AND d.state = 'pending') AND (kind = 'heartbeat' OR created_at < ?)",
                (now - self.keep_delivered_s,),
            ).fetchall()
            if rows:
                self._unlink_event_json(r[1] for r in rows)
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    self._conn.executemany("DELETE FROM items WHERE seq = ?", [(r[0],) for r in rows])
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._rollback()
                    raise
                self._delete_evidence(r[1] for r in rows)
            self.checkpoint()
        return len(rows)

    def checkpoint(self) -> None:
        """Fold the WAL into the database and truncate it; give freed pages back to the disk."""
        with self._lock:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self._conn.execute("PRAGMA incremental_vacuum")
            except sqlite3.OperationalError as exc:  # another process is busy: the next prune does it
                log.debug("outbox: checkpoint skipped (%s)", exc)

    # ----------------------------------------------------------------- delivery state
    def due(self, sink: str, now: float | None = None, limit: int = 20) -> list[OutboxItem]:
        """Items pending for ``sink`` whose retry time has come: events first, then oldest first."""
        now = time.time() if now is None else now
        with self._lock:
            rows = self._conn.execute(
                "SELECT i.seq, i.id, i.kind, i.payload, i.files, d.attempts FROM deliveries d "
                "JOIN items i ON i.seq = d.item_seq WHERE d.sink = ? AND d.state = 'pending' "
                "AND d.next_attempt_at <= ? ORDER BY i.kind = 'heartbeat', i.seq LIMIT ?",
                (sink, now, limit),
            ).fetchall()
        return [
            OutboxItem(seq, item_id, kind, json.loads(payload),
                       {n: self.evidence_dir / item_id / n for n in json.loads(files)}, attempts)
            for seq, item_id, kind, payload, files, attempts in rows
        ]

    def claim(self, seq: int, sink: str, lease_s: float = LEASE_S) -> OutboxItem | None:
        """Re-read an item just before sending it and hold it: None if it is gone or no longer pending.

        While held (``lease_s`` at most), the disk cap never deletes the item or its pictures. Pictures
        that are already gone (deleted by hand, a damaged card) are dropped from the event and named in
        its ``evidence_dropped``, so the receiver gets the event without them instead of rejecting it.
        """
        now = time.time()
        dropped: list[str] = []
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                row = self._conn.execute(
                    "SELECT i.id, i.kind, i.payload, i.files, d.attempts FROM deliveries d JOIN items i "
                    "ON i.seq = d.item_seq WHERE d.item_seq = ? AND d.sink = ? AND d.state = 'pending'",
                    (seq, sink),
                ).fetchone()
                if row is None:
                    self._conn.execute("COMMIT")
                    return None
                item_id, kind, payload_text, files_text, attempts = row
                payload = json.loads(payload_text)
                names = list(json.loads(files_text))
                if kind == "event":
                    folder = self.evidence_dir / item_id
                    gone = {role for role, name in (payload.get("evidence") or {}).items()
                            if not (folder / name).is_file()}
                    if gone:
                        payload = without_evidence(payload, "picture missing when the event was sent", gone)
                        kept = set((payload.get("evidence") or {}).values())
                        names = [n for n in names if n in kept]
                        dropped = sorted(gone)
                        self._rewrite(seq, item_id, payload, names)
                        write_event_json(folder, payload)
                self._conn.execute("UPDATE deliveries SET sending_until = ? WHERE item_seq = ? AND sink = ?",
                                   (now + lease_s, seq, sink))
                self._conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        if dropped:
            log.warning("outbox: event %s: picture(s) %s are gone; sending the event without them "
                        "(listed in evidence_dropped)", item_id, ", ".join(dropped))
        return OutboxItem(seq, item_id, kind, payload, {n: self.evidence_dir / item_id / n for n in names}, attempts)

    def _rewrite(self, seq: int, item_id: str, payload: dict[str, Any], names: list[str]) -> None:
        """Inside a transaction: store a changed event payload and its remaining picture names."""
        text = json.dumps(payload, separators=(",", ":"))
        folder = self.evidence_dir / item_id
        size = sum((folder / n).stat().st_size for n in names if (folder / n).is_file())
        self._conn.execute("UPDATE items SET payload = ?, payload_bytes = ?, files = ?, evidence_bytes = ? "
                           "WHERE seq = ?", (text, len(text), json.dumps(sorted(names)), size, seq))

    def next_due_at(self, sink: str) -> float | None:
        """When the earliest pending item for ``sink`` may be tried (None: nothing pending)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT MIN(next_attempt_at) FROM deliveries WHERE sink = ? AND state = 'pending'", (sink,)
            ).fetchone()
        return None if row[0] is None else float(row[0])

    def _set_state(self, seq: int, sink: str, sql: str, args: tuple[Any, ...]) -> None:
        with self._lock:
            self._conn.execute(f"UPDATE deliveries SET {sql}, sending_until = 0, updated_at = ? "
                               "WHERE item_seq = ? AND sink = ?", (*args, time.time(), seq, sink))

    def mark_delivered(self, seq: int, sink: str) -> None:
        self._set_state(seq, sink, "state = 'delivered', last_error = NULL", ())

    def mark_retry(self, seq: int, sink: str, next_attempt_at: float, error: str) -> None:
        self._set_state(seq, sink, "attempts = attempts + 1, next_attempt_at = ?, last_error = ?",
                        (next_attempt_at, error[:500]))

    def parks(self, seq: int, sink: str) -> int:
        """How often the receiver has rejected this item so far."""
        with self._lock:
            row = self._conn.execute("SELECT parks FROM deliveries WHERE item_seq = ? AND sink = ?",
                                     (seq, sink)).fetchone()
        return 0 if row is None else int(row[0])

    def mark_parked(self, seq: int, sink: str, error: str, retry_at: float = float("inf")) -> None:
        """A rejection: the item waits, parked, until ``retry_at`` (``requeue_parked(due_only=True)``)."""
        self._set_state(seq, sink, "state = 'parked', attempts = attempts + 1, parks = parks + 1, "
                        "next_attempt_at = ?, last_error = ?", (min(retry_at, 1e18), error[:500]))

    def requeue_parked(self, sink: str | None = None, ids: Sequence[str] | None = None, due_only: bool = False,
                       now: float | None = None) -> int:
        """Put parked items back in the queue; returns how many.

        ``due_only``: only those whose automatic retry time has come (the sender calls this every
        minute); ``ids``: only these items (``graffiti edge outbox retry``).
        """
        sql = "UPDATE deliveries SET state = 'pending', next_attempt_at = 0 WHERE state = 'parked'"
        args: list[Any] = []
        if sink:
            sql += " AND sink = ?"
            args.append(sink)
        if due_only:
            sql += " AND next_attempt_at <= ?"
            args.append(time.time() if now is None else now)
        if ids is not None:
            sql += f" AND item_seq IN (SELECT seq FROM items WHERE id IN ({','.join('?' * len(ids))}))"
            args.extend(ids)
        with self._lock:
            cur = self._conn.execute(sql, args)
        if cur.rowcount:
            self._notify()
        return cur.rowcount

    def retry_now(self, sink: str | None = None) -> None:
        """Make every pending item due immediately (used by ``Delivery.flush`` at shutdown)."""
        with self._lock:
            self._conn.execute(
                "UPDATE deliveries SET next_attempt_at = 0 WHERE state = 'pending' AND next_attempt_at > 0"
                + (" AND sink = ?" if sink else ""), (sink,) if sink else (),
            )

    def drop(self, ids: Sequence[str]) -> int:
        """Delete items (and their pictures) for good, whatever their state; returns how many."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                found = [r[0] for r in self._conn.execute(
                    f"SELECT id FROM items WHERE id IN ({','.join('?' * len(ids))})", list(ids))]
                self._unlink_event_json(found)
                self._conn.executemany("DELETE FROM items WHERE id = ?", [(i,) for i in found])
                self._conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
            self._delete_evidence(found)
        return len(found)

    def listing(self, state: str | None = None) -> list[ItemStatus]:
        """Every stored item with its per-sink delivery state, oldest first (``graffiti edge outbox list``).

        ``state``: only items with at least one sink in that state (pending, parked, delivered).
        """
        sql = ("SELECT i.seq, i.id, i.kind, i.type, i.camera, i.created_at, i.evidence_bytes, d.sink, d.state, "
               "d.attempts, d.next_attempt_at, d.last_error FROM items i JOIN deliveries d ON d.item_seq = i.seq")
        args: tuple[Any, ...] = ()
        if state is not None:
            sql += " WHERE i.seq IN (SELECT item_seq FROM deliveries WHERE state = ?)"
            args = (state,)
        out: dict[int, ItemStatus] = {}
        with self._lock:
            for seq, item_id, kind, etype, camera, created, ev_bytes, sink, st, attempts, nxt, err in \
                    self._conn.execute(sql + " ORDER BY i.seq, d.sink", args):
                item = out.setdefault(seq, ItemStatus(item_id, kind, etype, camera, created, ev_bytes, {}))
                item.sinks[sink] = SinkState(st, attempts, nxt, err)
        return list(out.values())

    def resolve_ids(self, prefixes: Sequence[str]) -> list[str]:
        """Full item ids for ids or unique id prefixes; OutboxError naming a prefix that matches 0 or >1."""
        out = []
        with self._lock:
            for p in prefixes:
                rows = [r[0] for r in self._conn.execute("SELECT id FROM items WHERE id LIKE ? ESCAPE '\\' LIMIT 2",
                                                         (p.replace("%", "\\%").replace("_", "\\_") + "%",))]
                if len(rows) != 1:
                    raise OutboxError(f"{p}: expected the id (or a unique start of it) of an item in {self.path}, "
                                      f"found {'none' if not rows else 'several'}")
                out.append(rows[0])
        return out

    def depth(self) -> int:
        """Items still waiting for at least one sink (the heartbeat's ``outbox_depth``)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT COUNT(DISTINCT item_seq) FROM deliveries WHERE state = 'pending'"
            ).fetchone()
        return int(row[0])

    def counts(self) -> dict[str, dict[str, int]]:
        """Per sink: how many items are pending, delivered and parked (for logs and tests)."""
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            for sink, state, n in self._conn.execute("SELECT sink, state, COUNT(*) FROM deliveries GROUP BY sink, state"):
                out.setdefault(sink, {"pending": 0, "delivered": 0, "parked": 0})[state] = n
        return out

    def item_ids(self, kind: str | None = None) -> list[str]:
        """Ids of the stored items, oldest first (optionally only 'event' or 'heartbeat')."""
        with self._lock:
            if kind is None:
                rows = self._conn.execute("SELECT id FROM items ORDER BY seq").fetchall()
            else:
                rows = self._conn.execute("SELECT id FROM items WHERE kind = ? ORDER BY seq", (kind,)).fetchall()
        return [r[0] for r in rows]

    def journal_mode(self) -> str:
        with self._lock:
            return str(self._conn.execute("PRAGMA journal_mode").fetchone()[0])


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
