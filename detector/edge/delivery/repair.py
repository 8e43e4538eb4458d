"""Making the outbox hard to lose: ``event.json`` beside each event's pictures, salvage of a damaged
database row by row, and rebuilding the queue from the evidence folders.

Why: the outbox lives on an SD card that may be cut to 0 bytes by a power loss, corrupted, or deleted
by a person. Each event's folder ``<evidence_dir>/<event id>/`` holds its pictures *and* its JSON, so
whatever happens to the database, every event that was ever stored can be queued again; the receivers
deduplicate by event id, so sending one twice is harmless, losing one is not.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detector.events import SchemaError, validate_event_dict

log = logging.getLogger("detector.edge.outbox")

EVENT_JSON = "event.json"
_SCAN_GAP = 2000  # after an unreadable row, try this many following row ids one by one


@dataclass
class SalvagedItem:
    """A row read back from a damaged outbox (``states``: sink → state, when the deliveries were readable)."""

    id: str
    kind: str
    type: str
    camera: str
    created_at: float
    payload: dict[str, Any]
    files: list[str]
    states: dict[str, str] = field(default_factory=dict)


def write_event_json(folder: Path, payload: dict[str, Any]) -> None:
    """Write ``event.json`` into an event's folder (temp file + fsync + rename: never half written)."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{EVENT_JSON}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(json.dumps(payload, separators=(",", ":")).encode())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, folder / EVENT_JSON)


def read_event_json(folder: Path) -> dict[str, Any] | None:
    """The event stored in ``folder``, or None when there is none or it is not a valid event for this id."""
    try:
        data = json.loads((folder / EVENT_JSON).read_text(encoding="utf-8"))
        validate_event_dict(data)
    except (OSError, ValueError, SchemaError):
        return None
    return data if data.get("id") == folder.name else None


def event_folders(evidence_dir: Path) -> Iterator[Path]:
    """Event folders (not temporary ones) under the evidence folder."""
    try:
        entries = list(evidence_dir.iterdir())
    except OSError:
        return
    for entry in sorted(entries):
        if entry.is_dir() and not entry.name.startswith("."):
            yield entry


def salvage(path: Path) -> tuple[list[SalvagedItem], int]:
    """Read every readable row of a damaged outbox, one by one; returns (items, unreadable row count).

    A corrupt page loses the rows on it, never the rows around it: after a failure the scan goes on
    row id by row id.
    """
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error:
        return [], 0
    items: list[SalvagedItem] = []
    bad = 0
    try:
        deliveries = _deliveries(conn)
        for seq in _row_ids(conn, "items", "seq"):
            try:
                row = conn.execute("SELECT id, kind, type, camera, created_at, payload, files FROM items NOT INDEXED "
                                   "WHERE seq = ?", (seq,)).fetchone()
                if row is None:
                    continue
                item_id, kind, etype, camera, created, payload, files = row
                data = json.loads(payload)
                if kind == "event":
                    validate_event_dict(data)
                elif kind != "heartbeat":
                    raise ValueError(f"unknown kind {kind!r}")
                names = [str(n) for n in json.loads(files)]
            except (sqlite3.Error, ValueError, TypeError, SchemaError):
                bad += 1
                continue
            items.append(SalvagedItem(str(item_id), str(kind), str(etype or ""), str(camera or ""), float(created),
                                      data, names, deliveries.get(seq, {})))
    finally:
        conn.close()
    return items, bad


def _deliveries(conn: sqlite3.Connection) -> dict[int, dict[str, str]]:
    """item seq → {sink: state} from the readable rows of ``deliveries`` (read by row id, not by index)."""
    out: dict[int, dict[str, str]] = {}
    for rowid in _row_ids(conn, "deliveries", "rowid"):
        try:
            row = conn.execute("SELECT item_seq, sink, state FROM deliveries NOT INDEXED WHERE rowid = ?",
                               (rowid,)).fetchone()
        except sqlite3.Error:
            continue
        if row is not None:
            out.setdefault(int(row[0]), {})[str(row[1])] = str(row[2])
    return out


def _row_ids(conn: sqlite3.Connection, table: str, key: str) -> list[int]:
    """Row ids of ``table``: the fast way when its pages are sound, else a stepwise scan."""
    try:
        return [int(r[0]) for r in conn.execute(f"SELECT {key} FROM {table} NOT INDEXED ORDER BY {key}")]
    except sqlite3.Error:
        pass
    try:
        top = int(conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()[0])
    except (sqlite3.Error, TypeError):
        top = 0
    found: list[int] = []
    last = 0
    while True:
        try:
            row = conn.execute(f"SELECT {key} FROM {table} NOT INDEXED WHERE {key} > ? ORDER BY {key} LIMIT 1",
                               (last,)).fetchone()
        except sqlite3.Error:
            row = None
            probe = last + 1
            limit = max(top, last + _SCAN_GAP)
            while probe <= limit:  # step over the damaged page row id by row id
                try:
                    if conn.execute(f"SELECT 1 FROM {table} NOT INDEXED WHERE {key} = ?", (probe,)).fetchone():
                        row = (probe,)
                        break
                except sqlite3.Error:
                    pass
                probe += 1
            if row is None:
                return found
        if row is None:
            return found
        last = int(row[0])
        found.append(last)
