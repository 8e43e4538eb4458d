#!/usr/bin/env python3
"""Compressed frames: how a model reads the real-walls pieces when the camera's stream is JPEG-compressed.

For each wall of ``scripts/bench_real_walls.py`` (the same held-out clean photos, graffiti photos, seeds and day)
this renders the camera frame five minutes after the piece is finished (sensor noise and the day's light
included, no people), compresses it at each ``--quality`` (plus uncompressed), cuts it into the edge's tiles
and prints the hottest tile over the piece; then, per quality, how many pieces read at or over the model's
threshold and the median loss against the uncompressed frame. A single-frame screen: no wall model, no
temporal logic (``bench_real_walls.py --jpeg Q`` runs the whole edge on a compressed stream).

    .venv/bin/python scripts/bench_compression.py                          # walls 0-67, q 70 / 50 / 30
    .venv/bin/python scripts/bench_compression.py --quality 90 --quality 60 --model runs/v5/graffiti-effnetlite0.onnx
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=REPO / "models" / "graffiti-effnetlite0.onnx")
    p.add_argument("--quality", type=int, action="append", metavar="Q",
                   help="JPEG quality to compare with the uncompressed frame (repeatable; default 70, 50, 30)")
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--walls", type=int, default=68)
    p.add_argument("--after-s", type=float, default=300.0, help="seconds after the piece is finished (default 300)")
    p.add_argument("--data", type=Path, default=REPO / "runs" / "default-data")
    args = p.parse_args(argv)
    args.quality = args.quality or [70, 50, 30]
    for q in args.quality:
        if not 1 <= q <= 100:
            p.error(f"--quality {q}: expected a JPEG quality from 1 to 100")
    return args


def piece_score(model, frame: np.ndarray, box: tuple[int, int, int, int]) -> float:  # type: ignore[no-untyped-def]
    """The hottest edge tile (sized to the frame) that overlaps ``box``."""
    from bench_real_walls import overlaps

    from detector.edge.score import score_image

    tiles, scores = score_image(model, frame, None, 0.25)
    return max(s for t, s in zip(tiles, scores, strict=True) if overlaps(t.xyxy, box))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import bench_real_walls as brw

    if not args.model.is_file():
        print(f"error: --model {args.model} not found", file=sys.stderr)
        return 2
    if not (brw.SHARED / "street-graffiti").is_dir() or not (brw.SHARED / "facades-spb").is_dir():
        print(f"error: the real photos are not at {brw.SHARED} (street-graffiti, facades-spb)", file=sys.stderr)
        return 2
    from detector.data.sim.photowall import PhotoWallStream
    from detector.data.synth.camera import burn_and_compress
    from detector.onnxmodel import ModelSession
    from detector.preprocess import read_image

    model = ModelSession(args.model, threads=2)
    thr = model.meta.threshold
    walls, paints, posters = brw.pick_sources(args.data)
    idx = list(range(args.first, min(args.first + args.walls, len(walls))))
    qualities: list[int | None] = [None, *args.quality]
    print(f"compression: {len(idx)} walls, frame {args.after_s:g} s after each piece is finished; model "
          f"{args.model} (threshold {thr:.3f})")
    print("wall  " + "  ".join(f"{'plain' if q is None else f'q{q}':>6}" for q in qualities))
    rows = []
    for i in idx:
        wall, paint = read_image(walls[i]), read_image(paints[i % len(paints)])
        if wall is None or paint is None:
            continue
        fixtures = [im for im in (read_image(p) for p in brw.wall_posters(posters, i)) if im is not None]
        stream = PhotoWallStream(wall, [paint], fixtures, seed=1000 + i, fps=0.2)
        truth = stream.day.paint[0]
        frame = stream.frame_at(truth.finished_s + args.after_s, people=False)  # rendered once, then compressed
        box = tuple(truth.box)
        row = [piece_score(model, frame if q is None else burn_and_compress(frame.copy(), None, q), box)  # type: ignore[arg-type]
               for q in qualities]
        rows.append(row)
        print(f"{i:4d}  " + "  ".join(f"{v:5.2f}{'*' if v < thr else ' '}" for v in row), flush=True)
    r = np.array(rows)
    print("(* = the piece reads under the threshold)")
    for j, q in enumerate(qualities):
        loss = "" if j == 0 else f", median loss {np.median(r[:, 0] - r[:, j]):+.3f}, largest {np.max(r[:, 0] - r[:, j]):+.3f}"
        print(f"{'uncompressed' if q is None else f'JPEG q{q}'}: {int((r[:, j] >= thr).sum())}/{len(r)} pieces at/over "
              f"the threshold{loss}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
