"""Ctrl-C during training (a real SIGINT to a real ``graffiti train`` process): last.pt saved inside
the epoch, summary.json says so, the resume command is printed, and resuming gives the weights of
an uninterrupted run; the frozen-feature cache makes a second run skip recomputing features."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.train, pytest.mark.slow]

torch = pytest.importorskip("torch")

from detector.train.checkpoint import load_checkpoint  # noqa: E402
from detector.train.ddp import state_digest  # noqa: E402
from tests.train.tiny_run import write_images  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CONFIG = """\
arch: efficientnet_lite0
input_px: 64
cache_px: 64
batch_size: 8
val_fraction: 0.25
freeze_blocks: 3
samples_per_epoch: 160
epochs: 2
threads: 1
track: none
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("interrupt")
    write_images(root / "walls", 12, seed=4)
    (root / "cfg.yaml").write_text(CONFIG, encoding="utf-8")
    return root


def _env(root: Path) -> dict[str, str]:
    return {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO),
            "GRAFFITI_FEATURE_CACHE": str(root / "cache")}


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "detector", "train", *args]


def test_sigint_saves_mid_epoch_and_resume_matches_an_uninterrupted_run(data):
    walls, cfg = str(data / "walls"), str(data / "cfg.yaml")
    ref = subprocess.run(_cmd("--config", cfg, "--data", walls, "--out", str(data / "ref")), cwd=REPO,
                         capture_output=True, text=True, timeout=300, env=_env(data))
    assert ref.returncode == 0, ref.stderr[-2000:]

    out = data / "cut"
    proc = subprocess.Popen(_cmd("--config", cfg, "--data", walls, "--out", str(out)), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(data))
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + 240
    for line in proc.stdout:  # wait until the epochs have started
        seen.append(line)
        if "steps/epoch" in line or time.monotonic() > deadline:
            break
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGINT)
    rest, err = proc.communicate(timeout=120)
    output = "".join(seen) + rest
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    assert f"resume with: graffiti train --resume {out}" in " ".join(output.split())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped"] == "interrupted" and summary["interrupted"]["signal"] == "SIGINT"
    assert summary["resume"] == f"graffiti train --resume {out}"
    raw = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    assert raw["extra"]["mid_epoch"]["step"] == summary["interrupted"]["step"] >= 1
    assert "interrupted by SIGINT" in (out / "train.log").read_text()

    resumed = subprocess.run(_cmd("--resume", str(out)), cwd=REPO, capture_output=True, text=True, timeout=300,
                             env=_env(data))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads((out / "summary.json").read_text())["stopped"] == "epochs"
    assert state_digest(load_checkpoint(out / "last.pt").model) == state_digest(load_checkpoint(data / "ref" / "last.pt").model)
    ref_rows = (data / "ref" / "metrics.csv").read_text().splitlines()
    cut_rows = (out / "metrics.csv").read_text().splitlines()
    strip = [",".join(r.split(",")[:8]) for r in ref_rows]  # all but the timing columns
    assert strip == [",".join(r.split(",")[:8]) for r in cut_rows]


def test_the_frozen_feature_cache_is_reused_by_a_second_run(data):
    walls, cfg = str(data / "walls"), str(data / "cfg.yaml")
    env = {**_env(data), "GRAFFITI_FEATURE_CACHE": str(data / "fcache")}
    args = ("--config", cfg, "--data", walls, "--cached-views", "2", "--epochs", "1")
    first = subprocess.run(_cmd(*args, "--out", str(data / "c1")), cwd=REPO, capture_output=True, text=True,
                           timeout=300, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "feature cache: wrote" in first.stdout
    second = subprocess.run(_cmd(*args, "--out", str(data / "c2")), cwd=REPO, capture_output=True, text=True,
                            timeout=300, env=env)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "feature cache: reusing" in second.stdout and "training views" not in second.stdout
    assert len(list((data / "fcache").glob("*.pt"))) == 1
    # the same weights come out: cached features are exactly the computed ones
    assert state_digest(load_checkpoint(data / "c1" / "last.pt").model) == \
        state_digest(load_checkpoint(data / "c2" / "last.pt").model)
    # another augmentation seed is another set of views: a new cache file, never a stale one
    third = subprocess.run(_cmd(*args, "--seed", "5", "--out", str(data / "c3")), cwd=REPO, capture_output=True,
                           text=True, timeout=300, env=env)
    assert third.returncode == 0 and "feature cache: wrote" in third.stdout
    assert len(list((data / "fcache").glob("*.pt"))) == 2
