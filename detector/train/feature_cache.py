"""On-disk cache of the frozen layers' output, so a resumed or repeated run does not recompute it.

The cached features depend on exactly: the images and their split (the data manifest's digest),
the frozen prefix's weights, the preprocessing, the augmentation settings, the number of views,
the seed and the cache/input sizes. The key is the sha256 of all of these, so any change gives a
new file and a stale one is never read. Files live in ``$GRAFFITI_FEATURE_CACHE`` (default
``~/.cache/graffiti/features``; ``off`` disables the cache) and are written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

ENV = "GRAFFITI_FEATURE_CACHE"


def cache_dir() -> Path | None:
    value = os.environ.get(ENV, "")
    if value.lower() in ("off", "0", "none"):
        return None
    return Path(value).expanduser() if value else Path.home() / ".cache" / "graffiti" / "features"


def weights_digest(module: nn.Module) -> str:
    """sha256 over the prefix's parameters and buffers (names, shapes and bytes)."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()


def cache_key(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def feature_key(cfg: Any, data_digest: str, prefix: nn.Module, spec: Any, n_train: int, n_val: int,
                device: torch.device) -> dict[str, Any]:
    """Everything the cached features depend on (see the module docstring)."""
    import dataclasses

    from detector.config import to_mapping

    return {"format": 2, "data": data_digest, "prefix": weights_digest(prefix), "arch": cfg.arch,
            "freeze_blocks": cfg.freeze_blocks, "preprocess": dataclasses.asdict(spec),
            "augment": to_mapping(cfg.augment), "views": cfg.cached_views, "seed": cfg.seed,
            "cache_px": cfg.cache_px, "n_train": n_train, "n_val": n_val, "device": device.type}


def cached_features(parts: dict[str, Any], compute: Callable[[], tuple[torch.Tensor, torch.Tensor]],
                    log: Callable[[str], None]) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, val) features from the cache, else computed, stored and returned."""
    folder = cache_dir()
    if folder is None:
        return compute()
    path = folder / f"{cache_key(parts)}.pt"
    if path.is_file():
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
            log(f"feature cache: reusing {path} (same data, frozen weights, augmentation and views)")
            return data["train"], data["val"]
        except Exception as exc:  # a torn or foreign file: recompute and overwrite
            log(f"feature cache: ignoring unreadable {path} ({type(exc).__name__})")
    train, val = compute()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        torch.save({"train": train, "val": val, "parts": json.dumps(parts, sort_keys=True, default=str)}, tmp)
        os.replace(tmp, path)
        log(f"feature cache: wrote {path} ({path.stat().st_size / 1e6:.0f} MB)")
    except OSError as exc:
        log(f"feature cache: could not write {path} ({exc.strerror}); continuing without it")
    return train, val
