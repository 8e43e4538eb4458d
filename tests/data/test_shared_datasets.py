"""The real datasets in ../shared/datasets read as their READMEs describe them (skipped when absent)."""

from __future__ import annotations

from collections import Counter

import pytest

from detector.data.formats import load_dataset
from detector.data.split import group_split, split_counts
from tests.conftest import shared_dataset


@pytest.mark.shared
def test_street_graffiti_has_1821_images_in_its_rf_groups() -> None:
    samples = load_dataset(shared_dataset("street-graffiti"))
    assert len(samples) == 1821  # README: 1,821 labelled photographs
    labels = Counter(s.label_name for s in samples)
    assert 0.35 < labels["clean"] / len(samples) < 0.41  # README: about 38% clean
    assert sum(s.kind == "mixed" for s in samples) == 3  # README: three multi-column rows
    assert all(s.group == s.path.name.split(".rf.")[0] for s in samples)
    assert split_counts(group_split(samples, 0.2, 0.0, 0)).groups_on_several_sides == 0


@pytest.mark.shared
def test_facades_spb_reads_as_clean_with_yolo_regions() -> None:
    samples = load_dataset(shared_dataset("facades-spb"), label="clean")
    assert len(samples) == 561  # README: 561 photographs
    kinds = Counter(r.kind for s in samples for r in s.regions)
    assert set(kinds) == {"window", "cantilever", "arch", "signboard", "win_ad", "door"}


@pytest.mark.shared
def test_facades_likely_graffiti_list_matches_the_dataset() -> None:
    from tests.conftest import REPO

    listed = REPO / "datasets" / "facades-spb-likely-graffiti.txt"
    samples = load_dataset(f"{shared_dataset('facades-spb')}::label=clean,exclude={listed}")
    assert len(samples) == 561 - 12
