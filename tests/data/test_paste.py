"""``graffiti data paste``: crops of graffiti images pasted onto clean photos shown as camera views, a
tile-sized window over each; as many windows with a clean patch pasted the same way.

Tiny photos the tests write: grey walls, pure red "paint", pure blue clean patches, and a green
graffiti photo in the validation split that must never be used.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from detector.data.manifest import read_manifest, write_manifest
from detector.data.paste import MASKS, PasteSpec, paste_dataset, patch_mask, pick_window
from detector.data.sample import CLEAN, GRAFFITI, Sample
from detector.errors import DatasetError

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("kind", MASKS)
def test_patch_masks_are_soft_shapes_full_inside_and_empty_at_the_corners(kind: str) -> None:
    m = patch_mask(np.random.default_rng(0), 60, 90, kind)
    assert m.shape == (60, 90) and m.dtype == np.float32
    assert float(m.min()) >= 0.0 and float(m.max()) <= 1.0
    assert m[30, 45] == pytest.approx(1.0)  # the middle is pasted fully
    assert m[0, 0] == pytest.approx(0.0)  # the edge fades out (feathered)
    with pytest.raises(ValueError, match="unknown mask kind"):
        patch_mask(np.random.default_rng(0), 4, 4, "star")


def test_pick_window_holds_enough_of_the_patch_and_refuses_when_there_is_none() -> None:
    mask = np.zeros((360, 640), np.float32)
    mask[100:160, 400:480] = 1.0  # a small patch: every accepted window holds at least half of it
    rng = np.random.default_rng(1)
    for _ in range(20):
        at = pick_window(rng, mask, 128, patch_share=0.5, window_share=0.25)
        assert at is not None
        x0, y0 = at
        assert 0 <= x0 <= 640 - 128 and 0 <= y0 <= 360 - 128
        assert mask[y0:y0 + 128, x0:x0 + 128].sum() >= 0.5 * mask.sum()
    big = np.zeros((360, 640), np.float32)
    big[:, :] = 1.0  # a patch larger than any window: the window must be at least a quarter full of it
    x0, y0 = pick_window(rng, big, 128, 0.5, 0.25) or (-1, -1)
    assert x0 >= 0 and big[y0:y0 + 128, x0:x0 + 128].mean() >= 0.25
    assert pick_window(rng, np.zeros((360, 640), np.float32), 128, 0.5, 0.25) is None
    assert pick_window(rng, mask, 400, 0.5, 0.25) is None  # a window taller than the view


def _img(path: Path, colour: tuple[int, int, int] | None, seed: int, size: tuple[int, int] = (240, 320)) -> Path:
    import cv2

    rng = np.random.default_rng(seed)
    if colour is None:  # a grey wall with some texture
        img = np.repeat(rng.integers(100, 140, size, dtype=np.uint8)[..., None], 3, axis=2)
    else:
        img = np.zeros((*size, 3), np.uint8)
        img[:, :] = colour
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return path


@pytest.fixture()
def photos(tmp_path: Path) -> dict[str, list[Sample]]:
    d = tmp_path / "photos"
    walls = [Sample(_img(d / f"wall{i}.png", None, i), CLEAN, f"w{i}", "walls", "train") for i in range(3)]
    (d / "broken.jpg").write_bytes(b"not an image")
    walls.append(Sample(d / "broken.jpg", CLEAN, "wb", "walls", "train"))
    walls.append(Sample(_img(d / "valwall.png", (0, 200, 0), 9), CLEAN, "wv", "walls", "val"))  # green: val only
    paint = [Sample(_img(d / f"paint{i}.png", (0, 0, 255), 10 + i, (80, 80)), GRAFFITI, f"p{i}", "paint", "train")
             for i in range(2)]
    paint.append(Sample(_img(d / "valpaint.png", (0, 255, 0), 20, (80, 80)), GRAFFITI, "pv", "paint", "val"))
    patches = [Sample(_img(d / f"patch{i}.png", (255, 0, 0), 30 + i, (80, 80)), CLEAN, f"c{i}", "patches", "train")
               for i in range(2)]
    return {"walls": walls, "paint": paint, "patches": patches}


def _share(img: np.ndarray, channel: int) -> float:
    """Share of pixels where ``channel`` (BGR) clearly dominates the other two."""
    f = img.astype(np.int32)
    others = np.delete(f, channel, axis=2).max(axis=2)
    return float(((f[..., channel] - others) > 40).mean())


def test_paste_writes_windows_whose_label_is_what_the_patch_shows(photos: dict[str, list[Sample]],
                                                                   tmp_path: Path) -> None:
    from detector.preprocess import read_image

    spec = PasteSpec(view_px=(640, 360), tile_px=160)
    s = paste_dataset(photos["walls"], photos["paint"], photos["patches"], tmp_path / "out", n=24, seed=3, spec=spec,
                      progress=False)
    assert s.made == {"graffiti": 12, "clean": 12}
    assert s.unreadable == [photos["walls"][3].path]  # reported, not fatal
    rows = read_manifest(s.manifest or tmp_path / "none")
    assert len(rows) == 24 and {r.split for r in rows} == {"train"} and {r.source for r in rows} == {"paste"}
    assert all(r.group.startswith("paste:walls:w") for r in rows)  # the wall's group travels with the window
    for r in rows:
        img = read_image(str(r.path))
        assert img is not None and img.shape[:2] == (160, 160)
        red, blue = _share(img, 2), _share(img, 0)
        assert _share(img, 1) == 0.0  # the validation paint and wall (green) are never used
        if r.label == GRAFFITI:
            assert red > 0.02 and blue == 0.0, r.path  # the paint is in the window
        else:
            assert blue > 0.02 and red == 0.0, r.path
    assert s.sheet is not None and s.sheet.is_file()
    again = paste_dataset(photos["walls"], photos["paint"], photos["patches"], tmp_path / "again", n=24, seed=3,
                          spec=spec, progress=False)
    assert [p.read_bytes() for p in sorted((tmp_path / "out" / "graffiti").iterdir())] == \
        [p.read_bytes() for p in sorted((tmp_path / "again" / "graffiti").iterdir())]  # same seed, same bytes
    assert again.made == s.made


def test_paste_refuses_a_split_with_nothing_to_paste(photos: dict[str, list[Sample]], tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="--paint: no graffiti images in split"):
        paste_dataset(photos["walls"], [p for p in photos["paint"] if p.split == "val"], photos["patches"],
                      tmp_path / "o", n=4, progress=False)


def test_paste_drops_windows_where_the_paste_does_not_show(photos: dict[str, list[Sample]], tmp_path: Path) -> None:
    """Paint the colour of its wall is no example of either label: such windows are dropped, and when
    nothing shows at all the run stops with a one-line reason instead of writing mislabelled tiles."""
    grey = [Sample(_img(tmp_path / f"g{i}.png", (120, 120, 120), i, (80, 80)), GRAFFITI, f"g{i}", "paint", "train")
            for i in range(2)]
    flat_walls = [Sample(_img(tmp_path / f"fw{i}.png", (120, 120, 120), i), CLEAN, f"fw{i}", "walls", "train")
                  for i in range(2)]
    with pytest.raises(DatasetError, match="could only make 0 of 4 windows"):
        paste_dataset(flat_walls, grey, photos["patches"], tmp_path / "flat", n=4, seed=0,
                      spec=PasteSpec(view_px=(640, 360), tile_px=160, graffiti_share=1.0), progress=False)
    s = paste_dataset(photos["walls"], photos["paint"] + grey, photos["patches"], tmp_path / "mixed", n=16, seed=0,
                      spec=PasteSpec(view_px=(640, 360), tile_px=160), progress=False)
    assert s.invisible > 0 and s.made == {"graffiti": 8, "clean": 8}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "detector", "data", "paste", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=120)


def test_cli_writes_a_manifest_training_can_read_and_one_line_errors(photos: dict[str, list[Sample]],
                                                                     tmp_path: Path) -> None:
    walls = write_manifest(photos["walls"], tmp_path / "walls.csv")
    paint = write_manifest(photos["paint"], tmp_path / "paint.csv")
    patches = write_manifest(photos["patches"], tmp_path / "patches.csv")
    out = tmp_path / "pasted"
    r = _cli("--wall", str(walls), "--paint", str(paint), "--patch", str(patches), "--out", str(out), "--n", "6",
             "--seed", "1")
    assert r.returncode == 0, r.stderr
    assert "wrote 3 graffiti + 3 clean windows" in r.stdout
    assert "skipped unreadable image" in r.stderr and "broken.jpg" in r.stderr
    rows = read_manifest(out / "manifest.csv")
    assert sorted(r.label for r in rows) == [CLEAN] * 3 + [GRAFFITI] * 3
    again = _cli("--wall", str(walls), "--paint", str(paint), "--out", str(out), "--n", "6")
    assert again.returncode != 0 and "not an empty folder" in again.stderr
    assert "Traceback" not in again.stderr and len(again.stderr.strip().splitlines()) == 1
    bad = _cli("--wall", str(walls), "--paint", str(paint), "--out", str(tmp_path / "x"), "--split", "holdout")
    assert bad.returncode != 0 and "--split holdout" in bad.stderr and "Traceback" not in bad.stderr
