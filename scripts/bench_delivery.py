#!/usr/bin/env python3
"""Outbox and delivery figures: put_event latency (fsync'd evidence + commit) and the drain rate after
an outage, to a local HTTP receiver on 127.0.0.1 and to the local-folder sink.

    .venv/bin/python scripts/bench_delivery.py --events 200 --frame-kb 150

Prints figures; asserts nothing (timing goals are not tests).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector.config import from_mapping  # noqa: E402
from detector.edge.delivery.config import DeliveryConfig  # noqa: E402
from detector.edge.delivery.sender import Delivery, open_outbox  # noqa: E402
from tests.edge.conftest import make_event  # noqa: E402
from tests.edge.receiver import ReviewReceiver  # noqa: E402


def bench(events: int, frame_kb: int, sink: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rx = ReviewReceiver().start() if sink == "http" else None
        table = {"http": {"url": rx.url, "token": rx.token}} if rx else {"local": {"dir": "events"}}
        cfg = from_mapping(DeliveryConfig, {"retry_initial_s": 0.05, "retry_max_s": 0.5, **table}, "delivery")
        cfg = cfg.resolved(Path(tmp))
        outbox = open_outbox(cfg)
        put_ms = []
        for _ in range(events):
            ev, files = make_event(frame_bytes=frame_kb * 1024)
            t0 = time.perf_counter()
            outbox.put_event(ev, files)
            put_ms.append((time.perf_counter() - t0) * 1000)
        delivery = Delivery(cfg, outbox, "bench")
        t0 = time.perf_counter()
        delivery.start()  # everything queued while "the network was down" drains now
        ok = delivery.flush(600)
        drain_s = time.perf_counter() - t0
        delivery.stop(5)
        q = statistics.quantiles(put_ms, n=20)
        print(f"{sink:5s}: {events} events x {frame_kb} kB frame: put_event p50 {statistics.median(put_ms):.2f} ms, "
              f"p95 {q[18]:.2f} ms; drained in {drain_s:.2f} s = {events / drain_s:.0f} events/s; "
              f"all delivered: {ok}" + (f", stored once each: {max(rx.creates.values()) == 1}" if rx else ""))
        outbox.close()
        if rx:
            rx.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--frame-kb", type=int, default=150)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for sink in ("http", "local"):
        bench(args.events, args.frame_kb, sink)


if __name__ == "__main__":
    main()
