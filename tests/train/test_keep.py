"""``keep_sources``: images held at the starting model's readings (a one-sided distillation) while the rest of
the data teaches something else — e.g. tiles of graffiti photos kept hot while mined shop lettering is
taught as clean."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.train

torch = pytest.importorskip("torch")

from detector.train.features import FeatureTrainSet, keep_loss  # noqa: E402
from tests.train.tiny_run import run_cli, shared_tiny_run, write_images  # noqa: E402


def test_keep_loss_is_cross_entropy_on_labelled_items_and_one_sided_on_held_ones():
    logits = torch.tensor([2.0, -1.0, 0.5, 3.0], requires_grad=True)
    target = torch.tensor([1.0, 0.0, 1.0, 1.0])
    keep = torch.tensor([False, False, True, True])
    teacher = torch.tensor([9.0, 9.0, 1.5, 1.0])  # item 2 reads 1.0 under its teacher, item 3 2.0 over it
    loss = keep_loss(logits, target, keep, teacher, weight=3.0)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits[:2], target[:2], reduction="sum")
    assert loss.item() == pytest.approx(((bce + 3.0 * 1.0 + 0.0) / 4).item(), rel=1e-6)
    loss.backward()
    assert logits.grad[2].item() == pytest.approx(-3.0 / 4)  # pushed up, towards its starting reading
    assert logits.grad[3].item() == 0.0  # hotter than it started: left alone
    assert logits.grad[1].item() > 0 > logits.grad[0].item()  # labelled items: the usual cross-entropy


def test_feature_set_returns_the_held_flag_and_the_teacher_logit_of_the_same_view():
    features = torch.arange(6, dtype=torch.float16).reshape(6, 1, 1, 1)  # 3 images x 2 views
    ds = FeatureTrainSet(features, [0, 1, 1], views=2, keep=[False, False, True], teacher=torch.arange(6.0) * 10)
    x, y, k, t = ds[(2, 3)]  # image 2, view 3 % 2 = 1 -> row 5
    assert x.item() == 5.0 and y.item() == 1.0 and bool(k) and t.item() == 50.0
    assert len(FeatureTrainSet(features, [0, 1, 1], views=2)[(0, 0)]) == 2  # no keep: (x, y) as before


def _scores(checkpoint: Path, folder: Path) -> np.ndarray:
    from detector.preprocess import preprocess_batch, read_image
    from detector.train.checkpoint import load_checkpoint

    ck = load_checkpoint(checkpoint)
    images = [read_image(str(p)) for p in sorted(folder.glob("*.png"))]
    with torch.no_grad():
        x = torch.from_numpy(preprocess_batch(images, ck.preprocess))
        return torch.sigmoid(ck.model.eval()(x)).numpy()


@pytest.fixture(scope="module")
def conflict(tmp_path_factory):
    """The tiny model, its own kind of data, and its graffiti images once more labelled clean ("conflict") and
    once more as a held source ("held"): held at weight 0 they are no data at all."""
    run = shared_tiny_run(tmp_path_factory)
    root = tmp_path_factory.mktemp("keep")
    write_images(root / "walls", 16, seed=7)
    for name in ("conflict", "held"):
        (root / name).mkdir()
        for p in sorted((root / "walls" / "graffiti").glob("*.png")):
            shutil.copy(p, root / name / p.name)
    for weight in ("0", "5"):
        (root / f"cfg-{weight}.yaml").write_text(
            "freeze_blocks: 2\ncached_views: 1\nbatch_size: 8\nlr: 0.003\nepochs: 3\nwarmup_epochs: 0\n"
            f"val_fraction: 0.25\nthreads: 1\npatience: 0\nlabel_smoothing: 0\nkeep_sources: [held]\nkeep_weight: {weight}\n",
            encoding="utf-8")
    return run, root


def _train(monkeypatch, capsys, run, root: Path, out: str, weight: str) -> tuple[int, str, str]:
    monkeypatch.setenv("GRAFFITI_FEATURE_CACHE", "off")
    return run_cli(monkeypatch, capsys, "train", "--config", str(root / f"cfg-{weight}.yaml"), "--from",
                   str(run.checkpoint), "--data", str(root / "walls"), "--data",
                   f"{root / 'conflict'}::label=clean,name=conflict", "--data",
                   f"{root / 'held'}::label=graffiti,name=held", "--out", str(root / out))


def test_held_images_keep_their_readings_where_labels_pull_them_down(conflict, monkeypatch, capsys):
    run, root = conflict
    code, out, err = _train(monkeypatch, capsys, run, root, "run-held", "5")
    assert code == 0, err
    assert "held at the starting model's readings" in out
    assert (root / "run-held" / "keep_teacher.pt").is_file()  # a resumed run holds the same readings
    code, out, err = _train(monkeypatch, capsys, run, root, "run-free", "0")
    assert code == 0, err
    start = _scores(run.checkpoint, root / "conflict")
    held = _scores(root / "run-held" / "last.pt", root / "conflict")
    free = _scores(root / "run-free" / "last.pt", root / "conflict")
    drop_free, drop_held = float((start - free).mean()), float((start - held).mean())
    assert drop_free > 0.2, (start.mean(), free.mean())  # the clean labels pull the paint down
    assert drop_held < drop_free / 2, (start.mean(), held.mean(), free.mean())  # the keep term holds it


def test_keep_needs_a_starting_model_and_known_sources(conflict, monkeypatch, capsys):
    run, root = conflict
    code, _, err = run_cli(monkeypatch, capsys, "train", "--config", str(root / "cfg-5.yaml"), "--data",
                           str(root / "walls"), "--out", str(root / "nofrom"))
    assert code != 0 and "keep_sources: needs init_from" in err and "Traceback" not in err
    code, _, err = run_cli(monkeypatch, capsys, "train", "--config", str(root / "cfg-5.yaml"), "--from",
                           str(run.checkpoint), "--data", str(root / "walls"), "--out", str(root / "unknown"))
    assert code != 0 and "keep_sources: held is not a source of data" in err and "Traceback" not in err
    assert not (root / "unknown").exists()


def test_a_resumed_run_holds_the_readings_it_started_with(conflict, monkeypatch, capsys):
    run, root = conflict
    if not (root / "run-held" / "last.pt").is_file():
        assert _train(monkeypatch, capsys, run, root, "run-held", "5")[0] == 0
    monkeypatch.setenv("GRAFFITI_FEATURE_CACHE", "off")
    saved = torch.load(root / "run-held" / "keep_teacher.pt", weights_only=True)
    code, out, err = run_cli(monkeypatch, capsys, "train", "--resume", str(root / "run-held"), "--epochs", "4")
    assert code == 0, err
    assert "held at the starting model's readings" in out
    assert torch.equal(torch.load(root / "run-held" / "keep_teacher.pt", weights_only=True), saved)
    (root / "run-held" / "keep_teacher.pt").unlink()
    code, _, err = run_cli(monkeypatch, capsys, "train", "--resume", str(root / "run-held"), "--epochs", "5")
    assert code != 0 and "keep_teacher.pt: the starting model's readings of the held images" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_keep_is_refused_with_mil_training(conflict, monkeypatch, capsys):
    run, root = conflict
    cfg = root / "cfg-mil.yaml"
    cfg.write_text((root / "cfg-5.yaml").read_text(encoding="utf-8") + "mil:\n  enabled: true\n", encoding="utf-8")
    code, _, err = run_cli(monkeypatch, capsys, "train", "--config", str(cfg), "--from", str(run.checkpoint),
                           "--data", str(root / "walls"), "--out", str(root / "mil"))
    assert code != 0 and "keep_sources: not used by MIL training" in err and "Traceback" not in err
