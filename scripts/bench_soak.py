#!/usr/bin/env python3
"""Soak test of the edge runner: is anything growing over hours? (RSS, open files, threads, disk)

Runs the real ``graffiti edge run`` process in real time on watched-folder cameras that receive a new
image every second (graffiti painted and cleaned now and then; old images deleted, as an uploader
would), delivering to a local HTTP receiver and the local-folder sink with small disk caps so the
pruning paths run too. Every ``--sample-s`` it prints the runner's RSS, open files, threads and the
disk used by its data folder; at the end a summary with the growth per hour after a warm-up.

    .venv/bin/python scripts/bench_soak.py               # one hour (the issue's soak)
    .venv/bin/python scripts/bench_soak.py --minutes 5   # a short look

Prints figures; asserts nothing (timing and growth goals are not tests).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.edge.receiver import ReviewReceiver  # noqa: E402


def proc_figures(pid: int) -> tuple[float, int, int]:
    """(RSS MiB, open files, threads) of a process and its children (capture processes)."""
    pids = [pid]
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(k) for k in kids]
    except OSError:
        pass
    rss_kb, fds, threads = 0, 0, 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss_kb += int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads += int(line.split()[1])
            fds += len(os.listdir(f"/proc/{p}/fd"))
        except OSError:
            continue
    return rss_kb / 1024.0, fds, threads


def disk_mb(folder: Path) -> float:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for f in files:
            with contextlib.suppress(OSError):  # removed while we looked
                total += os.stat(os.path.join(root, f)).st_size
    return total / 1048576.0


def feeder(folders: list[Path], stop: threading.Event, period_s: float) -> None:
    """Write one JPEG a second per camera (paint on for 3 min every 10 min), delete those older than 60 s."""
    import cv2

    rng = np.random.default_rng(7)
    base = np.clip(120 + rng.normal(0, 18, (480, 640, 3)), 0, 255).astype(np.uint8)
    n = 0
    started = time.time()
    while not stop.is_set():
        minute = (time.time() - started) / 60.0
        img = base.copy()
        if minute % 10 < 3:
            cv2.putText(img, "TAG", (180, 300), cv2.FONT_HERSHEY_SIMPLEX, 5, (30, 30, 220), 25)
        for folder in folders:
            p = folder / f"img_{n:08d}.jpg"
            cv2.imwrite(str(p.with_suffix(".tmp.jpg")), img)
            os.replace(p.with_suffix(".tmp.jpg"), p)
            old = folder / f"img_{n - 60:08d}.jpg"
            old.unlink(missing_ok=True)
        n += 1
        stop.wait(period_s)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0, help="How long to run (default 60).")
    ap.add_argument("--sample-s", type=float, default=30.0, help="Seconds between samples (default 30).")
    ap.add_argument("--cameras", type=int, default=2)
    ap.add_argument("--model", type=Path, default=REPO / "models" / "graffiti-effnetlite0.onnx")
    args = ap.parse_args()
    if not args.model.is_file():
        print(f"error: --model: {args.model} not found", file=sys.stderr)
        return 2
    rx = ReviewReceiver().start()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        root = Path(tmp)
        folders = [root / f"cam{i}" for i in range(args.cameras)]
        for f in folders:
            f.mkdir()
        cams = "".join(f"[cameras.cam{i}]\nsource = '{f}'\ninterval_s = 2\n" for i, f in enumerate(folders))
        toml = root / "edge.toml"
        toml.write_text(
            f"[device]\nname = 'soak'\ndata_dir = '{root / 'data'}'\nheartbeat_interval_s = 10\n"
            f"[model]\npath = '{args.model}'\nthreads = 1\n{cams}"
            "[defaults.decision]\nconfirm_s = 20\nclean_s = 60\n"
            f"[delivery]\nmax_disk_mb = 20\n[delivery.http]\nurl = '{rx.url}'\ntoken = '{rx.token}'\n"
            "[delivery.local]\ndir = 'events'\nmax_disk_mb = 5\n")
        stop = threading.Event()
        feed = threading.Thread(target=feeder, args=(folders, stop, 1.0), daemon=True)
        feed.start()
        log = open(root / "runner.log", "w")  # noqa: SIM115 (closed below)
        proc = subprocess.Popen([sys.executable, "-m", "detector", "edge", "run", "--config", str(toml)],
                                cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        rows: list[tuple[float, float, int, int, float]] = []
        t0 = time.monotonic()
        end = t0 + args.minutes * 60.0
        print(f"soak: {args.cameras} watched-folder camera(s), 1 image/s each, {args.minutes:g} min; "
              f"runner pid {proc.pid}", flush=True)
        print(f"{'min':>6} {'rss_mib':>8} {'fds':>5} {'threads':>7} {'disk_mib':>8} {'events_rx':>9}", flush=True)
        try:
            while time.monotonic() < end and proc.poll() is None:
                time.sleep(min(args.sample_s, max(0.0, end - time.monotonic())))
                rss, fds, threads = proc_figures(proc.pid)
                disk = disk_mb(root / "data")
                minute = (time.monotonic() - t0) / 60.0
                rows.append((minute, rss, fds, threads, disk))
                print(f"{minute:6.1f} {rss:8.1f} {fds:5d} {threads:7d} {disk:8.2f} {len(rx.events):9d}", flush=True)
        finally:
            stop.set()
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
            log.close()
            rx.stop()
        print(f"runner exit status {proc.returncode}")
        summarize(rows)
    return 0


def summarize(rows: list[tuple[float, float, int, int, float]]) -> None:
    if len(rows) < 3:
        print("too few samples for a trend (run longer)")
        return
    warm = [r for r in rows if r[0] >= rows[-1][0] * 0.2] or rows  # skip the first fifth (warm-up)
    minutes = np.array([r[0] for r in warm])
    names = ("rss_mib", "fds", "threads", "disk_mib")
    print("summary (after the first fifth as warm-up): first, last, max, least-squares growth per hour")
    for k, name in enumerate(names, start=1):
        values = np.array([float(r[k]) for r in warm])
        slope = float(np.polyfit(minutes, values, 1)[0]) * 60.0 if np.ptp(minutes) > 0 else 0.0
        print(f"  {name:9s} {values[0]:9.2f} {values[-1]:9.2f} {values.max():9.2f} {slope:+9.3f}/h")


if __name__ == "__main__":
    sys.exit(main())
