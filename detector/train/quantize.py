"""Static int8 quantization of an exported fp32 model, with its own thresholds and a guard.

Why not the fp32 thresholds: quantization shifts scores. In a measurement on a fine-tuned
EfficientNet-Lite0, a plain static int8 export kept AUROC within 0.005 of fp32 but, at the fp32
threshold, flagged 30 % of clean validation images instead of 3 %. So the int8 model's thresholds
are matched to the fp32 model's decisions on validation (or chosen again by the policy on its own
scores), and the guard compares each model at its own operating point.

Guard (int8 against fp32 on the validation split), refused unless ``--allow-degraded``:
AUROC may drop by at most ``MARGINS.auroc_drop`` (0.01), recall at the threshold by at most
``MARGINS.recall_drop`` (0.05), and the false-positive rate may rise by at most
``MARGINS.fpr_rise`` (0.02).
"""

from __future__ import annotations

import contextlib
import random
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detector.data.sample import Sample
from detector.errors import ConfigError, DatasetError, DetectorError, require
from detector.preprocess import PreprocessSpec, preprocess_batch

CALIB_METHODS = ("minmax", "percentile", "entropy")  # onnxruntime calibrators; minmax is the fast default
CALIB_MAX_IMAGES = 256  # enough for stable activation ranges; calibration time grows linearly
CALIB_BATCH = 8


class QuantizationGuardError(DetectorError):
    """The int8 model is worse than the fp32 model by more than the stated margins."""


@dataclass(frozen=True)
class GuardMargins:
    auroc_drop: float = 0.01
    recall_drop: float = 0.05
    fpr_rise: float = 0.02


MARGINS = GuardMargins()


@dataclass(frozen=True)
class GuardReport:
    """Both models' validation figures at their own thresholds, and whether int8 passed."""

    fp32_auroc: float
    int8_auroc: float
    fp32_threshold: float
    int8_threshold: float
    fp32_recall: float
    int8_recall: float
    fp32_fpr: float
    int8_fpr: float
    margins: dict[str, float]
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["failures"] = list(self.failures)
        d["passed"] = self.passed
        return d


def compare_operating_points(
    fp32: dict[str, float], int8: dict[str, float], margins: GuardMargins = MARGINS
) -> GuardReport:
    """``fp32``/``int8``: {"auroc", "threshold", "recall", "fpr"} measured on the same validation images."""
    failures = []
    if int8["auroc"] < fp32["auroc"] - margins.auroc_drop:
        failures.append(f"AUROC {int8['auroc']:.4f} vs fp32 {fp32['auroc']:.4f} (allowed drop {margins.auroc_drop})")
    if int8["recall"] < fp32["recall"] - margins.recall_drop:
        failures.append(f"recall {int8['recall']:.4f} vs fp32 {fp32['recall']:.4f} (allowed drop {margins.recall_drop})")
    if int8["fpr"] > fp32["fpr"] + margins.fpr_rise:
        failures.append(f"false-positive rate {int8['fpr']:.4f} vs fp32 {fp32['fpr']:.4f} (allowed rise {margins.fpr_rise})")
    return GuardReport(
        fp32_auroc=fp32["auroc"], int8_auroc=int8["auroc"],
        fp32_threshold=fp32["threshold"], int8_threshold=int8["threshold"],
        fp32_recall=fp32["recall"], int8_recall=int8["recall"],
        fp32_fpr=fp32["fpr"], int8_fpr=int8["fpr"],
        margins=asdict(margins), failures=tuple(failures),
    )


def calibration_samples(specs: Sequence[str], max_images: int = CALIB_MAX_IMAGES, seed: int = 0) -> list[Sample]:
    """Images of the calibration datasets, a fixed random subset when there are many.

    A dataset with a train split (e.g. a run's split manifest) contributes only its train rows, so
    the validation images the guard measures on stay unseen by calibration.
    """
    from detector.data.formats import load_dataset

    samples: list[Sample] = []
    for spec in specs:
        rows = load_dataset(spec)
        train = [s for s in rows if s.split == "train"]
        samples.extend(train or rows)
    if not samples:
        raise DatasetError(f"--calib {', '.join(specs) or '(none)'}: no calibration images")
    if len(samples) > max_images:
        samples = random.Random(seed).sample(samples, max_images)
    return samples


class _ImageReader:
    """onnxruntime CalibrationDataReader over images preprocessed exactly as at the edge."""

    def __init__(self, samples: Sequence[Sample], spec: PreprocessSpec, progress: Any, task: Any) -> None:
        self.samples = list(samples)
        self.spec = spec
        self.progress, self.task = progress, task
        self.used = 0
        self._it: Iterator[dict[str, np.ndarray]] | None = None

    def _batches(self) -> Iterator[dict[str, np.ndarray]]:
        from detector.modelmeta import INPUT_NAME
        from detector.train.scorers import load_images

        for start in range(0, len(self.samples), CALIB_BATCH):
            chunk = self.samples[start:start + CALIB_BATCH]
            _, images, _ = load_images(chunk)
            self.progress.advance(self.task, len(chunk))
            if images:
                self.used += len(images)
                yield {INPUT_NAME: preprocess_batch(images, self.spec)}

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._it is None:
            self._it = self._batches()
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = None


def _head_nodes(graph: Any, through: str = "fc") -> list[str]:
    """Names of the nodes kept in float, walking back from the 'score' output.

    ``through="fc"``: up to the last Gemm/MatMul. Quantizing the sigmoid output would limit scores to
    256 levels; the 1280→1 head costs nothing in float, so the logit and the probability stay exact.
    ``through="conv"``: on through the pooling to the last convolution (the 1×1 head convolution of
    EfficientNet-Lite, about 5 % of the multiply-adds), whose 1280 channels are pooled into the logit.
    Measured on version 3 it changed little (75 instead of 76 of 6,217 validation decisions unlike
    fp32's): the int8 error is spread through the network, not concentrated at the head.
    """
    from detector.modelmeta import OUTPUT_NAME

    producer = {out: node for node in graph.node for out in node.output}
    names: list[str] = []
    tensor = OUTPUT_NAME
    stop = ("Gemm", "MatMul") if through == "fc" else ("Conv",)
    while tensor in producer:
        node = producer[tensor]
        names.append(node.name)
        if node.op_type in stop:
            break
        data_inputs = [i for i in node.input if i in producer and producer[i].op_type != "Constant"]
        if not data_inputs:
            break
        tensor = data_inputs[0]
    return [n for n in names if n]


def _front_nodes(graph: Any, n: int) -> list[str]:
    """Names of the first ``n`` convolutions from the input, kept in float.

    Where the int8 error comes from, measured on version 3 (7-bit weights, minmax calibration, every tile of
    48 held-out walls of the real-walls benchmark a minute before and after their piece, against fp32): the
    bundled copy read tiles 0.017 away on average in colour and 0.039 in the night-IR look (99th percentile
    0.16 and 0.36). With the stem and block 0 in float (``n=3``) 0.013 and 0.019 (0.11 and 0.18): the
    low-contrast IR picture loses most in the first full-resolution layers, whose activation ranges are set
    by colour photos. Neither of block 0's two convolutions alone helps, nor the stem alone, nor calibrating
    on camera-view tiles half of them in the IR look. Those layers are a few per cent of the multiply-adds:
    a tile took the same time (4.2 ms, one x86 thread), 5.4 ms with blocks 1-2 in float too (``n=9``), fp32 10.0.
    """
    if n < 0:
        raise ConfigError(f"--int8-float-front: expected a number of convolutions >= 0, found {n}")
    convs = [node.name for node in graph.node if node.op_type == "Conv"]
    if n > len(convs):
        raise ConfigError(f"--int8-float-front: the model has {len(convs)} convolutions, found {n}")
    return convs[:n]


def quantize_int8(
    fp32_path: Path, out_path: Path, calib: Sequence[Sample], spec: PreprocessSpec, *, method: str = "minmax",
    progress: bool = True, float_tail: str = "fc", reduce_range: bool = True, float_front: int = 0,
) -> int:
    """Write a static int8 (QDQ, per-channel weights) copy of ``fp32_path``; returns calibration images used.

    ``method``: how activation ranges are taken from the calibration images — ``minmax`` (full
    range), ``percentile`` (clips rare outliers at 99.999 %) or ``entropy`` (KL-optimal, slowest).

    ``reduce_range`` (default): weights on 7 bits (−64..63). ONNX Runtime's uint8 × int8 kernels on x86 CPUs
    without VNNI (AVX2 only: older Intel, AMD before Zen 4, most small x86 edge boxes) add pairs of products in
    16 bits, which saturate with full-range weights: there a full-range copy of version 3 reads camera-view
    tiles 0.057 away from fp32 on average and flags 30 of 180 held-out facade views instead of 17 (2026-12-02,
    AMD EPYC without VNNI), while a VNNI CPU reads the same file 0.017 away. On 7 bits nothing saturates, so
    the copy reads alike on x86 CPUs with and without VNNI.

    ``float_front``: the first N convolutions from the input stay in float (see :func:`_front_nodes`).
    """
    if method not in CALIB_METHODS:
        raise ConfigError(f"--calib-method: expected one of {', '.join(CALIB_METHODS)}, found {method!r}")
    require("onnxruntime", "edge")
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from detector.train.scorers import progress_console

    with tempfile.TemporaryDirectory(prefix="graffiti-int8-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=False)
        graph = onnx.load(str(prepared), load_external_data=False).graph
        exclude = _head_nodes(graph, float_tail) + _front_nodes(graph, float_front)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, disable=not progress, transient=True, console=progress_console()) as bar:
            task = bar.add_task("int8 calibration", total=len(calib))
            reader = _ImageReader(calib, spec, bar, task)
            with contextlib.redirect_stdout(sys.stderr):  # histogram calibrators print notes
                quantize_static(
                    str(prepared), str(out_path), reader,
                    quant_format=QuantFormat.QDQ,
                    per_channel=True,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    calibrate_method={"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                                      "entropy": CalibrationMethod.Entropy}[method],
                    nodes_to_exclude=exclude,
                    reduce_range=reduce_range,
                    # No CalibMaxIntermediateOutputs: onnxruntime 1.32's minmax calibrator drops the batches it
                    # flushes instead of merging their ranges (a multiple of the flush size left no data at all).
                )
    if reader.used == 0:
        raise DatasetError("--calib: none of the calibration images could be read")
    return reader.used
