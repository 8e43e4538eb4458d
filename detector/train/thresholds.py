"""Choose the operating thresholds from validation scores: a detection threshold and a lower
"clean again" threshold, both written into the model's metadata.

Policy (numpy only, so ONNX evaluation can use it without torch):

* Detection threshold. ``max_fpr=F``: the lowest threshold at which at most a fraction F of the
  clean validation images score at or above it (most recall for that false-alarm budget).
  ``target_precision=P``: the lowest threshold whose precision on validation is at least P. The
  threshold is placed halfway, in logit space, between the lowest validation score that is flagged
  and the next lower one (a max-margin cut: no validation score lies between them, so the figures
  reported for the threshold are exactly what the validation set gives, while images scoring a
  little below the lowest flagged validation image — common on small validation sets — are not
  missed by a cut placed right at it). A score at or above the threshold is flagged.
* Clean threshold (hysteresis). An open detection closes only when the score falls below it, so it
  sits a clear step under the detection threshold (small score wobbles must not close and reopen
  an event) yet above what a cleaned wall scores (or the event never closes). It is the detection
  threshold with its odds divided by e (``sigmoid(logit(t) - 1)``, ``HYSTERESIS_LOGIT``), raised
  where needed so that at least 90 % of the clean validation images score below it
  (``CLEAN_FPR``), and never above the detection threshold.

The quantized model gets its own thresholds by the same rules on its own scores (int8 shifts scores;
the fp32 threshold would be wrong for it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from detector.errors import DatasetError, DetectorError

DEFAULT_MAX_FPR = 0.02  # fraction of clean validation images allowed over the detection threshold
CLEAN_FPR = 0.10  # fraction of clean validation images allowed over the clean-again threshold
HYSTERESIS_LOGIT = 1.0  # minimum gap between the thresholds, in logits (odds ratio e)


class ThresholdError(DetectorError):
    """No threshold on the validation scores meets the requested operating point."""


@dataclass(frozen=True)
class ThresholdChoice:
    """The chosen thresholds, the rule that produced them and what they give on validation."""

    threshold: float
    clean_threshold: float
    policy: str  # "max_fpr" | "target_precision"
    target: float  # the F or P asked for
    precision: float | None  # on validation, at ``threshold``
    recall: float | None
    fpr: float | None
    n_graffiti: int
    n_clean: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _validate(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if y.shape != s.shape:
        raise ValueError(f"labels ({y.size}) and scores ({s.size}) differ in length")
    n_pos = int((y == 1).sum())
    n_neg = int((y == 0).sum())
    if n_pos == 0 or n_neg == 0:
        raise DatasetError(
            f"threshold choice needs both graffiti and clean validation images; found {n_pos} graffiti, {n_neg} clean"
        )
    return y, s


def _rates(y: np.ndarray, s: np.ndarray, t: float) -> tuple[float | None, float, float]:
    flagged = s >= t
    tp = int(np.sum(flagged & (y == 1)))
    fp = int(np.sum(flagged & (y == 0)))
    precision = tp / (tp + fp) if tp + fp else None
    return precision, tp / int((y == 1).sum()), fp / int((y == 0).sum())


def threshold_for_max_fpr(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, max_fpr: float) -> float:
    """Lowest distinct validation score t with FPR(score >= t) <= max_fpr."""
    y, s = _validate(labels, scores)
    if not 0.0 <= max_fpr < 1.0:
        raise ThresholdError(f"--max-fpr: expected a fraction in [0, 1), found {max_fpr}")
    negatives = np.sort(s[y == 0])[::-1]
    allowed = math.floor(max_fpr * negatives.size + 1e-9)  # clean images that may score >= t
    if allowed >= negatives.size:
        return float(s.min())
    must_exceed = negatives[allowed]  # the highest clean score that must stay below t
    above = s[s > must_exceed]
    if above.size == 0:
        raise ThresholdError(
            f"no threshold keeps the false-positive rate <= {max_fpr}: {negatives.size - allowed} clean validation "
            f"images score {must_exceed:.6f}, as high as any image"
        )
    return _between(float(must_exceed), float(above.min()))


def threshold_for_precision(
    labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, target_precision: float
) -> float:
    """Lowest distinct validation score t whose precision (score >= t) is at least target_precision."""
    y, s = _validate(labels, scores)
    if not 0.0 < target_precision <= 1.0:
        raise ThresholdError(f"--target-precision: expected a fraction in (0, 1], found {target_precision}")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last_of_tie = np.r_[np.nonzero(np.diff(s_sorted))[0], s_sorted.size - 1]
    tps = np.cumsum(y_sorted)[last_of_tie]
    precision = tps / (last_of_tie + 1)
    ok = np.nonzero(precision >= target_precision - 1e-12)[0]
    if ok.size == 0:
        raise ThresholdError(
            f"no threshold reaches precision {target_precision} on the validation split "
            f"(best is {float(precision.max()):.4f}); lower --target-precision or improve the model"
        )
    k = int(ok[-1])  # lowest qualifying threshold = last qualifying one in descending order
    lowest_flagged = float(s_sorted[last_of_tie[k]])
    if k + 1 == last_of_tie.size:
        return lowest_flagged  # it is the lowest validation score: nothing below to leave a margin to
    return _between(float(s_sorted[last_of_tie[k + 1]]), lowest_flagged)


def _logit(p: float) -> float:
    p = min(max(p, 1e-7), 1 - 1e-7)
    return math.log(p / (1 - p))


def _between(lo: float, hi: float) -> float:
    """A cut t with lo < t <= hi, halfway in logit space (scores are sigmoid outputs)."""
    t = 1.0 / (1.0 + math.exp(-(_logit(lo) + _logit(hi)) / 2.0))
    return t if lo < t <= hi else hi


def clean_threshold_for(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, threshold: float) -> float:
    """The clean-again threshold for a detection threshold (see the module docstring)."""
    y, s = _validate(labels, scores)
    try:
        by_clean_rate = threshold_for_max_fpr(y, s, CLEAN_FPR)
    except ThresholdError:
        by_clean_rate = threshold
    by_margin = 1.0 / (1.0 + math.exp(-(_logit(threshold) - HYSTERESIS_LOGIT)))
    return float(min(max(by_margin, by_clean_rate), threshold))


def check_policy(target_precision: float | None, max_fpr: float | None) -> None:
    """Reject impossible policy arguments up front (before minutes of export work)."""
    if target_precision is not None and max_fpr is not None:
        raise ThresholdError("give either --target-precision or --max-fpr, not both")
    if max_fpr is not None and not 0.0 <= max_fpr < 1.0:
        raise ThresholdError(f"--max-fpr: expected a fraction in [0, 1), found {max_fpr}")
    if target_precision is not None and not 0.0 < target_precision <= 1.0:
        raise ThresholdError(f"--target-precision: expected a fraction in (0, 1], found {target_precision}")


def choose_thresholds(
    labels: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    *,
    target_precision: float | None = None,
    max_fpr: float | None = None,
) -> ThresholdChoice:
    """Pick both thresholds by one policy; neither given means ``max_fpr=DEFAULT_MAX_FPR``."""
    check_policy(target_precision, max_fpr)
    y, s = _validate(labels, scores)
    if target_precision is not None:
        policy, target = "target_precision", float(target_precision)
        threshold = threshold_for_precision(y, s, target)
    else:
        policy, target = "max_fpr", float(DEFAULT_MAX_FPR if max_fpr is None else max_fpr)
        threshold = threshold_for_max_fpr(y, s, target)
    threshold = min(max(threshold, 0.0), 1.0)
    clean = clean_threshold_for(y, s, threshold)
    precision, recall, fpr = _rates(y, s, threshold)
    return ThresholdChoice(
        threshold=threshold,
        clean_threshold=max(0.0, clean),
        policy=policy,
        target=target,
        precision=precision,
        recall=recall,
        fpr=fpr,
        n_graffiti=int(y.sum()),
        n_clean=int(y.size - y.sum()),
    )


def suggest_thresholds(labels: np.ndarray, scores: np.ndarray, target_precision: float | None,
                       max_fpr: float | None) -> dict[str, Any] | None:
    """For a report: the thresholds the policy would choose on this data; None with one class, or
    ``{"error": reason}`` when it cannot choose."""
    if len(set(np.asarray(labels).tolist())) < 2:
        return None
    try:
        return choose_thresholds(labels, scores, target_precision=target_precision, max_fpr=max_fpr).to_dict()
    except ThresholdError as exc:
        return {"error": str(exc)}
