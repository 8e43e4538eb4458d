"""Experiment tracking and comparisons: TensorBoard event files in every run, ``graffiti runs compare``,
and ``graffiti eval`` of several models into one comparison report."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.train

torch = pytest.importorskip("torch")

from tests.train.tiny_run import run_cli, shared_tiny_run, write_images  # noqa: E402

CONFIG = """\
arch: efficientnet_lite0
input_px: 64
cache_px: 64
batch_size: 8
val_fraction: 0.25
freeze_blocks: 5
cached_views: 2
threads: 1
epochs: 2
"""


def _train(root: Path, out: Path, *extra: str) -> None:
    from typer.testing import CliRunner

    from detector.cli import app

    args = ["train", "--config", str(root / "cfg.yaml"), "--data", str(root / "walls"), "--out", str(out), *extra]
    result = CliRunner().invoke(app, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tracked")
    write_images(root / "walls", 12, seed=8)
    (root / "cfg.yaml").write_text(CONFIG, encoding="utf-8")
    _train(root, root / "runs" / "lr-1e-3", "--lr", "0.001")
    _train(root, root / "runs" / "lr-1e-4", "--lr", "0.0001", "--track", "none")
    return root / "runs"


def _events(run: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert files, f"no TensorBoard event file in {run}"
    acc = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    return acc


def test_every_run_writes_tensorboard_scalars_and_sample_predictions(two_runs):
    pytest.importorskip("tensorboard", reason="tensorboard is in the [train] extra")
    run = two_runs / "lr-1e-3"
    acc = _events(run)
    tags = acc.Tags()
    with open(run / "metrics.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    auroc = acc.Scalars("val/auroc")
    assert [e.step for e in auroc] == [int(r["epoch"]) for r in rows]
    assert [round(e.value, 4) for e in auroc] == [round(float(r["val_auroc"]), 4) for r in rows]
    assert "train/loss" in tags["scalars"] and "time/epoch_s" in tags["scalars"]
    samples = acc.Images("samples/validation")
    assert [e.step for e in samples] == [1, 2] and samples[0].width > 0
    assert any(t.startswith("config") for t in tags["tensors"])  # hyper-parameters as text
    assert not (two_runs / "lr-1e-4" / "tensorboard").exists()  # --track none


def test_runs_compare_prints_the_differences_and_writes_a_plot(two_runs, tmp_path, monkeypatch, capsys):
    out = tmp_path / "cmp"
    (tmp_path / "stray").mkdir()  # what a glob like runs/* also matches
    code, stdout, stderr = run_cli(monkeypatch, capsys, "runs", "compare", str(two_runs / "lr-1e-3"),
                                   str(two_runs / "lr-1e-4"), str(tmp_path / "stray"), "--out", str(out))
    assert code == 0, stderr
    assert f"skipped (not run folders): {tmp_path / 'stray'}" in stdout
    assert "differing settings: lr" in stdout  # out/track are bookkeeping, not experiment variables
    lines = stdout.splitlines()
    header = next(line for line in lines if line.startswith("run "))
    assert "val AUROC" in header and "s/epoch" in header
    for name in ("lr-1e-3", "lr-1e-4"):
        summary = json.loads((two_runs / name / "summary.json").read_text())
        row = next(line for line in lines if line.startswith(name))
        assert f"{summary['best']['val_auroc']:.4f}" in row
    assert (out / "compare.png").stat().st_size > 1000
    with open(out / "compare.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["lr"] for r in rows] == ["0.001", "0.0001"]  # settings as written in config.yaml
    assert all(r["s/epoch"].count(".") == 1 and len(r["s/epoch"].split(".")[1]) == 1 for r in rows)


def test_runs_compare_refuses_a_folder_that_is_not_a_run(tmp_path, monkeypatch, capsys):
    (tmp_path / "nothing").mkdir()
    code, _, stderr = run_cli(monkeypatch, capsys, "runs", "compare", str(tmp_path / "nothing"))
    assert code == 2 and "nothing: not a training run folder (no config.yaml)" in stderr


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return shared_tiny_run(tmp_path_factory)


def test_eval_of_several_models_writes_one_comparison(tiny, tmp_path, monkeypatch, capsys):
    from detector.train.onnx_export import export_model

    onnx_path = tmp_path / "tiny.onnx"
    export_model(tiny.checkpoint, onnx_path, progress=False)
    out = tmp_path / "cmp"
    code, stdout, stderr = run_cli(monkeypatch, capsys, "eval", str(tiny.checkpoint), str(onnx_path),
                                   "--data", str(tiny.val_dir), "--out", str(out))
    assert code == 0, stderr
    comparison = json.loads((out / "comparison.json").read_text())
    names = [r["model"] for r in comparison["models"]]
    assert names == ["best", "tiny"]
    for row in comparison["models"]:
        single = json.loads((out / row["model"] / "report.json").read_text())
        assert row["auroc"] == single["metrics"]["auroc"] and row["images"] == 24
    # torch and onnxruntime score the same images alike (export's parity check), so the AUROCs agree
    assert comparison["models"][0]["auroc"] == pytest.approx(comparison["models"][1]["auroc"], abs=1e-3)
    assert (out / "roc.png").is_file() and "| best |" in (out / "comparison.md").read_text()
    assert "recall@fpr0.02" in stdout


@pytest.mark.slow
def test_mlflow_records_params_and_metrics_when_asked_for(tmp_path, monkeypatch):
    pytest.importorskip("mlflow", reason="MLflow is optional: pip install '.[mlflow]'")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    write_images(tmp_path / "walls", 8, seed=9)
    (tmp_path / "cfg.yaml").write_text(CONFIG.replace("epochs: 2", "epochs: 1"), encoding="utf-8")
    out = tmp_path / "run"
    _train(tmp_path, out, "--track", "tensorboard,mlflow")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    exp = client.get_experiment_by_name("graffiti")
    (run,) = client.search_runs([exp.experiment_id])
    summary = json.loads((out / "summary.json").read_text())
    assert run.data.params["arch"] == "efficientnet_lite0" and run.data.params["lr"] == "0.0003"
    assert run.data.metrics["val_auroc"] == pytest.approx(summary["best"]["val_auroc"])
    assert run.data.tags["stopped"] == "epochs"
    assert (out / "mlruns").is_dir() and (out / "tensorboard").is_dir()


def test_eval_of_several_models_needs_the_same_data(tiny, tmp_path, monkeypatch, capsys):
    code, _, stderr = run_cli(monkeypatch, capsys, "eval", str(tiny.checkpoint), str(tiny.checkpoint))
    assert code == 2 and "--data: comparing several models needs the same images" in stderr
