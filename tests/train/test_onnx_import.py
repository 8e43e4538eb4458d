"""``graffiti import-onnx``: an exported model read back into a training checkpoint scores as the ONNX file
does, and ``graffiti train --from`` fine-tunes it with its (folded) BatchNorm statistics held."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.train

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from detector.errors import CheckpointError, ModelContractError  # noqa: E402
from detector.modelmeta import ModelMeta, write_meta  # noqa: E402
from detector.onnxmodel import ModelSession  # noqa: E402
from detector.train.checkpoint import load_checkpoint, read_checkpoint_dict  # noqa: E402
from detector.train.onnx_import import import_onnx  # noqa: E402
from tests.train.tiny_run import run_cli, shared_tiny_run, write_images  # noqa: E402

LITE_PX = 64


def _random_head(model, seed: int) -> None:
    """A head that tells images apart (a fresh one scores every image near 0.5)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.2)


def _export_with_contract(model, arch: str, px: int, path: Path, **meta_kw) -> Path:
    from detector.train.archs import preprocess
    from detector.train.onnx_export import torch_to_onnx

    torch_to_onnx(model.eval(), (px, px), path)
    spec = preprocess(arch, px)
    meta = ModelMeta(name="lite", version="1", arch=arch, input_size=(px, px), mean=spec.mean, std=spec.std,
                     threshold=0.6, clean_threshold=0.3, **meta_kw)
    graph = onnx.load(str(path))
    write_meta(graph, meta)
    onnx.save(graph, str(path))
    return path


@pytest.fixture(scope="module")
def lite(tmp_path_factory) -> tuple[Path, object]:
    """(ONNX file, the torch model it was exported from): EfficientNet-Lite0 at 64 px, its ImageNet backbone
    (real BatchNorm statistics to fold) and a random head."""
    from detector.train.archs import build

    torch.manual_seed(0)
    model = build("efficientnet_lite0", weights="imagenet", dropout=0.0)
    _random_head(model, 1)
    root = tmp_path_factory.mktemp("import")
    return _export_with_contract(model, "efficientnet_lite0", LITE_PX, root / "lite.onnx"), model


def _images(n: int, px: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (n, 3, px, px)).astype(np.float32)


def test_imported_lite0_scores_like_its_onnx_file_and_its_original(lite, tmp_path):
    path, original = lite
    r = import_onnx(path, tmp_path / "imported.pt")
    assert (r.arch, r.convs, r.batchnorms_folded, r.linears) == ("efficientnet_lite0", 49, 49, 1)
    loaded = load_checkpoint(r.path)
    x = _images(6, LITE_PX, 7)  # other images than the import's own parity check
    with torch.no_grad():
        ours = torch.sigmoid(loaded.model(torch.from_numpy(x))).numpy()
        theirs = torch.sigmoid(original(torch.from_numpy(x))).numpy()
    session = ModelSession(path)
    onnx_scores = session.raw_scores(x)
    assert np.abs(ours - onnx_scores).max() < 1e-4
    assert np.abs(ours - theirs).max() < 1e-4
    assert ours.std() > 1e-3  # the images really score differently: a constant model would pass the above
    state = loaded.model.state_dict()
    bn = state["_blocks.3._bn1.running_var"]  # folded: an identity BatchNorm behind the convolution
    assert torch.allclose(bn, torch.full_like(bn, 1.0 - 1e-3))
    assert loaded.raw["extra"]["bn_folded"] is True
    assert loaded.raw["extra"]["imported_from"]["threshold"] == 0.6
    assert loaded.preprocess.input_size == (LITE_PX, LITE_PX)
    from detector.train.onnx_export import export_model

    with pytest.raises(CheckpointError, match=r"imported\.pt: .*\(it was imported from .*lite\.onnx, which keeps no "
                                              r"split: train from it with --from"):
        export_model(r.path, tmp_path / "again.onnx", progress=False)  # no validation split to threshold on


def test_a_torchvision_network_with_biased_convolutions_round_trips(tmp_path_factory, tmp_path):
    """MobileNetV3-Small (the tiny trained run): squeeze-excitation convolutions have biases and no BatchNorm."""
    from detector.train.onnx_export import export_model

    run = shared_tiny_run(tmp_path_factory)
    exported = export_model(run.checkpoint, tmp_path / "tiny.onnx", name="tiny", version="1", progress=False)
    r = import_onnx(exported.fp32.path, tmp_path / "tiny.pt")
    assert r.batchnorms_folded < r.convs  # the SE layers kept their own bias
    x = _images(5, 32, 3)
    with torch.no_grad():
        ours = torch.sigmoid(load_checkpoint(r.path).model(torch.from_numpy(x))).numpy()
        theirs = torch.sigmoid(load_checkpoint(run.checkpoint).model(torch.from_numpy(x))).numpy()
    assert np.abs(ours - theirs).max() < 1e-4


def test_train_from_an_imported_model_holds_its_batchnorm_and_learns(lite, tmp_path, monkeypatch, capsys):
    path, _ = lite
    imported = import_onnx(path, tmp_path / "imported.pt").path
    write_images(tmp_path / "walls", 12, seed=5)
    (tmp_path / "tiny.yaml").write_text("batch_size: 8\nlr: 0.003\nval_fraction: 0.25\nfreeze_blocks: 5\n"
                                        "threads: 1\nepochs: 1\nwarmup_epochs: 0\n", encoding="utf-8")
    code, out, err = run_cli(monkeypatch, capsys, "train", "--config", str(tmp_path / "tiny.yaml"), "--data",
                             str(tmp_path / "walls"), "--from", str(imported), "--out", str(tmp_path / "run"))
    assert code == 0, err
    assert "training with freeze_bn" in out
    before = load_checkpoint(imported).model.state_dict()
    after_ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    after = after_ckpt.model.state_dict()
    assert after_ckpt.config["freeze_bn"] is True
    late = "_blocks.12._bn1"  # after the 5 frozen blocks: trained, with its statistics held
    assert torch.equal(after[f"{late}.running_mean"], before[f"{late}.running_mean"])
    assert torch.equal(after[f"{late}.running_var"], before[f"{late}.running_var"])
    assert not torch.equal(after[f"{late}.bias"], before[f"{late}.bias"])  # its shift did train
    assert not torch.equal(after["_fc.weight"], before["_fc.weight"])
    from detector.train.onnx_import import is_bn_folded
    from detector.train.soup import make_soup

    trained = read_checkpoint_dict(tmp_path / "run" / "last.pt")
    assert "bn_folded" not in trained["extra"] and is_bn_folded(trained)  # read from the held statistics
    # WiSE-FT: the imported model and the run trained from it average (the import records no split)
    soup = make_soup([imported, tmp_path / "run" / "last.pt"], [0.5, 0.5], tmp_path / "wise.pt")
    assert soup.tensors_mixed > 0
    mixed = load_checkpoint(tmp_path / "wise.pt").model.state_dict()
    assert torch.allclose(mixed["_fc.weight"], 0.5 * before["_fc.weight"] + 0.5 * after["_fc.weight"], atol=1e-6)


def test_a_folded_model_is_not_averaged_with_one_that_has_its_statistics(lite, tmp_path):
    from detector.train.archs import preprocess
    from detector.train.checkpoint import save_checkpoint
    from detector.train.onnx_import import is_bn_folded
    from detector.train.soup import make_soup

    path, original = lite
    imported = import_onnx(path, tmp_path / "imported.pt").path
    own = save_checkpoint(tmp_path / "own.pt", model=original, arch="efficientnet_lite0",
                          preprocess=preprocess("efficientnet_lite0", LITE_PX), optimizer=None, scheduler=None,
                          epoch=1, metrics={}, config={"dropout": 0.0}, data_info={}, git_rev="test")
    assert not is_bn_folded(read_checkpoint_dict(own))
    with pytest.raises(CheckpointError, match=r"own\.pt: has BatchNorm statistics, .*imported\.pt has folded "
                                              r"BatchNorm .*cannot be averaged"):
        make_soup([imported, own], [], tmp_path / "bad.pt")


def test_hold_batchnorm_leaves_other_layers_training():
    from detector.train.archs import build, hold_batchnorm

    model = build("efficientnet_lite0", weights=None, dropout=0.3).train()
    held = hold_batchnorm(model)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert held == len(bns) == 49
    assert not any(m.training for m in bns)
    assert model._dropout.training


def test_bad_models_are_refused_with_one_line(lite, tmp_path, monkeypatch, capsys):
    from detector.train.archs import build

    path, original = lite
    int8 = _export_with_contract(original, "efficientnet_lite0", LITE_PX, tmp_path / "q.onnx",
                                 quantization="int8-static")
    with pytest.raises(CheckpointError, match=r"q\.onnx: a quantised model \(int8-static\) cannot be imported"):
        import_onnx(int8, tmp_path / "q.pt")
    other = build("mobilenet_v3_small", weights=None, dropout=0.0)  # the graph of one network, named as another
    lied = _export_with_contract(other, "efficientnet_lite0", 32, tmp_path / "lied.onnx")
    with pytest.raises(CheckpointError, match=r"lied\.onnx: .*do(es)? not match the efficientnet_lite0"):
        import_onnx(lied, tmp_path / "lied.pt")
    with pytest.raises(ModelContractError, match=r"missing\.onnx: model file not found"):
        import_onnx(tmp_path / "missing.onnx", tmp_path / "m.pt")
    assert not (tmp_path / "q.pt").exists() and not (tmp_path / "lied.pt").exists()
    code, out, err = run_cli(monkeypatch, capsys, "import-onnx", str(int8), "--out", str(tmp_path / "q.pt"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "cannot be imported" in err
