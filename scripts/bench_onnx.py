#!/usr/bin/env python3
"""Time exported models (e.g. fp32 vs int8) with onnxruntime: milliseconds per image at a batch size.

Prints one line per model; compare figures only from one run on one machine.
Example: .venv/bin/python scripts/bench_onnx.py models/graffiti-default.onnx models/graffiti-default-int8.onnx --threads 1
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def bench(path: Path, batch: int, threads: int, seconds: float) -> tuple[float, int]:
    from detector.onnxmodel import meta_from_session, open_session

    sess = open_session(path, threads)  # the session options the edge and evaluation use
    meta = meta_from_session(sess, str(path))
    h, w = meta.input_size
    x = np.random.default_rng(0).standard_normal((batch, 3, h, w)).astype(np.float32)
    sess.run(["score"], {"input": x})  # warm-up
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        sess.run(["score"], {"input": x})
        runs += 1
    return (time.perf_counter() - start) / (runs * batch) * 1000.0, runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    base = None
    for path in args.models:
        ms, runs = bench(path, args.batch, args.threads, args.seconds)
        base = base or ms
        print(f"{path.name}: {ms:.2f} ms/image (batch {args.batch}, {args.threads} thread(s), {runs} runs, "
              f"{base / ms:.2f}x vs first, {path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
