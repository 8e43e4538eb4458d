"""End-to-end delivery: outbox → sender thread(s) → real receivers, across outages and kill -9."""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from detector.config import from_mapping
from detector.edge.delivery.config import DeliveryConfig
from detector.edge.delivery.outbox import Outbox
from detector.edge.delivery.sender import Delivery, backoff_s, open_outbox
from detector.edge.delivery.sinks import TransientSinkError
from detector.events import Heartbeat
from tests.conftest import REPO
from tests.edge.conftest import make_event, wait_until
from tests.edge.receiver import ReviewReceiver


def http_config(tmp_path: Path, url: str, token: str, **extra: Any) -> DeliveryConfig:
    data = {"retry_initial_s": 0.05, "retry_max_s": 0.2, "http": {"url": url, "token": token, "timeout_s": 5}}
    data.update(extra)
    return from_mapping(DeliveryConfig, data, "delivery").resolved(tmp_path)


def test_server_down_then_up_delivers_every_event_exactly_once(tmp_path: Path, receiver: ReviewReceiver) -> None:
    cfg = http_config(tmp_path, receiver.url, receiver.token)
    outbox = open_outbox(cfg)
    delivery = Delivery(cfg, outbox, device="tunnel-7", seed=1)
    receiver.stop()  # the server is down before anything is sent
    delivery.start()
    ids = []
    for _ in range(8):
        ev, files = make_event()
        outbox.put_event(ev, files)
        ids.append(ev.id)
    outbox.put_heartbeat(Heartbeat(device="tunnel-7"))
    assert wait_until(lambda: sum(c["pending"] for c in outbox.counts().values()) == 9
                      and any(i.attempts for i in outbox.due("http", now=1e18)), 5.0), "sender never tried"
    assert outbox.depth() == 9  # failures keep everything queued
    receiver.start()  # back up on the same port
    assert delivery.flush(15.0), f"not delivered: {outbox.counts()}"
    delivery.stop(5.0)
    assert sorted(receiver.events) == sorted(ids)
    assert all(receiver.creates[i] == 1 for i in ids)
    assert len(receiver.heartbeats) == 1
    assert all(receiver.files[i]["frame.jpg"].startswith(b"\xff\xd8") for i in ids)


def test_sender_killed_mid_send_and_restarted_delivers_each_event_exactly_once(tmp_path: Path, receiver: ReviewReceiver) -> None:
    cfg = http_config(tmp_path, receiver.url, receiver.token)
    outbox = open_outbox(cfg)
    ids = []
    for _ in range(12):
        ev, files = make_event()
        outbox.put_event(ev, files)
        ids.append(ev.id)
    outbox.close()
    receiver.hold_s = 0.3  # the server stores the event, then holds its answer: a kill now loses the 2xx
    cmd = [sys.executable, "-m", "tests.edge.sender_proc", str(tmp_path), receiver.url, receiver.token]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert wait_until(lambda: len(receiver.events) >= 4 and receiver.holding.is_set(), 20.0), "sender made no progress"
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    stored_before_restart = len(receiver.events)
    assert stored_before_restart < len(ids), "the kill came too late to be mid-send"
    receiver.hold_s = 0.0
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert sorted(receiver.events) == sorted(ids), "an event was lost"
    assert max(receiver.creates.values()) == 1, "an event was stored twice"
    assert receiver.duplicates >= 1  # the in-flight event was resent and recognised by id
    reopened = open_outbox(cfg)
    assert reopened.depth() == 0


class FlakySink:
    """A sink whose availability the test switches; records what it accepted."""

    def __init__(self, name: str, up: bool = True, hang_s: float = 0.0) -> None:
        self.name = name
        self.up = up
        self.hang_s = hang_s
        self.got: list[str] = []
        self.calls = 0
        self.closed = False

    def send_event(self, event: dict[str, Any], files: dict[str, Path]) -> None:
        self.calls += 1
        if self.hang_s:
            time.sleep(self.hang_s)
        if not self.up:
            raise TransientSinkError(f"{self.name} is down")
        self.got.append(event["id"])

    def send_heartbeat(self, heartbeat: dict[str, Any]) -> None:
        self.send_event({"id": "hb"}, {})

    def close(self) -> None:
        self.closed = True


def test_a_failing_or_hanging_sink_does_not_block_the_others(tmp_path: Path, receiver: ReviewReceiver) -> None:
    cfg = http_config(tmp_path, receiver.url, receiver.token)
    outbox = Outbox(cfg.outbox_path, cfg.evidence_dir, 10, sinks=("http", "down", "slow"))
    from detector.edge.delivery.sinks import HttpSink

    assert cfg.http is not None
    down, slow = FlakySink("down", up=False), FlakySink("slow", hang_s=1.0)
    delivery = Delivery(cfg, outbox, "tunnel-7", sinks=[HttpSink(cfg.http), down, slow])
    delivery.start()
    ids = []
    for _ in range(3):
        ev, files = make_event()
        outbox.put_event(ev, files)
        ids.append(ev.id)
    assert wait_until(lambda: sorted(receiver.events) == sorted(ids), 2.0), "http waited for another sink"
    assert slow.got == [] and down.got == []
    assert outbox.counts()["down"]["pending"] == 3
    down.up = True
    assert wait_until(lambda: sorted(down.got) == sorted(ids), 5.0)  # backoff is capped at retry_max_s=0.2
    delivery.stop(5.0)
    assert down.closed and slow.closed


def test_permanently_rejected_event_is_parked_loudly_and_the_queue_moves_on(tmp_path: Path, receiver: ReviewReceiver,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    cfg = http_config(tmp_path, receiver.url, receiver.token)
    outbox = open_outbox(cfg)
    delivery = Delivery(cfg, outbox, "tunnel-7")
    bad, bad_files = make_event()
    good, good_files = make_event()
    receiver.fail_next.append((422, {}))
    outbox.put_event(bad, bad_files)
    outbox.put_event(good, good_files)
    with caplog.at_level(logging.ERROR, logger="detector.edge.delivery"):
        delivery.start()
        assert delivery.flush(5.0)
        delivery.stop(5.0)
    assert list(receiver.events) == [good.id]
    assert outbox.counts()["http"] == {"pending": 0, "delivered": 1, "parked": 1}
    assert any("REJECTED" in r.getMessage() and bad.id in r.getMessage() for r in caplog.records)


def test_flush_returns_false_when_the_server_stays_down(tmp_path: Path, receiver: ReviewReceiver) -> None:
    cfg = http_config(tmp_path, receiver.url, receiver.token)
    receiver.stop()
    outbox = open_outbox(cfg)
    delivery = Delivery(cfg, outbox, "tunnel-7")
    delivery.start()
    ev, files = make_event()
    outbox.put_event(ev, files)
    t0 = time.monotonic()
    assert delivery.flush(0.5) is False
    assert time.monotonic() - t0 < 2.0
    assert delivery.stop(5.0)
    assert outbox.depth() == 1


def test_flush_without_start_delivers_in_the_calling_thread(tmp_path: Path, receiver: ReviewReceiver) -> None:
    cfg = http_config(tmp_path, receiver.url, receiver.token)
    outbox = open_outbox(cfg)
    delivery = Delivery(cfg, outbox, "tunnel-7")
    ev, files = make_event()
    outbox.put_event(ev, files)
    assert delivery.flush(5.0)
    assert list(receiver.events) == [ev.id]


class PoisonSink(FlakySink):
    """Fails one event id transiently, accepts everything else."""

    def __init__(self, poison: str) -> None:
        super().__init__("poison")
        self.poison = poison
        self.poison_calls = 0

    def send_event(self, event: dict[str, Any], files: dict[str, Path]) -> None:
        if event["id"] == self.poison:
            self.poison_calls += 1
            raise TransientSinkError("HTTP 500 for this one")
        self.got.append(event["id"])


def test_an_item_that_keeps_failing_backs_off_even_while_others_succeed(tmp_path: Path) -> None:
    cfg = from_mapping(DeliveryConfig, {"retry_initial_s": 0.05, "retry_max_s": 5}, "delivery").resolved(tmp_path)
    outbox = Outbox(cfg.outbox_path, cfg.evidence_dir, 10, sinks=("poison",))
    bad, bad_files = make_event(frame_bytes=0)
    outbox.put_event(bad, bad_files)
    sink = PoisonSink(bad.id)
    delivery = Delivery(cfg, outbox, "tunnel-7", sinks=[sink], seed=3)
    delivery.start()
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:  # a steady stream of good events resets the sink's failure count
        ev, files = make_event(frame_bytes=0)
        outbox.put_event(ev, files)
        time.sleep(0.03)
    delivery.stop(5.0)
    assert len(sink.got) >= 20  # the others flowed
    # exponential per-item backoff from 0.05 s: about 6 tries in 1.5 s (without it: one per success)
    assert 2 <= sink.poison_calls <= 12, sink.poison_calls


@pytest.mark.parametrize("failures", [1, 2, 5, 30], ids=["first", "second", "fifth", "thirtieth"])
def test_backoff_is_full_jitter_bounded_by_the_exponential_cap(failures: int) -> None:
    rng = random.Random(0)
    cap = min(300.0, 2.0 * 2 ** (failures - 1))
    delays = [backoff_s(failures, 2.0, 300.0, rng) for _ in range(500)]
    assert all(0.2 <= d <= cap for d in delays)
    assert max(delays) > 0.8 * cap and min(delays) < max(0.2 * cap, 0.25)  # spread over the whole range


def test_delivery_modules_do_not_import_torch() -> None:
    code = ("import sys, detector.edge.delivery.sender, detector.edge.delivery.mqtt, detector.edge.delivery.outbox; "
            "from detector.edge.delivery.sender import build_sinks; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
