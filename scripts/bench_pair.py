#!/usr/bin/env python3
"""Two networks that must agree: does a tile that both read hot separate paint from shop lettering better than
either network alone?

Every candidate on the model card trades clean views for real pieces along one curve, and averaging two networks'
readings (``ensemble_model.py``) landed on it too. Averaging lets one confident network carry a tile; this asks the
opposite: a tile counts only when the reference network reads it at or over ``tA`` **and** the partner reads it at
or over ``tB`` (an AND of two thresholds, the same tile). A partner quiet on clean shop fronts (a network trained on
mined lettering, or an earlier version) could then veto the reference's hot clean tiles, while a low ``tB`` keeps the
reference's pieces.

For each partner and each ``tB`` of a grid, ``tA`` is set as in ``bench_operating_point.py``: the threshold at
which the rule flags as many clean views of the matching set (street validation) as the reference alone flags at
its own threshold. Printed per rule: graffiti views caught there, held-out clean views flagged (facades test), the
paint-margin screen's pieces (walls 20-43, colour and IR, the hottest tile over the piece that passes ``tB``) at or
over ``tA`` with the weakest as a multiple of ``tA``, and the clean screen walls with a tile passing both.

    git show ccdd60a:models/graffiti-effnetlite0.onnx > runs/tta/v1.onnx     # version 1
    .venv/bin/python scripts/bench_pair.py --partner runs/tta/v1.onnx --partner runs/v5/graffiti-effnetlite0.onnx

Tile scores are kept per model under ``--cache`` (default ``runs/pair``), keyed by the model file's hash and the
sets, so another grid or another partner scores only what is new. On the edge an AND would cost the partner's run
on the tiles the reference reads hot, and the partner's weights in memory.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

DEFAULT_GRID = (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    import bench_operating_point as bop

    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--model", type=Path, default=REPO / "models" / "graffiti-effnetlite0.onnx",
                   help="the reference network (default: the bundled model); its own threshold sets the operating point")
    p.add_argument("--partner", type=Path, action="append", required=True,
                   help="a network that must also read the tile hot (repeatable)")
    p.add_argument("--tb", type=float, action="append",
                   help=f"partner threshold (repeatable; default {', '.join(f'{t:g}' for t in DEFAULT_GRID)})")
    p.add_argument("--cache", type=Path, default=REPO / "runs" / "pair", help="where tile scores are kept")
    bop.add_set_args(p)
    return p.parse_args(argv)


def and_scores(a: np.ndarray, b: np.ndarray, tb: float) -> float:
    """One frame's score under the AND rule: the reference's hottest reading among the tiles whose partner
    reading is at or over ``tb`` (``-inf`` when there is none)."""
    keep = b >= tb
    return float(a[keep].max()) if keep.any() else float("-inf")


def match_threshold(clean: np.ndarray, n: int) -> float:
    """``bench_operating_point.threshold_for_false_positives`` over the finite scores; when fewer than ``n``
    clean views pass the partner at all, every view that does is flagged (the rule is quieter than the match)."""
    import bench_operating_point as bop

    finite = clean[np.isfinite(clean)]
    if len(finite) <= n:
        return float(finite.min()) if len(finite) else 0.0
    return bop.threshold_for_false_positives(finite, n)


def tile_scores(model_path: Path, args: argparse.Namespace, sets: tuple[list, list], cache: Path) -> dict:  # type: ignore[type-arg]
    """Per frame tile scores of one model: matching and held-out views (labels and one array per view), and the
    screen's walls (after, before, on-piece mask)."""
    from detector.modelmeta import file_sha256

    key = f"{file_sha256(model_path)[:16]}-{args.first}-{args.walls}-{Path(args.match).name}-{Path(args.test).name}"
    path = cache / f"{key.replace(':', '_')}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=True) as z:
            return {k: z[k].item() for k in z.files}
    import bench_context as bc

    from detector.onnxmodel import ModelSession
    from detector.train.scorers import open_scorer
    from detector.train.viewlevel import ViewSpec, score_views

    spec = ViewSpec().resolved()
    scorer = open_scorer(model_path)
    out: dict[str, dict] = {}  # type: ignore[type-arg]
    for name, samples in zip(("match", "test"), sets, strict=True):
        vs = score_views(samples, [scorer], spec, description=f"{model_path.name}: {name} views")[0]
        for bad in vs.unreadable:
            print(f"warning: {bad}: unreadable, skipped", file=sys.stderr)
        out[name] = {"labels": np.asarray([s.label for s in vs.samples]), "tiles": list(vs.tile_scores)}
    screen = bc.screen_frames(ModelSession(model_path, threads=2), args)
    out["screen"] = {"frames": [(after["tile"], before["tile"], on) for after, before, on in screen]}
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{k: np.asarray(v, dtype=object) for k, v in out.items()})
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for m in [args.model, *args.partner]:
        if not m.is_file():
            print(f"error: {m}: no such model file", file=sys.stderr)
            return 2
    grid = args.tb or list(DEFAULT_GRID)
    if any(not 0 <= t <= 1 for t in grid):
        print(f"error: --tb {max(grid):g}: expected a probability between 0 and 1", file=sys.stderr)
        return 2
    import bench_operating_point as bop

    from detector.errors import DetectorError
    from detector.onnxmodel import read_meta

    sets = bop.load_sets(args)
    if sets is None:
        return 2
    try:
        t_ref = float(read_meta(args.model).threshold)
        for partner in args.partner:  # every file is a graffiti model before anything is scored
            read_meta(partner)
        ref = tile_scores(args.model, args, sets, args.cache)
    except DetectorError as exc:  # not an exported graffiti model: one line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ly = ref["match"]["labels"]
    n_fp = int(sum(float(t.max()) >= t_ref for t, y in zip(ref["match"]["tiles"], ly, strict=True) if y == 0))
    print(f"operating point: each rule at the reference threshold tA that flags {n_fp} clean views of {args.match} "
          f"(what {args.model} flags alone at its own {t_ref:.3f})")
    print("partner | tB | tA | matching set: clean views flagged / graffiti views caught | held-out clean views flagged | "
          "screen pieces at/over (weakest) | clean screen walls with a tile over")
    ty = ref["test"]["labels"]

    def row(name: str, tb: float, other: dict) -> None:  # type: ignore[type-arg]
        """One rule's figures: the reference alone (``tb < 0``) or AND ``other`` at ``tb``."""
        def rule(a: np.ndarray, b: np.ndarray) -> float:
            return float(a.max()) if tb < 0 else and_scores(a, b, tb)

        sv = np.asarray([rule(a, b) for a, b in zip(ref["match"]["tiles"], other["match"]["tiles"], strict=True)])
        ta = match_threshold(sv[ly == 0], n_fp)
        tv = np.asarray([rule(a, b) for a, b in zip(ref["test"]["tiles"], other["test"]["tiles"], strict=True)])
        frames = list(zip(ref["screen"]["frames"], other["screen"]["frames"], strict=True))
        pa = np.asarray([rule(ra[on], pb_[on]) for (ra, _, on), (pb_, _, _) in frames])
        wb = np.asarray([rule(rb, pb) for (_, rb, _), (_, pb, _) in frames])
        cells = [name, "-" if tb < 0 else f"{tb:g}", f"{ta:.3f}", *bop.rule_cells(ta, (sv, ly), (tv, ty), pa, wb)]
        print(" | ".join(cells), flush=True)

    row("(reference alone)", -1.0, ref)
    for partner in args.partner:
        try:
            other = tile_scores(partner, args, sets, args.cache)
        except DetectorError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if len(other["match"]["labels"]) != len(ly) or len(other["test"]["labels"]) != len(ty):
            print(f"error: {partner}: read a different number of views than {args.model}", file=sys.stderr)
            return 2
        for tb in grid:
            row(str(partner), tb, other)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
