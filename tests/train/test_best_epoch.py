"""The best-epoch tracker both training loops use: selection, patience, time box, resume (no torch)."""

from __future__ import annotations

import pytest

from detector.train.best_epoch import BestEpoch


@pytest.mark.parametrize(("keys", "best", "bad"), [
    ([(0.5, -0.7)], 1, 0),
    ([(0.5, -0.7), (0.9, -0.6), (0.8, -0.5)], 2, 1),
    ([(0.9, -0.6), (0.9, -0.6)], 1, 1),  # a tie keeps the earlier epoch
    ([(0.9, -0.6), (0.9, -0.5)], 2, 0),  # same AUROC, lower loss wins
    ([(0.9, -0.1), (0.5, -0.2), (0.4, -0.3)], 1, 2),
], ids=["first", "better-then-worse", "tie", "loss-breaks-tie", "never-better"])
def test_the_best_epoch_has_the_largest_key_and_bad_epochs_count_since(keys, best, bad):
    tracker = BestEpoch()
    flags = [tracker.update(epoch, key, {"epoch": epoch}) for epoch, key in enumerate(keys, start=1)]
    assert (tracker.epoch, tracker.bad_epochs, tracker.metrics) == (best, bad, {"epoch": best})
    assert flags[0] is True and flags[best - 1] is True and not any(flags[best:])


@pytest.mark.parametrize(("patience", "max_minutes", "epoch", "elapsed_s", "epoch_s", "expected"), [
    (2, 0.0, 3, 100.0, 50.0, "early-stop"),
    (3, 0.0, 3, 100.0, 50.0, None),
    (0, 2.0, 3, 100.0, 30.0, "time-box"),  # 100 + 30 s > 120 s
    (0, 2.0, 3, 100.0, 10.0, None),
    (0, 2.0, 5, 100.0, 30.0, None),  # the last epoch ends the run anyway
], ids=["patience-spent", "patience-left", "no-room", "room", "last-epoch"])
def test_stop_reason(patience, max_minutes, epoch, elapsed_s, epoch_s, expected):
    tracker = BestEpoch()
    for e, key in enumerate([(0.9,), (0.5,), (0.4,)], start=1):
        tracker.update(e, key, {})
    stop = tracker.stop_reason(patience=patience, max_minutes=max_minutes, epoch=epoch, epochs=5, elapsed_s=elapsed_s,
                               epoch_s=epoch_s, selects_on="validation AUROC")
    assert (stop[0] if stop else None) == expected
    if expected == "early-stop":
        assert stop is not None and "no better validation AUROC for 2 epochs (best epoch 1)" in stop[1]


def test_the_tracking_survives_a_checkpoint_round_trip():
    tracker = BestEpoch()
    tracker.update(1, (0.8, -0.4), {"val_auroc": 0.8})
    tracker.update(2, (0.7, -0.3), {"val_auroc": 0.7})
    extra = tracker.to_extra()
    assert extra == {"best_epoch": 1, "best_metrics": {"val_auroc": 0.8}, "best_key": [0.8, -0.4], "bad_epochs": 1}
    again = BestEpoch.from_extra(extra)
    assert again == tracker
    assert again.update(3, (0.8, -0.4), {}) is False and again.bad_epochs == 2  # the key came back as a tuple
    assert BestEpoch.from_extra({}) == BestEpoch()
