"""Quick runs: ``--fraction`` / ``--max-images`` keep whole groups, every split and both classes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from detector.data.sample import Sample
from detector.errors import ConfigError
from detector.train.subset import subsample


def _samples() -> list[Sample]:
    """100 groups of 1-4 near-duplicate images; 80 % train / 20 % val; 60 % graffiti."""
    out = []
    for g in range(100):
        split = "val" if g % 10 in (0, 1) else "train"
        label = 1 if g % 5 in (1, 2, 3) else 0
        for k in range(1 + g % 4):
            out.append(Sample(path=Path(f"/d/{g}-{k}.jpg"), label=label, group=f"g{g}", source="s", split=split))
    return out


@pytest.mark.parametrize(("fraction", "max_images"), [(0.1, 0), (0.25, 0), (1.0, 40), (0.5, 30)],
                         ids=["tenth", "quarter", "cap-40", "half-capped-30"])
def test_subset_keeps_whole_groups_every_split_and_both_classes(fraction, max_images):
    samples = _samples()
    kept = subsample(samples, fraction, max_images, seed=0)
    target = min(len(samples) * fraction, max_images or len(samples))
    assert abs(len(kept) - target) <= 0.15 * target + 8  # whole groups overshoot a little per cell
    groups = Counter(s.group for s in samples)
    assert all(groups[g] == n for g, n in Counter(s.group for s in kept).items())  # no group cut in two
    cells = {(s.split, s.label) for s in kept}
    assert cells == {("train", 0), ("train", 1), ("val", 0), ("val", 1)}


def test_subset_is_seeded_and_full_fraction_keeps_everything():
    samples = _samples()
    assert subsample(samples, 0.2, 0, seed=1) == subsample(samples, 0.2, 0, seed=1)
    assert subsample(samples, 0.2, 0, seed=1) != subsample(samples, 0.2, 0, seed=2)
    assert subsample(samples, 1.0, 0) == samples


@pytest.mark.parametrize(("fraction", "max_images", "match"), [
    (0.0, 0, "fraction: expected a share in"), (1.5, 0, "fraction"), (1.0, -3, "max_images"),
], ids=["zero", "above-one", "negative-cap"])
def test_bad_settings_name_the_setting(fraction, max_images, match):
    with pytest.raises(ConfigError, match=match):
        subsample(_samples(), fraction, max_images)


@pytest.mark.train
def test_train_with_max_images_records_the_subset_in_its_manifest(tmp_path):
    pytest.importorskip("torch")
    from typer.testing import CliRunner

    from detector.cli import app
    from detector.data.manifest import read_manifest
    from tests.train.tiny_run import write_images

    write_images(tmp_path / "walls", 20, seed=2)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "walls"), "--max-images", "16",
                                      "--arch", "efficientnet_lite0", "--input-px", "64", "--epochs", "1",
                                      "--batch-size", "4", "--freeze-blocks", "5", "--cached-views", "1",
                                      "--threads", "1", "--track", "none", "--val-fraction", "0.3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "quick run: kept" in result.output and "of 40 images" in result.output
    rows = read_manifest(out / "data_manifest.csv")
    assert 12 <= len(rows) <= 20 and {r.label for r in rows if r.split == "train"} == {0, 1}
