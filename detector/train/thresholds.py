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

The quantized model does not take the fp32 thresholds (int8 shifts scores). By default it gets the
fp32 model's **operating point** (``match_thresholds``): on the same validation photos and every tile
of them shown as camera views, the cut on its own scores that disagrees least with the fp32 model's
decisions at the fp32 thresholds (ties: the cut nearest the fp32 one in logit space). The same
policy rule run again on int8 scores (``--int8-thresholds own``) would re-choose the operating point
from a handful of borderline images and can land a view or two of false alarms away from fp32's.
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
    policy: str  # "max_fpr" | "target_precision" | "kept" (the model's own, not chosen here)
    target: float  # the F or P asked for; for "kept", the threshold itself
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


def match_cut(reference_flags: Sequence[bool] | np.ndarray, scores: Sequence[float] | np.ndarray,
              near: float) -> tuple[float, int]:
    """The cut ``t`` on ``scores`` (flag ``score >= t``) that disagrees least with ``reference_flags``
    and the number of disagreements; among equally good cuts the one nearest ``near`` in logit space.
    Cuts sit halfway (logit) between neighbouring scores, as the policy's thresholds do."""
    d = np.asarray(reference_flags, dtype=bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if d.size != s.size or s.size == 0:
        raise DatasetError(f"matching thresholds: expected as many reference decisions as scores, found {d.size} and {s.size}")
    if not np.all(np.isfinite(s)):
        raise DatasetError("matching thresholds: scores must be finite")
    order = np.argsort(s, kind="mergesort")
    s_sorted, d_sorted = s[order], d[order]
    starts = np.r_[0, np.nonzero(np.diff(s_sorted))[0] + 1]  # first index of each distinct score
    # cut k flags s_sorted[starts[k]:]; one more cut above everything flags nothing
    flagged_before = np.r_[0, np.cumsum(d_sorted)]  # reference-flagged among the i lowest scores
    idx = np.r_[starts, s.size]
    n_flag = int(d.sum())
    # flagged by the reference but under the cut, plus clean for the reference but at/above it
    disagree = flagged_before[idx] + ((s.size - idx) - (n_flag - flagged_before[idx]))
    cuts = []
    for i in idx:
        if i == 0:
            cuts.append(float(s_sorted[0]))
        elif i == s.size:
            cuts.append(float(min(1.0, np.nextafter(s_sorted[-1], np.inf))))
        else:
            cuts.append(_between(float(s_sorted[i - 1]), float(s_sorted[i])))
    best = int(disagree.min())
    ties = [k for k in range(len(cuts)) if disagree[k] == best]
    k = min(ties, key=lambda j: abs(_logit(cuts[j]) - _logit(near)))
    return cuts[k], best


@dataclass(frozen=True)
class MatchedThresholds:
    """A model's thresholds matched to a reference model's decisions (see ``match_thresholds``)."""

    threshold: float
    clean_threshold: float
    reference_threshold: float
    reference_clean_threshold: float
    n: int  # scores compared (photos and tiles)
    disagree: int  # at the detection threshold
    disagree_clean: int  # at the clean-again threshold

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def match_thresholds(reference_scores: Sequence[float] | np.ndarray, scores: Sequence[float] | np.ndarray,
                     reference_threshold: float, reference_clean_threshold: float) -> MatchedThresholds:
    """Thresholds for ``scores`` that reproduce the reference model's decisions on the same inputs:
    flagged (``>= reference_threshold``) and clean again (``< reference_clean_threshold``)."""
    r = np.asarray(reference_scores, dtype=np.float64).ravel()
    t, bad = match_cut(r >= reference_threshold, scores, reference_threshold)
    c, bad_c = match_cut(r >= reference_clean_threshold, scores, reference_clean_threshold)
    return MatchedThresholds(threshold=t, clean_threshold=min(c, t), reference_threshold=float(reference_threshold),
                             reference_clean_threshold=float(reference_clean_threshold), n=int(r.size),
                             disagree=bad, disagree_clean=bad_c)


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


def kept_thresholds(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, threshold: float,
                    clean_threshold: float) -> ThresholdChoice:
    """No choice: the given thresholds, with what they give on these scores (policy ``kept``)."""
    y, s = _validate(labels, scores)
    precision, recall, fpr = _rates(y, s, threshold)
    return ThresholdChoice(threshold=float(threshold), clean_threshold=float(clean_threshold), policy="kept",
                           target=float(threshold), precision=precision, recall=recall, fpr=fpr,
                           n_graffiti=int(y.sum()), n_clean=int(y.size - y.sum()))


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
