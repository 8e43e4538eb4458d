"""Synthetic hard negatives the edge meets (parked bikes, close people in lettered clothes, pipes,
cables, tile panels, plaster, the IR look) and hard-negatives-only datasets."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from detector.data.sample import CLEAN
from detector.data.synth.layer import Layer
from detector.data.synth.scene import HARD_MIX, render_scene
from detector.errors import ConfigError

FIXTURES = ("pipe", "cable", "tiles", "plaster")


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("kind", FIXTURES)
def test_fixture_paints_inside_its_box_and_nothing_outside(kind: str, seed: int) -> None:
    from detector.data.synth.negatives import paint_negative

    layer = Layer.blank(240, 160)
    box = (40, 30, 200, 120)
    paint_negative(layer, kind, np.random.default_rng(seed), box)
    inside = np.zeros(layer.alpha.shape, bool)
    inside[box[1]:box[3], box[0]:box[2]] = True
    assert layer.alpha[~inside].max() == 0.0 and np.abs(layer.rgb[~inside]).max() == 0.0
    assert layer.alpha[inside].sum() > 0.03 * inside.sum(), f"{kind} drew almost nothing in its box"


def _tunnel_view(seed: int, size: int = 160):
    from detector.data.synth.geometry import cast
    from detector.data.synth.scene import random_camera, random_tunnel
    from detector.data.synth.wall import random_surfaces, shade

    rng = np.random.default_rng(seed)
    tunnel = random_tunnel(rng)
    camera, _ = random_camera(rng, "wide", size, tunnel)
    maps = cast(camera, tunnel)
    return rng, camera, tunnel, maps, shade(maps, random_surfaces(rng))


def _changed_box_check(before: np.ndarray, after: np.ndarray, box: tuple[float, float, float, float]) -> None:
    x1, y1, x2, y2 = (int(v) for v in box)
    changed = np.abs(after - before).max(axis=2) > 0
    outside = changed.copy()
    outside[y1:y2, x1:x2] = False
    assert not outside.any(), f"{int(outside.sum())} pixels changed outside the reported box {box}"
    assert changed[y1:y2, x1:x2].mean() > 0.02, "almost nothing drawn inside the box"


def test_parked_bikes_draw_inside_their_box_and_nothing_outside() -> None:
    from detector.data.synth.bikes import park_bikes

    parked = 0
    for seed in range(12):
        rng, camera, tunnel, maps, albedo = _tunnel_view(seed)
        before = albedo.copy()
        box = park_bikes(rng, camera, tunnel, maps, albedo)
        if box is None:
            assert np.array_equal(before, albedo)  # nothing parked, nothing drawn
            continue
        parked += 1
        _changed_box_check(before, albedo, box)
    assert parked >= 6, f"bikes found room in only {parked} of 12 wide tunnel views"


@pytest.mark.parametrize("cyclist", [False, True], ids=["person", "cyclist"])
def test_close_figure_draws_inside_its_box_and_nothing_outside(cyclist: bool) -> None:
    from detector.data.synth.closeup import add_close_figure

    drawn = 0
    for seed in range(8):
        rng = np.random.default_rng(seed)
        albedo = np.random.default_rng(100 + seed).random((128, 128, 3), dtype=np.float32)
        before = albedo.copy()
        box = add_close_figure(rng, albedo, cyclist)
        if box is None:
            continue
        drawn += 1
        _changed_box_check(before, albedo, box)
    assert drawn >= 5


@pytest.mark.parametrize("jersey", [False, True], ids=["shirt", "jersey"])
def test_clothing_print_is_on_the_shirt_only(jersey: bool) -> None:
    """Lettering/logo/number/stripes land on the torso, in a colour other than the shirt's."""
    from detector.data.synth.closeup import _print

    printed = 0
    for seed in range(8):
        layer = Layer.blank(120, 120)
        torso = np.zeros((120, 120), np.float32)
        torso[20:100, 30:90] = 1.0
        shirt = np.asarray((0.1, 0.1, 0.75), np.float32)
        layer.over(shirt, torso)
        before = layer.rgb.copy()
        _print(layer, torso, np.random.default_rng(seed), shirt, (34, 26, 86, 96), jersey)
        changed = np.abs(layer.rgb - before).max(axis=2) > 1e-4
        assert not (changed & (torso == 0)).any(), "print outside the shirt"
        printed += int(changed.sum() > 0.03 * torso.sum())
    assert printed >= 6, f"only {printed} of 8 shirts carry a visible print"


def test_ir_look_is_grey_red_weighted_and_flat() -> None:
    from detector.data.synth.infrared import ir_look

    img = np.zeros((4, 8, 3), np.float32)
    img[:, :4] = (0.0, 0.0, 0.9)  # red (BGR)
    img[:, 4:] = (0.9, 0.0, 0.0)  # blue
    out = ir_look(img, np.random.default_rng(0))
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    assert out[0, 0, 0] > out[0, 7, 0], "red must look brighter than blue in IR"
    assert out[0, 0, 0] - out[0, 7, 0] < 0.9 * (0.6 - 0.1), "contrast must be flattened"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ir_scene_is_greyscale(seed: int) -> None:
    scene = render_scene(seed, 96, negatives=["ir"])
    img = scene.image.astype(int)
    assert np.abs(img[..., 0] - img[..., 1]).max() <= 2 and np.abs(img[..., 1] - img[..., 2]).max() <= 2
    assert scene.info["light"] in ("ir", "ir-look") and scene.kind == "ir" and scene.label == CLEAN


@pytest.mark.parametrize("kind", sorted(HARD_MIX))
def test_only_negatives_scene_shows_the_kind_and_no_graffiti(kind: str) -> None:
    for seed in (5, 6):
        scene = render_scene(seed, 96, negatives=[kind])
        assert scene.label == CLEAN and scene.kind == kind
        kinds = {r.kind for r in scene.regions}
        assert kind in kinds and kinds <= {kind, "osd"}, kinds
        assert all(r.label == CLEAN for r in scene.regions)


def test_bare_control_scene_has_no_negative() -> None:
    for seed in (1, 2, 3):
        scene = render_scene(seed, 96, negatives=["bare"])
        assert scene.kind == "bare" and scene.label == CLEAN
        assert {r.kind for r in scene.regions} <= {"osd"}


def test_only_negatives_scene_is_deterministic_per_seed() -> None:
    a = render_scene(8, 96, negatives=["bike", "pipe"])
    b = render_scene(8, 96, negatives=["bike", "pipe"])
    c = render_scene(9, 96, negatives=["bike", "pipe"])
    assert a.image.tobytes() == b.image.tobytes() and a.regions == b.regions
    assert a.image.tobytes() != c.image.tobytes()


def test_extra_negatives_leave_a_seeds_tunnel_as_it_was() -> None:
    """The new kinds draw from their own stream and are off by default: without them every seed renders
    the same tunnel, view, lighting, paint and older negatives as with them (only the additions differ)."""
    on = [render_scene(s, 64, hard_negatives=True) for s in range(30)]
    assert any(r.kind in HARD_MIX for sc in on for r in sc.regions)
    for seed, with_extras in enumerate(on):
        without = render_scene(seed, 64)
        assert not any(r.kind in HARD_MIX for r in without.regions)
        assert without.info.get("light") != "ir-look"
        old = [r for r in with_extras.regions if r.kind not in HARD_MIX]
        assert old == list(without.regions), seed
        assert with_extras.label == without.label
        assert {k: v for k, v in with_extras.info.items() if k != "light"} == {
            k: v for k, v in without.info.items() if k != "light"}
    assert sum(sc.info["light"] == "ir-look" for sc in on) < 10  # a few scenes, not most


def test_hard_negatives_mix_the_new_kinds_into_ordinary_scenes() -> None:
    seen = {r.kind for s in range(120) for r in render_scene(s, 64, graffiti=False, hard_negatives=True).regions}
    assert len(seen & set(HARD_MIX)) >= 4, seen
    default = {r.kind for s in range(60) for r in render_scene(s, 64, graffiti=False).regions}
    assert not default & set(HARD_MIX), default


def test_unknown_negative_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="'tree'"):
        render_scene(1, 64, negatives=["tree"])
    with pytest.raises(ValueError, match="clean"):
        render_scene(1, 64, graffiti=True, negatives=["bike"])


def test_negatives_only_dataset_is_clean_with_the_chosen_kinds(tmp_path) -> None:
    from detector.data.formats import load_dataset
    from detector.data.synth.dataset import write_synth_dataset

    kinds = ("bike", "close-person", "pipe", "ir", "bare")
    summary = write_synth_dataset(tmp_path / "n", 20, 4, size_px=64, only_negatives=kinds)
    assert summary.n_graffiti == 0 and summary.n_clean == 20
    assert summary.kinds == {k: 4 for k in sorted(kinds)}  # every chosen kind equally often
    samples = load_dataset(str(tmp_path / "n"))
    assert {s.label for s in samples} == {CLEAN} and {s.source for s in samples} == {"synth-negatives"}
    assert {s.kind for s in samples} == set(kinds)
    for s in samples:
        region_kinds = {r.kind for r in s.regions} - {"osd"}
        assert region_kinds <= set(kinds) - {"ir", "bare"} and all(r.label == CLEAN for r in s.regions)
        if s.kind == "bare":
            assert not region_kinds
        elif s.kind != "ir":
            assert s.kind in region_kinds
    again = write_synth_dataset(tmp_path / "m", 20, 4, size_px=64, only_negatives=kinds)
    first = sorted((tmp_path / "n" / "clean").glob("*.jpg"))
    assert [p.read_bytes() for p in first] == [(tmp_path / "m" / "clean" / p.name).read_bytes() for p in first]
    assert again.kinds == summary.kinds


@pytest.mark.parametrize(("text", "match"), [
    ("bike,tree", "--kinds: unknown kind 'tree'"),
    (" , ", "--kinds: no kind given"),
    ("", None),
], ids=["unknown", "only-commas", "empty-means-default"])
def test_kinds_option_is_checked(text: str, match: str | None) -> None:
    from detector.data.synth.dataset import parse_kinds
    from detector.data.synth.scene import DEFAULT_ONLY_KINDS

    if match is None:
        assert parse_kinds(text) == DEFAULT_ONLY_KINDS
        return
    with pytest.raises(ConfigError, match=match):
        parse_kinds(text)


def test_cli_only_negatives_writes_clean_set_with_progress(tmp_path) -> None:
    out = tmp_path / "negs"
    proc = subprocess.run([sys.executable, "-m", "detector", "data", "synth", "--out", str(out), "--n", "6", "--seed", "9101",
                           "--size", "64", "--only-negatives", "--kinds", "bike,tiles,cable"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "wrote 0 graffiti + 6 clean images" in proc.stdout
    assert "kinds: bike 2, cable 2, tiles 2" in proc.stdout
    assert not list((out / "graffiti").glob("*.jpg")) and len(list((out / "clean").glob("*.jpg"))) == 6
    rows = (out / "manifest.csv").read_text().splitlines()[1:]
    assert {r.split(",")[5] for r in rows} == {"bike", "tiles", "cable"}


def test_cli_kinds_without_only_negatives_is_one_line_error(tmp_path) -> None:
    proc = subprocess.run([sys.executable, "-m", "detector", "data", "synth", "--out", str(tmp_path / "x"), "--n", "2",
                           "--kinds", "bike"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines == ["error: --kinds needs --only-negatives (it chooses the kinds of a hard-negatives set)"]


def test_cli_hard_negatives_mixes_them_in_and_refuses_only_negatives(tmp_path) -> None:
    out = tmp_path / "mixed"
    proc = subprocess.run([sys.executable, "-m", "detector", "data", "synth", "--out", str(out), "--n", "40", "--seed", "3",
                           "--size", "64", "--graffiti-fraction", "0", "--hard-negatives"],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    rows = (out / "manifest.csv").read_text().splitlines()[1:]
    assert {r.split(",")[5] for r in rows} & set(HARD_MIX)
    proc = subprocess.run([sys.executable, "-m", "detector", "data", "synth", "--out", str(tmp_path / "y"), "--n", "2",
                           "--hard-negatives", "--only-negatives"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines == ["error: --hard-negatives and --only-negatives: choose one (--only-negatives already shows "
                     "only them)"]
