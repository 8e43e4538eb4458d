"""The old entry points to the architectures, kept as thin wrappers over :mod:`detector.train.archs`.

The registry owns what differs between architectures (build, preprocessing, weights, head,
freezing, the cached-feature cut); the built-in networks' code is in :mod:`detector.train.builtin_nets`.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from detector.errors import CheckpointError
from detector.preprocess import PreprocessSpec
from detector.train.builtin_nets import TORCHVISION_WEIGHT_FILES, EfficientNetLite0

__all__ = ["ARCHS", "TORCHVISION_WEIGHT_FILES", "EfficientNetLite0", "build_model", "check_arch",
           "default_preprocess", "default_weights_path", "split_at"]

# The built-in names (``torchvision:<name>`` and ``timm:<name>`` resolve too; see archs.py).
ARCHS = ("efficientnet_lite0", "mobilenet_v3_small", "mobilenet_v3_large")


def check_arch(arch: str) -> str:
    """Return ``arch`` if it resolves, else raise a one-line ConfigError listing the choices."""
    from detector.train.archs import get_arch

    get_arch(arch)
    return arch


def default_preprocess(arch: str, input_px: int = 224) -> PreprocessSpec:
    """The input contract the pretrained weights expect: size, RGB order, normalisation, area resize."""
    from detector.train.archs import preprocess

    return preprocess(arch, input_px)


def default_weights_path(arch: str) -> Path:
    """Where the pretrained weights for ``arch`` are looked for when the user gives none."""
    from detector.train.archs import get_arch

    path = get_arch(arch).weights_file()
    if path is None:
        raise CheckpointError(f"{arch}: no default pretrained weights known; pass --weights FILE")
    return path


def build_model(arch: str, weights: str | Path | None = "imagenet", dropout: float = 0.2) -> nn.Module:
    """Build ``arch`` with a single-logit head (see :func:`detector.train.archs.build`).

    ``weights``: ``"imagenet"`` = the default pretrained file for the arch, ``"hub"`` = download it
    first, a path = a state_dict file of that arch (its classifier's last layer is ignored),
    ``None`` or ``"none"`` = random initialisation (tests, checkpoint loading).
    """
    from detector.train.archs import build

    return build(arch, weights, dropout)


def split_at(model: nn.Module, arch: str, blocks: int) -> tuple[nn.Module, nn.Module]:
    """(prefix, suffix) with ``suffix(prefix(x)) == model(x)``: the stem + first ``blocks`` blocks,
    and the rest. Both share the model's modules, so training the suffix trains the model."""
    from detector.train.archs import split

    return split(model, arch, blocks)

