"""``graffiti soup``: checkpoints' weights averaged into one checkpoint that exports like any other.

Two tiny runs (MobileNetV3-Small at 32 px, :mod:`tests.train.tiny_run`) trained from different seeds
on the same split are the ingredients.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from detector.errors import CheckpointError, ConfigError
from tests.train.tiny_run import build_tiny_run, run_cli


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(checkpoint A, checkpoint B, the shared split manifest): the same split, other seeds."""
    root = tmp_path_factory.mktemp("soup")
    build_tiny_run(root, seed=0)
    a = root / "a.pt"
    shutil.copy(root / "run" / "best.pt", a)
    run = build_tiny_run(root, seed=1)  # the same images and split manifest, another initialisation
    return a, run.checkpoint, run.manifest


def _state(path: Path) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)["model_state"]


def test_soup_is_the_weighted_mean_of_the_ingredients(two_runs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    import torch

    from detector.train.checkpoint import load_checkpoint
    from detector.train.soup import make_soup

    a, b, _ = two_runs
    sa, sb = _state(a), _state(b)
    s = make_soup([a, b], [3, 1], tmp_path / "s.pt")
    assert s.weights == pytest.approx((0.75, 0.25))
    soup = _state(tmp_path / "s.pt")
    floats = [k for k in sa if sa[k].is_floating_point()]
    assert any(not torch.equal(sa[k], sb[k]) for k in floats)  # the ingredients really differ
    for k in floats:
        assert torch.allclose(soup[k], 0.75 * sa[k] + 0.25 * sb[k], atol=1e-6), k
    assert s.tensors_mixed + s.tensors_same == len(sa)
    only_a = make_soup([a, b], [1, 0], tmp_path / "a-only.pt")
    assert only_a.weights == (1.0, 0.0)
    assert all(torch.equal(_state(tmp_path / "a-only.pt")[k], sa[k]) for k in floats)  # weight 1: A itself
    loaded = load_checkpoint(tmp_path / "s.pt")  # an ordinary checkpoint: it builds and runs
    x = torch.zeros(2, 3, 32, 32)
    assert loaded.model(x).shape == (2,)
    raw = torch.load(tmp_path / "s.pt", map_location="cpu", weights_only=True)
    assert [i["weight"] for i in raw["extra"]["soup"]] == [0.75, 0.25]
    assert raw["data"]["manifest"] == str(two_runs[2])  # the last ingredient's data record


def test_soup_refuses_what_cannot_be_averaged(two_runs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    import torch

    from detector.train.soup import make_soup

    a, b, manifest = two_runs
    with pytest.raises(ConfigError, match="at least two"):
        make_soup([a], None, tmp_path / "x.pt")
    with pytest.raises(ConfigError, match="2 weights for 3 checkpoints|3 checkpoints"):
        make_soup([a, b, b], [1, 1], tmp_path / "x.pt")
    with pytest.raises(ConfigError, match=">= 0"):
        make_soup([a, b], [1, -1], tmp_path / "x.pt")
    raw = torch.load(b, map_location="cpu", weights_only=True)
    other = dict(raw, model_state={k: v[..., :1] if v.ndim == 4 else v for k, v in raw["model_state"].items()})
    torch.save(other, tmp_path / "shapes.pt")
    with pytest.raises(CheckpointError, match="has shape"):
        make_soup([a, tmp_path / "shapes.pt"], None, tmp_path / "x.pt")
    lines = manifest.read_text().splitlines()
    moved = [ln.replace(",val,", ",train,", 1) if i == 1 + next(j for j, x in enumerate(lines[1:]) if ",val," in x)
             else ln for i, ln in enumerate(lines)]
    (tmp_path / "other-split.csv").write_text("\n".join(moved) + "\n")
    torch.save(dict(raw, data=dict(raw["data"], manifest=str(tmp_path / "other-split.csv"))), tmp_path / "split.pt")
    with pytest.raises(CheckpointError, match="another validation split"):
        make_soup([a, tmp_path / "split.pt"], None, tmp_path / "x.pt")


def test_cli_soup_then_export(two_runs: tuple[Path, Path, Path], tmp_path: Path, monkeypatch, capsys) -> None:
    a, b, _ = two_runs
    code, out, err = run_cli(monkeypatch, capsys, "soup", str(a), str(b), "--out", str(tmp_path / "s.pt"))
    assert code == 0, err
    assert "x 0.500" in out and "tensors averaged" in out
    code, out, err = run_cli(monkeypatch, capsys, "export", str(tmp_path / "s.pt"), "--out", str(tmp_path / "s.onnx"),
                             "--threshold-level", "photo")
    assert code == 0, err
    assert (tmp_path / "s.onnx").is_file() and "threshold" in out
    code, out, err = run_cli(monkeypatch, capsys, "soup", str(a), str(tmp_path / "nope.pt"), "--out",
                             str(tmp_path / "x.pt"))
    assert code == 2 and "nope.pt" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_moved_run_folder_is_souped_and_exported(two_runs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """An ingredient whose run folder was renamed finds its split manifest beside it (as export does), and the
    soup records where that manifest is now, so the soup exports."""
    import torch

    from detector.train.onnx_export import export_model
    from detector.train.soup import make_soup

    a, b, manifest = two_runs
    moved = manifest.parent.parent / "renamed-run"  # beside the run folder: the manifest's relative paths hold
    moved.mkdir()
    shutil.copy(b, moved / "best.pt")
    shutil.copy(manifest, moved / manifest.name)
    raw = torch.load(moved / "best.pt", map_location="cpu", weights_only=True)
    gone = manifest.parent.parent / "old-run" / manifest.name  # where the run wrote it, before the folder was renamed
    torch.save(dict(raw, data=dict(raw["data"], manifest=str(gone))), moved / "best.pt")
    make_soup([a, moved / "best.pt"], None, tmp_path / "soup" / "best.pt")
    soup = torch.load(tmp_path / "soup" / "best.pt", map_location="cpu", weights_only=True)
    assert soup["data"]["manifest"] == str(moved / manifest.name)
    exported = export_model(tmp_path / "soup" / "best.pt", tmp_path / "soup.onnx", name="s", version="1",
                            progress=False, threshold_level="photo")
    assert exported.fp32.path.is_file()
