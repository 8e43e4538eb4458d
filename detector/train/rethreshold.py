"""``graffiti rethreshold``: choose new operating thresholds for an exported ONNX model, in place.

A shipped model whose checkpoint is gone (or that was thresholded on whole photos) can still be
given thresholds for what the edge asks — the hottest tile of a camera view — from its validation
split: the model's network is untouched, only ``threshold``/``clean_threshold`` and the figures in
its metadata change (the previous ones are kept under ``extra.rethreshold.previous``).

With ``match`` (another ONNX model, e.g. the fp32 model of an int8 copy) the thresholds are not chosen
by the policy but matched to that model's operating point: the cuts on this model's scores that
disagree least with the reference's decisions at the reference's thresholds, over the same photos and
every tile of them as camera views (:func:`detector.train.thresholds.match_thresholds`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from detector.errors import ConfigError, DatasetError, require
from detector.modelmeta import ModelMeta
from detector.train.onnx_export import THRESHOLD_LEVELS, validation_summary
from detector.train.thresholds import check_policy, choose_thresholds, kept_thresholds
from detector.train.viewlevel import DEFAULT_MIN_SIDE_PX, ViewSpec, score_views, view_summary


@dataclass
class RethresholdResult:
    path: Path
    meta: ModelMeta
    previous: dict[str, Any]
    validation: dict[str, Any]


def rethreshold(
    model: Path | str,
    data: Sequence[str],
    *,
    split: str = "val",
    out: Path | str | None = None,
    target_precision: float | None = None,
    max_fpr: float | None = None,
    threshold_level: str = "view",
    min_side_px: int = DEFAULT_MIN_SIDE_PX,
    progress: bool = True,
    match: Path | str | None = None,
    keep: bool = False,
) -> RethresholdResult:
    """Re-choose ``model``'s thresholds on ``data`` (its validation split) and write ``out`` (default: in place).
    ``keep``: keep the model's thresholds and only record what they give on ``data`` (its scores changed)."""
    from detector.modelmeta import write_meta
    from detector.train.evaluation import load_samples
    from detector.train.scorers import OnnxScorer, score_samples

    check_policy(target_precision, max_fpr)
    if keep and (match is not None or target_precision is not None or max_fpr is not None):
        raise ConfigError("keeping the model's thresholds: give no policy (--max-fpr/--target-precision) or --match")
    if match is not None and (target_precision is not None or max_fpr is not None):
        raise ConfigError("--match: give either --match REFERENCE or a policy (--max-fpr/--target-precision), not both")
    if threshold_level not in THRESHOLD_LEVELS:
        raise ConfigError(f"--threshold-level: expected one of {', '.join(THRESHOLD_LEVELS)}, found {threshold_level!r}")
    if not data:
        raise DatasetError("give --data DATASET: the model's validation images (an ONNX file does not carry them)")
    model = Path(model)
    if model.suffix.lower() != ".onnx":
        raise ConfigError(f"{model}: expected an exported ONNX model (.onnx)")
    target = Path(out) if out is not None else model
    scorer = OnnxScorer(model)
    meta = scorer.meta
    if meta is None:  # OnnxScorer without a given preprocess always reads the contract (or raises)
        raise ConfigError(f"{model}: no graffiti metadata contract")
    scorers: list[Any] = [scorer]
    if match is not None:
        match = Path(match)
        if match.suffix.lower() != ".onnx" or not match.is_file():
            raise ConfigError(f"--match {match}: expected an exported ONNX model (.onnx) that exists")
        ref = OnnxScorer(match)
        if ref.meta is None or ref.meta.preprocess_spec() != meta.preprocess_spec():
            raise ConfigError(f"--match {match}: expected a model with the same input contract as {model.name} "
                              "(size, normalisation, channel order, resize)")
        scorers.append(ref)
    samples = load_samples(data, split)
    scored = score_samples(samples, scorers, description=f"scoring {model.name}", progress=progress)
    photos = scored[0]
    spec = ViewSpec(min_side_px=min_side_px)
    viewed = score_views(photos.samples, scorers, spec, description="as camera views", progress=progress)
    views = viewed[0]
    if threshold_level == "view" and not views.samples:
        raise DatasetError(f"{', '.join(data)}: no image is at least {min_side_px} px on its shorter side to be shown "
                           "as a camera view; lower --min-side or use --threshold-level photo")
    matched: dict[str, Any] | None = None
    if match is not None:
        from detector.train.onnx_export import matched_choice

        choice, matched = matched_choice(scored[1], viewed[1], scorers[1].meta, photos, views, threshold_level)
        matched["reference_file"] = str(match)
    else:
        source = views if threshold_level == "view" else photos
        choice = kept_thresholds(source.labels, source.scores, meta.threshold, meta.clean_threshold) if keep else \
            choose_thresholds(source.labels, source.scores, target_precision=target_precision, max_fpr=max_fpr)
    runtime = f"onnxruntime {'int8' if meta.quantization != 'none' else 'fp32'}"
    validation = validation_summary(photos.labels, photos.scores, photos.samples, choice, runtime)
    validation["threshold_level"] = threshold_level
    validation["view_level"] = view_summary(views, choice.threshold, spec)
    previous = {"threshold": meta.threshold, "clean_threshold": meta.clean_threshold,
                "policy": meta.extra.get("threshold_policy"), "metrics": meta.metrics}
    new_meta = dataclasses.replace(
        meta, threshold=choice.threshold, clean_threshold=choice.clean_threshold, metrics=validation,
        extra={**{k: v for k, v in meta.extra.items() if k != "matched_to"}, "threshold_policy": choice.to_dict(),
               **({"matched_to": matched} if matched is not None else {}),
               "rethreshold": {"data": list(data), "split": split,
                               "when_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                               "previous": previous}},
    )
    del scorer, scorers
    onnx: Any = require("onnx", "train")
    from detector.onnxmodel import read_meta

    proto = onnx.load(str(model))
    write_meta(proto, new_meta)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        onnx.save(proto, str(tmp))
        read_meta(tmp)  # the contract must read back exactly as the edge will read it
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return RethresholdResult(path=target, meta=new_meta, previous=previous, validation=validation)
