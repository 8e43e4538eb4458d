"""Group-aware, stratified, deterministic train/val/test splits.

A group (augmented copies of one photo, frames of one camera) never lands on two sides: otherwise
the validation set contains near-copies of training images and its scores are inflated.
Stratification keeps the label balance (and, for a mix, each source's share) alike on every side.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from detector.data.sample import Sample
from detector.errors import ConfigError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitCounts:
    """Images per split and label, groups per split, and groups found on more than one side."""

    images: dict[str, dict[str, int]]  # split -> label name -> count
    groups: dict[str, int]  # split -> number of groups
    groups_on_several_sides: int


def _check_fractions(val_fraction: float, test_fraction: float) -> None:
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"split.{name} must be in [0, 1), found {value}")
    if val_fraction + test_fraction >= 1.0:
        raise ConfigError(
            f"split: val_fraction + test_fraction must be below 1 (found {val_fraction + test_fraction:g}); "
            "nothing would be left to train on"
        )


def group_split(samples: Sequence[Sample], val_fraction: float, test_fraction: float = 0.0,
                seed: int = 0) -> list[Sample]:
    """Return the samples (same order) with ``split`` set to train/val/test.

    Groups are keyed by ``group`` alone, so a manifest that puts images of different sources in one
    group keeps them together. Each group joins the stratum of its most common (source, label)
    (label only when there is one source); within a stratum the groups are shuffled with ``seed``
    and each is given to the side furthest below its target image count. The same input and seed
    always give the same split, whatever order the samples arrive in.
    """
    _check_fractions(val_fraction, test_fraction)
    if not samples:
        return []
    mixed = len({s.source for s in samples}) > 1
    members: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(samples):
        members[s.group].append(i)

    strata: dict[tuple[str, int], list[str]] = defaultdict(list)
    for group in sorted(members):
        counts = Counter((samples[i].source if mixed else "", samples[i].label) for i in members[group])
        key = min(counts, key=lambda k: (-counts[k], k))  # majority, ties broken by name
        strata[key].append(group)

    fractions = {"test": test_fraction, "val": val_fraction, "train": 1.0 - val_fraction - test_fraction}
    assignment: dict[str, str] = {}
    for key in sorted(strata):
        groups = strata[key]
        # A per-stratum generator: adding a new source does not reshuffle the others.
        rng = random.Random(f"{seed}:{key[0]}:{key[1]}")
        rng.shuffle(groups)
        total = sum(len(members[g]) for g in groups)
        filled = dict.fromkeys(SPLITS, 0)
        for group in groups:
            # The side with the largest shortfall relative to its target gets the next group.
            side = max(
                (s for s in ("test", "val", "train") if fractions[s] > 0),
                key=lambda s: fractions[s] * total - filled[s],
            )
            assignment[group] = side
            filled[side] += len(members[group])
    return [replace(s, split=assignment[s.group]) for s in samples]


def split_counts(samples: Sequence[Sample]) -> SplitCounts:
    """Count images per split and label, and check the group invariant (0 = no leak)."""
    images: dict[str, dict[str, int]] = defaultdict(lambda: {"clean": 0, "graffiti": 0})
    sides: dict[str, set[str]] = defaultdict(set)
    for s in samples:
        split = s.split or "unsplit"
        images[split][s.label_name] += 1
        sides[s.group].add(split)
    groups: Counter[str] = Counter()
    for group_sides in sides.values():
        for side in group_sides:
            groups[side] += 1
    leaks = sum(1 for group_sides in sides.values() if len(group_sides) > 1)
    return SplitCounts(images=dict(images), groups=dict(groups), groups_on_several_sides=leaks)
