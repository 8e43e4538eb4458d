"""Metrics against small cases worked out by hand (each reference value says where it came from)."""

from __future__ import annotations

import numpy as np
import pytest

from detector.train import metrics as m

# The scikit-learn docs example for average_precision_score: y = [0, 0, 1, 1],
# scores = [0.1, 0.4, 0.35, 0.8]. By hand: positives 0.35 and 0.8 against negatives 0.1 and 0.4
# win 3 of 4 pairs -> AUROC 0.75; thresholds 0.8, 0.4, 0.35 give (R, P) = (0.5, 1), (0.5, 0.5),
# (1, 2/3) -> AP = 0.5*1 + 0*0.5 + 0.5*2/3 = 0.8333 (the docs print 0.83).
SK_Y = [0, 0, 1, 1]
SK_S = [0.1, 0.4, 0.35, 0.8]


@pytest.mark.parametrize(
    ("labels", "scores", "expected"),
    [
        pytest.param(SK_Y, SK_S, 0.75, id="sklearn-doc-example-3-of-4-pairs"),
        pytest.param([0, 1], [0.2, 0.9], 1.0, id="perfect"),
        pytest.param([0, 1], [0.9, 0.2], 0.0, id="inverted"),
        pytest.param([0, 1], [0.5, 0.5], 0.5, id="tie-counts-half"),
        # pairs (pos, neg): (0.5 vs 0.5 tie = 0.5), (0.5 vs 0.1 win), (0.7 vs both win) -> 3.5 / 4
        pytest.param([0, 0, 1, 1], [0.5, 0.1, 0.5, 0.7], 0.875, id="one-tie-among-four-pairs"),
    ],
)
def test_auroc_matches_pair_counting(labels, scores, expected):
    assert m.auroc(labels, scores) == pytest.approx(expected)


def test_auroc_equals_trapezoid_area_under_roc_points():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.random(200) * 0.5 + y * 0.3, 2)  # rounding makes many ties
    roc = m.roc_curve(y, s)
    assert m.auroc(y, s) == pytest.approx(np.trapezoid(roc.y, roc.x))


@pytest.mark.parametrize(
    ("labels", "scores", "expected"),
    [
        pytest.param(SK_Y, SK_S, 0.5 + 0.5 * 2 / 3, id="sklearn-doc-example"),
        pytest.param([0, 1, 1], [0.1, 0.8, 0.9], 1.0, id="positives-on-top"),
        # ranking: 0.9 (neg), 0.8 (pos): R=1 at P=1/2 -> AP 0.5
        pytest.param([0, 1], [0.9, 0.8], 0.5, id="negative-on-top"),
    ],
)
def test_average_precision_matches_hand_sum(labels, scores, expected):
    assert m.average_precision(labels, scores) == pytest.approx(expected)


@pytest.mark.parametrize(
    "fn", [m.auroc, m.average_precision], ids=["auroc", "average_precision"]
)
def test_undefined_metrics_are_none_for_a_single_class(fn):
    assert fn([0, 0, 0], [0.1, 0.2, 0.3]) is None


def test_confusion_flags_scores_at_or_above_threshold():
    c = m.confusion_at([0, 0, 1, 1, 1], [0.1, 0.5, 0.5, 0.4, 0.9], threshold=0.5)
    assert (c.tp, c.fp, c.tn, c.fn) == (2, 1, 1, 1)
    # by hand: precision 2/3, recall 2/3, FPR 1/2, F1 = 2/3
    assert c.precision == pytest.approx(2 / 3)
    assert c.recall == pytest.approx(2 / 3)
    assert c.fpr == pytest.approx(0.5)
    assert c.f1 == pytest.approx(2 / 3)


def test_confusion_rates_are_none_when_undefined():
    c = m.confusion_at([0, 0], [0.1, 0.2], threshold=0.5)
    assert c.precision is None and c.recall is None and c.f1 is None and c.fpr == 0.0


@pytest.mark.parametrize(
    ("labels", "scores", "expected"),
    [
        # one bin [0.9, 1.0): mean score 0.95, all graffiti -> |1 - 0.95| = 0.05
        pytest.param([1, 1], [0.9, 1.0], 0.05, id="one-bin"),
        # bin [0.2,0.3): score 0.2, label 0 -> 0.2 ; bin [0.8,0.9): scores 0.8,0.8 labels 1,0 -> |0.5-0.8|=0.3
        # weighted: (1*0.2 + 2*0.3) / 3 = 0.26667
        pytest.param([0, 1, 0], [0.2, 0.8, 0.8], (0.2 + 0.6) / 3, id="two-bins-weighted"),
        pytest.param([0, 1], [0.0, 1.0], 0.0, id="perfectly-calibrated"),
    ],
)
def test_expected_calibration_error_by_hand(labels, scores, expected):
    assert m.expected_calibration_error(labels, scores) == pytest.approx(expected)


def test_roc_curve_runs_from_origin_to_one_one():
    roc = m.roc_curve(SK_Y, SK_S)
    # thresholds inf, 0.8, 0.4, 0.35, 0.1 -> (fpr, tpr) by hand
    assert roc.x.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert roc.y.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]


def test_pr_curve_points_by_hand():
    pr = m.pr_curve(SK_Y, SK_S)
    assert pr.thresholds.tolist() == [0.8, 0.4, 0.35, 0.1]
    assert pr.x.tolist() == [0.5, 0.5, 1.0, 1.0]
    assert pr.y == pytest.approx([1.0, 0.5, 2 / 3, 0.5])


def test_breakdown_separates_sources_and_names_missing_keys():
    labels = [1, 0, 1, 0, 0]
    scores = [0.9, 0.1, 0.8, 0.7, 0.2]
    keys = ["street", "street", "synthetic", "synthetic", None]
    out = m.breakdown(labels, scores, keys, threshold=0.5)
    assert set(out) == {"street", "synthetic", "(none)"}
    assert out["street"].auroc == 1.0
    assert out["synthetic"].confusion.fp == 1 and out["synthetic"].confusion.fpr == 1.0
    assert out["(none)"].auroc is None and out["(none)"].n_clean == 1


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="differ in length"):
        m.auroc([0, 1], [0.1])
