"""``graffiti export``: checkpoint → ONNX model carrying the full contract, parity-checked.

Steps: trace the model with a sigmoid head (classic TorchScript exporter, opset 17, dynamic batch);
check parity torch vs onnxruntime on real validation images (max |Δ probability| <= 1e-4, else no
file is written); score the checkpoint's validation split with the *exported* model through the
edge preprocessing and choose the thresholds there (:mod:`detector.train.thresholds`); write the
contract (:class:`detector.modelmeta.ModelMeta`) and run ``onnx.checker``. With ``--int8`` a static
int8 copy follows (:mod:`detector.train.quantize`) with its own thresholds and a guard.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from detector.data.sample import Sample
from detector.errors import CheckpointError, ConfigError, DatasetError, DetectorError, require
from detector.modelmeta import INPUT_NAME, OUTPUT_NAME, ModelMeta
from detector.train import metrics as m
from detector.train.scorers import OnnxScorer, TorchScorer, score_samples
from detector.train.thresholds import ThresholdChoice, ThresholdError, check_policy, choose_thresholds

THRESHOLD_LEVELS = ("view", "photo")  # view: any tile of a camera view (what the edge alerts on)
PARITY_TOLERANCE = 1e-4  # max |p_torch - p_onnxruntime| on real validation images
PARITY_IMAGES = 32
OPSET = 17


class ExportError(DetectorError):
    """The exported graph does not reproduce the checkpoint, or the ONNX file is invalid."""


@dataclass
class ExportedModel:
    """One written ONNX file and how it was validated."""

    path: Path
    meta: ModelMeta
    validation: dict[str, Any]


@dataclass
class ExportResult:
    fp32: ExportedModel
    parity_max_abs_diff: float
    parity_images: int
    int8: ExportedModel | None = None


def checkpoint_manifest(loaded: Any) -> Path | None:
    """The split manifest a checkpoint's run wrote: as recorded, else beside the checkpoint (a run
    folder that was moved or a relative path recorded from another working directory)."""
    return recorded_manifest(loaded.data, loaded.path)


def recorded_manifest(data: dict[str, Any] | None, checkpoint: Path | str) -> Path | None:
    """:func:`checkpoint_manifest` from a checkpoint's ``data`` record and its file path (a raw checkpoint
    dict, as ``graffiti soup`` reads them); None when it records none."""
    manifest = (data or {}).get("manifest")
    if not manifest:
        return None
    path = Path(manifest)
    if not path.is_file():
        beside = Path(checkpoint).parent / path.name
        if beside.is_file():
            return beside
    return path


def validation_samples(loaded: Any) -> list[Sample]:
    """The checkpoint's validation split, from the split manifest its run wrote."""
    from detector.data.manifest import read_manifest

    path = checkpoint_manifest(loaded)
    if path is None:
        imported = (loaded.raw.get("extra") or {}).get("imported_from")
        hint = (f" (it was imported from {imported.get('path')}, which keeps no split: train from it with --from, "
                "or re-threshold that ONNX file with graffiti rethreshold)") if isinstance(imported, dict) else ""
        raise CheckpointError(f"{loaded.path}: checkpoint does not name its split manifest (data.manifest){hint}")
    if not path.is_file():
        raise DatasetError(f"{loaded.path}: its split manifest {path} is missing; thresholds need the validation split")
    val = [s for s in read_manifest(path) if s.split == "val"]
    if not val:
        raise DatasetError(f"{path}: no rows with split 'val'; thresholds and parity need a validation split")
    return val


def _parity_subset(samples: Sequence[Sample], n: int) -> list[Sample]:
    """Up to n images spread evenly over the split (both classes when present)."""
    if len(samples) <= n:
        return list(samples)
    idx = np.linspace(0, len(samples) - 1, n).round().astype(int)
    return [samples[i] for i in sorted(set(idx.tolist()))]


def torch_to_onnx(model: Any, input_size: tuple[int, int], path: Path, opset: int = OPSET, what: str = "model") -> Path:
    """Trace ``model`` (one logit per image) with a sigmoid head to ONNX: input 'input', output 'score'.

    A network the exporter cannot express is an ExportError naming ``what`` and the first cause line.
    """
    import contextlib
    import io

    import torch

    class ProbabilityHead(torch.nn.Module):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.net(x).reshape(-1))

    wrapped = ProbabilityHead(model).eval()
    h, w = input_size
    dummy = torch.zeros(2, 3, h, w)  # batch 2 so no size-1 dimension is baked into the graph
    noise = io.StringIO()  # on failure the exporter prints the whole traced graph
    with warnings.catch_warnings(), contextlib.redirect_stderr(noise):
        warnings.simplefilter("ignore")  # the classic exporter warns that it is deprecated
        try:
            torch.onnx.export(
                wrapped, (dummy,), str(path),
                input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=opset, do_constant_folding=True, dynamo=False,
            )
        except Exception as exc:  # UnsupportedOperatorError, tracer errors, symbolic failures ...
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise ExportError(f"{what}: does not export to ONNX opset {opset} ({first}); the edge needs an "
                              "ONNX model, so choose another --arch or replace that layer") from None
    return path


def validation_summary(labels: np.ndarray, scores: np.ndarray, samples: Sequence[Sample],
                       choice: ThresholdChoice, runtime: str) -> dict[str, Any]:
    """Validation metrics stored in the model's metadata (overall and per source)."""
    overall = m.binary_metrics(labels, scores, choice.threshold)
    keep = ("n", "n_graffiti", "n_clean", "auroc", "average_precision", "ece", "precision", "recall", "fpr", "f1")

    def rounded(d: dict[str, Any]) -> dict[str, Any]:
        return {k: round(d[k], 6) if isinstance(d[k], float) else d[k] for k in keep}

    per_source = m.breakdown(labels, scores, [s.source for s in samples], choice.threshold)
    return {
        "split": "val", "runtime": runtime, "threshold": choice.threshold, "clean_threshold": choice.clean_threshold,
        **rounded(overall.to_dict()),
        "by_source": {k: rounded(v.to_dict()) for k, v in per_source.items()},
    }


def _training_data(loaded: Any) -> dict[str, Any]:
    data = dict(loaded.data or {})
    manifest = data.pop("manifest", None)
    summary = {k: data[k] for k in ("digest", "sources", "counts") if k in data}
    if manifest:
        summary["manifest"] = Path(manifest).name
    summary["checkpoint"] = Path(loaded.path).name
    summary["epoch"] = loaded.epoch
    path = checkpoint_manifest(loaded)
    if path is not None and path.is_file():  # file hashes of the training split, for eval's leak guard
        from detector.data.manifest import read_manifest
        from detector.leakguard import training_fingerprint

        summary.update(training_fingerprint(read_manifest(path, check_files=False)))
    return summary


def _save_with_meta(tmp_path: Path, out: Path, meta: ModelMeta) -> None:
    onnx: Any = require("onnx", "train")
    from detector.modelmeta import write_meta
    from detector.onnxmodel import read_meta

    model = onnx.load(str(tmp_path))
    write_meta(model, meta)
    onnx.save(model, str(tmp_path))
    try:
        onnx.checker.check_model(str(tmp_path), full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"{out}: onnx.checker rejected the model ({str(exc).splitlines()[0][:160]})") from None
    read_meta(tmp_path)  # the contract must read back exactly as the edge will read it
    os.replace(tmp_path, out)


def _tmp_path(out: Path) -> Path:
    return out.with_name(f".{out.name}.{os.getpid()}.tmp")


INT8_FLOAT_FRONT = 3  # int8: the first convolutions kept in float (EfficientNet-Lite0: the stem and block 0)


def export_model(
    checkpoint: Path | str,
    out: Path | str,
    *,
    name: str | None = None,
    version: str = "1",
    target_precision: float | None = None,
    max_fpr: float | None = None,
    int8: bool = False,
    calib: Sequence[str] = (),
    calib_method: str = "minmax",
    allow_degraded: bool = False,
    parity_images: int = PARITY_IMAGES,
    progress: bool = True,
    threshold_level: str = "view",
    int8_thresholds: str = "match",
    int8_float_tail: str = "fc",
    calib_images: int = 0,
    int8_reduce_range: bool = True,
    int8_float_front: int = INT8_FLOAT_FRONT,
) -> ExportResult:
    """Export ``checkpoint`` to ``out`` (and ``<stem>-int8.onnx`` beside it with ``int8``)."""
    from detector.train.checkpoint import load_checkpoint

    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise ExportError(f"--out {out}: expected a path ending in .onnx")
    check_policy(target_precision, max_fpr)
    if threshold_level not in THRESHOLD_LEVELS:
        raise ConfigError(f"--threshold-level: expected one of {', '.join(THRESHOLD_LEVELS)}, found {threshold_level!r}")
    if int8 and not calib:
        raise DatasetError("--int8 needs --calib DATASET (images to measure activation ranges on)")
    if int8_thresholds not in INT8_THRESHOLDS:
        raise ConfigError(f"--int8-thresholds: expected one of {', '.join(INT8_THRESHOLDS)}, found {int8_thresholds!r}")
    if int8_float_tail not in FLOAT_TAILS:
        raise ConfigError(f"--int8-float-tail: expected one of {', '.join(FLOAT_TAILS)}, found {int8_float_tail!r}")
    if int8_float_front < 0:
        raise ConfigError(f"--int8-float-front: expected a number of convolutions >= 0, found {int8_float_front}")
    calib_samples: list[Sample] = []
    if int8:  # read the calibration set first: a bad --calib should fail before any work is done
        calib_samples = int8_calibration(calib, calib_method, calib_images)
    loaded = load_checkpoint(Path(checkpoint))
    spec = loaded.preprocess
    val = validation_samples(loaded)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(out)
    try:
        torch_to_onnx(loaded.model, spec.input_size, tmp, what=f"{loaded.path} (arch {loaded.arch})")
        ort_scorer = OnnxScorer(tmp, preprocess=spec)
        subset = _parity_subset(val, parity_images)
        torch_scores, onnx_scores = score_samples(subset, [TorchScorer(loaded=loaded), ort_scorer],
                                                  description="parity torch vs onnxruntime", progress=progress)
        if not torch_scores.samples:
            raise DatasetError(f"{loaded.path}: none of the {len(subset)} validation images for the parity check could be read")
        diff = float(np.max(np.abs(torch_scores.scores - onnx_scores.scores)))
        if not diff <= PARITY_TOLERANCE:
            raise ExportError(
                f"{out}: parity check failed: torch and onnxruntime probabilities differ by up to {diff:.2e} "
                f"(> {PARITY_TOLERANCE:g}) on {len(torch_scores.samples)} validation images; model not written")
        scored = score_samples(val, [ort_scorer], description="validation (onnxruntime fp32)", progress=progress)[0]
        choice, view_level, views = _choose(scored, ort_scorer, threshold_level, target_precision, max_fpr, loaded,
                                            progress)
        created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        model_name = name or out.stem
        validation = validation_summary(scored.labels, scored.scores, scored.samples, choice, "onnxruntime fp32")
        validation["threshold_level"] = threshold_level
        validation["view_level"] = view_level
        meta = ModelMeta(
            name=model_name, version=version, arch=loaded.arch, input_size=tuple(spec.input_size),  # type: ignore[arg-type]
            mean=tuple(spec.mean), std=tuple(spec.std),  # type: ignore[arg-type]
            threshold=choice.threshold, clean_threshold=choice.clean_threshold,
            channel_order=spec.channel_order, resize=spec.resize, quantization="none",
            training_data=_training_data(loaded), metrics=validation, git_rev=loaded.git_rev or "unknown",
            created_utc=created,
            extra={"threshold_policy": choice.to_dict(),
                   "parity": {"max_abs_diff": diff, "images": len(torch_scores.samples), "tolerance": PARITY_TOLERANCE},
                   "unreadable_val_images": len(scored.unreadable)},
        )
        del ort_scorer
        _save_with_meta(tmp, out, meta)
    finally:
        tmp.unlink(missing_ok=True)
    result = ExportResult(fp32=ExportedModel(out, meta, validation), parity_max_abs_diff=diff,
                          parity_images=len(torch_scores.samples))
    if int8:
        result.int8 = export_int8(out, meta, scored, calib_samples, calib_specs=calib, calib_method=calib_method,
                                  target_precision=target_precision, max_fpr=max_fpr,
                                  allow_degraded=allow_degraded, progress=progress,
                                  threshold_level=threshold_level, loaded=loaded,
                                  match_to=views if int8_thresholds == "match" else None,
                                  float_tail=int8_float_tail, reduce_range=int8_reduce_range,
                                  float_front=int8_float_front)
    return result


def _choose(scored: Any, scorer: Any, level: str, target_precision: float | None, max_fpr: float | None,
            loaded: Any, progress: bool) -> tuple[ThresholdChoice, dict[str, Any], Any]:
    """Thresholds by the policy on view scores (``level`` 'view') or photo scores, the view-level
    figures at the chosen threshold (always measured: they go into the metadata) and the view scores."""
    from detector.train.viewlevel import view_summary

    views, spec = _validation_views(scored, scorer, loaded, progress)
    source = views if level == "view" else scored
    choice = choose_thresholds(source.labels, source.scores, target_precision=target_precision, max_fpr=max_fpr)
    return choice, view_summary(views, choice.threshold, spec), views


def _validation_views(scored: Any, scorer: Any, loaded: Any, progress: bool) -> tuple[Any, Any]:
    """The validation photos scored as camera views, and the view spec used."""
    import dataclasses

    from detector.train.viewlevel import score_views

    spec = view_spec_for(loaded)
    views = score_views(scored.samples, [scorer], spec, description="validation as camera views", progress=progress)[0]
    if not views.samples and spec.min_side_px:  # only small images (e.g. tests): show them all as views
        spec = dataclasses.replace(spec, min_side_px=0)
        views = score_views(scored.samples, [scorer], spec, description="validation as camera views",
                            progress=progress)[0]
    return views, spec


def matched_choice(ref_photos: Any, ref_views: Any, ref_meta: ModelMeta, photos: Any, views: Any,
                   level: str) -> tuple[ThresholdChoice, dict[str, Any]]:
    """Thresholds for a second model (an int8 copy) that reproduce ``ref_meta``'s decisions on the same
    validation photos and every tile of them as camera views (:func:`detector.train.thresholds.match_thresholds`),
    with the policy figures at ``level`` and the matching record."""
    from detector.train.thresholds import match_thresholds

    def tiles(v: Any) -> np.ndarray:
        return np.concatenate([np.asarray(t, dtype=np.float64).ravel() for t in v.tile_scores]) \
            if v.tile_scores else np.zeros(0)

    if [s.path for s in ref_photos.samples] != [s.path for s in photos.samples] or \
            [s.path for s in ref_views.samples] != [s.path for s in views.samples]:
        raise DatasetError("matching thresholds: the two models were not scored on the same validation images "
                           "(an image readable for one and not the other?)")
    ref = np.r_[np.asarray(ref_photos.scores, dtype=np.float64), tiles(ref_views)]
    own = np.r_[np.asarray(photos.scores, dtype=np.float64), tiles(views)]
    m = match_thresholds(ref, own, ref_meta.threshold, ref_meta.clean_threshold)
    source = views if level == "view" else photos
    y, s = source.labels, np.asarray(source.scores)
    flagged = s >= m.threshold
    tp, fp = int(np.sum(flagged & (y == 1))), int(np.sum(flagged & (y == 0)))
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    choice = ThresholdChoice(threshold=m.threshold, clean_threshold=m.clean_threshold, policy="match",
                             target=float(ref_meta.threshold), precision=tp / (tp + fp) if tp + fp else None,
                             recall=tp / n_pos if n_pos else None, fpr=fp / n_neg if n_neg else None,
                             n_graffiti=n_pos, n_clean=n_neg)
    return choice, {**m.to_dict(), "reference": f"{ref_meta.name} v{ref_meta.version} ({ref_meta.quantization})"}


def view_spec_for(loaded: Any) -> Any:
    """Validation photos shown as views: those a MIL run cut into tiles (smaller scenes are one tile)."""
    from detector.train.viewlevel import DEFAULT_MIN_SIDE_PX, ViewSpec

    mil = (loaded.config or {}).get("mil") or {}
    return ViewSpec(min_side_px=int(mil.get("tile_min_side_px", DEFAULT_MIN_SIDE_PX)))


FLOAT_TAILS = ("fc", "conv")  # int8: kept in float from the output back to the last Gemm, or the last Conv
INT8_THRESHOLDS = ("match", "own")  # the int8 copy: fp32's operating point matched, or the policy on its own scores


def int8_path(fp32_path: Path) -> Path:
    return fp32_path.with_name(f"{fp32_path.stem}-int8.onnx")


def int8_calibration(calib: Sequence[str], calib_method: str, calib_images: int) -> list[Sample]:
    """Check the calibration options (one-line errors) and read the calibration samples."""
    from detector.train.quantize import CALIB_MAX_IMAGES, CALIB_METHODS, calibration_samples

    if calib_method not in CALIB_METHODS:
        raise ConfigError(f"--calib-method: expected one of {', '.join(CALIB_METHODS)}, found {calib_method!r}")
    if calib_images < 0:
        raise ConfigError(f"--calib-images: expected a count >= 1 (0 = the default), found {calib_images}")
    if calib_images > CALIB_MAX_IMAGES:
        raise ConfigError(
            f"--calib-images {calib_images}: at most {CALIB_MAX_IMAGES} with --calib-method {calib_method} "
            "(calibration holds every activation of every calibration image in memory: tens of MB per image)")
    return calibration_samples(calib, **({"max_images": calib_images} if calib_images else {}))


def calibration_record(specs: Sequence[str], used: int, method: str, float_tail: str,
                       reduce_range: bool, float_front: int) -> dict[str, Any]:
    """How an int8 copy was calibrated, as its metadata's ``extra.calibration`` records it."""
    return {"specs": list(specs), "images": used, "method": method, "format": "QDQ",
            "weights": "int8 per-channel" + (", 7-bit range" if reduce_range else ""),
            "reduce_range": bool(reduce_range), "activations": "uint8", "float_tail": float_tail,
            "float_front_convs": int(float_front)}


def export_int8(
    fp32_path: Path,
    fp32_meta: ModelMeta,
    fp32_val: Any,
    calib: Sequence[Sample],
    *,
    calib_specs: Sequence[str] = (),
    calib_method: str = "minmax",
    target_precision: float | None,
    max_fpr: float | None,
    allow_degraded: bool,
    progress: bool = True,
    threshold_level: str = "photo",
    loaded: Any = None,
    match_to: Any = None,
    float_tail: str = "fc",
    reduce_range: bool = True,
    float_front: int = INT8_FLOAT_FRONT,
) -> ExportedModel:
    """Quantize the written fp32 model, choose its thresholds on validation (with ``match_to``, the fp32
    model's view scores: matched to the fp32 operating point; without, by the policy), guard, write
    the contract."""
    import dataclasses

    from detector.modelmeta import file_sha256
    from detector.train.quantize import QuantizationGuardError, compare_operating_points, quantize_int8

    spec = fp32_meta.preprocess_spec()
    out = int8_path(fp32_path)
    tmp = _tmp_path(out)
    try:
        try:
            used = quantize_int8(fp32_path, tmp, calib, spec, method=calib_method, progress=progress,
                                 float_tail=float_tail, reduce_range=reduce_range, float_front=float_front)
        except DetectorError:
            raise
        except Exception as exc:  # onnxruntime.quantization fails in many ways on unusual graphs
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise QuantizationGuardError(
                f"{out}: arch {fp32_meta.arch} does not quantize to int8 ({type(exc).__name__}: {first}); "
                f"{fp32_path.name} was written; use it, or export without --int8") from None
        scorer = OnnxScorer(tmp, preprocess=spec)
        scored = score_samples(fp32_val.samples, [scorer], description="validation (onnxruntime int8)",
                               progress=progress)[0]
        matched: dict[str, Any] | None = None
        try:
            if loaded is not None and match_to is not None:
                from detector.train.viewlevel import view_summary

                views, spec = _validation_views(scored, scorer, loaded, progress)
                choice, matched = matched_choice(fp32_val, match_to, fp32_meta, scored, views, threshold_level)
                view_level = view_summary(views, choice.threshold, spec)
            elif loaded is not None:
                choice, view_level, _ = _choose(scored, scorer, threshold_level, target_precision, max_fpr, loaded,
                                                progress)
            else:
                choice = choose_thresholds(scored.labels, scored.scores, target_precision=target_precision,
                                           max_fpr=max_fpr)
                view_level = None
        except ThresholdError as exc:
            raise QuantizationGuardError(
                f"{out}: int8 model refused: its validation scores admit no threshold ({exc}); "
                f"{fp32_path.name} was written") from None
        del scorer
        validation = validation_summary(scored.labels, scored.scores, scored.samples, choice, "onnxruntime int8")
        validation["threshold_level"] = threshold_level
        validation["view_level"] = view_level
        fp32_figs = {k: fp32_meta.metrics[k] for k in ("auroc", "threshold", "recall", "fpr")}
        int8_figs = {k: validation[k] for k in ("auroc", "threshold", "recall", "fpr")}
        guard = compare_operating_points(fp32_figs, int8_figs)
        if not guard.passed and not allow_degraded:
            raise QuantizationGuardError(
                f"{out}: int8 model refused, worse than fp32 on validation: {'; '.join(guard.failures)}; "
                f"{fp32_path.name} was written; pass --allow-degraded to keep the int8 model anyway")
        meta = dataclasses.replace(
            fp32_meta,
            threshold=choice.threshold, clean_threshold=choice.clean_threshold, quantization="int8-static",
            metrics=validation,
            created_utc=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            extra={
                "threshold_policy": choice.to_dict(),
                **({"matched_to_fp32": matched} if matched is not None else {}),
                "guard": guard.to_dict(),
                "allow_degraded": bool(allow_degraded),
                "degraded": not guard.passed,
                "calibration": calibration_record(calib_specs, used, calib_method, float_tail, reduce_range,
                                                  float_front),
                "fp32_model": {"file": fp32_path.name, "sha256": file_sha256(fp32_path)},
            },
        )
        _save_with_meta(tmp, out, meta)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportedModel(out, meta, validation)
