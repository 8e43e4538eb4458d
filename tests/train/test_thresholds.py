"""Threshold selection on hand-made validation score lists (expected values worked out by hand)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from detector.errors import DatasetError
from detector.train.thresholds import ThresholdError, choose_thresholds

# 10 clean and 7 graffiti validation scores. Sorted by hand, descending:
# 0.99+ 0.97+ 0.95- 0.92+ 0.9- 0.85+ 0.8- 0.75+ 0.7- 0.65+ 0.6- 0.55+ 0.5- 0.4- 0.3- 0.2- 0.1-
CLEAN = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]
GRAFFITI = [0.55, 0.65, 0.75, 0.85, 0.92, 0.97, 0.99]
LABELS = [0] * len(CLEAN) + [1] * len(GRAFFITI)
SCORES = CLEAN + GRAFFITI


def mid(lo: float, hi: float) -> float:
    """The documented cut: halfway in logit space between two neighbouring validation scores."""
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    return 1 / (1 + math.exp(-(logit(lo) + logit(hi)) / 2))


@pytest.mark.parametrize(
    ("kwargs", "threshold", "recall", "fpr"),
    [
        # no clean image may reach t: cut between 0.95 and 0.97; recall 2/7
        pytest.param({"max_fpr": 0.0}, mid(0.95, 0.97), 2 / 7, 0.0, id="max-fpr-0"),
        # one clean image (0.95) allowed: cut between 0.9 and 0.92; recall 3/7, FPR 1/10
        pytest.param({"max_fpr": 0.1}, mid(0.9, 0.92), 3 / 7, 0.1, id="max-fpr-0.1"),
        # floor(0.25*10)=2 allowed: cut between 0.8 and 0.85; FP 0.9, 0.95 -> 0.2; recall 4/7
        pytest.param({"max_fpr": 0.25}, mid(0.8, 0.85), 4 / 7, 0.2, id="max-fpr-0.25"),
        # precision 1 holds down to 0.97 (2/2); at 0.95 it is 2/3 -> cut between 0.95 and 0.97
        pytest.param({"target_precision": 1.0}, mid(0.95, 0.97), 2 / 7, 0.0, id="precision-1"),
        # precision at 0.92 is 3/4; every lower threshold is below 0.75 (0.9: 3/5, 0.85: 4/6, ...)
        pytest.param({"target_precision": 0.75}, mid(0.9, 0.92), 3 / 7, 0.1, id="precision-0.75"),
        # 0.65 gives 6/10 = 0.6 exactly; 0.6 gives 6/11, 0.55 gives 7/12 = 0.583
        pytest.param({"target_precision": 0.6}, mid(0.6, 0.65), 6 / 7, 0.4, id="precision-0.6"),
    ],
)
def test_operating_threshold_from_policy(kwargs, threshold, recall, fpr):
    choice = choose_thresholds(LABELS, SCORES, **kwargs)
    assert choice.threshold == pytest.approx(threshold)
    assert choice.recall == pytest.approx(recall)
    assert choice.fpr == pytest.approx(fpr)
    assert choice.policy in kwargs


def test_default_policy_is_max_fpr_two_percent():
    choice = choose_thresholds(LABELS, SCORES)
    assert (choice.policy, choice.target) == ("max_fpr", 0.02)
    assert choice.threshold == pytest.approx(mid(0.95, 0.97))  # floor(0.02 * 10) = 0 clean images allowed


def margin(t: float) -> float:
    """The documented hysteresis step: odds divided by e."""
    return 1 / (1 + math.exp(-(math.log(t / (1 - t)) - 1)))


@pytest.mark.parametrize(
    ("labels", "scores", "expected_threshold", "expected_clean"),
    [
        # clean 0.00..0.19, graffiti 0.95..: t = mid(0.19, 0.95) = 0.679; one logit lower is 0.437, and
        # 90 % of clean already score below mid(0.17, 0.18) = 0.175 -> the margin rule decides
        pytest.param([0] * 20 + [1] * 5, [i / 100 for i in range(20)] + [0.95, 0.96, 0.97, 0.98, 0.99],
                     mid(0.19, 0.95), margin(mid(0.19, 0.95)), id="margin-rule"),
        # two of ten clean score 0.6 and 0.7: t = mid(0.7, 0.8) = 0.752, margin 0.527 would leave 2 of 10 clean
        # over it; the 90 % rule raises it to mid(0.6, 0.7) = 0.652
        pytest.param([0] * 10 + [1] * 3, [0.05] * 8 + [0.6, 0.7] + [0.8, 0.9, 0.95],
                     mid(0.7, 0.8), mid(0.6, 0.7), id="raised-so-clean-walls-close"),
        # the hand-made set above: t = mid(0.95, 0.97) = 0.9605, margin 0.899 < 90 % rule mid(0.9, 0.92) = 0.9105
        pytest.param(LABELS, SCORES, mid(0.95, 0.97), mid(0.9, 0.92), id="90-percent-rule"),
    ],
)
def test_clean_threshold_rules(labels, scores, expected_threshold, expected_clean):
    choice = choose_thresholds(labels, scores, max_fpr=0.0)
    assert choice.threshold == pytest.approx(expected_threshold)
    assert choice.clean_threshold == pytest.approx(expected_clean)


def test_clean_threshold_never_exceeds_the_detection_threshold():
    choice = choose_thresholds(LABELS, SCORES, max_fpr=0.25)  # t = mid(0.8, 0.85); the 90 % rule asks mid(0.9, 0.92)
    assert choice.clean_threshold == pytest.approx(choice.threshold)


@pytest.mark.parametrize("seed", range(5), ids=lambda s: f"seed{s}")
def test_thresholds_are_probabilities_and_clean_not_above_detect(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    s = 1 / (1 + np.exp(-(rng.normal(size=300) + 2.5 * y)))
    for kwargs in ({"max_fpr": 0.02}, {"target_precision": 0.8}):
        c = choose_thresholds(y, s, **kwargs)
        assert 0.0 <= c.clean_threshold <= c.threshold <= 1.0
        if "max_fpr" in kwargs:
            assert c.fpr <= 0.02
        else:
            assert c.precision >= 0.8


@pytest.mark.parametrize(
    ("labels", "scores", "kwargs", "error", "match"),
    [
        pytest.param([0, 0], [0.1, 0.2], {}, DatasetError, "both graffiti and clean", id="one-class"),
        pytest.param([0, 1], [0.9, 0.1], {"target_precision": 0.9}, ThresholdError, "no threshold reaches precision 0.9",
                     id="precision-unreachable"),
        pytest.param([0, 1], [1.0, 1.0], {"max_fpr": 0.0}, ThresholdError, "false-positive rate <= 0.0",
                     id="fpr-unreachable"),
        pytest.param([0, 1], [0.1, 0.9], {"max_fpr": 0.1, "target_precision": 0.9}, ThresholdError, "not both",
                     id="both-policies"),
        pytest.param([0, 1], [0.1, 0.9], {"max_fpr": 1.5}, ThresholdError, "--max-fpr", id="fpr-out-of-range"),
    ],
)
def test_impossible_requests_fail_with_one_line(labels, scores, kwargs, error, match):
    with pytest.raises(error, match=match):
        choose_thresholds(labels, scores, **kwargs)


# --- matching another model's operating point (an int8 copy to its fp32 model) ----------------------

@pytest.mark.parametrize(
    ("flags", "scores", "near", "cut", "disagree"),
    [
        # the same order as the reference: the cut falls between the last unflagged and the first flagged
        ([0, 0, 1, 1], [0.1, 0.2, 0.6, 0.7], 0.5, mid(0.2, 0.6), 0),
        # one pair swapped: every best cut disagrees once (flag 0.2, 0.6, 0.7 / flag 0.7 only /
        # flag 0.6, 0.7 disagrees twice); of the two, the one nearest 0.5 in logit space: mid(0.6, 0.7)
        ([0, 1, 0, 1], [0.1, 0.2, 0.6, 0.7], 0.5, mid(0.6, 0.7), 1),
        # ... and nearest 0.15: mid(0.1, 0.2)
        ([0, 1, 0, 1], [0.1, 0.2, 0.6, 0.7], 0.15, mid(0.1, 0.2), 1),
        # the reference flags nothing: the cut goes above every score
        ([0, 0, 0], [0.3, 0.1, 0.2], 0.5, None, 0),
        # the reference flags everything: the lowest score is the cut
        ([1, 1, 1], [0.3, 0.1, 0.2], 0.5, 0.1, 0),
        # ties in the scores are one cut: 0.4 twice, one flagged one not -> one disagreement wherever
        ([0, 1, 1, 0], [0.4, 0.4, 0.8, 0.1], 0.5, mid(0.4, 0.8), 1),
    ],
)
def test_match_cut_reproduces_the_reference_decisions(flags, scores, near, cut, disagree):
    from detector.train.thresholds import match_cut

    t, bad = match_cut(flags, scores, near)
    assert bad == disagree
    if cut is None:
        assert t > max(scores) and t <= 1.0
    else:
        assert t == pytest.approx(cut)
    flagged = np.asarray(scores) >= t
    assert int(np.sum(flagged != np.asarray(flags, dtype=bool))) == disagree


def test_matched_thresholds_follow_a_shifted_model():
    """A second model that reads everything a little higher (int8 does shift scores) gets thresholds
    that give the reference's decisions, not the reference's numbers."""
    from detector.train.thresholds import match_thresholds

    ref = np.array([0.05, 0.2, 0.3, 0.45, 0.52, 0.56, 0.7, 0.9])
    shifted = 1 / (1 + np.exp(-(np.log(ref / (1 - ref)) + 0.3)))  # +0.3 logit everywhere, same order
    m = match_thresholds(ref, shifted, reference_threshold=0.538, reference_clean_threshold=0.3)
    assert (m.disagree, m.disagree_clean) == (0, 0)
    assert np.array_equal(shifted >= m.threshold, ref >= 0.538)
    assert np.array_equal(shifted < m.clean_threshold, ref < 0.3)
    assert m.threshold > 0.538 and shifted[4] < m.threshold <= shifted[5]
    assert m.clean_threshold <= m.threshold and m.n == ref.size


def test_match_cut_refuses_mismatched_lengths_in_one_line():
    from detector.train.thresholds import match_cut

    with pytest.raises(DatasetError, match="as many reference decisions as scores") as err:
        match_cut([0, 1], [0.1, 0.2, 0.3], 0.5)
    assert "\n" not in str(err.value)


def test_kept_thresholds_are_not_chosen_but_measured():
    from detector.train.thresholds import kept_thresholds

    labels = [0, 0, 0, 0, 1, 1, 1, 1]
    scores = [0.1, 0.2, 0.6, 0.0, 0.9, 0.55, 0.4, 0.7]
    c = kept_thresholds(labels, scores, 0.5, 0.3)
    assert (c.threshold, c.clean_threshold, c.policy) == (0.5, 0.3, "kept")
    assert c.fpr == pytest.approx(1 / 4) and c.recall == pytest.approx(3 / 4) and c.precision == pytest.approx(3 / 4)
    assert (c.n_graffiti, c.n_clean) == (4, 4)
