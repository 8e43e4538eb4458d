"""``scripts/bench_operating_point.py``: candidates read at one operating point (the reference's count of flagged
clean views on a matching set), so a model's own threshold policy does not decide the comparison."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.scripts_loader import load_script

pytestmark = pytest.mark.train

pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")


def _script():
    return load_script("bench_operating_point")


def test_the_matched_threshold_flags_exactly_that_many_clean_views():
    t_for = _script().threshold_for_false_positives
    clean = np.array([0.6, 0.9, 0.7, 0.8])
    for n in range(5):
        t = t_for(clean, n)
        assert int((clean >= t).sum()) == n
    assert t_for(clean, 2) == pytest.approx(0.75)  # half-way between the 2nd and 3rd hottest
    with pytest.raises(ValueError):
        t_for(np.array([]), 1)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The tiny network twice: with its exported threshold, and with a much lower one in its metadata."""
    from detector.modelmeta import write_meta
    from detector.onnxmodel import read_meta
    from detector.train.onnx_export import export_model
    from tests.train.tiny_run import shared_tiny_run

    run = shared_tiny_run(tmp_path_factory)
    ref = run.root / "models" / "op-ref.onnx"
    if not ref.is_file():
        export_model(run.checkpoint, ref, progress=False, threshold_level="photo")
    low = run.root / "models" / "op-low.onnx"
    graph = onnx.load(str(ref))
    meta = read_meta(ref)
    write_meta(graph, dataclasses.replace(meta, threshold=meta.threshold / 4, clean_threshold=meta.threshold / 8))
    onnx.save(graph, str(low))
    return run, ref, low


def test_one_network_under_two_threshold_policies_meets_at_one_operating_point(models, capsys):
    run, ref, low = models
    split = f"{run.manifest}:val"
    assert _script().main(["--model", str(ref), "--model", str(low), "--match", split,
                           "--test", f"{run.manifest}:train", "--walls", "0"]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith(str(run.root))]
    assert len(lines) == 2
    ref_cells = [c.strip() for c in lines[0].split("|")]
    low_cells = [c.strip() for c in lines[1].split("|")]
    assert float(low_cells[1]) < float(ref_cells[1])  # their own thresholds differ ...
    assert low_cells[2:] == ref_cells[2:]  # ... at the matched one they are the same model, figure for figure


def test_a_missing_model_manifest_or_clean_split_is_one_line(models, capsys, tmp_path):
    run, ref, _ = models
    mod = _script()
    assert mod.main(["--model", str(tmp_path / "nope.onnx"), "--walls", "0"]) == 2
    assert "nope.onnx not found" in capsys.readouterr().err
    assert mod.main(["--model", str(ref), "--match", f"{run.manifest}:nosuchsplit", "--test", f"{run.manifest}:val",
                     "--walls", "0"]) == 2
    err = capsys.readouterr().err
    assert "no clean photos in that split" in err and len(err.strip().splitlines()) == 1
    assert mod.main(["--model", str(ref), "--match", f"{run.manifest}:val", "--test", f"{tmp_path / 'none.csv'}:test",
                     "--walls", "0"]) == 2
    err = capsys.readouterr().err
    assert "none.csv" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
