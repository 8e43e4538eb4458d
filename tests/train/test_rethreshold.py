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


def test_rethreshold_match_reproduces_the_reference_decisions(run, photo_model, tmp_path):
    """Matched to itself, a model keeps every decision: no disagreement, and its new cuts flag exactly
    what the old thresholds flagged on the photos and the view tiles."""
    import numpy as np

    from detector.data.formats import load_dataset
    from detector.onnxmodel import read_meta
    from detector.train.rethreshold import rethreshold
    from detector.train.scorers import OnnxScorer, score_samples
    from detector.train.viewlevel import ViewSpec, score_views

    before = read_meta(photo_model)
    out = tmp_path / "matched.onnx"
    rethreshold(photo_model, [f"{run.manifest}::format=manifest"], out=out, min_side_px=0, progress=False,
                threshold_level="photo", match=photo_model)
    meta = read_meta(out)
    record = meta.extra["matched_to"]
    assert (record["disagree"], record["disagree_clean"]) == (0, 0)
    assert record["reference_threshold"] == pytest.approx(before.threshold)
    val = [s for s in load_dataset(f"{run.manifest}::format=manifest") if s.split == "val"]
    photos = score_samples(val, [OnnxScorer(out)], progress=False)[0]
    views = score_views(photos.samples, [OnnxScorer(out)], ViewSpec(min_side_px=0), progress=False)[0]
    every = np.r_[photos.scores, np.concatenate(views.tile_scores)]
    assert np.array_equal(every >= meta.threshold, every >= before.threshold)
    assert np.array_equal(every < meta.clean_threshold, every < before.clean_threshold)
    # re-chosen by a policy afterwards, the file no longer claims to match anything
    again = tmp_path / "policy.onnx"
    rethreshold(out, [f"{run.manifest}::format=manifest"], out=again, min_side_px=0, progress=False,
                threshold_level="photo")
    assert "matched_to" not in read_meta(again).extra


def test_rethreshold_match_errors_are_one_line(run, photo_model, tmp_path, monkeypatch, capsys):
    from tests.train.tiny_run import run_cli

    code, _, stderr = run_cli(monkeypatch, capsys, "rethreshold", str(photo_model), "--data",
                              f"{run.manifest}::format=manifest", "--match", str(photo_model), "--max-fpr", "0.02")
    assert code == 2 and stderr.strip().count("\n") == 0 and "--match" in stderr
    code, _, stderr = run_cli(monkeypatch, capsys, "rethreshold", str(photo_model), "--data",
                              f"{run.manifest}::format=manifest", "--match", str(tmp_path / "nope.onnx"))
    assert code == 2 and stderr.strip().count("\n") == 0 and "nope.onnx" in stderr
