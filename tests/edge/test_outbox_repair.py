"""The outbox is hard to lose: a 0-byte, deleted or damaged database beside existing evidence is an
ERROR, readable rows are salvaged one by one, every event comes back from its folder's event.json, and
the WAL stays inside the disk cap. Real SQLite files, damaged on disk as an SD card would."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest

from detector.edge.delivery.outbox import Outbox
from detector.events import Heartbeat
from tests.edge.conftest import make_event


def open_box(tmp_path: Path, max_disk_mb: float = 50.0) -> Outbox:
    return Outbox(tmp_path / "outbox.sqlite3", tmp_path / "evidence", max_disk_mb, sinks=("http",))


def fill(tmp_path: Path, events: int = 5, heartbeats: int = 0) -> tuple[list[str], dict[str, dict[str, bytes]]]:
    box = open_box(tmp_path)
    ids, files_by_id = [], {}
    for i in range(max(events, heartbeats)):
        if i < events:
            ev, files = make_event(camera=f"cam{i % 3}")
            box.put_event(ev, files)
            ids.append(ev.id)
            files_by_id[ev.id] = files
        if i < heartbeats:
            box.put_heartbeat(Heartbeat(device="tunnel-7"))
    box.close()
    return ids, files_by_id


def age_folders(evidence: Path, seconds: float = 120.0) -> None:
    """Make the event folders look written a while ago (a reboot takes longer than a few seconds)."""
    import os
    import time

    for folder in evidence.iterdir():
        t = time.time() - seconds
        os.utime(folder, (t, t))


def checkpoint(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # fold the WAL in, as after a clean stop
    conn.close()


@pytest.mark.parametrize("how", ["zero-bytes", "deleted"])
def test_empty_or_missing_outbox_beside_evidence_is_damage_and_the_queue_is_rebuilt(
        tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture) -> None:
    ids, files = fill(tmp_path, events=4)
    age_folders(tmp_path / "evidence")
    db = tmp_path / "outbox.sqlite3"
    checkpoint(db)
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    if how == "zero-bytes":
        db.write_bytes(b"")
    else:
        db.unlink()
    with caplog.at_level(logging.ERROR, logger="detector.edge.outbox"):
        box = open_box(tmp_path)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "4 event(s) queued again" in errors[0], errors
    assert ("(0 bytes)" if how == "zero-bytes" else "(missing)") in errors[0]
    due = {i.id: i for i in box.due("http", limit=100)}
    assert sorted(due) == sorted(ids)
    for event_id, item in due.items():
        assert {n: p.read_bytes() for n, p in item.files.items()} == files[event_id]
        assert item.payload["camera"].startswith("cam")


def test_a_fresh_outbox_without_evidence_is_not_an_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="detector.edge.outbox"):
        box = open_box(tmp_path)
    assert box.item_ids() == [] and not caplog.records


def test_partly_damaged_outbox_is_salvaged_row_by_row_keeping_delivery_state(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    box = open_box(tmp_path)
    delivered, pending = make_event(frame_bytes=0)[0], make_event(frame_bytes=0)[0]
    box.put_event(delivered, {})
    box.put_event(pending, {})
    (item,) = [i for i in box.due("http") if i.id == delivered.id]
    box.mark_delivered(item.seq, "http")
    hbs = [box.put_heartbeat(Heartbeat(device="tunnel-7", cameras={})) for _ in range(400)]
    box.close()
    db = tmp_path / "outbox.sqlite3"
    checkpoint(db)
    data = bytearray(db.read_bytes())
    page = 4096
    pages = len(data) // page
    assert pages > 20, pages
    middle = pages // 2
    data[middle * page:(middle + 2) * page] = b"\\xde\\xad" * page  # two torn pages in the middle
    db.write_bytes(bytes(data))

    with caplog.at_level(logging.ERROR, logger="detector.edge.outbox"):
        box = open_box(tmp_path)
    kept = set(box.item_ids())
    assert any("corrupt" in r.getMessage() and "row by row" in r.getMessage() for r in caplog.records)
    salvaged = kept & set(hbs)
    assert hbs[0] in kept and 100 < len(salvaged) < 400, len(salvaged)  # rows on sound pages survive
    assert pending.id in kept and delivered.id in kept
    assert [i.id for i in box.due("http", limit=1000) if i.kind == "event"] == [pending.id]  # not resent


def test_every_event_folder_keeps_an_event_json_that_matches_the_queue(tmp_path: Path) -> None:
    ids, _ = fill(tmp_path, events=3)
    box = open_box(tmp_path)
    for item in box.due("http"):
        on_disk = json.loads((tmp_path / "evidence" / item.id / "event.json").read_text())
        assert on_disk == item.payload
    assert sorted(p.name for p in (tmp_path / "evidence").iterdir()) == sorted(ids)


def disk_bytes(tmp_path: Path) -> int:
    return sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())


@pytest.mark.slow
def test_wal_and_database_stay_within_the_disk_cap(tmp_path: Path) -> None:
    box = open_box(tmp_path, max_disk_mb=1.0)
    worst = 0
    for i in range(300):  # ~6 MB written through a 1 MB cap, sender down
        ev, files = make_event(frame_bytes=20_000)
        box.put_event(ev, files)
        for _ in range(3):
            box.put_heartbeat(Heartbeat(device="tunnel-7"))
        if i % 50 == 49:
            box.prune()  # what the sender does every minute
        worst = max(worst, disk_bytes(tmp_path))
    assert worst <= 1024 * 1024, f"{worst} bytes on disk with a 1 MiB cap"
    assert box.usage_bytes() <= box.cap_bytes


@pytest.mark.slow
def test_runner_started_on_a_zero_byte_outbox_sends_the_events_found_on_disk(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import REPO
    from tests.edge.edge_models import redness_model

    data = tmp_path / "data"
    box = Outbox(data / "outbox" / "outbox.sqlite3", data / "outbox" / "evidence", 50, sinks=("local",))
    ids = []
    for _ in range(3):
        ev, files = make_event()
        box.put_event(ev, files)
        ids.append(ev.id)
    box.close()
    age_folders(data / "outbox" / "evidence")
    db = data / "outbox" / "outbox.sqlite3"
    checkpoint(db)
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    db.write_bytes(b"")  # cut to 0 bytes by a power loss
    (tmp_path / "frames").mkdir()
    toml = tmp_path / "edge.toml"
    toml.write_text(f"[device]\nname = 'tunnel-7'\ndata_dir = '{data}'\n"
                    f"[model]\npath = '{redness_model(tmp_path / 'model.onnx')}'\nthreads = 1\n"
                    f"[cameras.north]\nsource = '{tmp_path / 'frames'}'\n[delivery.local]\ndir = 'events'\n")
    res = subprocess.run([sys.executable, "-m", "detector", "edge", "run", "--config", str(toml), "--fast",
                          "--log-format", "json"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    records = [json.loads(line) for line in res.stderr.splitlines() if line.startswith("{")]
    errors = [r["message"] for r in records if r["level"] == "error"]
    assert len(errors) == 1 and "(0 bytes)" in errors[0] and "3 event(s) queued again" in errors[0], errors
    sent = sorted(p.parent.name.rsplit("_", 1)[1] for p in (data / "events" / "events").glob("*/*/event.json"))
    assert sent == sorted(ids)
