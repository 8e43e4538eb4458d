"""The outbox's disk-cap policy: what goes first when a new item does not fit under ``max_disk_mb``.

Accounting is logical (evidence bytes + JSON bytes + a fixed overhead per row), so it does not depend
on SQLite's page reuse. Order, each step only as far as needed: finished items (delivered to every
sink, or parked), oldest first — routine, INFO; undelivered heartbeats, oldest first — WARNING; the
pictures of undelivered events, status events before detections, oldest first (the event itself
is kept and still delivered, naming the dropped roles in ``evidence_dropped``) — ERROR; whole
undelivered events, status events before detections, oldest first — ERROR. An item a sender holds
(``deliveries.sending_until`` in the future) is never touched: its pictures are being uploaded.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("detector.edge.outbox")

ROW_OVERHEAD_BYTES = 512  # per-row cost of the DB beyond the JSON: indexes, delivery rows, page slack
DETECTION_TYPES = ("graffiti_detected", "graffiti_cleaned")


@dataclass
class PruneReport:
    """What a prune removed; the counts tell whether undelivered data was lost."""

    finished_items: int = 0
    undelivered_heartbeats: int = 0
    evidence_dropped_events: int = 0
    undelivered_events: int = 0


def usage_bytes(conn: sqlite3.Connection) -> int:
    """Accounted outbox size: evidence bytes + JSON bytes (an event's twice: its row and its event.json)
    + a fixed overhead per row."""
    row = conn.execute(
        "SELECT COALESCE(SUM(evidence_bytes + payload_bytes * (1 + (kind = 'event'))), 0) + COUNT(*) * ? FROM items",
        (ROW_OVERHEAD_BYTES,),
    ).fetchone()
    return int(row[0])


def make_room(conn: sqlite3.Connection, need: int, max_bytes: int, to_delete: list[str],
              to_strip: list[tuple[str, dict[str, Any]]]) -> PruneReport:
    """Inside an open transaction: free space until ``need`` more bytes fit under the cap.

    Appends the ids of deleted items to ``to_delete`` and (id, new payload) of events whose pictures
    were dropped to ``to_strip``; the caller removes the files once the transaction is committed.
    """
    report = PruneReport()
    free = ("NOT EXISTS (SELECT 1 FROM deliveries h WHERE h.item_seq = i.seq AND h.sending_until > "
            "CAST(strftime('%s','now') AS REAL))")
    excess = usage_bytes(conn) + need - max_bytes
    if excess <= 0:
        return report
    steps: list[tuple[str, str]] = [
        ("finished_items",
         "SELECT seq, id, evidence_bytes + payload_bytes * (1 + (kind = 'event')) FROM items i WHERE NOT EXISTS "
         f"(SELECT 1 FROM deliveries d WHERE d.item_seq = i.seq AND d.state = 'pending') AND {free} ORDER BY seq"),
        ("undelivered_heartbeats",
         f"SELECT seq, id, payload_bytes FROM items i WHERE kind = 'heartbeat' AND {free} ORDER BY seq"),
        ("evidence_dropped_events",
         f"SELECT seq, id, evidence_bytes FROM items i WHERE kind = 'event' AND evidence_bytes > 0 AND {free} "
         f"ORDER BY type IN {DETECTION_TYPES!r}, seq"),
        ("undelivered_events",
         f"SELECT seq, id, 2 * payload_bytes FROM items i WHERE kind = 'event' AND {free} "
         f"ORDER BY type IN {DETECTION_TYPES!r}, seq"),
    ]
    for name, query in steps:
        for seq, item_id, size in conn.execute(query).fetchall():
            if excess <= 0:
                break
            if name == "evidence_dropped_events":
                to_strip.append((item_id, _drop_evidence_row(conn, seq)))
                excess -= size
            else:
                conn.execute("DELETE FROM items WHERE seq = ?", (seq,))
                excess -= size + ROW_OVERHEAD_BYTES
                to_delete.append(item_id)
            setattr(report, name, getattr(report, name) + 1)
        if excess <= 0:
            break
    return report


def _drop_evidence_row(conn: sqlite3.Connection, seq: int) -> dict[str, Any]:
    (payload,) = conn.execute("SELECT payload FROM items WHERE seq = ?", (seq,)).fetchone()
    data = without_evidence(json.loads(payload), "outbox disk cap reached before delivery")
    text = json.dumps(data, separators=(",", ":"))
    conn.execute(
        "UPDATE items SET payload = ?, payload_bytes = ?, files = '[]', evidence_bytes = 0 WHERE seq = ?",
        (text, len(text), seq),
    )
    return data


def log_prune(report: PruneReport, path: Path, max_bytes: int) -> None:
    """Say what a prune removed: routine removals at INFO, lost undelivered data loudly."""
    cap_mb = max_bytes / 1048576
    if report.finished_items:
        log.info("outbox: pruned %d delivered items to stay under %.0f MB", report.finished_items, cap_mb)
    if report.undelivered_heartbeats:
        log.warning(
            "outbox FULL (%.0f MB cap, %s): dropped %d undelivered heartbeats, oldest first — "
            "the sinks have been unreachable for a long time",
            cap_mb, path, report.undelivered_heartbeats,
        )
    if report.evidence_dropped_events or report.undelivered_events:
        log.error(
            "outbox FULL (%.0f MB cap, %s): dropped the pictures of %d and the whole of %d undelivered "
            "events, oldest first — raise delivery.max_disk_mb or fix the network",
            cap_mb, path, report.evidence_dropped_events, report.undelivered_events,
        )


def without_evidence(data: dict[str, Any], reason: str, roles: Iterable[str] | None = None) -> dict[str, Any]:
    """A copy of an event without some (default: all) of its pictures; the receiver learns which roles
    were dropped from ``evidence_dropped`` and why from ``detail.evidence_dropped_reason``."""
    data = dict(data)
    evidence = dict(data.get("evidence") or {})
    gone = set(evidence) if roles is None else set(roles) & set(evidence)
    if not gone:
        return data
    detail = dict(data.get("detail") or {})
    detail["evidence_dropped_reason"] = reason
    data["detail"] = detail
    data["evidence_dropped"] = sorted(set(data.get("evidence_dropped") or []) | gone)
    data["evidence"] = {role: name for role, name in evidence.items() if role not in gone}
    return data
