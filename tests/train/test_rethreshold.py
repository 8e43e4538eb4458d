"""``graffiti rethreshold``: new thresholds for an exported model from view-level validation scores,
written into its metadata (previous ones kept), readable by the edge; one-line errors."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.train

pytest.importorskip("torch")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from tests.train.tiny_run import shared_tiny_run

    return shared_tiny_run(tmp_path_factory)


@pytest.fixture(scope="module")
def photo_model(run):
    from detector.train.onnx_export import export_model

    out = run.root / "models" / "rethr-photo.onnx"
    if not out.is_file():
        export_model(run.checkpoint, out, progress=False, threshold_level="photo")
    return out


def test_rethreshold_chooses_on_view_scores_and_keeps_the_previous_thresholds(run, photo_model, tmp_path):
    from detector.data.formats import load_dataset
    from detector.onnxmodel import ModelSession, read_meta
    from detector.train.rethreshold import rethreshold
    from detector.train.scorers import OnnxScorer
    from detector.train.thresholds import choose_thresholds
    from detector.train.viewlevel import score_views

    before = read_meta(photo_model)
    out = tmp_path / "view.onnx"
    result = rethreshold(photo_model, [f"{run.manifest}::format=manifest"], out=out, min_side_px=0, progress=False)
    val = [s for s in load_dataset(f"{run.manifest}::format=manifest") if s.split == "val"]
    views = score_views(val, [OnnxScorer(photo_model)], progress=False)[0]
    expected = choose_thresholds(views.labels, views.scores)
    meta = read_meta(out)
    assert meta.threshold == pytest.approx(expected.threshold, abs=1e-6)
    assert meta.extra["rethreshold"]["previous"]["threshold"] == pytest.approx(before.threshold)
    assert meta.metrics["threshold_level"] == "view" and meta.metrics["view_level"]["fpr"] <= 0.02
    assert read_meta(photo_model).threshold == pytest.approx(before.threshold)  # --out leaves the input alone
    assert result.meta.threshold == pytest.approx(meta.threshold)
    assert ModelSession(out).meta.threshold == pytest.approx(meta.threshold)  # the edge reads it


def test_rethreshold_cli_errors_are_one_line(run, photo_model, tmp_path, monkeypatch, capsys):
    from tests.train.tiny_run import run_cli

    code, _, stderr = run_cli(monkeypatch, capsys, "rethreshold", str(photo_model), "--data",
                              f"{run.manifest}::format=manifest", "--threshold-level", "tile")
    assert code == 2 and stderr.strip().count("\n") == 0 and "--threshold-level" in stderr
    code, _, stderr = run_cli(monkeypatch, capsys, "rethreshold", str(photo_model), "--data",
                              f"{run.manifest}::format=manifest", "--out", str(tmp_path / "x.onnx"))
    assert code == 2 and "no image is at least 360 px" in stderr  # 64-px test images are not camera views
