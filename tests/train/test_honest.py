"""Honest figures: training's validation equals ``graffiti eval`` on the same split, worst-mistake
sheets name their files, export's stderr carries no stray blank lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.train

torch = pytest.importorskip("torch")

from tests.train.tiny_run import shared_tiny_run, write_images  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def _train(root: Path, out: Path, *extra: str) -> None:
    from typer.testing import CliRunner

    from detector.cli import app

    args = ["train", "--data", str(root / "walls"), "--arch", "efficientnet_lite0", "--input-px", "64",
            "--epochs", "2", "--batch-size", "8", "--freeze-blocks", "5", "--threads", "1", "--track", "none",
            "--val-fraction", "0.4", "--out", str(out), *extra]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def walls(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("honest")
    # larger than the 64-px input and not square: one resize (eval) vs two (old training cache) differ
    import cv2

    write_images(root / "walls", 12, seed=6)
    for p in (root / "walls").rglob("*.png"):
        img = cv2.imread(str(p))
        cv2.imwrite(str(p), cv2.resize(img, (300, 190), interpolation=cv2.INTER_LINEAR))
    return root


@pytest.mark.slow
@pytest.mark.parametrize("cached", [False, True], ids=["full-model", "cached-views"])
def test_training_validation_equals_graffiti_eval_on_the_same_split(walls, cached):
    from detector.train.evaluation import evaluate

    out = walls / f"run-{cached}"
    _train(walls, out, *(["--cached-views", "1"] if cached else []))
    summary = json.loads((out / "summary.json").read_text())
    best = summary["best"]
    report = evaluate(out / "best.pt", out_dir=out / "eval", progress=False).report  # its own val split
    assert report["counts"]["scored"] == best["val_n"]
    tol = 1e-6 if cached else 1e-9  # cached views: validation features are kept in fp32
    assert report["metrics"]["auroc"] == pytest.approx(best["val_auroc"], abs=tol)
    assert report["metrics"]["average_precision"] == pytest.approx(best["val_ap"], abs=tol)
    assert report["metrics"]["recall"] == pytest.approx(best["val_recall_at_0.5"], abs=tol)
    # the loss is continuous in every score: it only agrees when the pixels are the same
    import csv

    import numpy as np

    from detector.train.validation import _bce

    with open(out / "eval" / "scores.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    labels = np.array([r["label"] == "graffiti" for r in rows], dtype=np.float64)
    scores = np.array([float(r["score"]) for r in rows], dtype=np.float64)
    assert _bce(labels, scores) == pytest.approx(best["val_loss"], abs=1e-5)


def test_worst_mistake_captions_name_the_file():
    from detector.train.plots import mistake_caption, short_name

    long = "08ACAE21-BB01-4D06-9BCC-DCD4B012A848_jpg.rf.b3a124082a015b910e64c058f34f6d11.jpg"
    assert mistake_caption(0.9123, True, f"/data/{long}") == f"0.912! {short_name(long)}"
    assert short_name(long).startswith("08ACAE21") and short_name(long).endswith("6d11.jpg")
    assert mistake_caption(0.1, False, "/d/img_0042.jpg") == "0.100 img_0042.jpg"


def test_export_writes_nothing_but_errors_to_stderr(tmp_path_factory, tmp_path):
    run = shared_tiny_run(tmp_path_factory)
    proc = subprocess.run([sys.executable, "-m", "detector", "export", str(run.checkpoint), "--out",
                           str(tmp_path / "m.onnx"), "--int8", "--calib", str(run.calib_dir), "--allow-degraded"],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "wrote" in proc.stdout
