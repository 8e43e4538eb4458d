#!/usr/bin/env python3
"""A model that remembers clean walls: does a bank of clean training tiles, looked up in the network's own
feature space, quieten shop lettering the classifier alone flags?

Every candidate trained so far trades clean views for real pieces along one curve (models/MODEL_CARD.md): the
classifier's last layer draws one boundary through the features of 1,600 real photos, and a held-out shop sign
falls on the graffiti side of it. A nearest-neighbour lookup draws no single boundary: a tile is compared with
the tiles the model was *told* are clean (every tile of every clean training photo, shown as the edge shows a
camera view) and with the hot tiles of graffiti training photos. If held-out lettering lies nearer to training
lettering than to training paint, the lookup knows it is clean where the boundary does not.

For each tile the script reads the model's score ``s`` and its pooled features (the classifier's input,
L2-normalised), and from the banks the cosine similarity to the nearest clean tile ``c`` and to the nearest
graffiti tile ``g``. Rules (a tile's combined score; a view's score is its hottest tile):

- ``knn k``: the share of graffiti tiles among the ``k`` nearest of both banks, combined with ``s`` by min/gmean;
- ``margin T``: ``sigmoid((g - c) / T)``, combined with ``s`` by min/gmean.

As in ``bench_context.py`` every rule is read at one operating point: the threshold at which it flags as many
clean views of the matching set (street validation) as the model's tiles alone at its own threshold; printed per
rule: graffiti views caught there, held-out clean views flagged (facades test), and the paint-margin screen's
pieces (walls 20-43, colour and IR) at or over it. The banks hold training photos only (``--bank``, default the
street and facades train splits); the matching and held-out sets never enter them.

    .venv/bin/python scripts/bench_clean_bank.py --knn 5 --knn 15 --margin 0.05   # 2026-12-02: ~15 min on 2 cores

Features are cached under ``runs/clean-bank/`` per model file (its sha256), so trying other rules is quick.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

FEATURES = "/net/Flatten_output_0"  # the classifier's input in the exported EfficientNet-Lite graphs


class FeatureModel:
    """The exported model with its pooled features as a second output (one ONNX Runtime session)."""

    def __init__(self, path: Path, threads: int = 2) -> None:
        import onnx
        import onnxruntime as ort

        from detector.onnxmodel import ModelSession

        self.model = ModelSession(path, threads=threads)
        graph = onnx.load(str(path))
        names = {o for n in graph.graph.node for o in n.output}
        if FEATURES not in names:
            raise SystemExit(f"error: {path}: no tensor {FEATURES} (the classifier's input) in the graph")
        graph.graph.output.append(onnx.helper.make_tensor_value_info(FEATURES, onnx.TensorProto.FLOAT, None))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(graph.SerializeToString(), opts, providers=["CPUExecutionProvider"])

    def __call__(self, tiles: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Scores [N] and L2-normalised features [N, D] of uint8 BGR tiles."""
        from detector.onnxmodel import device_scores

        batch = self.model.preprocess(tiles)
        scores, feats = [], []
        for i in range(0, len(batch), 32):
            s, f = self.session.run(["score", FEATURES], {"input": batch[i:i + 32]})
            scores.append(np.asarray(s, dtype=np.float32).reshape(-1))
            feats.append(np.asarray(f, dtype=np.float32).reshape(len(s), -1))
        f = np.concatenate(feats)
        return device_scores(np.concatenate(scores)), f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)


def view_readings(fm: FeatureModel, frame: np.ndarray, tile_px: int, overlap: float) -> tuple[list, np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    from detector.tiling import cut_tiles, plan_tiles

    plan = plan_tiles((frame.shape[1], frame.shape[0]), tile_px, overlap)
    s, f = fm(cut_tiles(frame, plan))
    return plan.tiles, s, f


def read_set(fm: FeatureModel, samples: Iterable, desc: str) -> dict[str, np.ndarray]:  # type: ignore[type-arg]
    """Per view: label, and its tiles' scores and features (stacked, with the view index of each tile)."""
    from detector.preprocess import read_image
    from detector.train.viewlevel import ViewSpec, as_view

    spec = ViewSpec().resolved()
    labels, view, scores, feats = [], [], [], []
    samples = list(samples)
    for n, smp in enumerate(samples):
        img = read_image(str(smp.path))
        if img is None:
            print(f"warning: {smp.path}: unreadable, skipped", file=sys.stderr)
            continue
        _, s, f = view_readings(fm, as_view(img, spec), spec.tile_px, spec.overlap)
        view.append(np.full(len(s), len(labels)))
        labels.append(smp.label)
        scores.append(s)
        feats.append(f.astype(np.float16))
        if n % 50 == 0:
            print(f"  {desc}: {n}/{len(samples)}", file=sys.stderr, flush=True)
    return {"labels": np.asarray(labels), "view": np.concatenate(view), "scores": np.concatenate(scores),
            "feats": np.concatenate(feats)}


def read_screen(fm: FeatureModel, data: Path, walls: list[int]) -> dict[str, np.ndarray]:
    """The paint-margin screen's walls, after (with the tiles over the piece marked) and before their piece."""
    import bench_paint_margin as bpm

    from detector.train.viewlevel import ViewSpec

    spec = ViewSpec().resolved()
    out: dict[str, list] = {"view": [], "scores": [], "feats": [], "on": [], "after": []}  # type: ignore[type-arg]
    k = 0
    for wf in bpm.wall_frames(data, walls):
        for after, frame in ((True, wf.after), (False, wf.before)):
            tiles, s, f = view_readings(fm, frame, spec.tile_px, spec.overlap)
            on = np.asarray(wf.on_piece(tiles), dtype=bool) if after else np.zeros(len(s), dtype=bool)
            out["view"].append(np.full(len(s), k))
            out["scores"].append(s)
            out["feats"].append(f.astype(np.float16))
            out["on"].append(on)
            out["after"].append(after)
            k += 1
    return {"view": np.concatenate(out["view"]), "scores": np.concatenate(out["scores"]),
            "feats": np.concatenate(out["feats"]), "on": np.concatenate(out["on"]), "after": np.asarray(out["after"])}


def nearest(query: np.ndarray, bank: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest cosine similarities of each query row to the bank, and their bank indices (by rows of 2048)."""
    sims, idx = [], []
    b = bank.astype(np.float32)
    for i in range(0, len(query), 2048):
        m = query[i:i + 2048].astype(np.float32) @ b.T
        j = np.argpartition(-m, k - 1, axis=1)[:, :k] if k < m.shape[1] else np.argsort(-m, axis=1)
        v = np.take_along_axis(m, j, axis=1)
        o = np.argsort(-v, axis=1)
        sims.append(np.take_along_axis(v, o, axis=1))
        idx.append(np.take_along_axis(j, o, axis=1))
    return np.concatenate(sims), np.concatenate(idx)


COMBINE: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "min": np.minimum,
    "gmean": lambda a, b: np.sqrt(np.clip(a, 0, None) * np.clip(b, 0, None)),
}


def view_max(per_tile: np.ndarray, view: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, -np.inf)
    np.maximum.at(out, view, per_tile)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    import bench_operating_point as bop

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=REPO / "models" / "graffiti-effnetlite0.onnx")
    p.add_argument("--bank", action="append",
                   help="MANIFEST:SPLIT of training photos for the banks (repeatable; default the street and "
                        "facades train splits)")
    p.add_argument("--hot", type=float, default=0.5,
                   help="a graffiti training photo's tiles at or over this score join the graffiti bank (default 0.5)")
    p.add_argument("--knn", type=int, action="append", default=[], help="k of a knn rule (repeatable)")
    p.add_argument("--margin", type=float, action="append", default=[], help="T of a margin rule (repeatable)")
    bop.add_set_args(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import bench_operating_point as bop

    if not args.model.is_file():
        print(f"error: --model {args.model} not found", file=sys.stderr)
        return 2
    if any(k < 1 for k in args.knn) or any(t <= 0 for t in args.margin):
        print("error: --knn expects a count of at least 1 and --margin a temperature above 0", file=sys.stderr)
        return 2
    banks = args.bank or ["runs/default-data/street-graffiti.csv:train", "runs/default-data/facades-spb.csv:train"]
    sets = bop.load_sets(args)
    if sets is None:
        return 2
    match, test = sets
    sha = hashlib.sha256(args.model.read_bytes()).hexdigest()[:12]
    cache = REPO / "runs" / "clean-bank" / sha
    cache.mkdir(parents=True, exist_ok=True)
    fm: FeatureModel | None = None

    def cached(name: str, make: Callable[[], dict]) -> dict:  # type: ignore[type-arg]
        nonlocal fm
        f = cache / f"{name}.npz"
        if f.is_file():
            return dict(np.load(f))
        fm = fm or FeatureModel(args.model)
        d = make()
        np.savez(f, **d)
        return d

    bank_sets = []
    for spec in banks:
        key = hashlib.sha256(spec.encode()).hexdigest()[:8]
        bank_sets.append(cached(f"bank-{key}", lambda spec=spec: read_set(fm, bop._samples(spec), spec)))
    m = cached("match-" + hashlib.sha256(args.match.encode()).hexdigest()[:8], lambda: read_set(fm, match, "match"))
    t = cached("test-" + hashlib.sha256(args.test.encode()).hexdigest()[:8], lambda: read_set(fm, test, "test"))
    walls = list(range(args.first, args.first + args.walls))
    sc = cached(f"screen-{args.first}-{args.walls}", lambda: read_screen(fm, args.data, walls)) if args.walls else None

    clean = np.concatenate([b["feats"][b["labels"][b["view"]] == 0] for b in bank_sets])
    hot = np.concatenate([b["feats"][(b["labels"][b["view"]] == 1) & (b["scores"] >= args.hot)] for b in bank_sets])
    print(f"banks: {len(clean)} clean tiles, {len(hot)} graffiti tiles (score >= {args.hot:g}) from {', '.join(banks)}")
    both = np.concatenate([clean, hot])
    is_g = np.concatenate([np.zeros(len(clean)), np.ones(len(hot))])
    kmax = max(args.knn + [1])

    def lookups(d: dict) -> dict:  # type: ignore[type-arg]
        s_all, i_all = nearest(d["feats"], both, kmax)
        c = nearest(d["feats"], clean, 1)[0][:, 0]
        g = nearest(d["feats"], hot, 1)[0][:, 0]
        return {"s": d["scores"].astype(np.float64), "c": c, "g": g, "lab": is_g[i_all]}

    rules: dict[str, Callable[[dict], np.ndarray]] = {"tile alone": lambda r: r["s"]}  # type: ignore[type-arg]
    for k in args.knn:
        for cn, cf in COMBINE.items():
            rules[f"{cn}(tile, knn {k})"] = lambda r, k=k, cf=cf: cf(r["s"], r["lab"][:, :k].mean(axis=1))
    for tmp in args.margin:
        for cn, cf in COMBINE.items():
            rules[f"{cn}(tile, margin {tmp:g})"] = (
                lambda r, tmp=tmp, cf=cf: cf(r["s"], 1.0 / (1.0 + np.exp(-(r["g"] - r["c"]) / tmp))))
    rm, rt = lookups(m), lookups(t)
    rs = lookups(sc) if sc is not None else None
    from detector.onnxmodel import read_meta

    thr = float(read_meta(args.model).threshold)
    ly, ty = m["labels"], t["labels"]
    base = view_max(rm["s"], m["view"], len(ly))
    n_fp = int((base[ly == 0] >= thr).sum())
    print(f"operating point: each rule at the threshold that flags {n_fp} clean views of {args.match} "
          f"(the tiles alone at {args.model}'s own {thr:.3f})")
    print("rule | matched threshold | matching: clean flagged / graffiti caught | held-out clean flagged | "
          "screen pieces at/over (weakest) | clean screen walls with a tile over")
    for name, f in rules.items():
        sv = view_max(f(rm), m["view"], len(ly))
        at = bop.threshold_for_false_positives(sv[ly == 0], n_fp)
        tv = view_max(f(rt), t["view"], len(ty))
        cells = [name, f"{at:.3f}", f"{int((sv[ly == 0] >= at).sum())}/{int((ly == 0).sum())} / "
                 f"{int((sv[ly == 1] >= at).sum())}/{int((ly == 1).sum())}",
                 f"{int((tv[ty == 0] >= at).sum())}/{int((ty == 0).sum())}"]
        if rs is not None and sc is not None:
            per = f(rs)
            nv = len(sc["after"])
            pa = view_max(np.where(sc["on"], per, -np.inf), sc["view"], nv)[sc["after"]]
            wb = view_max(per, sc["view"], nv)[~sc["after"]]
            cells += [f"{int((pa >= at).sum())}/{len(pa)} ({pa.min() / at:.2f}x)", f"{int((wb >= at).sum())}/{len(wb)}"]
        print(" | ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
