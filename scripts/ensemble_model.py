#!/usr/bin/env python3
"""Combine exported models into one, to measure what averaging buys: several networks, and/or each tile with its
mirror image (horizontal-flip test-time augmentation).

The written model runs every network on the batch (and, with ``--flip``, on its mirror image as a doubled batch)
and returns the mean of all the probabilities, under the same input/output names and the first model's metadata
contract (thresholds included: read it at one operating point with ``bench_operating_point.py``). The networks
must share the preprocessing (input size, normalisation, resize). It costs one inference per network and view
per tile. The model card's "Averaging at test time" paragraph was measured with it (tried, not adopted):

    .venv/bin/python scripts/ensemble_model.py runs/tta/v3flip.onnx --model models/graffiti-effnetlite0.onnx --flip
    git show 879c55b:models/graffiti-effnetlite0.onnx > runs/tta/v2.onnx   # version 2 (MIL), once bundled
    .venv/bin/python scripts/ensemble_model.py runs/tta/v3v2.onnx --model models/graffiti-effnetlite0.onnx \\
        --model runs/tta/v2.onnx
    .venv/bin/python scripts/bench_operating_point.py --model models/graffiti-effnetlite0.onnx \\
        --model runs/tta/v3flip.onnx --model runs/tta/v3v2.onnx --walls 24
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def combine(models: list[Path], out: Path, flip: bool = False, mean: str = "probability") -> None:
    """Write ``out``: the mean probability of every model in ``models`` (and of each on the mirrored batch), or with
    ``mean="logit"`` the probability of the mean log-odds (networks whose scores are calibrated differently)."""
    import numpy as np
    import onnx
    from onnx import compose, helper, numpy_helper

    from detector.errors import ModelContractError
    from detector.modelmeta import ModelMeta, file_sha256, write_meta

    loaded: list[Any] = []
    metas: list[ModelMeta] = []
    for path in models:
        try:
            model = onnx.load(str(path))
        except Exception as exc:  # protobuf's DecodeError and kin: not a model file
            raise ModelContractError(f"{path}: not an ONNX model ({type(exc).__name__})") from None
        meta = ModelMeta.from_props({p.key: p.value for p in model.metadata_props}, source=str(path))
        if len(model.graph.input) != 1 or len(model.graph.output) != 1:
            raise ModelContractError(f"{path}: expected one input and one output, found "
                                     f"{len(model.graph.input)} and {len(model.graph.output)}")
        if metas and meta.preprocess_spec() != metas[0].preprocess_spec():
            raise ModelContractError(f"{path}: preprocessing {meta.preprocess_spec()} differs from {models[0]}'s "
                                     f"{metas[0].preprocess_spec()}; only models with the same input can be averaged")
        loaded.append(model)
        metas.append(meta)
    def default_opset(model: Any) -> int:
        return max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))

    first = loaded[0]
    x, y = first.graph.input[0].name, first.graph.output[0].name
    opset = default_opset(first)
    feed = "ens_feed" if flip else x
    nodes: list[Any] = []
    inits: list[Any] = []
    infos: list[Any] = []

    def const(name: str, values: list[int] | list[float], dtype: Any) -> str:
        inits.append(numpy_helper.from_array(np.asarray(values, dtype=dtype), name))
        return name

    if flip:
        nodes.append(helper.make_node("Slice", [x, const("ens_w0", [-1], np.int64),
                                                const("ens_w1", [np.iinfo(np.int64).min], np.int64),
                                                const("ens_w_axis", [3], np.int64), const("ens_step", [-1], np.int64)],
                                      ["ens_mirror"]))
        nodes.append(helper.make_node("Concat", [x, "ens_mirror"], [feed], axis=0))
    if mean == "logit":  # each network's log(p / (1 - p)), p kept off 0 and 1
        const("ens_lo", [1e-6], np.float32)
        const("ens_hi", [1 - 1e-6], np.float32)
        const("ens_one", [1.0], np.float32)
    scores = []
    for i, model in enumerate(loaded):
        if default_opset(model) != opset:
            model = onnx.version_converter.convert_version(model, opset)
        prefixed = compose.add_prefix(model, f"m{i}_")
        graph = prefixed.graph
        src_in, src_out = graph.input[0].name, graph.output[0].name
        for node in graph.node:
            node.input[:] = [feed if name == src_in else name for name in node.input]
        nodes.extend(graph.node)
        inits.extend(graph.initializer)
        infos.extend(graph.value_info)
        if mean == "logit":
            nodes.append(helper.make_node("Clip", [src_out, "ens_lo", "ens_hi"], [f"ens_p{i}"]))
            nodes.append(helper.make_node("Sub", ["ens_one", f"ens_p{i}"], [f"ens_q{i}"]))
            nodes.append(helper.make_node("Div", [f"ens_p{i}", f"ens_q{i}"], [f"ens_odds{i}"]))
            nodes.append(helper.make_node("Log", [f"ens_odds{i}"], [f"ens_logit{i}"]))
            src_out = f"ens_logit{i}"
        scores.append(src_out)
    total = "ens_total"
    nodes.append(helper.make_node("Sum", scores, [total]))
    views = 2 if flip else 1
    if flip:
        nodes.append(helper.make_node("Reshape", [total, const("ens_pair", [2, -1], np.int64)], ["ens_pairs"]))
        nodes.append(helper.make_node("Slice", ["ens_pairs", const("ens_r0", [0], np.int64),
                                                const("ens_r1", [1], np.int64), const("ens_ax0", [0], np.int64)],
                                      ["ens_a"]))
        nodes.append(helper.make_node("Slice", ["ens_pairs", "ens_r1", const("ens_r2", [2], np.int64), "ens_ax0"],
                                      ["ens_b"]))
        nodes.append(helper.make_node("Add", ["ens_a", "ens_b"], ["ens_ab"]))
        nodes.append(helper.make_node("Reshape", ["ens_ab", const("ens_flat", [-1], np.int64)], ["ens_views"]))
        total = "ens_views"
    scale = const("ens_scale", [1.0 / (len(loaded) * views)], np.float32)
    if mean == "logit":
        nodes.append(helper.make_node("Mul", [total, scale], ["ens_mean_logit"]))
        nodes.append(helper.make_node("Sigmoid", ["ens_mean_logit"], [y]))
    else:
        nodes.append(helper.make_node("Mul", [total, scale], [y]))
    graph = helper.make_graph(nodes, "graffiti_ensemble", [first.graph.input[0]], [first.graph.output[0]],
                              initializer=inits, value_info=infos)
    combined = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                 producer_name="scripts/ensemble_model.py")
    combined.ir_version = first.ir_version
    meta = metas[0]
    record = {"files": [p.name for p in models], "sha256": [file_sha256(p) for p in models],
              "flip": flip, "mean": mean}
    write_meta(combined, dataclasses.replace(meta, name=f"{meta.name}-ensemble", extra={**meta.extra, "ensemble": record}))
    onnx.checker.check_model(combined)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(combined, str(out))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("out", type=Path, help="where to write the combined model (.onnx)")
    ap.add_argument("--model", type=Path, action="append", required=True, metavar="ONNX",
                    help="an exported graffiti model; repeat to average several (the first one's contract is kept)")
    ap.add_argument("--flip", action="store_true", help="also score each tile's mirror image and average it in")
    ap.add_argument("--mean", choices=("probability", "logit"), default="probability",
                    help="average the probabilities (default) or the log-odds (for differently calibrated networks)")
    args = ap.parse_args(argv)
    if len(args.model) < 2 and not args.flip:
        ap.error("--model: give two or more models, or one with --flip")
    for path in args.model:
        if not path.is_file():
            ap.error(f"--model {path}: no such model file")
    from detector.errors import DetectorError

    try:
        combine(args.model, args.out, flip=args.flip, mean=args.mean)
    except DetectorError as exc:  # not an exported graffiti model, or inputs that differ: one line
        ap.exit(2, f"{ap.prog}: error: {exc}\n")
    runs = len(args.model) * (2 if args.flip else 1)
    print(f"wrote {args.out}: mean {args.mean} of {runs} run(s) per tile ({', '.join(p.name for p in args.model)}"
          f"{', each also mirrored' if args.flip else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
