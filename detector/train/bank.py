"""``graffiti bank``: give an exported model a memory of clean walls — a nearest-neighbour vote in its own
feature space, written into the ONNX graph.

The classifier's last layer draws one boundary through the features of the training photos, and a shop sign
it never saw can fall on the graffiti side of it (the held-out facades: 17 of 180 views with a tile over the
threshold). A lookup draws no single boundary: each tile's pooled features (the last linear layer's input,
L2-normalised) are compared by cosine similarity with a **clean bank** — every tile of every clean training
photo shown as a camera view, the way the edge cuts a frame, that the model reads at or above ``clean_min``
(colder tiles cannot be what it mistakes) — and a **paint bank**, the tiles of graffiti training photos it
reads at or above ``hot``. The share of paint among the ``k`` nearest is the vote, and the model's score
becomes ``min(score, max(vote, floor))`` with ``floor`` just under the alert threshold: a hot tile whose nearest
training tiles are clean walls cannot raise an alert, a tile the network reads under the threshold keeps its
score, and a tile among paint keeps its own score. (``veto="score"``, the first rule, has no floor:
``min(score, vote)``; both flag the same tiles at the threshold.) Only the score output changes: the edge,
``graffiti eval``, the int8 file and every benchmark read it as before (``extra.clean_bank`` in the metadata says what is in the bank).

The bank is added as graph nodes (LpNormalization → MatMul with the bank → TopK → Gather of the bank's labels
→ mean → Max with the floor → Min with the network's score), so nothing else has to know about it. Thresholds
are then re-chosen on the validation split (``graffiti rethreshold``'s code) only when asked (``thresholds="policy"``): by default the
network's thresholds are kept and what they give now is recorded.

numpy, onnx and onnxruntime only (no torch): a student can bank a model they only have as ONNX.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from detector.data.sample import Sample
from detector.errors import ConfigError, DatasetError, require

SCORE = "score"
_PASS_THROUGH = {"Sigmoid", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Identity"}
BANK_PREFIX = "clean_bank/"
BANK_DTYPES = ("int8", "float32")
THRESHOLD_MODES = ("keep", "policy")
VETO_MODES = ("alert", "score")


def just_below(threshold: float) -> float:
    """The largest float32 score under ``threshold``, whatever the float64 threshold's last digits: a tile held
    there cannot raise an alert."""
    f = np.float32(threshold)
    while float(f) >= threshold:
        f = np.nextafter(f, np.float32(0.0))
    return float(f)


def quantize_rows(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row on its own symmetric int8 scale: ``row ≈ q * scale``; returns (q int8 [M, D], scale [M])."""
    scale = np.maximum(np.abs(table).max(axis=1), 1e-12) / 127.0
    q = np.clip(np.rint(table / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def feature_tensor(graph: Any) -> str:
    """The name of the last linear layer's input (the pooled features): walk back from the ``score`` output
    through reshapes and the sigmoid to the Gemm/MatMul that makes the logit."""
    producer = {o: n for n in graph.node for o in n.output}
    name = SCORE
    for _ in range(16):
        node = producer.get(name)
        if node is None:
            break
        if node.op_type in ("Gemm", "MatMul"):
            return str(node.input[0])
        if node.op_type not in _PASS_THROUGH:
            break
        name = node.input[0]
    raise ConfigError(f"expected the '{SCORE}' output to come from a linear layer (Gemm/MatMul) through "
                      f"reshapes and a sigmoid; found {name!r} made by {getattr(producer.get(name), 'op_type', 'no node')}")


class FeatureSession:
    """An exported model run as the edge runs it, returning each tile's score and unit-length features."""

    def __init__(self, path: Path, threads: int = 0) -> None:
        onnx: Any = require("onnx", "train")
        import onnxruntime as ort

        from detector.onnxmodel import ModelSession

        self.model = ModelSession(Path(path), threads=threads)
        proto = onnx.load(str(path))
        if any(n.name.startswith(BANK_PREFIX) for n in proto.graph.node):
            raise ConfigError(f"{path}: this model already has a clean bank; bank the model it was made from")
        self.feature = feature_tensor(proto.graph)
        proto.graph.output.append(onnx.helper.make_tensor_value_info(self.feature, onnx.TensorProto.FLOAT, None))
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])

    def __call__(self, tiles: Sequence[np.ndarray], batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """uint8 BGR tiles → scores [N] (device rules) and L2-normalised features [N, D] (float32)."""
        from detector.modelmeta import INPUT_NAME
        from detector.onnxmodel import device_scores

        x = self.model.preprocess(tiles)
        scores, feats = [], []
        for i in range(0, len(x), batch):
            s, f = self.session.run([SCORE, self.feature], {INPUT_NAME: np.ascontiguousarray(x[i:i + batch])})
            scores.append(np.asarray(s, dtype=np.float32).reshape(-1))
            feats.append(np.asarray(f, dtype=np.float32).reshape(len(scores[-1]), -1))
        if not scores:
            return np.zeros(0, np.float32), np.zeros((0, 0), np.float32)
        f = np.concatenate(feats)
        return device_scores(np.concatenate(scores)), unit(f)


def unit(f: np.ndarray) -> np.ndarray:
    return (f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)).astype(np.float32)


@dataclass
class ViewFeatures:
    """Every tile of every readable photo shown as a camera view: its photo's label, score and features."""

    labels: np.ndarray  # per tile: the label of its photo
    scores: np.ndarray
    feats: np.ndarray
    photos: int = 0
    unreadable: list[Path] = field(default_factory=list)
    small: int = 0


def read_views(fs: FeatureSession, samples: Sequence[Sample], *, min_side_px: int = 0,
               description: str = "bank: reading tiles", progress: bool = True) -> ViewFeatures:
    """Cut each photo into the edge's tiles of a camera view and read them; unreadable photos are reported
    by :func:`build_bank`'s caller and skipped."""
    from detector.train.viewlevel import ViewSpec, for_each_view

    labels: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    feats: list[np.ndarray] = []

    def visit(s: Sample, tiles: list[np.ndarray]) -> None:
        sc, f = fs(tiles)
        labels.append(np.full(len(sc), int(s.label)))
        scores.append(sc)
        feats.append(f)

    bad, small = for_each_view(samples, ViewSpec(min_side_px=min_side_px), visit, description=description,
                               progress=progress)
    if not scores:
        return ViewFeatures(np.zeros(0, int), np.zeros(0, np.float32), np.zeros((0, 0), np.float32), 0, bad, small)
    return ViewFeatures(np.concatenate(labels), np.concatenate(scores), np.concatenate(feats), len(scores), bad, small)


@dataclass
class Bank:
    clean: np.ndarray  # [Mc, D] unit features of clean tiles
    paint: np.ndarray  # [Mp, D] unit features of hot tiles of graffiti photos
    k: int
    info: dict[str, Any]

    def vote(self, feats: np.ndarray) -> np.ndarray:
        """Share of paint among the ``k`` nearest bank tiles (cosine similarity) of each row of ``feats``."""
        bank = np.concatenate([self.clean, self.paint])
        is_paint = np.concatenate([np.zeros(len(self.clean)), np.ones(len(self.paint))])
        sims = unit(feats) @ bank.T
        idx = np.argsort(-sims, axis=1, kind="stable")[:, :self.k]
        return is_paint[idx].mean(axis=1)


def select_bank(views: ViewFeatures, *, k: int, clean_min: float, hot: float) -> tuple[np.ndarray, np.ndarray]:
    """The clean bank (tiles of clean photos read at or above ``clean_min``) and the paint bank (tiles of
    graffiti photos read at or above ``hot``)."""
    clean = views.feats[(views.labels == 0) & (views.scores >= clean_min)]
    paint = views.feats[(views.labels == 1) & (views.scores >= hot)]
    return clean, paint


def check_params(k: int, clean_min: float, hot: float) -> None:
    if k < 1:
        raise ConfigError(f"--k: expected a count of neighbours of at least 1, found {k}")
    for name, v in (("--clean-min", clean_min), ("--hot", hot)):
        if not 0.0 <= v <= 1.0:
            raise ConfigError(f"{name}: expected a score between 0 and 1, found {v:g}")


def build_bank(model: Path, data: Sequence[str], *, split: str = "train", k: int = 5, clean_min: float = 0.05,
               hot: float = 0.9, min_side_px: int = 0, threads: int = 0, progress: bool = True) -> Bank:
    """Read every tile of ``data``'s ``split`` with ``model`` and keep the banks (errors name the data)."""
    from detector.train.evaluation import load_samples

    check_params(k, clean_min, hot)
    samples = load_samples(data, split)
    fs = FeatureSession(model, threads)
    views = read_views(fs, samples, min_side_px=min_side_px, progress=progress)
    for p in views.unreadable:
        print(f"warning: {p}: unreadable image, skipped")
    where = f"{', '.join(data)} (split {split!r})"
    if views.photos == 0:
        raise DatasetError(f"{where}: no readable photo at least {min_side_px} px on its shorter side to show as a "
                           "camera view (lower --min-side)")
    clean, paint = select_bank(views, k=k, clean_min=clean_min, hot=hot)
    if len(clean) == 0:
        raise DatasetError(f"{where}: no tile of a clean photo scores at or above --clean-min {clean_min:g}; "
                           "the clean bank would be empty (lower --clean-min or add clean photos)")
    if len(paint) == 0:
        raise DatasetError(f"{where}: no tile of a graffiti photo scores at or above --hot {hot:g}; "
                           "the paint bank would be empty (lower --hot or add graffiti photos)")
    if len(clean) + len(paint) < k:
        raise DatasetError(f"{where}: {len(clean) + len(paint)} bank tiles, fewer than --k {k}")
    info = {"data": list(data), "split": split, "k": int(k), "clean_min": float(clean_min), "hot": float(hot),
            "photos": int(views.photos), "unreadable": len(views.unreadable), "skipped_small": int(views.small),
            "clean_tiles": int(len(clean)), "paint_tiles": int(len(paint)), "feature": fs.feature,
            "dim": int(clean.shape[1]), "rule": "score = min(network score, share of paint among the k nearest bank tiles)",
            "when_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    return Bank(clean=clean, paint=paint, k=int(k), info=info)


def attach_bank(model: Path, bank: Bank, out: Path, dtype: str = "int8", floor: float = 0.0) -> Path:
    """Write ``model`` with the bank's vote folded into its ``score`` output, to ``out`` (metadata:
    ``extra.clean_bank``). The thresholds are left as they were; :func:`bank_model` re-chooses them.

    ``dtype``: how the bank is stored — ``int8`` (default: a quarter of the memory; similarities from an integer
    matrix product, see :func:`quantize_rows`) or ``float32``.

    ``floor``: with 0 the score is ``min(network, vote)``; otherwise ``min(network, max(vote, floor))`` — the vote
    can hold a tile down to ``floor`` and no lower (:func:`bank_model` puts it just under the alert threshold, so
    the vote acts only on tiles the network reads at or over the threshold)."""
    if not 0.0 <= floor < 1.0:
        raise ConfigError(f"bank floor: expected a score in [0, 1), found {floor:g}")
    if dtype not in BANK_DTYPES:
        raise ConfigError(f"--bank-dtype: expected one of {', '.join(BANK_DTYPES)}, found {dtype!r}")
    onnx: Any = require("onnx", "train")
    from onnx import TensorProto, helper, numpy_helper

    from detector.modelmeta import write_meta
    from detector.onnxmodel import read_meta

    model, out = Path(model), Path(out)
    meta = read_meta(model)
    proto = onnx.load(str(model))
    g = proto.graph
    feature = feature_tensor(g)
    net = BANK_PREFIX + "network_score"
    for n in g.node:
        n.output[:] = [net if o == SCORE else o for o in n.output]
        n.input[:] = [net if i == SCORE else i for i in n.input]
    table = np.concatenate([bank.clean, bank.paint]).astype(np.float32)
    labels = np.concatenate([np.zeros(len(bank.clean)), np.ones(len(bank.paint))]).astype(np.float32)
    p = BANK_PREFIX
    g.initializer.extend([
        numpy_helper.from_array(labels, p + "is_paint"),
        numpy_helper.from_array(np.asarray([bank.k], dtype=np.int64), p + "k"),
        numpy_helper.from_array(np.full(bank.k, 1.0 / bank.k, dtype=np.float32), p + "mean_k"),
    ])
    g.node.append(helper.make_node("LpNormalization", [feature], [p + "unit"], name=p + "unit", axis=1, p=2))
    if dtype == "float32":
        g.initializer.append(numpy_helper.from_array(np.ascontiguousarray(table.T), p + "tiles_T"))
        g.node.append(helper.make_node("MatMul", [p + "unit", p + "tiles_T"], [p + "similarity"], name=p + "similarity"))
    else:
        # int8: each bank tile on its own scale (symmetric, 127 = its largest |component|), the query quantized per
        # run (uint8, its own scale and zero point: one factor for every similarity of a row, so the ranking is kept).
        q, scale = quantize_rows(table)
        g.initializer.extend([
            numpy_helper.from_array(np.ascontiguousarray(q.T), p + "tiles_T_int8"),
            numpy_helper.from_array(np.zeros(len(scale), dtype=np.int8), p + "tiles_zero"),
            numpy_helper.from_array(scale.astype(np.float32), p + "tiles_scale"),
        ])
        g.node.extend([
            helper.make_node("DynamicQuantizeLinear", [p + "unit"], [p + "unit_q", p + "unit_scale", p + "unit_zero"],
                             name=p + "quantize"),
            helper.make_node("MatMulInteger", [p + "unit_q", p + "tiles_T_int8", p + "unit_zero", p + "tiles_zero"],
                             [p + "dot_int"], name=p + "dot"),
            helper.make_node("Cast", [p + "dot_int"], [p + "dot"], name=p + "dot_float", to=TensorProto.FLOAT),
            helper.make_node("Mul", [p + "dot", p + "tiles_scale"], [p + "similarity"], name=p + "similarity"),
        ])
    g.node.extend([
        helper.make_node("TopK", [p + "similarity", p + "k"], [p + "nearest_sim", p + "nearest"], name=p + "nearest",
                         axis=-1, largest=1, sorted=1),
        helper.make_node("Gather", [p + "is_paint", p + "nearest"], [p + "nearest_is_paint"], name=p + "labels", axis=0),
        helper.make_node("MatMul", [p + "nearest_is_paint", p + "mean_k"], [p + "vote"], name=p + "vote"),
    ])
    vote = p + "vote"
    if floor > 0.0:
        g.initializer.append(numpy_helper.from_array(np.asarray(floor, dtype=np.float32), p + "floor"))
        g.node.append(helper.make_node("Max", [vote, p + "floor"], [p + "held_vote"], name=p + "floor"))
        vote = p + "held_vote"
    g.node.append(helper.make_node("Min", [net, vote], [SCORE], name=p + "score"))
    del g.value_info[:]  # shapes recomputed by the runtime; stale entries would name the renamed tensor
    for o in g.output:
        if o.name == SCORE:
            o.type.tensor_type.elem_type = TensorProto.FLOAT
    rule = ("score = min(network score, max(share of paint among the k nearest bank tiles, floor))" if floor > 0
            else "score = min(network score, share of paint among the k nearest bank tiles)")
    info = {**bank.info, "dtype": dtype, "veto": "alert" if floor > 0 else "score", "floor": float(floor), "rule": rule}
    new_meta = dataclasses.replace(meta, extra={**meta.extra, "clean_bank": info})
    write_meta(proto, new_meta)
    onnx.checker.check_model(proto)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        onnx.save(proto, str(tmp))
        read_meta(tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def bank_model(model: Path | str, data: Sequence[str], out: Path | str, *, split: str = "train", val_split: str = "val",
               k: int = 5, clean_min: float = 0.05, hot: float = 0.9, min_side_px: int = 0,
               max_fpr: float | None = None, target_precision: float | None = None, threshold_level: str = "photo",
               threshold_min_side_px: int | None = None, dtype: str = "int8", thresholds: str = "keep",
               veto: str = "alert", progress: bool = True) -> tuple[Bank, Any]:
    """Build the bank from ``data``'s ``split``, fold it into ``model`` → ``out``, and record on ``val_split``
    what the thresholds give now.

    ``thresholds``: ``keep`` (default) keeps the network's thresholds, so the bank only vetoes: a tile flags when
    the network flags it *and* enough of its neighbours are paint (k=5 at a threshold of 0.54: three of five).
    ``policy`` re-chooses them by the policy given (default ≤ 2 % false positives at ``threshold_level``); the
    vote is a step function of k, and a policy that takes the lowest threshold meeting its target lands on a
    step (k=3 on the bundled model: 0.0002), which leaves the edge's clean-again hysteresis no band.

    ``veto``: ``alert`` (default, with kept thresholds) holds a tile the vote quietens just under the alert
    threshold (:func:`just_below`), so the vote acts only on tiles the network reads at or over it; ``score``
    lets the vote take a tile down to 0 (the first rule, and the only one ``policy`` can use). Both flag the same
    tiles; on the edge's real-walls benchmark both read wall 16's piece clean at the same second, hours early (the
    edge holds an open piece by how the wall looked when its tile was last hot, and a vetoed tile is not hot)."""
    from detector.train.rethreshold import rethreshold
    from detector.train.viewlevel import DEFAULT_MIN_SIDE_PX

    model, out = Path(model), Path(out)
    if model.suffix.lower() != ".onnx" or not model.is_file():
        raise ConfigError(f"{model}: expected an exported ONNX model (.onnx) that exists")
    if out.resolve() == model.resolve():
        raise ConfigError(f"--out {out}: expected a new file, not the model itself (its bank is read from it)")
    if not data:
        raise DatasetError("give --data DATASET: the training photos for the bank and their validation split")
    if dtype not in BANK_DTYPES:
        raise ConfigError(f"--bank-dtype: expected one of {', '.join(BANK_DTYPES)}, found {dtype!r}")
    if thresholds not in THRESHOLD_MODES:
        raise ConfigError(f"--thresholds: expected one of {', '.join(THRESHOLD_MODES)}, found {thresholds!r}")
    if thresholds == "keep" and (max_fpr is not None or target_precision is not None):
        raise ConfigError("--thresholds keep: a policy (--max-fpr/--target-precision) needs --thresholds policy")
    if veto not in VETO_MODES:
        raise ConfigError(f"--veto: expected one of {', '.join(VETO_MODES)}, found {veto!r}")
    if veto == "alert" and thresholds == "policy":
        raise ConfigError("--veto alert holds a tile just under the network's own threshold; --thresholds policy "
                          "re-chooses it, so use --veto score with it")
    bank = build_bank(model, data, split=split, k=k, clean_min=clean_min, hot=hot, min_side_px=min_side_px,
                      progress=progress)
    from detector.onnxmodel import read_meta

    attach_bank(model, bank, out, dtype, floor=just_below(read_meta(model).threshold) if veto == "alert" else 0.0)
    result = rethreshold(out, data, split=val_split, max_fpr=max_fpr, target_precision=target_precision,
                         threshold_level=threshold_level, progress=progress, keep=thresholds == "keep",
                         min_side_px=DEFAULT_MIN_SIDE_PX if threshold_min_side_px is None else threshold_min_side_px)
    return bank, result
