"""Synthetic tunnel scenes: deterministic, labelled consistently, readable as a dataset."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from detector.data.sample import CLEAN, GRAFFITI
from detector.data.synth import render_scene
from detector.data.synth.dataset import scene_seed, write_synth_dataset
from detector.errors import ConfigError

SIZE = 96  # small renders keep the tests fast; the code path is the same as at 320 px


def test_same_seed_gives_same_bytes() -> None:
    a = render_scene(7, SIZE)
    b = render_scene(7, SIZE)
    assert a.image.tobytes() == b.image.tobytes()
    assert a.regions == b.regions and a.label == b.label and a.kind == b.kind


def test_different_seeds_give_different_images() -> None:
    images = [render_scene(s, SIZE).image for s in range(4)]
    for i in range(len(images)):
        for j in range(i + 1, len(images)):
            assert np.abs(images[i].astype(int) - images[j].astype(int)).mean() > 2.0


@pytest.mark.parametrize("seed", range(12), ids=lambda s: f"seed{s}")
@pytest.mark.parametrize("graffiti", [True, False], ids=["graffiti", "clean"])
def test_label_matches_regions(seed: int, graffiti: bool) -> None:
    scene = render_scene(seed, SIZE, graffiti=graffiti)
    assert scene.image.shape == (SIZE, SIZE, 3) and scene.image.dtype == np.uint8
    g = [r for r in scene.regions if r.label == GRAFFITI]
    if graffiti:
        assert scene.label == GRAFFITI and g, "a graffiti scene must show graffiti"
        assert scene.kind in {r.kind for r in g}
    else:
        assert scene.label == CLEAN and not g
    for r in scene.regions:
        x1, y1, x2, y2 = r.xyxy
        assert 0 <= x1 < x2 <= SIZE and 0 <= y1 < y2 <= SIZE, r


def test_graffiti_region_differs_from_clean_render_of_same_seed() -> None:
    # Same seed, forced labels: the graffiti box must hold visibly different pixels.
    seed = 3
    g = render_scene(seed, SIZE, graffiti=True)
    box = next(r for r in g.regions if r.label == GRAFFITI)
    x1, y1, x2, y2 = (int(v) for v in box.xyxy)
    patch = g.image[y1:y2, x1:x2].astype(np.float32)
    assert patch.std() > 3.0, "graffiti region is flat"


def test_bad_size_and_seed_are_rejected() -> None:
    with pytest.raises(ValueError, match="size_px"):
        render_scene(1, 8)
    with pytest.raises(ValueError, match="seed"):
        render_scene(-1, SIZE)


def test_dataset_writes_imagefolder_and_manifest_that_load_dataset_reads(tmp_path) -> None:
    from detector.data.formats import load_dataset

    summary = write_synth_dataset(tmp_path / "synth", 6, seed=5, size_px=64, graffiti_fraction=0.5)
    assert (summary.n_graffiti, summary.n_clean) == (3, 3)
    samples = load_dataset(str(tmp_path / "synth"))
    assert len(samples) == 6
    assert {s.source for s in samples} == {"synth"}
    for s in samples:
        assert s.path.is_file() and s.path.parent.name == ("graffiti" if s.label == GRAFFITI else "clean")
        assert (s.label == GRAFFITI) == any(r.label == GRAFFITI for r in s.regions)
    # Re-rendering one image from its derived seed reproduces its label and regions.
    first = sorted(samples, key=lambda s: s.path.name)[0]
    again = render_scene(scene_seed(5, 0), 64, graffiti=first.label == GRAFFITI)
    assert tuple(r.kind for r in again.regions) == tuple(r.kind for r in first.regions)


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [({"n": 0}, "--n"), ({"seed": -2}, "--seed"), ({"size_px": 8}, "--size"), ({"graffiti_fraction": 1.5}, "--graffiti-fraction")],
    ids=["n-zero", "negative-seed", "tiny-size", "fraction-over-one"],
)
def test_bad_dataset_options_name_the_option(tmp_path, kwargs: dict, option: str) -> None:
    args = {"n": 2, "seed": 0, "size_px": 64, "graffiti_fraction": 0.5} | kwargs
    with pytest.raises(ConfigError, match=option):
        write_synth_dataset(tmp_path / "x", args.pop("n"), args.pop("seed"), **args)


def test_cli_bad_n_prints_one_line_error(tmp_path) -> None:
    proc = subprocess.run([sys.executable, "-m", "detector", "data", "synth", "--out", str(tmp_path / "x"), "--n", "0"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines == ["error: --n must be at least 1, got 0"]


@pytest.mark.parametrize(("out", "match"), [
    ("afile", "afile: exists and is not a folder"),
    ("afile/sub", "afile/sub: cannot create the --out folder"),
], ids=["out-is-a-file", "out-under-a-file"])
def test_cli_unusable_out_folder_is_one_line_error_before_rendering(tmp_path, out: str, match: str) -> None:
    (tmp_path / "afile").write_text("not a folder")
    proc = subprocess.run([sys.executable, "-m", "detector", "data", "synth", "--out", out, "--n", "2"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and match in lines[0], proc.stderr
    assert "synth" not in proc.stdout  # no progress bar: the folder is checked first


@pytest.mark.parametrize("kind", ["tag", "throwup", "piece", "etch", "sticker"])
def test_paint_progress_only_adds_paint(kind: str) -> None:
    from detector.data.synth.layer import Layer
    from detector.data.synth.paint import paint_graffiti

    cover = []
    for progress in (0.0, 0.3, 0.7, 1.0):
        layer = Layer.blank(160, 80)
        paint_graffiti(layer, kind, np.random.default_rng(11), (0, 0, 160, 80), progress)
        cover.append(float(layer.alpha.sum()))
    assert cover[0] == 0.0
    assert cover[1] <= cover[2] + 1e-3 <= cover[3] + 2e-3
    assert cover[3] > 0.03 * 160 * 80, "the finished work covers almost nothing"


def test_unknown_graffiti_kind_is_rejected() -> None:
    from detector.data.synth.layer import Layer
    from detector.data.synth.paint import paint_graffiti

    with pytest.raises(ValueError, match="mural"):
        paint_graffiti(Layer.blank(32, 32), "mural", np.random.default_rng(0), (0, 0, 32, 32))


def test_cli_writes_dataset(tmp_path) -> None:
    out = tmp_path / "s"
    proc = subprocess.run([sys.executable, "-m", "detector", "data", "synth", "--out", str(out), "--n", "4", "--seed", "9",
                           "--size", "64"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "wrote 2 graffiti + 2 clean images" in proc.stdout
    assert len(list((out / "graffiti").glob("*.jpg"))) == 2 and len(list((out / "clean").glob("*.jpg"))) == 2
    assert (out / "manifest.csv").read_text().startswith("path,label,group,split,source,kind,regions")
