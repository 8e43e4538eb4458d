"""``graffiti export`` (fp32) on a tiny trained checkpoint: contract, parity, dynamic batch, thresholds,
and one-line errors for bad inputs."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytestmark = pytest.mark.train

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from detector.errors import CheckpointError, DatasetError  # noqa: E402
from detector.onnxmodel import read_meta  # noqa: E402
from detector.preprocess import preprocess_batch, read_image  # noqa: E402
from detector.train.thresholds import ThresholdError  # noqa: E402
from tests.train.tiny_run import INPUT_PX, run_cli, shared_tiny_run  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return shared_tiny_run(tmp_path_factory)


@pytest.fixture(scope="module")
def exported(run):
    from detector.train.onnx_export import export_model

    return export_model(run.checkpoint, run.root / "models" / "tiny.onnx", name="tiny", version="7", progress=False)


@pytest.fixture(scope="module")
def exported_photo(run):
    from detector.train.onnx_export import export_model

    return export_model(run.checkpoint, run.root / "models" / "tiny-photo.onnx", name="tiny", version="7",
                        progress=False, threshold_level="photo")


def _val_batch(run, n=None):
    from detector.data.manifest import read_manifest

    val = [s for s in read_manifest(run.manifest) if s.split == "val"][:n]
    return val, preprocess_batch([read_image(str(s.path)) for s in val], _spec(run))


def _spec(run):
    from detector.train.checkpoint import load_checkpoint

    return load_checkpoint(run.checkpoint).preprocess


def test_fp32_export_passes_onnx_checker_and_carries_the_contract(run, exported):
    path = exported.fp32.path
    assert path.is_file() and path.name == "tiny.onnx"
    onnx.checker.check_model(str(path), full_check=True)
    meta = read_meta(path)
    spec = _spec(run)
    assert (meta.name, meta.version, meta.arch) == ("tiny", "7", "mobilenet_v3_small")
    assert meta.input_size == (INPUT_PX, INPUT_PX)
    assert meta.mean == pytest.approx(spec.mean) and meta.std == pytest.approx(spec.std)
    assert (meta.channel_order, meta.resize, meta.labels) == ("RGB", "area", ("clean", "graffiti"))
    assert 0.0 <= meta.clean_threshold <= meta.threshold <= 1.0
    assert meta.quantization == "none"
    assert meta.git_rev == "testrev"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta.created_utc)
    assert meta.training_data["digest"] == "0" * 64 and meta.training_data["counts"] == {"train": 80, "val": 24}
    assert meta.training_data["manifest"] == "split.csv"
    assert meta.metrics["split"] == "val" and meta.metrics["n"] == 24
    assert meta.metrics["auroc"] > 0.9  # the tiny model really separates the generated classes
    assert meta.extra["parity"]["max_abs_diff"] <= 1e-4 and meta.extra["parity"]["images"] == 24
    assert meta.extra["threshold_policy"]["policy"] == "max_fpr"


def test_graph_input_and_output_follow_the_contract(exported):
    sess = ort.InferenceSession(str(exported.fp32.path), providers=["CPUExecutionProvider"])
    (inp,), outs = sess.get_inputs(), sess.get_outputs()
    assert inp.name == "input" and inp.type == "tensor(float)" and inp.shape[1:] == [3, INPUT_PX, INPUT_PX]
    assert isinstance(inp.shape[0], str)  # symbolic batch dimension
    assert [o.name for o in outs] == ["score"]


def test_torch_and_onnxruntime_agree_within_tolerance_on_validation_images(run, exported):
    from detector.train.checkpoint import load_checkpoint

    _, batch = _val_batch(run)
    model = load_checkpoint(run.checkpoint).model
    with torch.inference_mode():
        expected = torch.sigmoid(model(torch.from_numpy(batch))).numpy()
    sess = ort.InferenceSession(str(exported.fp32.path), providers=["CPUExecutionProvider"])
    got = sess.run(["score"], {"input": batch})[0]
    assert np.max(np.abs(got - expected)) <= 1e-4
    assert ((got >= 0) & (got <= 1)).all()


@pytest.mark.parametrize("batch_size", [1, 5], ids=["batch1", "batch5"])
def test_dynamic_batch_gives_one_score_per_image(run, exported, batch_size):
    _, batch = _val_batch(run, 5)
    sess = ort.InferenceSession(str(exported.fp32.path), providers=["CPUExecutionProvider"])
    scores = sess.run(["score"], {"input": batch[:batch_size]})[0]
    assert scores.shape == (batch_size,) and scores.dtype == np.float32
    singles = [sess.run(["score"], {"input": batch[i:i + 1]})[0][0] for i in range(batch_size)]
    assert scores == pytest.approx(singles, abs=1e-5)


def test_photo_level_thresholds_are_chosen_on_validation_scores_of_the_exported_model(run, exported_photo):
    from detector.train.thresholds import choose_thresholds

    val, batch = _val_batch(run)
    sess = ort.InferenceSession(str(exported_photo.fp32.path), providers=["CPUExecutionProvider"])
    scores = sess.run(["score"], {"input": batch})[0]
    choice = choose_thresholds([s.label for s in val], scores)
    meta = read_meta(exported_photo.fp32.path)
    assert meta.threshold == pytest.approx(choice.threshold, abs=1e-6)
    assert meta.clean_threshold == pytest.approx(choice.clean_threshold, abs=1e-6)
    assert meta.metrics["threshold_level"] == "photo"


def test_default_thresholds_are_chosen_on_view_level_scores_and_written_into_the_metadata(run, exported):
    from detector.data.manifest import read_manifest
    from detector.train.scorers import OnnxScorer
    from detector.train.thresholds import choose_thresholds
    from detector.train.viewlevel import score_views, view_metrics

    val = [s for s in read_manifest(run.manifest) if s.split == "val"]
    views = score_views(val, [OnnxScorer(exported.fp32.path)], progress=False)[0]
    assert all(t.size == 15 for t in views.tile_scores)  # every photo cut like a 1280x720 camera view
    choice = choose_thresholds(views.labels, views.scores)
    meta = read_meta(exported.fp32.path)
    assert meta.threshold == pytest.approx(choice.threshold, abs=1e-6)
    assert meta.extra["threshold_policy"]["fpr"] == pytest.approx(choice.fpr)
    level = meta.metrics["view_level"]
    expected = view_metrics(views.labels, views.scores, meta.threshold)
    assert meta.metrics["threshold_level"] == "view"
    assert (level["false_positives"], level["detected"]) == (expected.false_positives, expected.detected)
    assert (level["n_clean"], level["n_graffiti"]) == (expected.n_clean, expected.n_graffiti)
    assert level["fpr"] <= 0.02 and level["threshold"] == pytest.approx(meta.threshold)
    assert level["view"]["view_px"] == [1280, 720] and level["tiles_per_view"] == 15


def test_target_precision_policy_is_recorded(run):
    from detector.train.onnx_export import export_model

    result = export_model(run.checkpoint, run.root / "models" / "prec.onnx", target_precision=0.9, progress=False)
    meta = read_meta(result.fp32.path)
    assert meta.extra["threshold_policy"]["policy"] == "target_precision"
    assert meta.extra["threshold_policy"]["target"] == 0.9
    assert meta.metrics["precision"] >= 0.9


def test_failed_parity_check_writes_no_model(run, monkeypatch):
    from detector.train import onnx_export as export

    monkeypatch.setattr(export, "PARITY_TOLERANCE", -1.0)  # no difference can pass: exercise the refusal
    out = run.root / "models" / "never.onnx"
    with pytest.raises(export.ExportError, match="parity check failed"):
        export.export_model(run.checkpoint, out, progress=False)
    assert not out.exists()
    assert not list(out.parent.glob(".never.onnx*"))  # no temp file left behind


def _corrupt(tmp_path):
    path = tmp_path / "corrupt.pt"
    path.write_bytes(b"PK\x03\x04 definitely not a checkpoint")
    return path


def _no_val_checkpoint(run, tmp_path):
    from detector.data.manifest import read_manifest, write_manifest
    from detector.train.checkpoint import load_checkpoint, save_checkpoint

    loaded = load_checkpoint(run.checkpoint)
    manifest = write_manifest([s for s in read_manifest(run.manifest) if s.split == "train"], tmp_path / "m.csv")
    return save_checkpoint(tmp_path / "noval.pt", model=loaded.model, arch=loaded.arch, preprocess=loaded.preprocess,
                           optimizer=None, scheduler=None, epoch=1, metrics={}, config=loaded.config,
                           data_info={"manifest": str(manifest)}, git_rev="x")


@pytest.mark.parametrize(
    ("make", "kwargs", "error", "match"),
    [
        pytest.param(lambda run, tmp: _corrupt(tmp), {}, CheckpointError, "corrupt.pt: not a readable checkpoint",
                     id="corrupt-checkpoint"),
        pytest.param(lambda run, tmp: tmp / "missing.pt", {}, CheckpointError, "missing.pt: checkpoint file not found",
                     id="missing-checkpoint"),
        pytest.param(_no_val_checkpoint, {}, DatasetError, "no rows with split 'val'", id="no-validation-split"),
        pytest.param(lambda run, tmp: run.checkpoint, {"int8": True}, DatasetError, "--int8 needs --calib",
                     id="int8-without-calib"),
        pytest.param(lambda run, tmp: run.checkpoint, {"max_fpr": 0.1, "target_precision": 0.9}, ThresholdError,
                     "not both", id="two-policies"),
        pytest.param(lambda run, tmp: run.checkpoint, {"target_precision": 0.0}, ThresholdError,
                     "--target-precision", id="precision-out-of-range"),
    ],
)
def test_bad_inputs_fail_with_a_one_line_error(run, tmp_path, make, kwargs, error, match):
    from detector.train.onnx_export import export_model

    with pytest.raises(error, match=match) as info:
        export_model(make(run, tmp_path), tmp_path / "out.onnx", progress=False, **kwargs)
    assert "\n" not in str(info.value)


def test_cli_export_prints_the_operating_point(run, tmp_path, monkeypatch, capsys):
    out = tmp_path / "cli.onnx"
    code, stdout, stderr = run_cli(monkeypatch, capsys, "export", str(run.checkpoint), "--out", str(out),
                                   "--max-fpr", "0.1", "--name", "cli-model")
    assert code == 0, stderr
    assert f"wrote {out}" in stdout and "parity torch vs onnxruntime" in stdout
    assert read_meta(out).name == "cli-model" and read_meta(out).extra["threshold_policy"]["target"] == 0.1


def test_cli_export_error_is_one_line_with_exit_status_2(tmp_path, monkeypatch, capsys):
    code, _, stderr = run_cli(monkeypatch, capsys, "export", str(_corrupt(tmp_path)), "--out", str(tmp_path / "x.onnx"))
    assert code == 2
    assert stderr.strip().count("\n") == 0 and "not a readable checkpoint" in stderr


def test_a_moved_run_folder_still_finds_its_split_manifest(run, tmp_path):
    from detector.data.manifest import read_manifest, write_manifest
    from detector.train.checkpoint import load_checkpoint, save_checkpoint
    from detector.train.onnx_export import export_model

    loaded = load_checkpoint(run.checkpoint)
    moved = tmp_path / "moved"
    write_manifest(read_manifest(run.manifest), moved / "split.csv")
    ckpt = save_checkpoint(moved / "best.pt", model=loaded.model, arch=loaded.arch, preprocess=loaded.preprocess,
                           optimizer=None, scheduler=None, epoch=1, metrics={}, config=loaded.config,
                           data_info={"manifest": "runs/elsewhere/split.csv"}, git_rev="x")
    result = export_model(ckpt, tmp_path / "moved.onnx", progress=False)
    assert result.fp32.validation["n"] == 24
