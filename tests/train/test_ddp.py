"""``graffiti train`` under torchrun: two CPU processes (gloo) end with identical weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.train, pytest.mark.slow]

torch = pytest.importorskip("torch")

from tests.train.tiny_run import write_images  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("cached_views", [0, 2], ids=["augment-each-step", "cached-features"])
def test_two_gloo_ranks_end_with_identical_weights(tmp_path, cached_views):
    write_images(tmp_path / "walls", 12, seed=11)
    (tmp_path / "tiny.yaml").write_text(
        f"arch: efficientnet_lite0\ninput_px: 64\ncache_px: 64\nbatch_size: 4\nfreeze_blocks: 8\n"
        f"cached_views: {cached_views}\nval_fraction: 0.25\nthreads: 1\n", encoding="utf-8")
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "detector", "train", "--config", str(tmp_path / "tiny.yaml"), "--data", str(tmp_path / "walls"),
         "--out", str(out), "--epochs", "2", "--device", "cpu"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2
    digests = summary["ddp_weight_sha256"]
    assert len(digests) == 2 and digests[0] == digests[1]
    # only rank 0 wrote the run folder, once per epoch
    log = (out / "train.log").read_text()
    assert log.count("epoch 2: train loss") == 1 and "2 processes" in log
    from detector.train.checkpoint import load_checkpoint
    from detector.train.ddp import state_digest

    assert state_digest(load_checkpoint(out / "last.pt").model) == digests[0]
    # the shards differ per rank, so training really used both: the weights moved from the start
    assert load_checkpoint(out / "last.pt").epoch == 2
