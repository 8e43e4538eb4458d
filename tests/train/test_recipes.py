"""The committed recipes stay runnable: every training config under models/recipes/ validates as
`graffiti train --config` would read it, its dataset specs parse, the exclude lists they name exist and
hold file names only, and every recipe script is valid bash. (The data itself is not needed: the
recipes make it from ../shared, which a clone may not have.)"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.train

pytest.importorskip("torch")

from detector.data.formats import parse_dataset_spec  # noqa: E402
from detector.train.launch import resolve_config  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
RECIPES = REPO / "models" / "recipes"
CONFIGS = sorted(RECIPES.glob("*.yaml"))
SCRIPTS = sorted(RECIPES.glob("*.sh"))


def test_there_are_recipes():
    assert len(CONFIGS) >= 5 and len(SCRIPTS) >= 5


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_training_config_validates_and_names_real_exclude_lists(path):
    cfg = resolve_config(path, {})
    assert cfg.data, f"{path.name}: no data"
    assert cfg.out.startswith("runs/"), f"{path.name}: writes outside runs/: {cfg.out}"
    for text in cfg.data:
        spec = parse_dataset_spec(text)
        if spec.exclude:
            listing = REPO / spec.exclude
            assert listing.is_file(), f"{path.name}: exclude list {spec.exclude} is not in the repository"
            for line in listing.read_text().splitlines():
                entry = line.split("#", 1)[0].strip()
                assert "/" not in entry and (not entry or entry.endswith(".jpg")), f"{spec.exclude}: {line!r}"


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_every_recipe_script_is_valid_bash(path):
    done = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
