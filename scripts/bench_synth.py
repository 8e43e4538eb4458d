#!/usr/bin/env python
"""Benchmark synthetic scene rendering: images per second on one core (CPU time and wall time).

Usage: OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_synth.py [--n 100] [--size 320] [--sheet PNG]
       OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_synth.py --stream [--n 100]
The goals: >= 20 images/s at 320×320 on one core; the simulated stream renders 1280×720 frames
faster than real time. CPU time is reported beside wall time because the machine may be shared;
the CPU figure is the one that says what one core can do.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")


def write_sheet(path: str, seed: int, size: int, count: int = 32) -> None:
    """Contact sheet of dataset images 0..count-1 of ``seed`` (half graffiti), captioned label/kind/view."""
    from detector.data.contact import contact_sheet, write_png
    from detector.data.synth import render_scene
    from detector.data.synth.dataset import scene_seed

    items = []
    for i in range(count):
        s = render_scene(scene_seed(seed, i), size, graffiti=i % 2 == 0)
        label = "GRAFFITI" if s.label else "clean"
        items.append((s.image, f"{label} {s.kind} | {s.info['view']} {s.info['wall']} {s.info['light']}"))
    write_png(path, contact_sheet(items, cols=8, cell_px=size))
    print(f"contact sheet: {path}")


def _timed(fn, n: int) -> tuple[float, float]:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.process_time() - cpu0) / n, (time.perf_counter() - wall0) / n


def bench_stream(n: int, seed: int) -> None:
    """Frames of the default 10-minute script in sequence, and a 24-hour day sampled every few minutes."""
    from detector.data.sim.stream import TunnelStream

    fps = 10.0
    t0 = time.perf_counter()
    s = TunnelStream(seed, 600.0, fps=fps, size=(1280, 720))
    print(f"TunnelStream 1280x720, default script 10 min: set-up {time.perf_counter() - t0:.2f} s")
    start = s.timeline.incidents[0].start_s  # paint in progress: wall states change as it goes
    cpu, wall = _timed(lambda i: s.frame_at(start + i / fps), n)
    print(f"  sequential frames while paint goes on: {1 / cpu:.1f} frames/s per core (CPU, {1000 * cpu:.1f} ms/frame), "
          f"{1 / wall:.1f} frames/s wall; real time at {fps:g} fps = {fps * cpu:.2f} of a core")
    cpu, wall = _timed(lambda i: s.frame_at(100.0 + i / fps), n)
    print(f"  sequential frames, steady wall: {1 / cpu:.1f} frames/s per core (CPU, {1000 * cpu:.1f} ms/frame), "
          f"{1 / wall:.1f} frames/s wall")
    t0 = time.perf_counter()
    day = TunnelStream(seed, 86400.0, fps=1.0, size=(1280, 720), script="day")
    print(f"TunnelStream 1280x720, day script 24 h: set-up {time.perf_counter() - t0:.2f} s, "
          f"{len(day.timeline.passersby)} passers-by, {len(day.timeline.incidents)} incidents")
    step = 86400.0 / n
    cpu, wall = _timed(lambda i: day.frame_at(i * step), n)
    print(f"  random access, {n} samples {step:.0f} s apart: {1000 * cpu:.1f} ms/frame CPU, {1000 * wall:.1f} ms wall "
          f"(a sample every 5 s for 24 h = {86400 / 5 * cpu / 60:.1f} CPU-minutes)")


def main() -> None:
    import cv2

    cv2.setNumThreads(1)
    from detector.data.synth import render_scene

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sheet", help="also write a contact sheet of the first 32 scenes to this PNG")
    ap.add_argument("--stream", action="store_true", help="benchmark TunnelStream frames at 1280x720 instead")
    args = ap.parse_args()
    if args.stream:
        bench_stream(args.n, args.seed)
        return
    if args.sheet:
        write_sheet(args.sheet, args.seed, args.size)
    render_scene(10**9, args.size)  # warm-up: imports, noise bank
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(args.n):
        render_scene(args.seed + i, args.size)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    print(f"render_scene {args.size}x{args.size}: {args.n} images")
    print(f"  {args.n / cpu:.1f} images/s per core (CPU time, {1000 * cpu / args.n:.1f} ms/image)")
    print(f"  {args.n / wall:.1f} images/s wall clock ({os.cpu_count()} CPUs visible, load may be shared)")


if __name__ == "__main__":
    main()
