"""``graffiti eval``: score a checkpoint or an ONNX model on datasets and write a report folder.

An ONNX model is run by :mod:`detector.onnxmodel`, the edge's own session and scoring rules (no
torch imported), so the figures are what the device will do. The command itself is in
:mod:`detector.train.cli`. The report folder holds ``report.json`` (all metrics,
per-source/kind/group breakdowns, the threshold used, counts, unreadable images), ``scores.csv``,
PR/ROC/confusion/calibration PNGs and contact sheets of the worst false positives/negatives.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detector.data.sample import Sample
from detector.errors import ConfigError, DatasetError
from detector.train import metrics as m
from detector.train.scorers import ScoredSamples, Scorer, open_scorer, score_samples
from detector.train.thresholds import suggest_thresholds

SPLITS = ("val", "test", "train", "all")
WORST_N = 18  # images per contact sheet
DEFAULT_THRESHOLD = 0.5  # only for checkpoints, which carry no chosen threshold


@dataclass
class EvalResult:
    """What ``graffiti eval`` produced: the report dict (also written as JSON) and the files."""

    report: dict[str, Any]
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)


def select_split(samples: Sequence[Sample], split: str, where: str) -> list[Sample]:
    """Keep one split ('all' keeps everything); an empty result is a DatasetError saying why."""
    if split not in SPLITS:
        raise ConfigError(f"--split: expected one of {', '.join(SPLITS)}, found {split!r}")
    if not samples:
        raise DatasetError(f"{where}: the dataset is empty (no images to evaluate)")
    if split == "all":
        return list(samples)
    kept = [s for s in samples if s.split == split]
    if not kept:
        have = sorted({s.split or "(none)" for s in samples})
        raise DatasetError(f"{where}: no images in split {split!r} (splits present: {', '.join(have)}); "
                           "use --split all to evaluate every image")
    return kept


def load_samples(data: Sequence[str], split: str) -> list[Sample]:
    from detector.data.formats import load_dataset

    samples: list[Sample] = []
    for spec in data:
        samples.extend(select_split(load_dataset(spec), split, f"dataset {spec}"))
    return samples


def _checkpoint_manifest(scorer: Scorer) -> Path | None:
    loaded = getattr(scorer, "loaded", None)
    if loaded is None:
        return None
    from detector.train.onnx_export import checkpoint_manifest

    return checkpoint_manifest(loaded)


def _training_overlap(scorer: Scorer, samples: Sequence[Sample]) -> int | None:
    """How many evaluated images the checkpoint trained on (None when its manifest is not readable)."""
    manifest = _checkpoint_manifest(scorer)
    if manifest is None or not manifest.is_file():
        return None
    from detector.data.manifest import read_manifest

    try:
        train = {Path(s.path).resolve() for s in read_manifest(manifest, check_files=False) if s.split == "train"}
    except DatasetError:
        return None
    return sum(Path(s.path).resolve() in train for s in samples)


def _resolve_threshold(scorer: Scorer, threshold: float | None) -> tuple[float, float | None, str]:
    meta = getattr(scorer, "meta", None)
    if threshold is not None:
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"--threshold: expected a probability in [0, 1], found {threshold}")
        return float(threshold), None, "--threshold"
    if meta is not None:
        return float(meta.threshold), float(meta.clean_threshold), "model metadata"
    loaded = getattr(scorer, "loaded", None)
    saved = loaded.metrics.get("threshold") if loaded is not None else None
    if isinstance(saved, int | float) and 0.0 <= saved <= 1.0:
        return float(saved), None, "checkpoint metrics"
    return DEFAULT_THRESHOLD, None, f"default {DEFAULT_THRESHOLD} (a checkpoint carries no chosen threshold)"


def _worst(scored: ScoredSamples, label: int, n: int, threshold: float) -> list[dict[str, Any]]:
    """The n clean images scoring highest (label 0) or graffiti images scoring lowest (label 1);
    ``flagged`` says whether each crossed the threshold (near misses are shown too)."""
    idx = [i for i, s in enumerate(scored.samples) if s.label == label]
    idx.sort(key=lambda i: scored.scores[i], reverse=(label == 0))
    return [{"path": str(scored.samples[i].path), "score": float(scored.scores[i]),
             "flagged": bool(scored.scores[i] >= threshold), "source": scored.samples[i].source,
             "kind": scored.samples[i].kind, "group": scored.samples[i].group} for i in idx[:n]]


def _model_info(scorer: Scorer) -> dict[str, Any]:
    from detector.modelmeta import file_sha256

    info: dict[str, Any] = {"path": str(scorer.path), "kind": scorer.kind, "sha256": file_sha256(scorer.path)}
    meta = getattr(scorer, "meta", None)
    if meta is not None:
        info.update(name=meta.name, version=meta.version, arch=meta.arch, quantization=meta.quantization)
    loaded = getattr(scorer, "loaded", None)
    if loaded is not None:
        info.update(arch=loaded.arch, epoch=loaded.epoch, git_rev=loaded.git_rev)
    info["input_size"] = list(scorer.preprocess.input_size)
    return info


def build_report(scored: ScoredSamples, threshold: float) -> dict[str, Any]:
    """Metrics, breakdowns and worst cases for scored samples at one threshold (no files written)."""
    y, s = scored.labels, scored.scores
    samples = scored.samples
    report: dict[str, Any] = {
        "metrics": m.binary_metrics(y, s, threshold).to_dict(),
        "by_source": {k: v.to_dict() for k, v in m.breakdown(y, s, [x.source for x in samples], threshold).items()},
        "by_kind": {k: v.to_dict() for k, v in m.breakdown(y, s, [x.kind for x in samples], threshold).items()},
        "by_group": {k: v.to_dict() for k, v in m.breakdown(y, s, [x.group for x in samples], threshold).items()},
        "calibration_bins": [vars(b) for b in m.reliability_bins(y, s)],
        "worst_false_positives": _worst(scored, 0, WORST_N, threshold),
        "worst_false_negatives": _worst(scored, 1, WORST_N, threshold),
    }
    return report



def _write_scores_csv(scored: ScoredSamples, threshold: float, path: Path) -> Path:
    """One row per image: its exact score (every digit: a score just under the threshold must not read as over
    it) and whether it is flagged at ``threshold``."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["path", "label", "score", "flagged", "source", "kind", "group", "split"])
        for sample, score in zip(scored.samples, scored.scores, strict=True):
            w.writerow([sample.path, sample.label_name, repr(float(score)), int(float(score) >= threshold),
                        sample.source, sample.kind or "", sample.group, sample.split or ""])
    return path


def write_figures(scored: ScoredSamples, report: dict[str, Any], threshold: float, out_dir: Path) -> dict[str, Path]:
    from detector.train import plots

    y, s = scored.labels, scored.scores
    files = {
        "pr_curve": plots.plot_pr(y, s, threshold, out_dir / "pr_curve.png"),
        "roc_curve": plots.plot_roc(y, s, threshold, out_dir / "roc_curve.png"),
        "confusion_matrix": plots.plot_confusion(m.confusion_at(y, s, threshold), out_dir / "confusion_matrix.png"),
        "calibration": plots.plot_calibration(y, s, out_dir / "calibration.png"),
    }
    for key, name in (("worst_false_positives", "worst_fp.png"), ("worst_false_negatives", "worst_fn.png")):
        rows = report[key]
        captions = [plots.mistake_caption(r["score"], r["flagged"], r["path"]) for r in rows]
        files[key] = plots.contact_sheet([Path(r["path"]) for r in rows], captions, out_dir / name)
    return files


def evaluate(
    model: Path | str,
    data: Sequence[str] = (),
    *,
    split: str | None = None,
    out_dir: Path | str | None = None,
    threshold: float | None = None,
    target_precision: float | None = None,
    max_fpr: float | None = None,
    batch_size: int = 16,
    progress: bool = True,
    views: bool = True,
    view_size: tuple[int, int] | None = None,
) -> EvalResult:
    """Evaluate ``model`` on ``data`` (dataset specs); without data, a checkpoint's own val split.

    ``target_precision``/``max_fpr`` choose the policy for ``report["suggested_thresholds"]``: the
    thresholds this data would give (how far the model's own threshold is from what these images need).
    ``view_size`` (width, height): show each photo as a camera view of that size, cut into tiles sized to it
    as the edge cuts such a frame (default 1280x720, the size the models' figures are measured at).
    """
    from detector.train.thresholds import check_policy

    check_policy(target_precision, max_fpr)
    started = time.monotonic()
    scorer = open_scorer(model)
    model_path = Path(model)
    if data:
        split = split or "all"
        samples = load_samples(data, split)
        data_desc = list(data)
    else:
        manifest = _checkpoint_manifest(scorer)
        if manifest is None:
            raise DatasetError(f"{model_path}: give --data DATASET (only a checkpoint knows its own validation split)")
        if not manifest.is_file():
            raise DatasetError(f"{model_path}: its split manifest {manifest} is gone; give --data DATASET")
        split = split or "val"
        samples = load_samples([f"{manifest}::format=manifest"], split)
        data_desc = [str(manifest)]
    if not samples:
        raise DatasetError(f"{', '.join(data_desc)}: no images to evaluate")
    used, clean_used, threshold_source = _resolve_threshold(scorer, threshold)
    scored = score_samples(samples, [scorer], batch_size=batch_size, description=f"scoring {model_path.name}",
                           progress=progress)[0]
    if not scored.samples:
        raise DatasetError(f"{', '.join(data_desc)}: none of the {len(samples)} images could be read")
    out = Path(out_dir) if out_dir is not None else Path("eval") / model_path.stem
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "model": _model_info(scorer),
        "data": {"specs": data_desc, "split": split},
        "threshold": used,
        "clean_threshold": clean_used,
        "threshold_source": threshold_source,
        "counts": {"images": len(samples), "scored": len(scored.samples), "unreadable": len(scored.unreadable),
                   "graffiti": int(scored.labels.sum()), "clean": int((scored.labels == 0).sum())},
        "unreadable": [str(p) for p in scored.unreadable],
        "in_training_split": _training_overlap(scorer, scored.samples),
    }
    from detector.leakguard import guard_model

    report["leak_guard"] = guard_model(scorer, scored.samples, model_path, _checkpoint_manifest(scorer))
    report.update(build_report(scored, used))
    report["suggested_thresholds"] = suggest_thresholds(scored.labels, scored.scores, target_precision, max_fpr)
    if views:  # the question the edge asks: any tile of the photo shown as a camera view over the threshold
        from detector.train.viewlevel import ViewSpec
        from detector.train.viewreport import view_report

        spec = ViewSpec(*view_size) if view_size else None
        report["view_level"], views_csv = view_report(scorer, scored.samples, used, target_precision, max_fpr, out,
                                                      progress, spec)
    from detector.train.kindfp import false_positives_by_kind

    view_by_kind = report["view_level"].get("by_kind") if views else None
    report["false_positives_by_kind"] = [r.to_dict() for r in false_positives_by_kind(report["by_kind"], view_by_kind)]
    files = write_figures(scored, report, used, out)
    files["scores"] = _write_scores_csv(scored, used, out / "scores.csv")
    if views:
        files["view_scores"] = views_csv
    report["files"] = {k: p.name for k, p in files.items()}
    report["elapsed_s"] = round(time.monotonic() - started, 2)
    report_path = out / "report.json"
    report_path.write_text(json.dumps(report, indent=2, default=_json_default) + "\n", encoding="utf-8")
    files["report"] = report_path
    return EvalResult(report=report, out_dir=out, files=files)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
