"""Hard-negative mining between rounds (``graffiti data mine``): the hottest clean tiles of the training
photos, shown as the edge's camera views, become a clean dataset that keeps each photo's group and split.

The model is a real ONNX session (the redness model of the edge tests: it scores red): a red sign on
a clean photo is the mistake to mine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detector.data.manifest import read_manifest
from detector.data.sample import CLEAN, GRAFFITI, Sample
from detector.train.mine import choose_hottest
from tests.edge.edge_models import redness_model
from tests.train.tiny_run import run_cli


def test_choose_hottest_takes_the_hottest_tiles_at_most_per_photo_and_over_the_floor() -> None:
    tables = [
        np.array([0.9, 0.8, 0.7, 0.1]),  # one photo holds the three hottest tiles
        np.array([0.75, 0.02]),
        np.array([0.01, 0.03]),  # nothing over the floor
    ]
    got = choose_hottest(tables, n=4, per_photo=2, min_score=0.05)
    assert got == [(0.9, 0, 0), (0.8, 0, 1), (0.75, 1, 0)]  # the 0.7 is the third of photo 0: not taken
    assert choose_hottest(tables, n=1, per_photo=2, min_score=0.0) == [(0.9, 0, 0)]
    assert choose_hottest(tables, n=10, per_photo=5, min_score=0.0)[-1] == (0.01, 2, 0)
    assert choose_hottest(tables, n=0, per_photo=2, min_score=0.0) == []


def _wall(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    g = rng.integers(90, 160, (360, 640), dtype=np.uint8)
    return np.repeat(g[..., None], 3, axis=2)


def _write(path: Path, img: np.ndarray) -> Path:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return path


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    """Clean train photos (one with a red sign in its top-left corner), a clean val photo with a redder
    sign, a graffiti photo, an unreadable file; as a manifest."""
    from detector.data.manifest import write_manifest

    d = tmp_path / "photos"
    signed = _wall(1)
    signed[0:100, 0:150] = (0, 0, 230)  # red (BGR) in the view's first tile
    val_signed = _wall(2)
    val_signed[:, :] = (0, 0, 255)
    painted = _wall(3)
    painted[:, :] = (0, 0, 250)
    bad = d / "broken.jpg"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(b"\xff\xd8\xff not a jpeg")
    samples = [
        Sample(_write(d / "signed.jpg", signed), CLEAN, "g1", "walls", "train"),
        Sample(_write(d / "plain.jpg", _wall(4)), CLEAN, "g2", "walls", "train"),
        Sample(bad, CLEAN, "g5", "walls", "train"),
        Sample(_write(d / "val-signed.jpg", val_signed), CLEAN, "g3", "walls", "val"),
        Sample(_write(d / "painted.jpg", painted), GRAFFITI, "g4", "walls", "train"),
    ]
    return write_manifest(samples, d / "manifest.csv")


def test_mine_writes_the_hottest_clean_training_tiles_as_a_dataset(tmp_path: Path, photos: Path, monkeypatch,
                                                                     capsys) -> None:
    model = redness_model(tmp_path / "red.onnx", input_size=(32, 32))
    out = tmp_path / "mined"
    code, stdout, stderr = run_cli(monkeypatch, capsys, "data", "mine", str(model), "--data", str(photos),
                                   "--out", str(out), "--n", "3", "--per-photo", "2", "--min-score", "0.0")
    assert code == 0, stderr
    assert "broken.jpg" in stderr  # reported, skipped, not fatal
    rows = read_manifest(out / "manifest.csv")
    assert len(rows) == 3
    assert all(r.label == CLEAN and r.split == "train" and r.source == "mined" for r in rows)
    parents = {r.group for r in rows}
    assert parents <= {"walls:g1", "walls:g2"}, "a val or graffiti photo was mined"
    hottest = rows[0]
    assert hottest.group == "walls:g1" and hottest.path.name.endswith("-t00.jpg")  # the red sign's tile
    import cv2

    tile = cv2.imread(str(hottest.path))
    assert tile is not None and tile.shape[:2] == (320, 320)
    assert float((tile[..., 2].astype(int) - tile[..., 0]).mean()) > 100  # it is the red sign
    assert (out / "mined.png").is_file()
    assert "kept 3 tiles" in stdout


def test_mine_refuses_a_used_output_folder_and_a_split_with_nothing_to_mine(tmp_path: Path, photos: Path,
                                                                            monkeypatch, capsys) -> None:
    model = redness_model(tmp_path / "red.onnx", input_size=(32, 32))
    used = tmp_path / "used"
    used.mkdir()
    (used / "x.txt").write_text("keep me")
    code, _out, err = run_cli(monkeypatch, capsys, "data", "mine", str(model), "--data", str(photos),
                              "--out", str(used))
    assert code != 0 and "not empty" in err and len(err.strip().splitlines()) == 1
    code, _out, err = run_cli(monkeypatch, capsys, "data", "mine", str(model), "--data", str(photos),
                              "--out", str(tmp_path / "m2"), "--split", "test")
    assert code != 0 and "no clean photos in split(s) test" in err and len(err.strip().splitlines()) == 1


def test_mine_graffiti_keeps_the_hottest_tile_of_each_graffiti_photo_as_a_positive(tmp_path: Path, photos: Path,
                                                                                   monkeypatch, capsys) -> None:
    """--label graffiti: tile-scale positives — the tile the model reads hottest in each graffiti training
    photo, labelled graffiti, keeping the photo's group and split; clean photos are not mined."""
    model = redness_model(tmp_path / "red.onnx", input_size=(32, 32))
    out = tmp_path / "pos"
    code, stdout, stderr = run_cli(monkeypatch, capsys, "data", "mine", str(model), "--data", str(photos),
                                   "--out", str(out), "--label", "graffiti", "--per-photo", "1", "--min-score", "0.0")
    assert code == 0, stderr
    rows = read_manifest(out / "manifest.csv")
    assert len(rows) == 1
    assert rows[0].label == GRAFFITI and rows[0].group == "walls:g4" and rows[0].split == "train"
    assert rows[0].path.parent.name == "graffiti"
    assert "graffiti photos" in stdout
    code, _out, err = run_cli(monkeypatch, capsys, "data", "mine", str(model), "--data", str(photos),
                              "--out", str(tmp_path / "p2"), "--label", "mural")
    assert code != 0 and "--label mural: expected clean or graffiti" in err and len(err.strip().splitlines()) == 1


def test_mine_sheet_max_0_shows_every_mined_tile_over_numbered_sheets(tmp_path: Path, photos: Path, monkeypatch,
                                                                      capsys) -> None:
    """--sheet-max 0: every kept tile on a contact sheet (paged), so a student can look at all of them
    before training; the default shows the hottest on one sheet."""
    import cv2

    from detector.train import mine

    model = redness_model(tmp_path / "red.onnx", input_size=(32, 32))
    monkeypatch.setattr(mine, "SHEET_PAGE", 12)  # 30 tiles (2 photos x 15) -> sheets of 12, 12, 6
    out = tmp_path / "all"
    code, stdout, stderr = run_cli(monkeypatch, capsys, "data", "mine", str(model), "--data", str(photos),
                                   "--out", str(out), "--n", "100", "--per-photo", "15", "--min-score", "0.0",
                                   "--sheet-max", "0")
    assert code == 0, stderr
    assert len(read_manifest(out / "manifest.csv")) == 30
    sheets = sorted(out.glob("mined-*.png"))
    assert [p.name for p in sheets] == ["mined-1.png", "mined-2.png", "mined-3.png"]
    assert not (out / "mined.png").exists()
    heights = [cv2.imread(str(p)).shape[0] for p in sheets]
    assert heights[0] == heights[1] > heights[2]  # 12 tiles = 2 rows of 10; the last 6 = 1 row
    assert "contact sheets: 3" in stdout

    few = tmp_path / "few"
    code, stdout, stderr = run_cli(monkeypatch, capsys, "data", "mine", str(model), "--data", str(photos),
                                   "--out", str(few), "--n", "100", "--per-photo", "15", "--min-score", "0.0",
                                   "--sheet-max", "5")
    assert code == 0, stderr
    assert (few / "mined.png").is_file() and not list(few.glob("mined-*.png"))
    assert cv2.imread(str(few / "mined.png")).shape[1] < cv2.imread(str(sheets[0])).shape[1]  # 5 columns, not 10
