"""Quick runs: keep a share of the data, whole groups at a time (``--fraction``, ``--max-images``).

Cutting a manifest by hand is how students used to try an idea quickly; doing it image by image
puts near-duplicates (the ``.rf.`` copies of one photo) on both sides of the split again. Here
whole groups are kept, chosen by a seeded hash of the group name, separately within every
(split, class) so the subset keeps the train/val/test proportions and both classes. The run's
data manifest records exactly the subset, so its figures describe what it trained on.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence

from detector.data.sample import Sample
from detector.errors import ConfigError


def _rank(group: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{group}".encode()).hexdigest()


def subsample(samples: Sequence[Sample], fraction: float = 1.0, max_images: int = 0, seed: int = 0) -> list[Sample]:
    """A group-aware subset: about ``fraction`` of the images, at most ``max_images`` (0 = no cap)."""
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"fraction: expected a share in (0, 1], found {fraction}")
    if max_images < 0:
        raise ConfigError(f"max_images: expected 0 (no cap) or a positive number, found {max_images}")
    share = fraction
    if max_images and max_images < len(samples) * share:
        share = max_images / len(samples)
    if share >= 1.0:
        return list(samples)
    # a group belongs to the (split, class) holding most of its images
    by_group: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_group[s.group].append(s)
    cells: dict[tuple[str, int], list[str]] = defaultdict(list)
    for group, members in by_group.items():
        split = max({m.split or "" for m in members}, key=lambda sp: sum((m.split or "") == sp for m in members))
        label = round(sum(m.label for m in members) / len(members))
        cells[(split, label)].append(group)
    kept: set[str] = set()
    for groups in cells.values():
        total = sum(len(by_group[g]) for g in groups)
        target = max(1, round(total * share))
        count = 0
        for group in sorted(groups, key=lambda g: _rank(g, seed)):
            if count >= target:
                break
            kept.add(group)
            count += len(by_group[group])
    return [s for s in samples if s.group in kept]
