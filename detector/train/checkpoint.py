"""Our checkpoint format: everything needed to resume a run or export the model, in one file.

A checkpoint is a plain dict (``"format": "graffiti-checkpoint/1"``) holding only tensors and
plain Python values, so it loads with ``torch.load(weights_only=True)``: opening a checkpoint never
runs code from the file.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from detector.errors import CheckpointError
from detector.preprocess import PreprocessSpec

FORMAT = "graffiti-checkpoint/1"


@dataclass
class LoadedCheckpoint:
    """A checkpoint opened for use: the model (eval mode, CPU) plus its provenance."""

    path: Path
    model: nn.Module
    arch: str
    preprocess: PreprocessSpec
    config: dict[str, Any]
    metrics: dict[str, Any]
    data: dict[str, Any]
    epoch: int
    git_rev: str
    raw: dict[str, Any]


def preprocess_to_dict(spec: PreprocessSpec) -> dict[str, Any]:
    """PreprocessSpec → plain dict (lists, not tuples) for the checkpoint and YAML."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(spec).items()}


def preprocess_from_dict(data: dict[str, Any], path: Path | str = "checkpoint") -> PreprocessSpec:
    """Inverse of :func:`preprocess_to_dict`; a malformed entry is a CheckpointError naming the file."""
    try:
        h, w = (int(v) for v in data["input_size"])
        return PreprocessSpec(
            input_size=(h, w),
            mean=tuple(float(v) for v in data["mean"]),  # type: ignore[arg-type]
            std=tuple(float(v) for v in data["std"]),  # type: ignore[arg-type]
            channel_order=str(data["channel_order"]),
            resize=str(data["resize"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: invalid 'preprocess' entry ({exc})") from None


def unwrap(model: nn.Module) -> nn.Module:
    """The bare model inside a DistributedDataParallel wrapper (state_dict keys without 'module.')."""
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model


def save_checkpoint(
    path: str | Path,
    *,
    model: nn.Module,
    arch: str,
    preprocess: PreprocessSpec,
    optimizer: torch.optim.Optimizer | None,
    scheduler: Any,
    epoch: int,
    metrics: dict[str, Any],
    config: dict[str, Any],
    data_info: dict[str, Any],
    git_rev: str,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (temp file + rename), so a killed run never leaves a torn file.

    ``data_info``: ``{"manifest": path, "digest": sha256, "sources": {...}, "counts": {...}}``.
    ``extra`` holds loop state needed for an exact resume (RNG states, early-stopping counters).
    """
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()}
    payload: dict[str, Any] = {
        "format": FORMAT,
        "arch": arch,
        "model_state": state,
        "optimizer_state": optimizer.state_dict() if optimizer is not None else None,
        "scheduler_state": scheduler.state_dict() if scheduler is not None else None,
        "epoch": int(epoch),
        "metrics": dict(metrics),
        "config": dict(config),
        "preprocess": preprocess_to_dict(preprocess),
        "data": dict(data_info),
        "git_rev": git_rev,
        "extra": dict(extra or {}),
    }
    return write_checkpoint_dict(path, payload)


def write_checkpoint_dict(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write a checkpoint dict atomically (temp file + rename), so a killed run never leaves a torn file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def read_checkpoint_dict(path: str | Path) -> dict[str, Any]:
    """Load and validate the raw checkpoint dict (no model built). Errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        raw: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt zip, pickle error, truncated file, unsafe content ...
        raise CheckpointError(f"{path}: not a readable checkpoint (corrupt or truncated: {type(exc).__name__})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        raise CheckpointError(f"{path}: not a graffiti checkpoint (expected format {FORMAT!r}, found {found!r})")
    for key in ("arch", "model_state", "preprocess"):
        if key not in raw:
            raise CheckpointError(f"{path}: checkpoint lacks the '{key}' entry")
    return raw


def load_checkpoint(path: str | Path) -> LoadedCheckpoint:
    """Open one of our checkpoints: rebuild the architecture, load its weights, eval mode, CPU."""
    from detector.errors import ConfigError
    from detector.train.archs import build

    path = Path(path)
    raw = read_checkpoint_dict(path)
    arch = str(raw["arch"])
    dropout = float(raw.get("config", {}).get("dropout", 0.2) or 0.0)
    try:
        model = build(arch, weights=None, dropout=dropout)
    except ConfigError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    try:
        model.load_state_dict(raw["model_state"])
    except (RuntimeError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(f"{path}: weights do not match architecture {arch} ({first})") from None
    model.eval()
    return LoadedCheckpoint(
        path=path,
        model=model,
        arch=arch,
        preprocess=preprocess_from_dict(raw["preprocess"], path),
        config=dict(raw.get("config") or {}),
        metrics=dict(raw.get("metrics") or {}),
        data=dict(raw.get("data") or {}),
        epoch=int(raw.get("epoch", 0)),
        git_rev=str(raw.get("git_rev", "")),
        raw=raw,
    )
