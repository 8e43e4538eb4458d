"""``scripts/bench_pair.py``: two networks that must both read a tile hot, read at the reference's operating
point."""

from __future__ import annotations

import numpy as np
import pytest

from tests.scripts_loader import load_script

pytestmark = pytest.mark.train

pytest.importorskip("torch")
pytest.importorskip("onnx")


def _script():
    return load_script("bench_pair")


def test_a_frame_scores_its_hottest_reference_tile_among_those_the_partner_passes():
    f = _script().and_scores
    a = np.array([0.9, 0.6, 0.3])
    b = np.array([0.1, 0.7, 0.8])
    assert f(a, b, 0.0) == pytest.approx(0.9)  # every tile passes: the reference alone
    assert f(a, b, 0.5) == pytest.approx(0.6)  # the 0.9 tile is vetoed by the partner
    assert f(a, b, 0.75) == pytest.approx(0.3)
    assert f(a, b, 0.95) == float("-inf")  # nothing passes: never flagged


def test_the_matched_threshold_ignores_views_the_partner_never_passes():
    t_for = _script().match_threshold
    clean = np.array([0.9, 0.8, 0.7, float("-inf"), float("-inf")])
    assert int((clean >= t_for(clean, 2)).sum()) == 2
    assert t_for(clean, 2) == pytest.approx(0.75)
    # fewer views pass the partner than the match asks: all of those that do are flagged, none of the others
    t = t_for(clean, 4)
    assert int((clean >= t).sum()) == 3
    assert t_for(np.array([float("-inf")]), 1) == 0.0


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tests.train.tiny_run import photo_model, shared_tiny_run

    run = shared_tiny_run(tmp_path_factory)
    return run, photo_model(run)


def test_a_partner_that_passes_every_tile_is_the_reference_alone(tiny, capsys, tmp_path):
    run, ref = tiny
    assert _script().main(["--model", str(ref), "--partner", str(ref), "--tb", "0", "--tb", "1",
                           "--match", f"{run.manifest}:val", "--test", f"{run.manifest}:train", "--walls", "0",
                           "--cache", str(tmp_path / "cache")]) == 0
    rows = [[c.strip() for c in ln.split("|")] for ln in capsys.readouterr().out.splitlines()
            if ln.startswith(("(reference alone)", str(ref)))]
    assert len(rows) == 3
    alone, tb0, tb1 = rows
    assert tb0[1] == "0" and tb0[2:] == alone[2:]  # figure for figure
    # only tiles the partner reads at exactly 1.0 pass: no clean view does here, and never more than alone
    assert tb1[1] == "1" and tb1[3].startswith("0/")
    assert int(tb1[3].split(" / ")[1].split("/")[0]) <= int(alone[3].split(" / ")[1].split("/")[0])
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1  # one model, scored once, kept


def test_a_missing_partner_or_bad_grid_is_one_line(tiny, capsys, tmp_path):
    run, ref = tiny
    mod = _script()
    assert mod.main(["--partner", str(tmp_path / "nope.onnx"), "--walls", "0"]) == 2
    err = capsys.readouterr().err
    assert "nope.onnx: no such model file" in err and len(err.strip().splitlines()) == 1
    assert mod.main(["--model", str(ref), "--partner", str(ref), "--tb", "1.5", "--walls", "0"]) == 2
    err = capsys.readouterr().err
    assert "--tb 1.5" in err and len(err.strip().splitlines()) == 1


def test_a_partner_that_is_not_a_model_is_one_line_before_anything_is_scored(tiny, capsys, tmp_path):
    run, ref = tiny
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    assert _script().main(["--model", str(ref), "--partner", str(junk), "--walls", "0",
                           "--match", f"{run.manifest}:val", "--test", f"{run.manifest}:train",
                           "--cache", str(tmp_path / "cache")]) == 2
    err = capsys.readouterr().err
    assert "junk.onnx" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "cache").exists()  # the reference was not scored first
