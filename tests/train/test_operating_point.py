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


def test_one_rules_figures_count_clean_views_graffiti_views_and_screen_readings_at_the_threshold():
    cells = _script().rule_cells
    match = (np.array([0.9, 0.2, 0.6, 0.7]), np.array([0, 0, 1, 1]))
    test = (np.array([0.1, 0.55, 0.5]), np.array([0, 0, 0]))
    assert cells(0.5, match, test) == ["1/2 / 2/2", "2/3", "-", "-"]  # at or over the threshold: 0.5 counts
    pieces, walls = np.array([0.25, 1.0]), np.array([0.6, 0.1])
    assert cells(0.5, match, test, pieces, walls) == ["1/2 / 2/2", "2/3", "1/2 (0.50x)", "1/2"]
    # a piece no tile of which passes a rule reads -inf: its weakest figure is 0, not a negative multiple
    assert cells(0.5, match, test, np.array([float("-inf"), 0.8]), walls)[2] == "1/2 (0.00x)"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The tiny network twice: with its exported threshold, and with a much lower one in its metadata."""
    from detector.modelmeta import write_meta
    from detector.onnxmodel import read_meta
    from tests.train.tiny_run import photo_model, shared_tiny_run

    run = shared_tiny_run(tmp_path_factory)
    ref = photo_model(run, "op-ref.onnx")  # the name the ensemble test checks
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


def _bias_shifted(ref, out):
    """The same network with its last one-element bias raised by one: another model that scores differently."""
    from onnx import numpy_helper

    model = onnx.load(str(ref))
    bias = [t for t in model.graph.initializer if numpy_helper.to_array(t).size == 1 and "bias" in t.name][-1]
    bias.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(bias) + 1.0, bias.name))
    onnx.save(model, str(out))
    return out


def test_the_ensemble_scores_the_mean_of_its_networks_and_of_each_tile_mirrored(models, tmp_path):
    import onnxruntime as ort

    from detector.onnxmodel import read_meta
    from detector.preprocess import preprocess_batch, read_image

    run, ref, _ = models
    other = _bias_shifted(ref, tmp_path / "other.onnx")
    script = load_script("ensemble_model")
    assert script.main([str(tmp_path / "flip.onnx"), "--model", str(ref), "--flip"]) == 0
    assert script.main([str(tmp_path / "two.onnx"), "--model", str(ref), "--model", str(other)]) == 0
    assert script.main([str(tmp_path / "both.onnx"), "--model", str(ref), "--model", str(other), "--flip"]) == 0
    assert script.main([str(tmp_path / "odds.onnx"), "--model", str(ref), "--model", str(other), "--mean", "logit"]) == 0
    meta, original = read_meta(tmp_path / "both.onnx"), read_meta(ref)
    assert meta.threshold == original.threshold and meta.extra["ensemble"]["files"] == ["op-ref.onnx", "other.onnx"]
    walls = sorted(p for p in run.calib_dir.rglob("*") if p.suffix.lower() in (".png", ".jpg"))[:6]
    x = preprocess_batch([read_image(str(p)) for p in walls], original.preprocess_spec())
    mirror = np.ascontiguousarray(x[..., ::-1])

    def score(path, batch):
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["score"], {"input": batch})[0]

    a, a_m, b, b_m = score(ref, x), score(ref, mirror), score(other, x), score(other, mirror)
    assert not np.allclose(a, a_m) and not np.allclose(a, b)  # each average differs from its parts: the test can tell
    assert score(tmp_path / "flip.onnx", x).shape == (len(walls),)
    assert np.allclose(score(tmp_path / "flip.onnx", x), (a + a_m) / 2, atol=1e-5)
    assert np.allclose(score(tmp_path / "two.onnx", x), (a + b) / 2, atol=1e-5)
    assert np.allclose(score(tmp_path / "both.onnx", x), (a + a_m + b + b_m) / 4, atol=1e-5)
    pa, pb = (np.clip(v.astype(np.float64), 1e-6, 1 - 1e-6) for v in (a, b))
    logit = (np.log(pa / (1 - pa)) + np.log(pb / (1 - pb))) / 2
    assert np.allclose(score(tmp_path / "odds.onnx", x), 1 / (1 + np.exp(-logit)), atol=1e-4)


def test_the_ensemble_refuses_models_it_cannot_average_in_one_line(models, tmp_path, capsys):
    from onnx import TensorProto, helper

    from detector.modelmeta import write_meta
    from detector.onnxmodel import read_meta

    _, ref, _ = models
    bare = tmp_path / "bare.onnx"
    node = helper.make_node("Identity", ["input"], ["score"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("score", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), str(bare))
    (tmp_path / "notes.txt").write_text("not a model\n")
    wide = tmp_path / "wide.onnx"
    model = onnx.load(str(ref))
    write_meta(model, dataclasses.replace(read_meta(ref), mean=(0.5, 0.5, 0.5)))
    onnx.save(model, str(wide))
    out = str(tmp_path / "out.onnx")
    cases = (
        ([out, "--model", str(bare), "--flip"], "bare.onnx: ONNX model has no graffiti metadata"),
        ([out, "--model", str(ref), "--model", str(wide)], "wide.onnx: preprocessing"),
        ([out, "--model", str(ref)], "--model: give two or more models, or one with --flip"),
        ([out, "--model", str(tmp_path / "none.onnx"), "--flip"], "none.onnx: no such model file"),
        ([out, "--model", str(tmp_path / "notes.txt"), "--flip"], "notes.txt: not an ONNX model"),
    )
    for argv, expected in cases:
        with pytest.raises(SystemExit) as info:
            load_script("ensemble_model").main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert info.value.code == 2 and expected in err[-1]
        assert not (tmp_path / "out.onnx").exists()


def test_a_context_crop_is_centred_on_its_tile_inside_the_frame_or_the_whole_view():
    box = load_script("bench_context").context_box
    assert box((480, 200, 800, 520), (1280, 720), 2.0) == (320, 40, 960, 680)  # centred, twice the side
    assert box((0, 0, 320, 320), (1280, 720), 2.0) == (0, 0, 640, 640)  # moved inside at a corner
    assert box((960, 400, 1280, 720), (1280, 720), 1.5) == (800, 240, 1280, 720)
    assert box((480, 200, 800, 520), (1280, 720), 3.0) == (160, 0, 1120, 720)  # cut to the frame's height
    assert box((480, 200, 800, 520), (1280, 720), 0) == (0, 0, 1280, 720)


def test_the_context_rules_combine_a_tiles_score_with_its_surroundings():
    mod = load_script("bench_context")
    reading = {"tile": np.array([0.9, 0.2]), 2.0: np.array([0.1, 0.8])}
    table = mod.rules([2.0], ["min", "gmean", "mean"])
    assert list(table["tile alone"](reading)) == [0.9, 0.2]
    assert table["min(tile, 2x context)"](reading) == pytest.approx([0.1, 0.2])
    assert table["gmean(tile, 2x context)"](reading) == pytest.approx([0.3, 0.4])
    assert table["mean(tile, 2x context)"](reading) == pytest.approx([0.5, 0.5])


def test_a_shifted_look_moves_the_tile_by_a_share_of_its_side_and_stays_inside_the_frame():
    looks = load_script("bench_context").shifted_boxes
    assert looks((480, 200, 800, 520), (1280, 720), 0.25) == [
        (400, 200, 720, 520), (560, 200, 880, 520), (480, 120, 800, 440), (480, 280, 800, 600)]
    # at the frame's corner the outward looks are the tile itself; the inward ones move
    assert looks((0, 0, 320, 320), (1280, 720), 0.5) == [
        (0, 0, 320, 320), (160, 0, 480, 320), (0, 0, 320, 320), (0, 160, 320, 480)]


def test_the_shift_rules_reduce_the_four_looks_then_combine_with_the_tile():
    mod = load_script("bench_context")
    reading = {"tile": np.array([0.9, 0.16]), ("shift", 0.25): np.array([[0.1, 0.1, 0.9, 0.5], [0.64, 0.04, 0.0, 1.0]])}
    table = mod.rules([], ["min", "gmean"], [0.25])
    assert table["min(tile, mean of 4 looks shifted 0.25 tile)"](reading) == pytest.approx([0.4, 0.16])
    assert table["min(tile, median of 4 looks shifted 0.25 tile)"](reading) == pytest.approx([0.3, 0.16])
    assert table["gmean(tile, min of 4 looks shifted 0.25 tile)"](reading) == pytest.approx([0.3, 0.0])
    assert table["gmean(tile, median of 4 looks shifted 0.25 tile)"](reading) == pytest.approx([np.sqrt(0.27), np.sqrt(0.16 * 0.34)])


def test_the_context_bench_reads_every_rule_at_the_reference_operating_point(models, capsys):
    run, ref, _ = models
    mod = load_script("bench_context")
    args = ["--match", f"{run.manifest}:val", "--test", f"{run.manifest}:train", "--walls", "0"]
    assert mod.main(["--model", str(ref), "--context", "2", "--context", "0", "--combine", "min", *args]) == 0
    out = capsys.readouterr().out
    rows = [[c.strip() for c in ln.split("|")] for ln in out.splitlines() if ln.startswith(str(run.root))]
    assert [r[1] for r in rows] == ["tile alone", "min(tile, 2x context)", "min(tile, whole view)"]
    n_fp = int(out.split("flags ", 1)[1].split(" clean views", 1)[0])
    for r in rows:  # each rule at its own matched threshold flags the reference's count of clean matching views
        assert int(r[3].split("/")[0]) == n_fp
    # the tiles alone are the reference model as bench_operating_point reads it (another code path): same threshold,
    # same held-out count
    assert _script().main(["--model", str(ref), *args]) == 0
    op = [[c.strip() for c in ln.split("|")] for ln in capsys.readouterr().out.splitlines()
          if ln.startswith(str(run.root))][0]
    assert rows[0][2] == op[2] and rows[0][4] == op[4]
    assert mod.main(["--model", str(ref), "--context", "0.5", "--walls", "0"]) == 2
    err = capsys.readouterr().err
    assert "--context 0.5" in err and len(err.strip().splitlines()) == 1
    # shifted looks alone (no context unless asked): the tile alone plus 3 reductions x 1 combination
    assert mod.main(["--model", str(ref), "--shift", "0.25", "--combine", "min", *args]) == 0
    out = capsys.readouterr().out
    rows = [[c.strip() for c in ln.split("|")] for ln in out.splitlines() if ln.startswith(str(run.root))]
    assert [r[1] for r in rows] == ["tile alone", "min(tile, mean of 4 looks shifted 0.25 tile)",
                                    "min(tile, median of 4 looks shifted 0.25 tile)", "min(tile, min of 4 looks shifted 0.25 tile)"]
    assert all(int(r[3].split("/")[0]) == n_fp for r in rows)
    assert mod.main(["--model", str(ref), "--shift", "1.5", "--walls", "0"]) == 2
    err = capsys.readouterr().err
    assert "--shift 1.5" in err and len(err.strip().splitlines()) == 1
