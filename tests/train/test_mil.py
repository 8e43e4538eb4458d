"""MIL over tiles: pooling, the bag loss, hard-negative mining, and a red-patch toy set where only
one tile of each graffiti photo holds the paint and the model must find that tile."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.train

torch = pytest.importorskip("torch")

from detector.train.config import MilConfig  # noqa: E402
from detector.train.mil import hottest, mil_loss, pool_bag  # noqa: E402


@pytest.mark.parametrize(
    ("pool", "expected"),
    [pytest.param("max", 3.0, id="max"),
     pytest.param("topk", 2.0, id="top2-mean"),  # (3 + 1) / 2
     pytest.param("lse", float(np.log(np.mean(np.exp(2.0 * np.array([3.0, 1.0, -1.0, -3.0])))) / 2.0), id="lse-r2")],
)
def test_pool_bag(pool, expected):
    logits = torch.tensor([-1.0, 3.0, -3.0, 1.0])
    assert float(pool_bag(logits, pool, topk=2, lse_r=2.0)) == pytest.approx(expected, rel=1e-6)


def test_a_clean_bag_pushes_every_tile_down_and_a_graffiti_bag_lifts_its_hottest_tile():
    cfg = MilConfig(pool="max")
    clean = torch.tensor([0.5, -0.2, 1.0], requires_grad=True)
    mil_loss(clean, [3], [0], cfg).backward()
    assert (clean.grad > 0).all()  # gradient descent lowers every clean tile
    paint = torch.tensor([0.5, -0.2, 1.0], requires_grad=True)
    mil_loss(paint, [3], [1], cfg).backward()
    assert paint.grad[2] < 0 and paint.grad[0] == 0 and paint.grad[1] == 0  # only the max tile is raised


def test_mining_picks_the_hottest_clean_tiles_first():
    scores = np.array([0.1, 0.9, 0.3, 0.8, 0.05, 0.6, 0.2, 0.7, 0.4, 0.5])
    assert hottest(scores, 0.3).tolist() == [1, 3, 7]
    assert hottest(scores, 0.01).tolist() == [1]  # at least one
    assert hottest(scores, 0.0).size == 0
    assert hottest(np.zeros(0), 0.5).size == 0


def _toy_bags(rng, n_bags: int, tiles: int = 6, px: int = 12):
    """Grey noisy tiles; a graffiti bag has one tile with a red patch; clean bags carry a blue patch
    somewhere (colour alone is not 'graffiti': only red is)."""
    bags, labels, red_at = [], [], []
    for b in range(n_bags):
        label = b % 2
        x = np.clip(rng.normal(0.5, 0.08, (tiles, 3, px, px)), 0, 1).astype(np.float32)
        k = int(rng.integers(tiles))
        y0, x0 = (int(v) for v in rng.integers(0, px - 5, 2))
        if label:
            x[k, :, y0:y0 + 5, x0:x0 + 5] = np.array([1.0, 0.0, 0.0], dtype=np.float32)[:, None, None]
        else:
            x[k, :, y0:y0 + 5, x0:x0 + 5] = np.array([0.0, 0.0, 1.0], dtype=np.float32)[:, None, None]
        bags.append(x)
        labels.append(label)
        red_at.append(k if label else -1)
    return bags, labels, red_at


def test_mil_on_a_red_patch_toy_set_learns_which_tile_is_graffiti():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    bags, labels, _ = _toy_bags(rng, 48)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveMaxPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(8, 1))
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    cfg = MilConfig(pool="lse", lse_r=2.0)
    for _ in range(30):
        for start in range(0, len(bags), 8):
            chosen = range(start, start + 8)
            x = torch.from_numpy(np.concatenate([bags[i] for i in chosen]))
            loss = mil_loss(net(x).squeeze(-1), [bags[i].shape[0] for i in chosen], [labels[i] for i in chosen], cfg)
            opt.zero_grad()
            loss.backward()
            opt.step()
    test_bags, test_labels, red_at = _toy_bags(np.random.default_rng(1), 20)
    with torch.no_grad():
        for x, label, k in zip(test_bags, test_labels, red_at, strict=True):
            p = torch.sigmoid(net(torch.from_numpy(x)).squeeze(-1)).numpy()
            if label:  # the red tile is the hottest and over 0.5; the plain tiles of the same photo are not
                assert int(p.argmax()) == k and p[k] > 0.5
                assert np.delete(p, k).max() < 0.5
            else:  # a blue patch on a clean photo does not alert
                assert p.max() < 0.5


def test_graffiti_train_with_mil_writes_a_run_with_view_level_selection(tmp_path):
    """The whole MIL path (tiles through a frozen prefix, bags, mining, view-level validation) on the
    tiny generated wall images, through the same entry point as ``graffiti train``."""
    import io

    from rich.console import Console

    from detector.train.checkpoint import load_checkpoint
    from detector.train.launch import train_main
    from tests.train.tiny_run import ARCH, INPUT_PX, build_tiny_run

    run = build_tiny_run(tmp_path / "tiny", steps=1, n_train=6)
    overrides = {"data": [f"{run.manifest}::format=manifest"], "arch": ARCH, "weights": "none", "input_px": INPUT_PX,
                 "freeze_blocks": 2, "cached_views": 1, "epochs": 2, "out": str(tmp_path / "mil"), "threads": 1,
                 "track": "none",
                 "mil": {"enabled": True, "tile_min_side_px": 0, "bags_per_step": 4, "whole_per_step": 4,
                         "hard_fraction": 0.2, "hard_per_step": 4}}
    result = train_main(None, overrides, None, Console(file=io.StringIO()))
    assert result.epochs_done == 2 and result.best_path.is_file()
    log = (tmp_path / "mil" / "train.log").read_text()
    assert "cut into view tiles" in log and "cached 180 training tiles" in log  # 12 photos x 15 tiles
    metrics = load_checkpoint(result.best_path).metrics
    assert "val_view_auroc" in metrics and metrics["mined_clean_tiles_mean_score"] is not None
