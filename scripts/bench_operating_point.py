#!/usr/bin/env python3
"""Candidates at one operating point: each model at the threshold that flags as many clean camera views of a
matching set as the reference model does at its own threshold, then read on held-out views and on the real-walls
pieces.

A model's own threshold (chosen by the export's policy on its validation scores) mixes two things: how well the
network tells paint from clean walls, and where the policy put its cut. Reading every candidate at the same
false-positive count on one set separates them: what each then flags on held-out clean photos, and how many of
the paint-margin screen's real pieces (``bench_paint_margin.py``: walls 20-43 by default, colour and IR) it still
reads at or over that threshold, with the weakest as a multiple of it. The model card's version-10 section was
measured so.

    .venv/bin/python scripts/bench_operating_point.py --model models/graffiti-effnetlite0.onnx \\
        --model runs/v10ft/graffiti-effnetlite0.onnx --walls 24
    # matching set: street-graffiti validation views; held out: facades-spb test views (default --match / --test)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))


def threshold_for_false_positives(clean_scores: np.ndarray, n: int) -> float:
    """The threshold half-way between the n-th and (n+1)-th hottest clean view score: exactly ``n`` clean views
    score at or over it (ties at that boundary flag them all: then more than ``n``)."""
    s = np.sort(np.asarray(clean_scores, dtype=np.float64))[::-1]
    if len(s) == 0:
        raise ValueError("no clean views to match")
    if n <= 0:
        return float(np.nextafter(s[0], np.inf))
    if n >= len(s):
        return float(s[-1])
    return float((s[n - 1] + s[n]) / 2.0)


def rule_cells(t: float, match: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
               pieces: np.ndarray | None = None, walls: np.ndarray | None = None) -> list[str]:
    """The figures of one rule at threshold ``t`` (shared by bench_context.py and bench_pair.py): clean views
    flagged / graffiti views caught on the matching set, held-out clean views flagged, and (with the screen's
    readings) pieces at or over ``t`` with the weakest as a multiple of it, and clean walls with a tile over it.
    ``match`` and ``test`` are (view scores, labels)."""
    (sv, ly), (tv, ty) = match, test
    cells = [f"{int((sv[ly == 0] >= t).sum())}/{int((ly == 0).sum())} / {int((sv[ly == 1] >= t).sum())}/{int((ly == 1).sum())}",
             f"{int((tv[ty == 0] >= t).sum())}/{int((ty == 0).sum())}"]
    if pieces is None or walls is None or not len(pieces):
        return cells + ["-", "-"]
    weakest = max(float(pieces.min()), 0.0) / t if t > 0 else float("nan")
    return cells + [f"{int((pieces >= t).sum())}/{len(pieces)} ({weakest:.2f}x)", f"{int((walls >= t).sum())}/{len(walls)}"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, action="append", required=True,
                   help="an ONNX model (repeatable); the first is the reference")
    add_set_args(p)
    return p.parse_args(argv)


def add_set_args(p: argparse.ArgumentParser) -> None:
    """The matching set, the held-out set and the paint-margin screen (shared with bench_context.py)."""
    p.add_argument("--match", default="runs/default-data/street-graffiti.csv:val",
                   help="MANIFEST:SPLIT whose clean views set the false-positive count (default street validation)")
    p.add_argument("--test", default="runs/default-data/facades-spb.csv:test",
                   help="MANIFEST:SPLIT of held-out views read at the matched thresholds (default facades test)")
    p.add_argument("--walls", type=int, default=24, help="paint-margin walls (0 = no screen)")
    p.add_argument("--first", type=int, default=20, help="first paint-margin wall (default 20, as bench_paint_margin)")
    p.add_argument("--data", type=Path, default=REPO / "runs" / "default-data")


def _samples(spec: str) -> list:  # type: ignore[type-arg]
    from detector.data.manifest import read_manifest

    path, _, split = spec.rpartition(":")
    if not path:
        path, split = spec, ""
    rows = read_manifest(path)
    return [s for s in rows if not split or s.split == split]


def load_sets(args: argparse.Namespace) -> tuple[list, list] | None:  # type: ignore[type-arg]
    """The --match and --test samples, or None after a one-line error (unreadable manifest, no clean photos)."""
    from detector.errors import DetectorError

    try:
        match, test = _samples(args.match), _samples(args.test)
    except (DetectorError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    if not any(s.label == 0 for s in match):
        print(f"error: --match {args.match}: no clean photos in that split", file=sys.stderr)
        return None
    return match, test


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for m in args.model:
        if not m.is_file():
            print(f"error: --model {m} not found", file=sys.stderr)
            return 2
    from detector.train.scorers import open_scorer
    from detector.train.viewlevel import score_views, view_metrics

    sets = load_sets(args)
    if sets is None:
        return 2
    match, test = sets
    rows = []
    for m in args.model:
        scorer = open_scorer(m)
        mv = score_views(match, [scorer], description=f"{m.parent.name}: matching views")[0]
        tv = score_views(test, [scorer], description=f"{m.parent.name}: held-out views")[0]
        rows.append({"model": m, "threshold": float(scorer.meta.threshold), "match": mv, "test": tv})
    ref = rows[0]
    n_fp = view_metrics(ref["match"].labels, ref["match"].scores, ref["threshold"]).false_positives
    for r in rows:
        mv = r["match"]
        r["at"] = threshold_for_false_positives(mv.scores[mv.labels == 0], n_fp)
    pieces: dict[int, list[tuple[float, float]]] = {k: [] for k in range(len(rows))}
    if args.walls:
        import bench_paint_margin as bpm

        from detector.onnxmodel import ModelSession

        sessions = [ModelSession(m, threads=2) for m in args.model]
        idx = list(range(args.first, args.first + args.walls))
        for reading in bpm.readings(sessions, args.data, idx):
            for k, (pa, _, wall) in enumerate(reading.per_model):
                pieces[k].append((pa, wall))
    print(f"operating point: the threshold at which each model flags {n_fp} clean views of {args.match} "
          f"(what {ref['model']} flags at its own {ref['threshold']:.3f})")
    print("model | own threshold | matched threshold | matching set: clean views flagged / graffiti views caught | "
          f"held-out {args.test}: clean views flagged | screen pieces at/over (weakest) | clean screen walls with a tile over")
    for k, r in enumerate(rows):
        t = r["at"]
        mv = view_metrics(r["match"].labels, r["match"].scores, t)
        tv = view_metrics(r["test"].labels, r["test"].scores, t)
        screen = "-"
        if pieces[k]:
            pa = [p for p, _ in pieces[k]]
            screen = (f"{sum(p >= t for p in pa)}/{len(pa)} ({min(pa) / t:.2f}x) | "
                      f"{sum(w >= t for _, w in pieces[k])}/{len(pa)}")
        print(f"{r['model']} | {r['threshold']:.3f} | {t:.3f} | {mv.false_positives}/{mv.n_clean} / "
              f"{mv.detected}/{mv.n_graffiti} | {tv.false_positives}/{tv.n_clean} | {screen}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
