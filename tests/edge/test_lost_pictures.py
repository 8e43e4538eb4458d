"""An event is never lost for a picture: gone pictures are dropped and named, the disk cap never takes
the pictures of an event being sent, rejected items come back by themselves, and a person can act
on the outbox (``graffiti edge outbox list|retry|drop``). Real SQLite, real HTTP, real CLI process."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from detector.config import from_mapping
from detector.edge.delivery.config import DeliveryConfig
from detector.edge.delivery.outbox import Outbox
from detector.edge.delivery.sender import Delivery, open_outbox
from tests.conftest import REPO
from tests.edge.conftest import make_event, wait_until
from tests.edge.receiver import ReviewReceiver


def http_config(tmp_path: Path, url: str, token: str, **extra: Any) -> DeliveryConfig:
    data = {"retry_initial_s": 0.05, "retry_max_s": 0.2, "http": {"url": url, "token": token, "timeout_s": 5}}
    data.update(extra)
    return from_mapping(DeliveryConfig, data, "delivery").resolved(tmp_path)


def test_missing_picture_is_dropped_and_named_and_the_event_is_delivered(
        tmp_path: Path, receiver: ReviewReceiver, caplog: pytest.LogCaptureFixture) -> None:
    cfg = http_config(tmp_path, receiver.url, receiver.token)
    outbox = open_outbox(cfg)
    ev, files = make_event()
    outbox.put_event(ev, files)
    (cfg.evidence_dir / ev.id / "frame.jpg").unlink()  # deleted by hand / a damaged card
    delivery = Delivery(cfg, outbox, "tunnel-7")
    with caplog.at_level(logging.WARNING, logger="detector.edge.outbox"):
        assert delivery.flush(5.0)
    got = receiver.events[ev.id]
    assert got["evidence"] == {"crop": "crop.jpg"} and got["evidence_dropped"] == ["frame"]
    assert "missing" in got["detail"]["evidence_dropped_reason"]
    assert receiver.files[ev.id] == {"crop.jpg": files["crop.jpg"]}
    assert outbox.counts()["http"] == {"pending": 0, "delivered": 1, "parked": 0}
    assert any(ev.id in r.getMessage() and "frame" in r.getMessage() for r in caplog.records)


def test_the_disk_cap_never_takes_the_pictures_of_an_event_being_sent(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.sqlite3", tmp_path / "evidence", 40_000 * 4 / 3 / 1048576, sinks=("http",))
    first, first_files = make_event(frame_bytes=15_000)
    box.put_event(first, first_files)
    (listed,) = box.due("http")
    held = box.claim(listed.seq, "http")  # the sender has it in hand
    assert held is not None and set(held.files) == {"frame.jpg", "crop.jpg"}
    second, second_files = make_event(frame_bytes=15_000)
    box.put_event(second, second_files)
    third, third_files = make_event(frame_bytes=15_000)
    box.put_event(third, third_files)  # needs room: without the hold, `first` (oldest) would lose its pictures
    assert {n: p.read_bytes() for n, p in held.files.items()} == first_files
    items = {i.id: i for i in box.due("http")}
    assert items[second.id].payload["evidence_dropped"] == ["crop", "frame"]  # the next oldest paid instead
    box.mark_delivered(held.seq, "http")  # sent: now the cap may take it
    fourth, fourth_files = make_event(frame_bytes=15_000)
    box.put_event(fourth, fourth_files)
    assert first.id not in box.item_ids() and not (tmp_path / "evidence" / first.id).exists()


def test_a_hold_expires_so_a_crashed_sender_does_not_pin_pictures_forever(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.sqlite3", tmp_path / "evidence", 40_000 * 4 / 3 / 1048576, sinks=("http",))
    first, first_files = make_event(frame_bytes=15_000)
    box.put_event(first, first_files)
    (listed,) = box.due("http")
    assert box.claim(listed.seq, "http", lease_s=-1.0) is not None  # a hold that has already run out
    for _ in range(2):
        ev, files = make_event(frame_bytes=15_000)
        box.put_event(ev, files)
    assert {i.id: i for i in box.due("http")}[first.id].payload["evidence_dropped"] == ["crop", "frame"]


def test_a_rejected_event_is_retried_automatically_with_backoff(tmp_path: Path, receiver: ReviewReceiver,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    cfg = http_config(tmp_path, receiver.url, receiver.token, parked_retry_s=1.0, parked_retry_max_s=60.0)
    outbox = open_outbox(cfg)
    ev, files = make_event()
    receiver.fail_next.extend([(422, {}), (422, {})])  # rejected twice (e.g. an older server), then fixed
    outbox.put_event(ev, files)
    delivery = Delivery(cfg, outbox, "tunnel-7", seed=1)
    with caplog.at_level(logging.ERROR, logger="detector.edge.delivery"):
        delivery.start()
        try:
            assert wait_until(lambda: outbox.counts()["http"]["parked"] == 1, 5.0)
            assert wait_until(lambda: ev.id in receiver.events, 15.0), outbox.counts()
        finally:
            delivery.stop(5.0)
    assert outbox.counts()["http"] == {"pending": 0, "delivered": 1, "parked": 0}
    waits = [r.getMessage() for r in caplog.records if "REJECTED" in r.getMessage()]
    assert len(waits) == 2 and "in 1 s" in waits[0] and "in 2 s" in waits[1], waits  # the wait doubles


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "detector", "edge", "outbox", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_outbox_cli_lists_retries_and_drops_parked_items(tmp_path: Path) -> None:
    from tests.edge.edge_models import redness_model

    toml = tmp_path / "edge.toml"
    toml.write_text(f"[device]\nname = 'tunnel-7'\ndata_dir = '{tmp_path / 'data'}'\n"
                    f"[model]\npath = '{redness_model(tmp_path / 'model.onnx')}'\n"
                    f"[cameras.north]\nsource = '{tmp_path}'\n"
                    "[delivery.http]\nurl = 'http://127.0.0.1:9'\ntoken = 'x'\n")
    assert run_cli("list", "--config", str(toml)).stderr.startswith("error: ")  # no outbox yet: one line
    cfg = from_mapping(DeliveryConfig, {"http": {"url": "http://127.0.0.1:9", "token": "x"}},
                       "delivery").resolved(tmp_path / "data")
    box = open_outbox(cfg)
    events = [make_event(frame_bytes=0)[0] for _ in range(3)]
    for ev in events:
        box.put_event(ev, {})
    for item in box.due("http")[:2]:
        box.mark_parked(item.seq, "http", "HTTP 422 evidence.frame: file 'frame.jpg' is not in the upload",
                        retry_at=1e18)
    box.close()

    listed = run_cli("list", "--config", str(toml), "--state", "parked")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == [events[0].id, events[1].id]
    assert "parked" in lines[0] and "HTTP 422" in lines[0]
    assert "1 pending, 2 parked" in lines[-1]

    retried = run_cli("retry", events[0].id[:8], "--config", str(toml))
    assert retried.returncode == 0 and retried.stdout.startswith("1 parked item(s) queued again"), retried
    dropped = run_cli("drop", events[1].id, "--config", str(toml))
    assert dropped.returncode == 0 and dropped.stdout.startswith("1 item(s) dropped"), dropped
    unknown = run_cli("drop", "ffffffff", "--config", str(toml))
    assert unknown.returncode == 2 and "ffffffff: expected the id" in unknown.stderr
    assert "Traceback" not in unknown.stderr

    box = open_outbox(cfg)
    assert box.item_ids() == [events[0].id, events[2].id]
    assert box.counts()["http"] == {"pending": 2, "delivered": 0, "parked": 0}
    box.close()
