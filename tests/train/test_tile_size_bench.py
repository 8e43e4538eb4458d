"""``scripts/bench_tile_size.py``: view-level figures of one model with photos shown as camera views of several
sizes, in fixed tiles or tiles sized to the frame as the edge cuts them by default."""

from __future__ import annotations

import argparse

import pytest

from tests.scripts_loader import load_script

pytestmark = pytest.mark.train

pytest.importorskip("torch")


def _script():
    return load_script("bench_tile_size")


def test_a_view_is_a_size_and_a_tile_or_auto():
    parse = _script().parse_view
    assert parse("1920x1080:auto") == (1920, 1080, None) and parse("1920x1080") == (1920, 1080, None)
    assert parse("640x480:320") == (640, 480, 320)
    for bad in ("1920:320", "axb:auto", "1920x1080:big", "8x8:auto", "1280x720:4"):
        with pytest.raises(argparse.ArgumentTypeError, match="--view"):
            parse(bad)


def test_tiles_sized_to_the_frame_cut_a_1080p_view_as_a_720p_one(tmp_path_factory, capsys):
    from tests.train.tiny_run import photo_model, shared_tiny_run

    run = shared_tiny_run(tmp_path_factory)
    model = photo_model(run, "op-ref.onnx")
    assert _script().main(["--model", str(model), "--set", f"{run.manifest}:val", "--view", "1280x720:auto",
                           "--view", "1280x720:320", "--view", "1920x1080:auto", "--view", "1920x1080:320"]) == 0
    rows = {}
    for line in capsys.readouterr().out.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) == 3 and cells[0][0].isdigit():
            rows[(cells[0], cells[1])] = cells[2].split(" / ")
    assert set(rows) == {("1280x720", "320 (auto)"), ("1280x720", "320"), ("1920x1080", "480 (auto)"),
                         ("1920x1080", "320")}
    assert rows[("1280x720", "320 (auto)")] == rows[("1280x720", "320")]  # auto at 720p is the old default
    assert rows[("1920x1080", "480 (auto)")][-1] == "15" and rows[("1920x1080", "320")][-1] == "40"  # tiles per view


def test_a_missing_model_or_manifest_is_one_line(tmp_path, capsys):
    mod = _script()
    assert mod.main(["--model", str(tmp_path / "nope.onnx")]) == 2
    assert "nope.onnx not found" in capsys.readouterr().err
