"""group_split: no group on two sides, deterministic per seed, stratified by label (and source)."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from detector.data.formats import load_dataset
from detector.data.sample import CLEAN, GRAFFITI, Sample
from detector.data.split import group_split, split_counts
from detector.errors import ConfigError
from tests.data.helpers import rf_name, write_roboflow


@pytest.fixture(scope="module")
def rf_dataset(tmp_path_factory: pytest.TempPathFactory) -> list[Sample]:
    """Built like street-graffiti: 60 photos, 1-3 augmented .rf. copies each, ~40% clean."""
    rng = random.Random(1)
    rows = []
    for photo in range(60):
        ticks = (0, 1, 0, 0) if photo % 5 < 2 else ((1, 0, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1))[photo % 3]
        for copy in range(rng.randint(1, 3)):
            rows.append((rf_name(f"IMG_{photo:04d}", copy), ticks))
    root = write_roboflow(tmp_path_factory.mktemp("rf") / "train", rows)
    return load_dataset(root)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 17])
def test_no_rf_stem_lands_on_two_sides(rf_dataset: list[Sample], seed: int) -> None:
    split = group_split(rf_dataset, 0.2, 0.1, seed)
    sides: dict[str, set[str | None]] = {}
    for s in split:
        sides.setdefault(s.path.name.split(".rf.")[0], set()).add(s.split)
    assert all(len(v) == 1 for v in sides.values())
    assert split_counts(split).groups_on_several_sides == 0
    assert {s.split for s in split} == {"train", "val", "test"}


def test_split_is_deterministic_and_independent_of_input_order(rf_dataset: list[Sample]) -> None:
    a = {s.path: s.split for s in group_split(rf_dataset, 0.2, 0.0, seed=5)}
    shuffled = list(rf_dataset)
    random.Random(9).shuffle(shuffled)
    b = {s.path: s.split for s in group_split(shuffled, 0.2, 0.0, seed=5)}
    assert a == b
    c = {s.path: s.split for s in group_split(rf_dataset, 0.2, 0.0, seed=6)}
    assert a != c


def test_split_keeps_input_order_and_sample_fields(rf_dataset: list[Sample]) -> None:
    split = group_split(rf_dataset, 0.25, 0.0, 0)
    assert [s.path for s in split] == [s.path for s in rf_dataset]
    assert [(s.label, s.group, s.kind) for s in split] == [(s.label, s.group, s.kind) for s in rf_dataset]


def _toy(n_groups: int, label: int, source: str, per_group: int = 2) -> list[Sample]:
    return [Sample(path=Path(f"/{source}/{label}/{g}_{i}.jpg"), label=label, group=f"{source}-{label}-{g}",
                   source=source) for g in range(n_groups) for i in range(per_group)]


def test_split_is_stratified_by_label_and_source() -> None:
    samples = _toy(40, GRAFFITI, "a") + _toy(10, CLEAN, "a") + _toy(20, CLEAN, "b") + _toy(30, GRAFFITI, "b")
    split = group_split(samples, 0.2, 0.0, seed=3)
    val = Counter((s.source, s.label) for s in split if s.split == "val")
    total = Counter((s.source, s.label) for s in split)
    for key, n in total.items():
        assert val[key] == pytest.approx(0.2 * n, abs=2), key  # within one group of the target


@pytest.mark.parametrize(("val", "test", "match"), [
    (1.2, 0.0, "split.val_fraction"), (0.2, -0.1, "split.test_fraction"), (0.6, 0.5, "below 1"),
], ids=["val-too-big", "negative-test", "sum-too-big"])
def test_bad_fractions_are_config_errors(val: float, test: float, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        group_split(_toy(3, CLEAN, "a"), val, test, 0)
