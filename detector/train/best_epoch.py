"""Which epoch is best so far, and when a run stops early: one tracker for both training loops.

The plain loop (:mod:`detector.train.loop`) selects on validation AUROC then loss, the MIL loop
(:mod:`detector.train.mil`) on view-level recall at a false-positive rate then AUROC; both hand a
selection key (a tuple, larger is better; ties keep the earlier epoch) to :class:`BestEpoch`,
which remembers the best epoch, its metrics and how many epochs have passed without a better one,
and round-trips through a checkpoint's ``extra`` so a resumed run keeps counting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class BestEpoch:
    """The best epoch so far by its selection key, and the epochs since (for ``patience``)."""

    key: tuple[float, ...] | None = None
    epoch: int = 0  # 0: no epoch validated yet
    metrics: dict[str, Any] = field(default_factory=dict)
    bad_epochs: int = 0  # epochs since the best one

    def update(self, epoch: int, key: tuple[float, ...], metrics: dict[str, Any]) -> bool:
        """Record an epoch's validation; True when it is the new best (then ``metrics`` are kept)."""
        improved = self.key is None or key > self.key
        if improved:
            self.key, self.epoch, self.bad_epochs = key, epoch, 0
            self.metrics = metrics
        else:
            self.bad_epochs += 1
        return improved

    def stop_reason(self, *, patience: int, max_minutes: float, epoch: int, epochs: int, elapsed_s: float,
                    epoch_s: float, selects_on: str) -> tuple[str, str] | None:
        """``(stopped, log line)`` when the run should end after ``epoch``; None to go on.

        Early stop: ``patience`` epochs without a better key. Time box: another epoch as long as the
        last one would not fit in ``max_minutes`` (never after the last epoch, which ends anyway).
        """
        if patience and self.bad_epochs >= patience:
            return "early-stop", (f"early stop: no better {selects_on} for {self.bad_epochs} epochs "
                                  f"(best epoch {self.epoch})")
        if max_minutes and epoch < epochs and elapsed_s + epoch_s > max_minutes * 60:
            return "time-box", (f"time box: {elapsed_s / 60:.1f} of {max_minutes:g} min used; "
                                "another epoch would not fit")
        return None

    def to_extra(self) -> dict[str, Any]:
        """The checkpoint ``extra`` keys that let a resumed run continue the tracking."""
        return {"best_epoch": self.epoch, "best_metrics": self.metrics,
                "best_key": list(self.key) if self.key is not None else None, "bad_epochs": self.bad_epochs}

    @classmethod
    def from_extra(cls, extra: dict[str, Any]) -> BestEpoch:
        key = extra.get("best_key")
        return cls(key=tuple(key) if key is not None else None, epoch=int(extra.get("best_epoch", 0)),
                   metrics=dict(extra.get("best_metrics", {})), bad_epochs=int(extra.get("bad_epochs", 0)))
