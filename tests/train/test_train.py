"""``graffiti train`` end to end on generated images: run folder, checkpoint, resume, determinism,
time box, unreadable files and one-line errors for bad inputs."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.train

torch = pytest.importorskip("torch")

from detector.train.checkpoint import load_checkpoint  # noqa: E402
from detector.train.ddp import state_digest  # noqa: E402
from tests.train.tiny_run import write_images  # noqa: E402

# A small but real configuration: pretrained EfficientNet-Lite0 at 64 px on 32 generated images.
TINY_CONFIG = """\
arch: efficientnet_lite0
input_px: 64
cache_px: 64
batch_size: 8
lr: 0.001
val_fraction: 0.25
freeze_blocks: 5
threads: 1
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("train")
    write_images(root / "walls", 16, seed=5)
    (root / "tiny.yaml").write_text(TINY_CONFIG, encoding="utf-8")
    return root


def train(tiny: Path, out: Path, *extra: str) -> None:
    from typer.testing import CliRunner

    from detector.cli import app

    args = ["train", "--config", str(tiny / "tiny.yaml"), "--data", str(tiny / "walls"), "--out", str(out), *extra]
    result = CliRunner().invoke(app, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def digest(path: Path) -> str:
    return state_digest(load_checkpoint(path).model)


@pytest.fixture(scope="module")
def two_epochs(tiny) -> Path:
    out = tiny / "run-a"
    train(tiny, out, "--epochs", "2", "--seed", "3")
    return out


def test_short_run_writes_the_run_folder(two_epochs):
    names = {p.name for p in two_epochs.iterdir()}
    assert {"config.yaml", "data_manifest.csv", "metrics.csv", "curves.png", "train.log", "summary.json",
            "best.pt", "last.pt"} <= names
    assert (two_epochs / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = read_rows(two_epochs / "metrics.csv")
    assert [r["epoch"] for r in rows] == ["1", "2"]
    for row in rows:
        assert 0.0 <= float(row["val_auroc"]) <= 1.0
        assert float(row["train_loss"]) > 0
    import yaml

    config = yaml.safe_load((two_epochs / "config.yaml").read_text())
    assert config["epochs"] == 2 and config["seed"] == 3 and config["input_px"] == 64


def test_checkpoint_records_split_manifest_digest_and_metrics(two_epochs):
    best = load_checkpoint(two_epochs / "best.pt")
    manifest = two_epochs / "data_manifest.csv"
    assert best.data["digest"] == hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert best.data["manifest"] == str(manifest)
    rows = read_rows(manifest)
    assert {r["split"] for r in rows} == {"train", "val"} and len(rows) == 32
    assert best.arch == "efficientnet_lite0" and best.preprocess.input_size == (64, 64)
    assert best.epoch in (1, 2) and 0.0 <= best.metrics["val_auroc"] <= 1.0
    last = load_checkpoint(two_epochs / "last.pt")
    assert last.epoch == 2 and last.raw["optimizer_state"]["state"]


def test_the_tiny_model_learns_to_separate_the_classes(two_epochs):
    summary = json.loads((two_epochs / "summary.json").read_text())
    assert summary["best"]["val_auroc"] >= 0.9, summary["best"]


def test_same_seed_gives_identical_weights_and_resume_continues_exactly(tiny, two_epochs):
    again = tiny / "run-b"
    train(tiny, again, "--epochs", "2", "--seed", "3")
    assert digest(again / "last.pt") == digest(two_epochs / "last.pt")

    split = tiny / "run-c"
    train(tiny, split, "--epochs", "1", "--seed", "3")
    assert load_checkpoint(split / "last.pt").epoch == 1
    # --epochs 2 here also stretches the cosine schedule, so compare against a 2-epoch run that was
    # stopped after 1 epoch by the time box: same schedule, then resumed.
    boxed = tiny / "run-d"
    train(tiny, boxed, "--epochs", "2", "--seed", "3", "--max-minutes", "0.0001")
    assert json.loads((boxed / "summary.json").read_text())["stopped"] == "time-box"
    assert load_checkpoint(boxed / "last.pt").epoch == 1
    from typer.testing import CliRunner

    from detector.cli import app

    result = CliRunner().invoke(app, ["train", "--resume", str(boxed), "--max-minutes", "0"])
    assert result.exit_code == 0, result.output
    rows = read_rows(boxed / "metrics.csv")
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert digest(boxed / "last.pt") == digest(two_epochs / "last.pt")


def test_unreadable_images_are_reported_and_skipped_and_test_split_is_scored(tiny):
    data = tiny / "with-bad"
    write_images(data, 8, seed=6)
    good = next((data / "graffiti").iterdir()).read_bytes()
    (data / "graffiti" / "truncated.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    (data / "clean" / "notanimage.png").write_bytes(good[:40])
    out = tiny / "run-bad"
    from typer.testing import CliRunner

    from detector.cli import app

    result = CliRunner().invoke(app, ["train", "--config", str(tiny / "tiny.yaml"), "--data", str(data), "--out",
                                      str(out), "--epochs", "1", "--test-fraction", "0.25"])
    assert result.exit_code == 0, result.output
    assert "skipped 2 unreadable image(s)" in (out / "train.log").read_text()
    listed = (out / "unreadable.txt").read_text().split()
    assert sorted(Path(p).name for p in listed) == ["notanimage.png", "truncated.jpg"]
    rows = read_rows(out / "data_manifest.csv")
    assert len(rows) == 16 and "test" in {r["split"] for r in rows}
    # the held-out test split is scored once, with the best checkpoint, and recorded beside it
    test = json.loads((out / "summary.json").read_text())["test"]
    assert test["test_n"] == sum(r["split"] == "test" for r in rows)
    assert load_checkpoint(out / "best.pt").metrics["test"]["test_n"] == test["test_n"]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "detector", "train", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=240, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})


def _bad_inputs(root: Path) -> dict[str, tuple[list[str], str]]:
    (root / "empty" / "clean").mkdir(parents=True, exist_ok=True)
    (root / "empty" / "graffiti").mkdir(parents=True, exist_ok=True)
    write_images(root / "oneclass", 4, seed=7)
    for p in (root / "oneclass" / "graffiti").iterdir():
        p.unlink()
    (root / "oneclass" / "graffiti").rmdir()
    (root / "corrupt.pt").write_bytes(b"PK\x03\x04 this is not a checkpoint")
    walls = str(root / "walls")
    return {
        "empty-dataset": (["--data", str(root / "empty")], "no images"),
        "one-class": (["--data", str(root / "oneclass")], "all 'clean': need both clean and graffiti"),
        "corrupt-checkpoint": (["--data", walls, "--from", str(root / "corrupt.pt")], "corrupt.pt: not a readable checkpoint"),
        "unknown-arch": (["--data", walls, "--arch", "resnet9000"], "arch: unknown architecture 'resnet9000'"),
        "missing-weights": (["--data", walls, "--arch", "mobilenet_v3_small", "--weights", str(root / "none.pth")],
                            "none.pth: weights file for mobilenet_v3_small not found"),
        "resume-nothing": (["--resume", str(root / "nowhere")], "no last.pt to resume from"),
    }


@pytest.mark.parametrize("case", ["empty-dataset", "one-class", "corrupt-checkpoint", "unknown-arch",
                                  "missing-weights", "resume-nothing"])
def test_bad_inputs_are_one_line_errors(tiny, case):
    args, message = _bad_inputs(tiny)[case]
    proc = run_cli(*args, "--out", str(tiny / f"err-{case}"), cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert message in lines[0]


def test_split_seed_keeps_the_split_while_the_seed_changes_the_training(tiny, two_epochs):
    """--split-seed: another --seed on the same validation split (what `graffiti soup` and a seed study need)."""

    def splits(run: Path) -> dict[str, str]:
        return {row["path"]: row["split"] for row in read_rows(run / "data_manifest.csv")}

    same_split = tiny / "run-split-seed"
    train(tiny, same_split, "--epochs", "1", "--seed", "4", "--split-seed", "3")
    other_split = tiny / "run-seed-4"
    train(tiny, other_split, "--epochs", "1", "--seed", "4")
    assert splits(same_split) == splits(two_epochs)  # two_epochs: --seed 3
    assert splits(other_split) != splits(two_epochs)
    seed_3 = tiny / "run-seed-3-one-epoch"
    train(tiny, seed_3, "--epochs", "1", "--seed", "3")
    assert splits(seed_3) == splits(same_split)
    assert digest(same_split / "last.pt") != digest(seed_3 / "last.pt")  # same split, other training
