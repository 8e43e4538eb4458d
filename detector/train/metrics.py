"""Binary-classification metrics for graffiti scores, in numpy only (no torch, no sklearn).

Used by ``graffiti eval`` (on ONNX files without torch), by threshold selection at export and by
training's early stopping, so one definition of AUROC/AP/ECE serves all of them. Conventions:
``labels`` are 0 (clean) / 1 (graffiti); ``scores`` are P(graffiti) in [0, 1]; an image is flagged
when ``score >= threshold``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

ECE_BINS = 10  # equal-width reliability bins over [0, 1]


def _as_arrays(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if y.shape != s.shape:
        raise ValueError(f"labels ({y.size}) and scores ({s.size}) differ in length")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    return y, s


@dataclass(frozen=True)
class Curve:
    """Points of a ROC or PR curve; ``thresholds[i]`` produced point ``(x[i], y[i])``."""

    x: np.ndarray  # ROC: false-positive rate; PR: recall
    y: np.ndarray  # ROC: true-positive rate; PR: precision
    thresholds: np.ndarray


def _counts_by_threshold(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every distinct score t (descending): true and false positives when flagging score >= t."""
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last_of_tie = np.r_[np.nonzero(np.diff(s_sorted))[0], s_sorted.size - 1]
    tps = np.cumsum(y_sorted)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    return tps.astype(np.float64), fps.astype(np.float64), s_sorted[last_of_tie]


def roc_curve(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> Curve:
    """ROC points from (0, 0) (threshold +inf: nothing flagged) to (1, 1); needs both classes."""
    y, s = _as_arrays(labels, scores)
    n_pos, n_neg = int(y.sum()), int((1 - y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC needs both classes")
    tps, fps, thr = _counts_by_threshold(y, s)
    return Curve(x=np.r_[0.0, fps / n_neg], y=np.r_[0.0, tps / n_pos], thresholds=np.r_[np.inf, thr])


def pr_curve(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> Curve:
    """Precision-recall points, one per distinct score, highest threshold first; needs a positive."""
    y, s = _as_arrays(labels, scores)
    if int(y.sum()) == 0:
        raise ValueError("a PR curve needs at least one positive")
    tps, fps, thr = _counts_by_threshold(y, s)
    return Curve(x=tps / y.sum(), y=tps / (tps + fps), thresholds=thr)


def auroc(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney U with tied scores counted half); None for one class."""
    y, s = _as_arrays(labels, scores)
    n_pos, n_neg = int(y.sum()), int((1 - y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(s.size, dtype=np.float64)
    s_sorted = s[order]
    # average rank (1-based) within runs of tied scores
    starts = np.r_[0, np.nonzero(np.diff(s_sorted))[0] + 1]
    ends = np.r_[starts[1:], s_sorted.size]
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def average_precision(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float | None:
    """AP = sum over distinct thresholds of (R_n - R_{n-1}) * P_n (no interpolation); None without positives."""
    y, _ = _as_arrays(labels, scores)
    if int(y.sum()) == 0:
        return None
    curve = pr_curve(labels, scores)
    recall_steps = np.diff(np.r_[0.0, curve.x])
    return float(np.sum(recall_steps * curve.y))


def expected_calibration_error(
    labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, n_bins: int = ECE_BINS
) -> float | None:
    """Mean |fraction of graffiti - mean score| over equal-width score bins, weighted by bin size.

    Tells whether a score of 0.9 means "graffiti 9 times in 10" — what the edge's floor and
    thresholds implicitly assume. None for an empty set.
    """
    y, s = _as_arrays(labels, scores)
    if y.size == 0:
        return None
    bins = np.minimum((np.clip(s, 0.0, 1.0) * n_bins).astype(np.int64), n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            total += mask.sum() * abs(float(y[mask].mean()) - float(s[mask].mean()))
    return float(total / y.size)


@dataclass(frozen=True)
class ReliabilityBin:
    lower: float
    upper: float
    count: int
    mean_score: float
    fraction_graffiti: float


def reliability_bins(
    labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, n_bins: int = ECE_BINS
) -> list[ReliabilityBin]:
    """Non-empty equal-width bins for a reliability (calibration) diagram."""
    y, s = _as_arrays(labels, scores)
    bins = np.minimum((np.clip(s, 0.0, 1.0) * n_bins).astype(np.int64), n_bins - 1)
    out = []
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            out.append(ReliabilityBin(b / n_bins, (b + 1) / n_bins, int(mask.sum()),
                                      float(s[mask].mean()), float(y[mask].mean())))
    return out


@dataclass(frozen=True)
class Confusion:
    """Counts at one threshold (flagged = score >= threshold) and the rates derived from them."""

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def fpr(self) -> float | None:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None if (p is None or r is None) else 0.0
        return 2 * p * r / (p + r)

    @property
    def accuracy(self) -> float | None:
        n = self.tp + self.fp + self.tn + self.fn
        return (self.tp + self.tn) / n if n else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(precision=self.precision, recall=self.recall, fpr=self.fpr, f1=self.f1, accuracy=self.accuracy)
        return d


def confusion_at(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, threshold: float) -> Confusion:
    y, s = _as_arrays(labels, scores)
    flagged = s >= threshold
    return Confusion(
        threshold=float(threshold),
        tp=int(np.sum(flagged & (y == 1))),
        fp=int(np.sum(flagged & (y == 0))),
        tn=int(np.sum(~flagged & (y == 0))),
        fn=int(np.sum(~flagged & (y == 1))),
    )


@dataclass(frozen=True)
class BinaryMetrics:
    """Everything ``graffiti eval`` reports for one set of images at one threshold."""

    n: int
    n_graffiti: int
    n_clean: int
    auroc: float | None
    average_precision: float | None
    ece: float | None
    mean_score: float | None
    confusion: Confusion

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n, "n_graffiti": self.n_graffiti, "n_clean": self.n_clean,
            "auroc": self.auroc, "average_precision": self.average_precision, "ece": self.ece,
            "mean_score": self.mean_score, **self.confusion.to_dict(),
        }


def binary_metrics(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, threshold: float) -> BinaryMetrics:
    y, s = _as_arrays(labels, scores)
    return BinaryMetrics(
        n=int(y.size),
        n_graffiti=int(y.sum()),
        n_clean=int(y.size - y.sum()),
        auroc=auroc(y, s),
        average_precision=average_precision(y, s),
        ece=expected_calibration_error(y, s),
        mean_score=float(s.mean()) if s.size else None,
        confusion=confusion_at(y, s, threshold),
    )


def breakdown(
    labels: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    keys: Sequence[str | None],
    threshold: float,
) -> dict[str, BinaryMetrics]:
    """Metrics per value of ``keys`` (group, source or kind), so one weak source or kind stands out.

    A missing key is reported under "(none)". Single-class subsets get auroc None but still their
    false-positive rate (all clean) or recall (all graffiti), which is what matters for them.
    """
    y, s = _as_arrays(labels, scores)
    if len(keys) != y.size:
        raise ValueError("keys must have one entry per score")
    names = np.asarray(["(none)" if k is None else str(k) for k in keys], dtype=object)
    return {str(name): binary_metrics(y[names == name], s[names == name], threshold) for name in sorted(set(names))}
