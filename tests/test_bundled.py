"""The bundled model is found from any working directory, and a miss names every place looked at."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from detector.bundled import BUNDLED_MODEL, find_bundled_model, model_dirs, model_or_bundled
from detector.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / BUNDLED_MODEL

needs_model = pytest.mark.skipif(not SHIPPED.is_file(), reason=f"{BUNDLED_MODEL} is not in this checkout")


@needs_model
def test_found_from_another_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_bundled_model().resolve() == SHIPPED.resolve()
    # the old default, written out as a relative path, means the bundled model too
    assert model_or_bundled(BUNDLED_MODEL).resolve() == SHIPPED.resolve()


def test_a_model_in_the_working_directory_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "models").mkdir()
    mine = tmp_path / BUNDLED_MODEL
    mine.write_bytes(b"not checked here")
    monkeypatch.chdir(tmp_path)
    assert find_bundled_model() == Path.cwd() / BUNDLED_MODEL


def test_a_given_path_is_kept_even_when_missing(tmp_path: Path) -> None:
    given = tmp_path / "mine.onnx"
    assert model_or_bundled(given) == given  # the session reports the missing file, naming it


def test_a_miss_lists_every_place_looked_at(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        find_bundled_model("no-such-model.onnx", what="--model")
    message = str(err.value)
    assert message.startswith("--model: the bundled model no-such-model.onnx was not found")
    for folder in model_dirs():
        assert str(folder / "no-such-model.onnx") in message
    assert str(tmp_path / "models" / "no-such-model.onnx") in message
    assert "\n" not in message


@needs_model
def test_edge_score_runs_outside_the_repository(tmp_path: Path) -> None:
    import cv2

    wall = tmp_path / "wall.jpg"
    rng = np.random.default_rng(0)
    cv2.imwrite(str(wall), rng.integers(90, 140, (240, 320, 3), dtype=np.uint8))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "detector", "edge", "score", "wall.jpg", "--threads", "1"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("wall.jpg: max ") and "tile(s)" in out.stdout
