#!/usr/bin/env python3
"""Review service throughput: ingest latency over real HTTP and page render time with many alerts.

Starts ``graffiti review serve`` on a free 127.0.0.1 port over a fresh data folder, posts N events
(frame + crop JPEGs, ~40 KB) one after another, then times the queue and detail pages.
With ``--compare-durability`` it runs twice: as shipped (evidence fsync'd, SQLite synchronous=FULL
before the 201) and with the hidden ``--no-fsync`` (what durability costs). ``--db URL`` runs it on
another database (e.g. PostgreSQL). Prints figures; asserts nothing.
Example: scripts/bench_review.py --events 200 --compare-durability
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--compare-durability", action="store_true",
                    help="also run with --no-fsync and print the ratio")
    ap.add_argument("--db", default=None, help="database URL of a THROWAWAY database (its tables are dropped first); "
                    "default: SQLite in a temporary data folder")
    args = ap.parse_args()
    import os

    if args.db:
        os.environ["GRAFFITI_REVIEW_TEST_DB"] = args.db
    rates = {}
    for mode in (["durable", "no-fsync"] if args.compare_durability else ["durable"]):
        print(f"== {mode} ({args.db or 'SQLite'})")
        rates[mode] = run(args.events, [] if mode == "durable" else ["--no-fsync"])
    if len(rates) == 2:
        (d_rate, d_p50), (f_rate, f_p50) = rates["durable"], rates["no-fsync"]
        print(f"durability costs: {d_rate:.1f} vs {f_rate:.1f} events/s ({d_rate / f_rate:.2f}x), "
              f"p50 {d_p50:.1f} vs {f_p50:.1f} ms (+{d_p50 - f_p50:.1f} ms)")


def run(n_events: int, extra: list[str]) -> tuple[float, float]:
    """One run; returns (events/s, p50 ms)."""

    class args:  # noqa: N801 - keeps the body below as it was
        events = n_events

    import httpx

    from tests.review.conftest import PASSWORD, make_site
    from tests.review.helpers import detection, post_event, sign_in, start_server

    with tempfile.TemporaryDirectory() as tmp:
        site = make_site(Path(tmp) / "data")
        server = start_server(site.data, *extra)
        try:
            payloads = [detection(camera="north" if i % 2 else "south", seed=i % 8) for i in range(args.events)]
            with httpx.Client(base_url=server.url, timeout=30) as c:
                lat = []
                t0 = time.perf_counter()
                for ev, files in payloads:
                    t = time.perf_counter()
                    r = post_event(c, site.token, ev, files)
                    lat.append((time.perf_counter() - t) * 1000)
                    if r.status_code != 201:
                        raise SystemExit(f"unexpected {r.status_code}: {r.text}")
                total = time.perf_counter() - t0
                dup = []
                for ev, files in payloads[:50]:
                    t = time.perf_counter()
                    post_event(c, site.token, ev, files)
                    dup.append((time.perf_counter() - t) * 1000)
                sign_in(c, "alice", PASSWORD)
                pages = {}
                for name, path in (("queue (newest)", "/queue"), ("queue (score)", "/queue?sort=score"),
                                   ("event detail", f"/events/{payloads[-1][0]['id']}"), ("cameras", "/cameras")):
                    times = []
                    for _ in range(10):
                        t = time.perf_counter()
                        assert c.get(path).status_code == 200
                        times.append((time.perf_counter() - t) * 1000)
                    pages[name] = statistics.median(times)
            size_kb = sum(len(d) for _, d in payloads[0][1]) / 1024
            q = statistics.quantiles(lat, n=20)
            print(f"events posted: {args.events} (evidence {size_kb:.0f} KB each), {args.events / total:.1f} events/s")
            print(f"ingest latency ms: p50 {statistics.median(lat):.1f}  p95 {q[18]:.1f}  max {max(lat):.1f}")
            print(f"duplicate replay latency ms: p50 {statistics.median(dup):.1f}")
            for name, ms in pages.items():
                print(f"page {name} with {args.events} open alerts: {ms:.1f} ms (median of 10)")
            return args.events / total, statistics.median(lat)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
