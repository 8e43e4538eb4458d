"""Checkpoint round trip and one-line errors for missing, corrupt and foreign files."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.train

torch = pytest.importorskip("torch")

from detector.errors import CheckpointError  # noqa: E402
from detector.train.archs import build as build_model  # noqa: E402
from detector.train.archs import preprocess as default_preprocess  # noqa: E402
from detector.train.checkpoint import FORMAT, load_checkpoint, save_checkpoint  # noqa: E402


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("mobilenet_v3_small", weights=None, dropout=0.1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    opt.step()
    sched.step()
    path = tmp_path_factory.mktemp("ckpt") / "best.pt"
    save_checkpoint(path, model=model, arch="mobilenet_v3_small", preprocess=default_preprocess("mobilenet_v3_small", 32),
                    optimizer=opt, scheduler=sched, epoch=4, metrics={"val_auroc": 0.97}, config={"dropout": 0.1},
                    data_info={"manifest": "runs/x/data_manifest.csv", "digest": "ab" * 32, "sources": {}, "counts": {}},
                    git_rev="abc123")
    return path, model.eval()


def test_checkpoint_round_trip_restores_model_and_provenance(saved):
    path, model = saved
    loaded = load_checkpoint(path)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), model(x))
    assert not loaded.model.training
    assert (loaded.arch, loaded.epoch, loaded.git_rev) == ("mobilenet_v3_small", 4, "abc123")
    assert loaded.preprocess == default_preprocess("mobilenet_v3_small", 32)
    assert loaded.metrics == {"val_auroc": 0.97}
    assert loaded.data["digest"] == "ab" * 32
    raw = loaded.raw
    assert raw["format"] == FORMAT and raw["optimizer_state"]["state"] and raw["scheduler_state"]["last_epoch"] == 1


def test_truncated_checkpoint_is_a_one_line_error(saved, tmp_path):
    path, _ = saved
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="cut.pt: not a readable checkpoint"):
        load_checkpoint(cut)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"state_dict": {}}, "not a graffiti checkpoint"),
        ({"format": "graffiti-checkpoint/1", "arch": "mobilenet_v3_small"}, "lacks the 'model_state' entry"),
        ({"format": "graffiti-checkpoint/1", "arch": "vgg", "model_state": {}, "preprocess": {}}, "unknown architecture 'vgg'"),
    ],
    ids=["foreign-dict", "missing-weights", "unknown-arch"],
)
def test_foreign_or_incomplete_checkpoint_names_the_problem(tmp_path, content, message):
    path = tmp_path / "other.pt"
    torch.save(content, path)
    with pytest.raises(CheckpointError, match=f"other.pt: .*{message}"):
        load_checkpoint(path)


def test_missing_checkpoint_file(tmp_path):
    with pytest.raises(CheckpointError, match="absent.pt: checkpoint file not found"):
        load_checkpoint(tmp_path / "absent.pt")
