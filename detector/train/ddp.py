"""Distributed training helpers: the same ``graffiti train`` works alone or under ``torchrun``.

torchrun sets WORLD_SIZE/RANK/LOCAL_RANK; we then join a process group (gloo on CPU, nccl on
GPU), wrap the model in DistributedDataParallel and let only rank 0 write files.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from detector.errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """'auto' → CUDA when available, else CPU; 'cuda' without a GPU is a ConfigError."""
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ConfigError("device: 'cuda' requested but no CUDA GPU is available (use --device cpu)")
        return torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))
    return torch.device("cpu")


def setup(device_name: str) -> DistInfo:
    """Join the process group when launched by torchrun; otherwise a single-process DistInfo."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_name, local_rank)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, world=world, local_rank=local_rank, device=device)


def wrap(model: nn.Module, info: DistInfo) -> nn.Module:
    if not info.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [info.device.index] if info.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def broadcast_flag(flag: bool, info: DistInfo) -> bool:
    """Rank 0's decision (stop early, out of time) for every rank, so all leave the loop together."""
    if not info.distributed:
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int64)
    dist.broadcast(t, src=0)
    return bool(t.item())


def gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    if not info.distributed:
        return [obj]
    out: list[Any] = [None] * info.world
    dist.all_gather_object(out, obj)
    return out


def sync_buffers(model: nn.Module, info: DistInfo) -> None:
    """Copy rank 0's BatchNorm statistics to every rank.

    DDP broadcasts buffers at the start of each forward, so after the last step of an epoch every
    rank holds statistics updated by its own shard; this makes the ranks identical again.
    """
    if not info.distributed:
        return
    for buf in model.buffers():
        dist.broadcast(buf.data, src=0)


def state_digest(model: nn.Module) -> str:
    """sha256 over the parameters and buffers, in key order: equal digests = identical weights."""
    h = hashlib.sha256()
    for key, value in model.state_dict().items():
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def teardown(info: DistInfo) -> None:
    if info.distributed and dist.is_initialized():
        dist.destroy_process_group()
