#!/usr/bin/env python3
"""A second look around each tile: does scoring a tile's surroundings separate shop lettering from paint?

Every candidate trained so far trades clean views for real pieces along one curve (models/MODEL_CARD.md). This
asks whether the *same* network, shown more of the wall around a tile, tells the two apart where the tile alone
cannot: a shop sign's surroundings are a shop front, which the model reads as clean as a whole photo (held-out
facades: 1 of 180 whole photos over the threshold, 17 of 180 views with a tile over it).

For each tile of a camera view (the edge's 320-px tiles of 1280x720) the model also scores a *context crop*: a
square ``K`` times the tile's side centred on it (moved inside the frame, cut to the frame where it is larger),
or with ``K = 0`` the whole view. A tile's combined score is ``min``, geometric mean (``gmean``) or ``mean`` of
its own score and its context's; a view's score is the hottest combined tile. As in
``bench_operating_point.py``, every rule is then read at one operating point: the threshold at which it flags as
many clean views of the matching set (street validation) as the first model's tiles alone do at that model's own
threshold; printed per rule: graffiti views caught there, held-out clean views flagged (facades test), and the
paint-margin screen's pieces (walls 20-43, colour and IR, the hottest combined tile over the piece) at or over it.

    .venv/bin/python scripts/bench_context.py --model models/graffiti-effnetlite0.onnx --context 1.5 --context 2 \\
        --context 0 --walls 24        # 2026-12-02: 6 minutes on 2 cores

Only the tiles over a threshold would need the second look on the edge, so the cost is small there; this script
scores every context crop (to read every rule at every threshold).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

Box = tuple[int, int, int, int]

COMBINE: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "min": np.minimum,
    "gmean": lambda t, c: np.sqrt(np.clip(t, 0.0, None) * np.clip(c, 0.0, None)),
    "mean": lambda t, c: (t + c) / 2.0,
}


def context_box(tile: Box, frame_size: tuple[int, int], k: float) -> Box:
    """The square ``k`` times ``tile``'s side centred on it, moved inside the frame (cut to the frame's width or
    height where it is larger); ``k = 0``: the whole frame."""
    w_f, h_f = frame_size
    if k == 0:
        return (0, 0, w_f, h_f)
    x0, y0, x1, y1 = tile
    side = max(x1 - x0, y1 - y0) * k
    w, h = int(round(min(side, w_f))), int(round(min(side, h_f)))
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    a = int(round(min(max(cx - w / 2.0, 0.0), w_f - w)))
    b = int(round(min(max(cy - h / 2.0, 0.0), h_f - h)))
    return (a, b, a + w, b + h)


def shifted_boxes(tile: Box, frame_size: tuple[int, int], f: float) -> list[Box]:
    """The tile moved by ``f`` times its side left, right, up and down, each moved back inside the frame (at the
    frame's edge an outward look is the tile itself)."""
    w_f, h_f = frame_size
    x0, y0, x1, y1 = tile
    w, h = x1 - x0, y1 - y0
    d = int(round(f * max(w, h)))
    out = []
    for dx, dy in ((-d, 0), (d, 0), (0, -d), (0, d)):
        a = min(max(x0 + dx, 0), w_f - w)
        b = min(max(y0 + dy, 0), h_f - h)
        out.append((a, b, a + w, b + h))
    return out


def score_frame(model, frame: np.ndarray, ks: Sequence[float], tile_px: int = 320,  # type: ignore[no-untyped-def]
                overlap: float = 0.25, shifts: Sequence[float] = ()) -> tuple[list, dict[object, np.ndarray]]:
    """The frame's tiles and, per tile, its own score (key ``"tile"``), each context's (key ``k``) and each shift's
    four looks (key ``("shift", f)``, one row per tile); a crop shared by several tiles is scored once."""
    from detector.tiling import cut_tiles, plan_tiles

    h, w = frame.shape[:2]
    plan = plan_tiles((w, h), tile_px, overlap)
    boxes = {k: [context_box(t.xyxy, (w, h), k) for t in plan.tiles] for k in ks}
    looks = {f: [shifted_boxes(t.xyxy, (w, h), f) for t in plan.tiles] for f in shifts}
    unique = sorted({b for bs in boxes.values() for b in bs} | {b for ls in looks.values() for bs in ls for b in bs})
    crops = cut_tiles(frame, plan) + [frame[y0:y1, x0:x1] for x0, y0, x1, y1 in unique]
    scores = np.asarray(model.score(crops), dtype=np.float64)
    n = len(plan.tiles)
    at = {b: n + i for i, b in enumerate(unique)}
    out: dict[object, np.ndarray] = {"tile": scores[:n]}
    for k in ks:
        out[k] = np.asarray([scores[at[b]] for b in boxes[k]])
    for f in shifts:
        out[("shift", f)] = np.asarray([[scores[at[b]] for b in bs] for bs in looks[f]])
    return plan.tiles, out


def screen_frames(model, args: argparse.Namespace, ks: Sequence[float] = (),  # type: ignore[no-untyped-def]
                  shifts: Sequence[float] = ()) -> list[tuple[dict, dict, np.ndarray]]:  # type: ignore[type-arg]
    """The paint-margin screen's walls ``args.first`` .. (``args.walls`` of them; none with 0) read by ``model``:
    per wall and mode, ``score_frame``'s readings after the piece and before it, and which tiles overlap the piece
    (shared with bench_pair.py)."""
    import bench_paint_margin as bpm

    from detector.train.viewlevel import ViewSpec

    if not args.walls:
        return []
    spec = ViewSpec().resolved()
    out = []
    for wf in bpm.wall_frames(args.data, list(range(args.first, args.first + args.walls))):
        tiles, after = score_frame(model, wf.after, ks, spec.tile_px, spec.overlap, shifts)
        before = score_frame(model, wf.before, ks, spec.tile_px, spec.overlap, shifts)[1]
        out.append((after, before, np.asarray(wf.on_piece(tiles))))
    return out


def rules(ks: Sequence[float], combines: Sequence[str],  # type: ignore[type-arg]
          shifts: Sequence[float] = ()) -> dict[str, Callable[[dict], np.ndarray]]:
    """Name → per-tile combined score of one frame's readings (``score_frame``'s dict)."""
    out: dict[str, Callable[[dict], np.ndarray]] = {"tile alone": lambda r: r["tile"]}  # type: ignore[type-arg]
    for k in ks:
        for c in combines:
            name = f"{c}(tile, {'whole view' if k == 0 else f'{k:g}x context'})"
            out[name] = _combined(k, COMBINE[c])
    for f in shifts:
        for red in ("mean", "median", "min"):
            for c in combines:
                out[f"{c}(tile, {red} of 4 looks shifted {f:g} tile)"] = _shifted(f, red, COMBINE[c])
    return out


def _shifted(f: float, red: str, c: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[[dict], np.ndarray]:  # type: ignore[type-arg]
    reduce = {"mean": np.mean, "median": np.median, "min": np.min}[red]
    return lambda r: c(r["tile"], reduce(r[("shift", f)], axis=1))


def _combined(k: float, f: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[[dict], np.ndarray]:  # type: ignore[type-arg]
    return lambda r: f(r["tile"], r[k])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, action="append", help="an ONNX model (repeatable; default: the bundled one)")
    p.add_argument("--context", type=float, action="append",
                   help="context side as a multiple of the tile's (repeatable; 0 = the whole view; default 2)")
    p.add_argument("--shift", type=float, action="append", default=[],
                   help="also look at each tile moved by this share of its side left, right, up and down "
                        "(repeatable; e.g. 0.25), combined with the tile as mean, median or min of the four looks")
    p.add_argument("--combine", action="append", choices=sorted(COMBINE),
                   help="how a tile's score and its context's combine (repeatable; default min and gmean)")
    import bench_operating_point as bop

    bop.add_set_args(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    models = args.model or [REPO / "models" / "graffiti-effnetlite0.onnx"]
    ks = args.context if args.context is not None else ([] if args.shift else [2.0])
    if any(not 0 < f < 1 for f in args.shift):
        print(f"error: --shift {max(args.shift):g}: expected a share of the tile's side between 0 and 1", file=sys.stderr)
        return 2
    if any(k != 0 and k < 1 for k in ks):
        print(f"error: --context {min(ks):g}: expected 0 (the whole view) or a multiple of the tile of at least 1",
              file=sys.stderr)
        return 2
    for m in models:
        if not m.is_file():
            print(f"error: --model {m} not found", file=sys.stderr)
            return 2
    import bench_operating_point as bop

    from detector.onnxmodel import ModelSession
    from detector.preprocess import read_image
    from detector.train.viewlevel import ViewSpec, as_view

    sets = bop.load_sets(args)
    if sets is None:
        return 2
    match, test = sets
    spec = ViewSpec().resolved()
    table = rules(ks, args.combine or ["min", "gmean"], args.shift)
    for mi, path in enumerate(models):
        model = ModelSession(path, threads=2)
        views: dict[str, tuple[np.ndarray, list[dict]]] = {}  # type: ignore[type-arg]
        for name, samples in (("match", match), ("test", test)):
            labels, per = [], []
            for s in samples:
                img = read_image(str(s.path))
                if img is None:
                    print(f"warning: {s.path}: unreadable, skipped", file=sys.stderr)
                    continue
                labels.append(s.label)
                per.append(score_frame(model, as_view(img, spec), ks, spec.tile_px, spec.overlap, args.shift)[1])
            views[name] = (np.asarray(labels), per)
        screen = screen_frames(model, args, ks, args.shift)
        ly, lper = views["match"]
        if mi == 0:
            n_fp = int(sum(float(r["tile"].max()) >= model.meta.threshold for r, y in zip(lper, ly, strict=True) if y == 0))
            print(f"operating point: each rule at the threshold that flags {n_fp} clean views of {args.match} "
                  f"(what {path} flags with its tiles alone at its own {model.meta.threshold:.3f})")
            print("model | rule | matched threshold | matching set: clean views flagged / graffiti views caught | "
                  "held-out clean views flagged | "
                  "screen pieces at/over (weakest) | clean screen walls with a tile over")
        ty, tper = views["test"]
        for name, f in table.items():
            sv = np.asarray([float(f(r).max()) for r in lper])
            t = bop.threshold_for_false_positives(sv[ly == 0], n_fp)
            tv = np.asarray([float(f(r).max()) for r in tper])
            cells = [str(path), name, f"{t:.3f}"]
            if screen:
                pa = np.asarray([float(f(a)[on].max()) for a, _, on in screen])
                wb = np.asarray([float(f(b).max()) for _, b, _ in screen])
                cells += bop.rule_cells(t, (sv, ly), (tv, ty), pa, wb)
            else:
                cells += bop.rule_cells(t, (sv, ly), (tv, ty))
            print(" | ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
