"""``graffiti eval`` on an exported ONNX model and on its checkpoint: same figures, a complete
report folder, unreadable images skipped and reported, one-line errors for bad inputs."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from detector.errors import ConfigError, DatasetError, ModelContractError

pytestmark = pytest.mark.train

REPORT_KEYS = {"model", "data", "threshold", "clean_threshold", "threshold_source", "counts", "unreadable",
               "metrics", "by_source", "by_kind", "by_group", "calibration_bins", "worst_false_positives",
               "worst_false_negatives", "files", "in_training_split", "elapsed_s", "suggested_thresholds"}
PNGS = ("pr_curve.png", "roc_curve.png", "confusion_matrix.png", "calibration.png", "worst_fp.png", "worst_fn.png")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    pytest.importorskip("torch")
    from tests.train.tiny_run import shared_tiny_run

    return shared_tiny_run(tmp_path_factory)


@pytest.fixture(scope="module")
def onnx_model(run):
    from detector.train.onnx_export import export_model

    out = run.root / "models" / "evalme.onnx"
    if not out.is_file():
        export_model(run.checkpoint, out, progress=False)
    return out


def _evaluate(*args, **kwargs):
    from detector.train.evaluation import evaluate

    return evaluate(*args, progress=False, **kwargs)


def _scores(path):
    with open(path, newline="") as fh:
        return {row["path"]: float(row["score"]) for row in csv.DictReader(fh)}


def test_onnx_and_checkpoint_give_the_same_figures(run, onnx_model, tmp_path):
    a = _evaluate(onnx_model, [str(run.val_dir)], out_dir=tmp_path / "onnx")
    b = _evaluate(run.checkpoint, [str(run.val_dir)], out_dir=tmp_path / "ckpt", threshold=a.report["threshold"])
    assert a.report["metrics"]["auroc"] == pytest.approx(b.report["metrics"]["auroc"], abs=1e-6)
    assert a.report["metrics"]["auroc"] > 0.9
    sa, sb = _scores(a.files["scores"]), _scores(b.files["scores"])
    assert sa.keys() == sb.keys() and len(sa) == 24
    assert max(abs(sa[k] - sb[k]) for k in sa) <= 1e-4
    for key in ("tp", "fp", "tn", "fn"):
        assert a.report["metrics"][key] == b.report["metrics"][key]


def test_report_folder_holds_json_and_every_figure(run, onnx_model, tmp_path):
    import cv2

    from detector.onnxmodel import read_meta

    result = _evaluate(onnx_model, [f"{run.manifest}::format=manifest"], split="val", out_dir=tmp_path / "r")
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert set(report) >= REPORT_KEYS
    meta = read_meta(onnx_model)
    assert report["threshold"] == pytest.approx(meta.threshold) and report["threshold_source"] == "model metadata"
    assert report["clean_threshold"] == pytest.approx(meta.clean_threshold)
    assert report["counts"] == {"images": 24, "scored": 24, "unreadable": 0, "graffiti": 12, "clean": 12}
    m = report["metrics"]
    assert m["tp"] + m["fp"] + m["tn"] + m["fn"] == 24 and 0.0 <= m["ece"] <= 1.0
    assert set(report["by_kind"]) == {"tag", "stain"} and report["by_kind"]["stain"]["n_graffiti"] == 0
    assert report["by_source"]["tiny"]["n"] == 24 and len(report["by_group"]) == 24
    assert report["model"]["kind"] == "onnx" and report["model"]["quantization"] == "none"
    # the same images the export chose its thresholds on (as camera views), by the same default policy
    view = report["view_level"]
    assert view["suggested_thresholds"]["threshold"] == pytest.approx(meta.threshold, abs=1e-6)
    assert (view["n_clean"], view["n_graffiti"], view["tiles_per_view"]) == (12, 12, 15)
    assert view["false_positives"] == meta.metrics["view_level"]["false_positives"]
    with open(result.out_dir / "views.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    flagged = sum(float(r["view_score"]) >= meta.threshold for r in rows if r["label"] == "clean")
    assert len(rows) == 24 and flagged == view["false_positives"]
    assert sum(int(r["flagged"]) for r in rows if r["label"] == "clean") == view["false_positives"]
    worst_fp = report["worst_false_positives"]
    assert len(worst_fp) == 12 and worst_fp[0]["score"] >= worst_fp[-1]["score"]
    assert sum(r["flagged"] for r in worst_fp) == m["fp"]  # every clean image is listed, flagged ones first
    for name in PNGS:
        img = cv2.imread(str(result.out_dir / name))
        assert img is not None and img.shape[0] > 50, name


def test_checkpoint_without_data_uses_its_own_validation_split(run, tmp_path):
    report = _evaluate(run.checkpoint, out_dir=tmp_path / "own").report
    assert report["data"]["split"] == "val" and report["counts"]["images"] == 24
    assert report["in_training_split"] == 0
    assert report["threshold_source"].startswith("default 0.5")


def test_images_from_the_training_split_are_counted(run, tmp_path):
    report = _evaluate(run.checkpoint, [f"{run.manifest}::format=manifest"], split="train",
                       out_dir=tmp_path / "tr").report
    assert report["in_training_split"] == 80


def test_unreadable_images_are_skipped_and_listed(run, onnx_model, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(run.val_dir, data)
    good = next((data / "graffiti").glob("*.png"))
    truncated = data / "graffiti" / "truncated.jpg"
    import cv2

    ok, buf = cv2.imencode(".jpg", cv2.imread(str(good)))
    truncated.write_bytes(buf.tobytes()[: len(buf) // 2])
    report = _evaluate(onnx_model, [str(data)], out_dir=tmp_path / "u").report
    assert report["counts"]["unreadable"] == 1 and report["counts"]["scored"] == 24
    assert report["unreadable"] == [str(truncated)]


def _onnx_without_contract(run, tmp_path):
    from detector.train.checkpoint import load_checkpoint
    from detector.train.onnx_export import torch_to_onnx

    loaded = load_checkpoint(run.checkpoint)
    return torch_to_onnx(loaded.model, loaded.preprocess.input_size, tmp_path / "bare.onnx")


def _empty_folder(run, tmp_path):
    (tmp_path / "empty" / "clean").mkdir(parents=True)
    return str(tmp_path / "empty")


@pytest.mark.parametrize(
    ("model", "data", "kwargs", "error", "match"),
    [
        pytest.param(_onnx_without_contract, lambda run, tmp: str(run.val_dir), {}, ModelContractError,
                     "no graffiti metadata contract", id="onnx-without-metadata"),
        pytest.param(lambda run, tmp: run.root / "models" / "evalme.onnx", _empty_folder, {}, DatasetError,
                     "no images found", id="empty-dataset"),
        pytest.param(lambda run, tmp: run.root / "models" / "evalme.onnx", lambda run, tmp: str(run.val_dir),
                     {"split": "val"}, DatasetError, "no images in split 'val'", id="split-missing"),
        pytest.param(lambda run, tmp: run.root / "models" / "evalme.onnx", lambda run, tmp: str(run.val_dir),
                     {"threshold": 1.5}, ConfigError, "--threshold", id="threshold-out-of-range"),
        pytest.param(lambda run, tmp: run.root / "models" / "evalme.onnx", None, {}, DatasetError, "give --data",
                     id="onnx-needs-data"),
        pytest.param(lambda run, tmp: tmp / "model.bin", lambda run, tmp: str(run.val_dir), {}, ModelContractError,
                     "unknown model type", id="unknown-model-file"),
    ],
)
def test_bad_inputs_fail_with_a_one_line_error(run, onnx_model, tmp_path, model, data, kwargs, error, match):
    specs = [data(run, tmp_path)] if data else []
    with pytest.raises(error, match=match) as info:
        _evaluate(model(run, tmp_path), specs, out_dir=tmp_path / "x", **kwargs)
    assert "\n" not in str(info.value)


def test_onnx_evaluation_never_imports_torch(run, onnx_model, tmp_path):
    code = (
        "import sys\n"
        "from detector.train.evaluation import evaluate\n"
        f"r = evaluate({str(onnx_model)!r}, [{str(run.val_dir)!r}], out_dir={str(tmp_path / 'nt')!r}, progress=False)\n"
        "assert r.report['counts']['scored'] == 24\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_cli_eval_prints_a_summary_and_errors_are_one_line(run, onnx_model, tmp_path, monkeypatch, capsys):
    from tests.train.tiny_run import run_cli

    code, stdout, _ = run_cli(monkeypatch, capsys, "eval", str(onnx_model), "--data", str(run.val_dir),
                              "--out", str(tmp_path / "cli"))
    assert code == 0 and "AUROC" in stdout and "report:" in stdout
    assert "view level (each photo as a 1280x720 camera view" in stdout
    assert (tmp_path / "cli" / "report.json").is_file()
    code, stdout, _ = run_cli(monkeypatch, capsys, "eval", str(onnx_model), "--data", str(run.val_dir),
                              "--out", str(tmp_path / "cli-nv"), "--no-views")
    assert code == 0 and "view level" not in stdout
    assert "view_level" not in json.loads((tmp_path / "cli-nv" / "report.json").read_text())
    code, _, stderr = run_cli(monkeypatch, capsys, "eval", str(_onnx_without_contract(run, tmp_path)),
                              "--data", str(run.val_dir))
    assert code == 2 and stderr.strip().count("\n") == 0 and "no graffiti metadata contract" in stderr


def test_view_size_shows_the_photos_as_that_camera_cuts_them(run, onnx_model, tmp_path, monkeypatch, capsys):
    from tests.train.tiny_run import run_cli

    code, stdout, _ = run_cli(monkeypatch, capsys, "eval", str(onnx_model), "--data", str(run.val_dir),
                              "--out", str(tmp_path / "hd"), "--view-size", "1920x1080")
    assert code == 0, stdout
    assert "view level (each photo as a 1920x1080 camera view, 480-px tiles" in stdout
    view = json.loads((tmp_path / "hd" / "report.json").read_text())["view_level"]
    assert view["view"]["view_px"] == [1920, 1080] and view["view"]["tile_px"] == 480
    assert view["tiles_per_view"] == 15  # the same grid as 1280x720 in 320-px tiles
    with open(tmp_path / "hd" / "views.csv", newline="") as fh:
        assert {row["tiles"] for row in csv.DictReader(fh)} == {"15"}
    for bad, words in (("1920", "expected WIDTHxHEIGHT"), ("100x100", "expected a camera frame between 160x120")):
        code, _, stderr = run_cli(monkeypatch, capsys, "eval", str(onnx_model), "--data", str(run.val_dir),
                                  "--out", str(tmp_path / "bad"), "--view-size", bad)
        assert code == 2 and stderr.strip().count("\n") == 0 and f"--view-size {bad}: {words}" in stderr


def test_score_tables_keep_every_digit_so_a_score_under_the_threshold_never_reads_over_it(tmp_path):
    """Regression (CI, 2026-12-01): views.csv wrote 6 decimals, so a clean view 3e-8 under the threshold read as
    over it, and the CSV disagreed with the report's false-positive count."""
    import numpy as np

    from detector.data.sample import Sample
    from detector.train.evaluation import _write_scores_csv
    from detector.train.scorers import ScoredSamples
    from detector.train.viewlevel import ViewScores
    from detector.train.viewreport import write_view_csv

    threshold = 0.5
    under = float(np.nextafter(np.float32(threshold), np.float32(0)))  # 0.49999997
    samples = [Sample(tmp_path / f"{i}.png", 0, f"g{i}", "hand") for i in range(3)]
    scores = np.array([under, threshold, 0.25], dtype=np.float32)
    with open(_write_scores_csv(ScoredSamples(samples, scores), threshold, tmp_path / "s.csv"), newline="") as fh:
        photo = list(csv.DictReader(fh))
    views = ViewScores(samples, [np.array([0.1, s], dtype=np.float32) for s in scores])
    with open(write_view_csv(views, threshold, tmp_path / "v.csv"), newline="") as fh:
        view = list(csv.DictReader(fh))
    for rows, column in ((photo, "score"), (view, "view_score")):
        assert [float(r[column]) for r in rows] == [under, threshold, 0.25]  # read back exactly
        assert [r["flagged"] for r in rows] == ["0", "1", "0"]
    assert [r["hottest_tile"] for r in view] == ["1", "1", "1"]
