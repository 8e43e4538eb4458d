"""The architecture registry: torchvision:/timm: names, weights from files and caches, freezing and
cutting any backbone, preflight before any image is decoded, and export/int8 of any registered model.

Every model here is random-initialised or loads weights the test itself wrote; nothing downloads.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.train

torch = pytest.importorskip("torch")

from detector.errors import CheckpointError, ConfigError  # noqa: E402
from detector.train import archs  # noqa: E402
from tests.train.tiny_run import run_cli, write_images  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def _timm():
    return pytest.importorskip("timm", reason="timm is optional: pip install '.[timm]'")


NAMES = ["efficientnet_lite0", "efficientnet_lite1", "mobilenet_v3_small", "torchvision:resnet18", "torchvision:mobilenet_v2",
         "timm:test_efficientnet", "timm:test_resnet", "timm:test_vit"]


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_every_name_builds_a_one_logit_model_that_freezes_and_cuts(name):
    if name.startswith("timm:"):
        _timm()
    torch.manual_seed(0)
    model = archs.build(name, weights=None, dropout=0.1).eval()
    with torch.no_grad():
        out = model(torch.randn(3, 3, 64, 64))
    assert out.shape == (3,) and torch.isfinite(out).all()
    frozen = archs.freeze(model, name, 2)
    assert frozen and all(not p.requires_grad for m in frozen for p in m.parameters())
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert trainable and len(trainable) < len(list(model.parameters()))
    if name == "timm:test_vit":  # position embeddings are added between its stem and blocks: no chain
        with pytest.raises(ConfigError, match="cached_views: timm:test_vit cannot be cut after its stem"):
            archs.check_split(model, name, 2, 64)
        return
    # the cut used by cached-feature training reproduces the whole model
    prefix, suffix = archs.split(model, name, 2)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(suffix(prefix(x)), model(x), atol=1e-5)
    archs.check_split(model, name, 2, 64)


def test_preprocessing_comes_from_the_architecture():
    timm = _timm()
    lite = archs.preprocess("efficientnet_lite0", 96)
    assert lite.input_size == (96, 96) and lite.mean == pytest.approx((127 / 255,) * 3)
    cfg = timm.create_model("test_vit", pretrained=False).pretrained_cfg
    spec = archs.preprocess("timm:test_vit", 64)
    assert spec.mean == pytest.approx(tuple(cfg["mean"])) and spec.std == pytest.approx(tuple(cfg["std"]))


def test_torchvision_backbone_loads_from_a_local_file_and_skips_the_imagenet_head(tmp_path):
    import torchvision

    torch.manual_seed(3)
    reference = torchvision.models.resnet18(weights=None)  # 1000-class head, as published
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    model = archs.build("torchvision:resnet18", weights=path)
    ours = model.state_dict()
    for key, value in reference.state_dict().items():
        if not key.startswith("fc."):
            assert torch.equal(ours["net." + key], value), key
    assert ours["net.fc.weight"].shape == (1, 512)


def test_timm_backbone_loads_from_a_safetensors_file(tmp_path):
    timm = _timm()
    from safetensors.torch import save_file

    torch.manual_seed(4)
    reference = timm.create_model("test_efficientnet", pretrained=False)  # its own 1000-class head
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    ours = archs.build("timm:test_efficientnet", weights=path).state_dict()
    assert torch.equal(ours["net.conv_stem.weight"], reference.state_dict()["conv_stem.weight"])
    assert ours["net.classifier.weight"].shape[0] == 1


def test_default_weights_are_looked_up_in_the_libraries_caches_without_downloading(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(CheckpointError, match=r"torch/hub/checkpoints/resnet18-.*\.pth: weights file for "
                                              r"torchvision:resnet18 not found \(download https://"):
        archs.build("torchvision:resnet18")
    # a file put where torch.hub would cache it is used
    import torchvision

    url = torchvision.models.get_model_weights("resnet18").DEFAULT.url
    cached = tmp_path / "torch" / "hub" / "checkpoints" / Path(url).name
    cached.parent.mkdir(parents=True)
    torch.manual_seed(5)
    reference = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(reference, cached)
    assert torch.equal(archs.build("torchvision:resnet18").state_dict()["net.conv1.weight"], reference["conv1.weight"])


def test_timm_default_weights_come_from_the_hugging_face_cache(tmp_path, monkeypatch):
    _timm()
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(CheckpointError, match=r"models--timm--test_resnet.*not found \(.*--weights hub"):
        archs.build("timm:test_resnet")


@pytest.mark.parametrize(("name", "match"), [
    ("torchvision:resnet19", r"arch: unknown architecture 'torchvision:resnet19'; did you mean resnet18"),
    ("timm:test_resnett", r"did you mean test_resnet"),
    ("resnet50", r"arch: unknown architecture 'resnet50' .*torchvision:<name> or timm:<name>"),
    ("torchvision:squeezenet1_0", r"no final Linear layer"),
], ids=["torchvision-typo", "timm-typo", "bare-name", "no-linear-head"])
def test_unknown_or_unusable_names_are_one_line_errors(name, match):
    if name.startswith("timm:"):
        _timm()
    with pytest.raises(ConfigError, match=match) as info:
        archs.build(name, weights=None)
    assert "\n" not in str(info.value)


def test_freeze_blocks_is_checked_against_the_architectures_own_depth():
    """Lite1 has 21 blocks after its stem, Lite0 16: the config accepts 19 for both, preflight decides."""
    from detector.config import from_mapping
    from detector.train.config import TrainConfig

    assert from_mapping(TrainConfig, {"arch": "efficientnet_lite1", "freeze_blocks": 19}).freeze_blocks == 19
    archs.preflight("efficientnet_lite1", "none", 0.1, 64, 19, 2)
    with pytest.raises(ConfigError, match=r"freeze_blocks: efficientnet_lite0 has 16 blocks after its stem, found 19"):
        archs.preflight("efficientnet_lite0", "none", 0.1, 64, 19, 2)


def test_preflight_checks_blocks_input_size_and_the_cut(tmp_path):
    _timm()
    with pytest.raises(ConfigError, match=r"freeze_blocks: timm:test_resnet has 4 blocks after its stem, found 9"):
        archs.preflight("timm:test_resnet", "none", 0.1, 64, 9, 0)
    with pytest.raises(ConfigError, match=r"input_px: timm:test_vit3 does not run on 64x64 images"):
        archs.preflight("timm:test_vit3", "none", 0.1, 64, 0, 0)
    state = torch.get_rng_state()
    archs.preflight("timm:test_efficientnet", "none", 0.1, 64, 2, 4)
    assert torch.equal(torch.get_rng_state(), state)  # a run's random stream is untouched


def test_a_registered_architecture_is_one_call(tmp_path):
    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = torch.nn.Conv2d(3, 4, 3, stride=2)
            self.blocks = torch.nn.Sequential(*[torch.nn.Conv2d(4, 4, 3, padding=1) for _ in range(3)])
            self.head = torch.nn.Linear(4, 1)

        def forward(self, x):
            return self.head(self.blocks(self.stem(x)).mean((2, 3))).squeeze(-1)

    archs.register(archs.Arch(name="test-tiny", build=lambda dropout: Tiny(), head_prefix="head."))
    try:
        model = archs.build("test-tiny", weights=None)
        assert len(archs.freeze(model, "test-tiny", 1)) == 2  # stem + first block
        assert archs.preprocess("test-tiny", 32).input_size == (32, 32)
    finally:
        archs._REGISTRY.pop("test-tiny")


# --------------------------------------------------------------------------- the command line
def _train_cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    env = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO),
           "GRAFFITI_FEATURE_CACHE": os.environ.get("GRAFFITI_FEATURE_CACHE", "off"), **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "detector", "train", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=240, env=env)


def test_missing_weights_fail_before_any_image_is_decoded_and_leave_no_run_folder(tmp_path):
    write_images(tmp_path / "walls", 4, seed=1)
    out = tmp_path / "run"
    proc = _train_cli("--data", str(tmp_path / "walls"), "--arch", "torchvision:resnet18", "--out", str(out),
                      env_extra={"TORCH_HOME": str(tmp_path / "torch")})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "weights file for torchvision:resnet18 not found" in lines[0], proc.stderr
    assert not out.exists()


@pytest.fixture(scope="module")
def timm_run(tmp_path_factory) -> Path:
    _timm()
    root = tmp_path_factory.mktemp("timm-run")
    write_images(root / "walls", 16, seed=5)
    out = root / "run"
    proc = _train_cli("--data", str(root / "walls"), "--arch", "timm:test_efficientnet", "--weights", "none",
                      "--input-px", "32", "--epochs", "4", "--batch-size", "8", "--lr", "0.003",
                      "--freeze-blocks", "1", "--cached-views", "2", "--threads", "1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


@pytest.mark.slow
def test_a_timm_model_trains_exports_to_int8_and_scores_a_wall(timm_run, tmp_path, monkeypatch, capsys):
    from detector.onnxmodel import read_meta

    # a random-init model after 4 tiny epochs: the test is about the mechanics, hence --max-fpr 0.5
    walls = timm_run.parent / "walls"
    onnx_path = tmp_path / "tiny-timm.onnx"
    code, stdout, stderr = run_cli(monkeypatch, capsys, "export", str(timm_run / "best.pt"), "--out", str(onnx_path),
                                   "--int8", "--calib", str(walls), "--allow-degraded", "--max-fpr", "0.5")
    assert code == 0, stderr
    meta = read_meta(onnx_path)
    assert meta.arch == "timm:test_efficientnet" and meta.input_size == (32, 32)
    int8 = tmp_path / "tiny-timm-int8.onnx"
    assert read_meta(int8).quantization == "int8-static"
    image = next((walls / "graffiti").iterdir())
    code, stdout, stderr = run_cli(monkeypatch, capsys, "edge", "score", str(image), "--model", str(int8),
                                   "--tile-px", "32")
    assert code == 0, stderr
    assert image.name in stdout


def test_a_model_that_cannot_be_exported_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    from detector.data.manifest import write_manifest
    from detector.data.sample import Sample
    from detector.train.checkpoint import save_checkpoint

    class Odd(torch.nn.Module):  # polygamma has no ONNX opset-17 symbolic
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 1, 3)

        def forward(self, x):
            return torch.polygamma(1, self.conv(x).abs() + 1).mean((1, 2, 3))

    archs.register(archs.Arch(name="test-odd", build=lambda dropout: Odd()))
    try:
        rows = write_images(tmp_path / "val", 2, seed=1)
        manifest = write_manifest([Sample(path=p, label=lab, group=p.stem, source="t", split="val")
                                   for p, lab in rows], tmp_path / "split.csv")
        ckpt = save_checkpoint(tmp_path / "odd.pt", model=Odd(), arch="test-odd",
                               preprocess=archs.preprocess("test-odd", 32), optimizer=None, scheduler=None, epoch=1,
                               metrics={}, config={}, data_info={"manifest": str(manifest)}, git_rev="t")
        code, stdout, stderr = run_cli(monkeypatch, capsys, "export", str(ckpt), "--out", str(tmp_path / "odd.onnx"))
    finally:
        archs._REGISTRY.pop("test-odd")
    assert code == 2
    assert stderr.strip().count("\n") == 0, stderr
    assert "arch test-odd): does not export to ONNX opset 17 (" in stderr and "polygamma" in stderr
    assert not (tmp_path / "odd.onnx").exists()
