#!/usr/bin/env python3
"""Tiles and the camera's resolution: one model's view-level figures with photos shown as camera views of
several sizes, each cut into tiles of a given size (or sized to the frame, as the edge does by default).

A model's threshold and view-level figures are measured on 1280x720 views in 320-px tiles. A camera of
another resolution cut into the same 320-px tiles shows the model a different share of the wall per tile;
this prints what that does to the clean views flagged and the graffiti views caught at the model's own
threshold, next to tiles sized to the frame (``auto``: a ninth of its area, ``detector.tiling.tile_px_for``).

    .venv/bin/python scripts/bench_tile_size.py --view 1280x720:auto --view 1920x1080:320 --view 1920x1080:auto
    # default sets: street-graffiti validation views, facades-spb test views (runs/default-data manifests)

For pieces smaller than the frame (the real-walls pieces) use ``scripts/bench_paint_margin.py --tile-px``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))


def parse_view(text: str) -> tuple[int, int, int | None]:
    """``WIDTHxHEIGHT:TILE`` (TILE a number of pixels or ``auto``) → (width, height, tile or None)."""
    size, _, tile = text.partition(":")
    try:
        w, h = (int(v) for v in size.lower().split("x"))
        t = None if tile in ("", "auto") else int(tile)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--view {text}: expected WIDTHxHEIGHT:TILE, e.g. 1920x1080:auto or "
                                         "1920x1080:320") from None
    if min(w, h) < 16 or (t is not None and t < 16):
        raise argparse.ArgumentTypeError(f"--view {text}: sizes must be at least 16 px")
    return w, h, t


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=REPO / "models" / "graffiti-effnetlite0.onnx")
    p.add_argument("--view", type=parse_view, action="append",
                   help="WIDTHxHEIGHT:TILE (repeatable; TILE in pixels or auto). Default: 1280x720:auto, "
                        "1920x1080:320, 1920x1080:auto, 640x480:320, 640x480:auto")
    p.add_argument("--set", dest="sets", action="append",
                   help="MANIFEST:SPLIT (repeatable). Default: street-graffiti validation, facades-spb test")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.model.is_file():
        print(f"error: --model {args.model} not found", file=sys.stderr)
        return 2
    from bench_operating_point import _samples

    from detector.errors import DetectorError
    from detector.tiling import tile_px_for
    from detector.train.scorers import open_scorer
    from detector.train.viewlevel import ViewSpec, score_views, view_metrics

    views = args.view or [parse_view(v) for v in ("1280x720:auto", "1920x1080:320", "1920x1080:auto",
                                                  "640x480:320", "640x480:auto")]
    specs = args.sets or ["runs/default-data/street-graffiti.csv:val", "runs/default-data/facades-spb.csv:test"]
    try:
        sets = {spec: _samples(spec) for spec in specs}
    except (DetectorError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    scorer = open_scorer(args.model)
    thr = float(scorer.meta.threshold)
    print(f"{args.model} at its threshold {thr:.3f}; a view is flagged when any tile reaches it")
    print("view | tile px | " + " | ".join(f"{s}: clean flagged / graffiti caught / view AUROC / tiles"
                                          for s in specs))
    for w, h, tile in views:
        px = tile_px_for((w, h), tile)
        cells = []
        for spec, samples in sets.items():
            v = score_views(samples, [scorer], ViewSpec(w, h, px), description=f"{w}x{h}:{px} {spec}")[0]
            m = view_metrics(v.labels, v.scores, thr)
            tiles = sum(len(t) for t in v.tile_scores) / max(1, len(v.tile_scores))
            auroc = "-" if m.auroc is None else f"{m.auroc:.4f}"
            cells.append(f"{m.false_positives}/{m.n_clean} / {m.detected}/{m.n_graffiti} / {auroc} / {tiles:.0f}")
        print(f"{w}x{h} | {px}{' (auto)' if tile is None else ''} | " + " | ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
