"""The durable outbox on real SQLite files: durability, WAL, disk cap order, corruption handling."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from pathlib import Path

import pytest

from detector.edge.delivery.outbox import ROW_OVERHEAD_BYTES, Outbox
from detector.events import Heartbeat
from tests.edge.conftest import make_event


def open_box(tmp_path: Path, max_disk_mb: float = 10.0, sinks: tuple[str, ...] = ("http",)) -> Outbox:
    return Outbox(tmp_path / "outbox.sqlite3", tmp_path / "evidence", max_disk_mb, sinks=sinks)


def test_outbox_uses_wal_journal_mode(tmp_path: Path) -> None:
    box = open_box(tmp_path)
    assert box.journal_mode() == "wal"
    box.close()
    with sqlite3.connect(tmp_path / "outbox.sqlite3") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_event_and_evidence_survive_reopen_and_stay_pending(tmp_path: Path) -> None:
    box = open_box(tmp_path, sinks=("http", "mqtt"))
    ev, files = make_event()
    assert box.put_event(ev, files) is True
    box.close()  # no send happened: the item must still be there after a "restart"

    box = open_box(tmp_path, sinks=("http", "mqtt"))
    assert box.depth() == 1
    (item,) = box.due("http")
    assert item.id == ev.id and item.kind == "event"
    assert item.payload["camera"] == "north"
    assert {name: p.read_bytes() for name, p in item.files.items()} == files
    assert [i.id for i in box.due("mqtt")] == [ev.id]


def test_same_event_id_is_stored_once(tmp_path: Path) -> None:
    box = open_box(tmp_path)
    ev, files = make_event()
    assert box.put_event(ev, files) is True
    assert box.put_event(ev, files) is False
    assert box.item_ids() == [ev.id]


@pytest.mark.parametrize(
    ("files", "match"),
    [
        ({"frame.jpg": b"x"}, "evidence.crop: file 'crop.jpg' is not in the upload"),
        ({"frame.jpg": b"x", "crop.jpg": b"y", "extra.jpg": b"z"}, "'extra.jpg' is not named in event.evidence"),
        ({"frame.jpg": b"x", "crop.jpg": b"y", "../evil.jpg": b"z"}, r"'\.\./evil\.jpg' is not named in event.evidence"),
    ],
    ids=["missing-file", "unlisted-file", "path-in-name"],
)
def test_put_event_rejects_files_that_do_not_match_the_evidence_list(tmp_path: Path, files: dict[str, bytes], match: str) -> None:
    box = open_box(tmp_path)
    ev, _ = make_event()
    with pytest.raises(ValueError, match=match):
        box.put_event(ev, files)
    assert box.item_ids() == []


def test_delivery_is_tracked_per_sink(tmp_path: Path) -> None:
    box = open_box(tmp_path, sinks=("http", "mqtt"))
    ev, files = make_event()
    box.put_event(ev, files)
    (item,) = box.due("http")
    box.mark_delivered(item.seq, "http")
    assert box.due("http") == []
    assert box.depth() == 1  # still pending for mqtt
    box.mark_retry(item.seq, "mqtt", next_attempt_at=1e18, error="broker down")
    assert box.due("mqtt") == []  # not due yet
    box.retry_now()
    assert [i.attempts for i in box.due("mqtt")] == [1]
    box.mark_parked(item.seq, "mqtt", "rejected")
    assert box.depth() == 0
    assert box.counts() == {"http": {"pending": 0, "delivered": 1, "parked": 0},
                            "mqtt": {"pending": 0, "delivered": 0, "parked": 1}}
    assert box.requeue_parked("mqtt") == 1 and box.depth() == 1


def test_events_are_sent_before_heartbeats(tmp_path: Path) -> None:
    box = open_box(tmp_path)
    box.put_heartbeat(Heartbeat(device="tunnel-7"))
    ev, files = make_event()
    box.put_event(ev, files)
    assert [i.kind for i in box.due("http")] == ["event", "heartbeat"]


def _cap_box(tmp_path: Path, cap_bytes: int) -> Outbox:
    """An outbox whose accounted items may use ``cap_bytes`` (a quarter more goes to SQLite's reserve)."""
    box = open_box(tmp_path, max_disk_mb=cap_bytes * 4 / 3 / 1048576)
    assert abs(box.cap_bytes - cap_bytes) <= 1
    return box


def test_disk_cap_prunes_delivered_evidence_first(tmp_path: Path) -> None:
    box = _cap_box(tmp_path, 60_000)
    ids = []
    for _ in range(3):
        ev, files = make_event(frame_bytes=15_000)
        box.put_event(ev, files)
        ids.append(ev.id)
    for item in box.due("http")[:2]:
        box.mark_delivered(item.seq, "http")
    hb = box.put_heartbeat(Heartbeat(device="tunnel-7"))
    ev, files = make_event(frame_bytes=15_000)  # needs room: the delivered ones must go, oldest first
    box.put_event(ev, files)
    assert box.usage_bytes() <= box.cap_bytes
    assert ids[0] not in box.item_ids()
    assert not (tmp_path / "evidence" / ids[0]).exists()
    assert ids[2] in box.item_ids() and hb in box.item_ids()  # undelivered items untouched
    assert (tmp_path / "evidence" / ids[2] / "frame.jpg").exists()


def test_disk_cap_drops_oldest_heartbeats_before_any_detection_and_logs_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    box = _cap_box(tmp_path, 40_000)
    ev, files = make_event(frame_bytes=15_000)
    box.put_event(ev, files)
    hbs = [box.put_heartbeat(Heartbeat(device="tunnel-7")) for _ in range(60)]  # ~27 kB of heartbeats
    with caplog.at_level(logging.WARNING, logger="detector.edge.outbox"):
        ev2, files2 = make_event(frame_bytes=15_000)
        box.put_event(ev2, files2)
    kept = box.item_ids()
    assert ev.id in kept and ev2.id in kept, "a detection was dropped while heartbeats remained"
    assert hbs[0] not in kept and hbs[-1] in kept  # oldest heartbeats went first
    assert box.usage_bytes() <= box.cap_bytes
    assert any(r.levelno >= logging.WARNING and "undelivered heartbeats" in r.getMessage() for r in caplog.records)
    assert (tmp_path / "evidence" / ev.id / "frame.jpg").exists()


def test_disk_cap_without_heartbeats_drops_oldest_event_pictures_but_keeps_the_event(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    box = _cap_box(tmp_path, 40_000)
    ev, files = make_event(frame_bytes=15_000)
    box.put_event(ev, files)
    with caplog.at_level(logging.ERROR, logger="detector.edge.outbox"):
        ev2, files2 = make_event(frame_bytes=15_000)
        box.put_event(ev2, files2)
        ev3, files3 = make_event(frame_bytes=15_000)
        box.put_event(ev3, files3)
    items = {i.id: i for i in box.due("http")}
    assert set(items) == {ev.id, ev2.id, ev3.id}
    assert items[ev.id].files == {} and items[ev.id].payload["evidence"] == {}
    assert items[ev.id].payload["evidence_dropped"] == ["crop", "frame"]
    assert "disk cap" in items[ev.id].payload["detail"]["evidence_dropped_reason"]
    folder = tmp_path / "evidence" / ev.id  # the pictures are gone; event.json stays, saying so
    assert [p.name for p in folder.iterdir()] == ["event.json"]
    assert json.loads((folder / "event.json").read_text())["evidence_dropped"] == ["crop", "frame"]
    assert set(items[ev3.id].files) == {"frame.jpg", "crop.jpg"}
    assert any(r.levelno == logging.ERROR and "outbox FULL" in r.getMessage() for r in caplog.records)


def test_status_events_lose_pictures_before_detections(tmp_path: Path) -> None:
    box = _cap_box(tmp_path, 40_000)
    det, det_files = make_event(frame_bytes=15_000)
    box.put_event(det, det_files)
    tamper, tamper_files = make_event(type="camera_tamper", frame_bytes=15_000)
    box.put_event(tamper, tamper_files)
    ev3, files3 = make_event(frame_bytes=15_000)
    box.put_event(ev3, files3)
    items = {i.id: i for i in box.due("http")}
    assert items[tamper.id].files == {}
    assert set(items[det.id].files) == {"frame.jpg", "crop.jpg"}


def test_usage_accounts_evidence_and_json_bytes(tmp_path: Path) -> None:
    box = open_box(tmp_path)
    ev, files = make_event(frame_bytes=5_000)
    box.put_event(ev, files)
    payload_bytes = len(json.dumps(ev.to_dict(), separators=(",", ":")))  # in the row and in event.json
    assert box.usage_bytes() == sum(len(b) for b in files.values()) + 2 * payload_bytes + ROW_OVERHEAD_BYTES
    assert (tmp_path / "evidence" / ev.id / "event.json").stat().st_size == payload_bytes


def test_routine_prune_removes_finished_heartbeats_and_old_delivered_events(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", tmp_path / "ev", 10, sinks=("http",), keep_delivered_s=3600)
    ev, files = make_event()
    box.put_event(ev, files)
    box.put_heartbeat(Heartbeat(device="tunnel-7"))
    for item in box.due("http"):
        box.mark_delivered(item.seq, "http")
    assert box.prune() == 1  # the heartbeat; the event is kept for an hour
    assert box.item_ids() == [ev.id]
    assert box.prune(now=time.time() + 7200) == 1
    assert box.item_ids() == [] and not (tmp_path / "ev" / ev.id).exists()


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: p.write_bytes(b"this is not a database at all" * 100), id="garbage"),
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[:1024] + b"\x00" * 10 + p.read_bytes()[2048:]), id="torn-pages"),
    ],
)
def test_corrupt_outbox_is_moved_aside_and_its_events_come_back_from_disk(tmp_path: Path, damage, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    box = open_box(tmp_path)
    for _ in range(30):
        box.put_heartbeat(Heartbeat(device="tunnel-7"))
    ev, files = make_event()
    box.put_event(ev, files)
    box.close()
    db = tmp_path / "outbox.sqlite3"
    with sqlite3.connect(db) as conn:  # fold the WAL in so the damage hits the real pages
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    damage(db)
    with caplog.at_level(logging.ERROR, logger="detector.edge.outbox"):
        box = open_box(tmp_path)
    assert ev.id in box.item_ids() and box.journal_mode() == "wal"  # rebuilt from its event.json
    (item,) = [i for i in box.due("http", limit=100) if i.kind == "event"]
    assert {n: p.read_bytes() for n, p in item.files.items()} == files
    aside = [p for p in tmp_path.glob("outbox.sqlite3.corrupt-*") if not p.name.endswith(("-wal", "-shm"))]
    assert len(aside) == 1
    assert any(str(db) in r.getMessage() and "corrupt" in r.getMessage() for r in caplog.records)
    ev2, files2 = make_event()
    assert box.put_event(ev2, files2) is True  # the fresh outbox works


def test_orphan_evidence_without_a_row_is_removed_on_open(tmp_path: Path) -> None:
    import os

    box = open_box(tmp_path)
    box.close()
    orphan = tmp_path / "evidence" / "0b7c7c35-0000-4000-8000-000000000000"
    orphan.mkdir()
    (orphan / "frame.jpg").write_bytes(b"x")
    os.utime(orphan, (1, 1))  # older than the grace period (a crash long ago)
    open_box(tmp_path)
    assert not orphan.exists()


WRITER = """
import sys
from pathlib import Path
from detector.edge.delivery.outbox import Outbox
from detector.events import Heartbeat
from tests.edge.conftest import make_event
root = Path(sys.argv[1])
box = Outbox(root / "outbox.sqlite3", root / "evidence", 50, sinks=("http",))
while True:
    ev, files = make_event(frame_bytes=30_000)
    box.put_event(ev, files)
    print(ev.id, flush=True)  # only after put_event returned: the event is committed
    box.put_heartbeat(Heartbeat(device="tunnel-7"))
"""


def test_writer_killed_mid_write_loses_no_committed_event_and_leaves_a_sound_outbox(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    from tests.conftest import REPO

    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    committed = []
    assert proc.stdout is not None
    for line in proc.stdout:
        committed.append(line.strip())
        if len(committed) >= 25:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    committed += [line.strip() for line in proc.stdout.read().splitlines() if line.strip()]
    box = open_box(tmp_path)
    stored = {i.id: i for i in box.due("http", limit=10_000) if i.kind == "event"}
    assert set(committed) <= set(stored), "an event reported as stored is gone after kill -9"
    for item in stored.values():  # every stored event still has all its pictures, complete
        assert {n: len(p.read_bytes()) for n, p in item.files.items()}["frame.jpg"] == 30_000
    with sqlite3.connect(tmp_path / "outbox.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.parametrize(
    ("outbox", "evidence", "match"),
    [
        ("a-folder.sqlite3", "evidence", r"a-folder\.sqlite3: is a folder; delivery\.outbox_path must name"),
        ("afile/outbox.sqlite3", "evidence", r"afile: cannot create the outbox folder"),
        ("outbox.sqlite3", "afile", r"afile: cannot create the evidence folder"),
        ("outbox.sqlite3", "afile/evidence", r"afile/evidence: cannot create the evidence folder"),
    ],
    ids=["outbox-path-is-a-folder", "outbox-under-a-file", "evidence-is-a-file", "evidence-under-a-file"],
)
def test_unusable_outbox_paths_are_errors_naming_the_path_and_nothing_is_moved(
    tmp_path: Path, outbox: str, evidence: str, match: str
) -> None:
    from detector.edge.delivery.outbox import OutboxError

    (tmp_path / "a-folder.sqlite3").mkdir()
    (tmp_path / "a-folder.sqlite3" / "keep.txt").write_text("user data")
    (tmp_path / "afile").write_text("not a folder")
    with pytest.raises(OutboxError, match=match):
        Outbox(tmp_path / outbox, tmp_path / evidence, 10.0, sinks=("http",))
    assert (tmp_path / "a-folder.sqlite3" / "keep.txt").read_text() == "user data"
    assert not list(tmp_path.glob("*.corrupt-*"))
