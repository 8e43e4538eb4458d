"""Cached-feature training: run the frozen early layers once per augmented view, train the rest.

On a CPU the early, high-resolution layers cost most of a forward pass, and with them frozen their
output depends only on the (augmented) input. So we draw ``views`` augmented versions of every
training image up front, push each through the frozen prefix once, keep the feature maps (fp16) in
memory and train the suffix on them for as many epochs as we like. That is several times cheaper
per step than augmenting and running the whole network, at the price of a fixed pool of views.
Validation/test images get one un-augmented view. The checkpoint still holds the whole model, so
export and evaluation see an ordinary network.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from detector.preprocess import PreprocessSpec, to_tensor_layout
from detector.train.augment import augment
from detector.train.config import AugmentConfig
from detector.train.data import CachedImage


def view_seed(seed: int, index: int, view: int) -> int:
    """The augmentation seed of view ``view`` of training image ``index`` (independent of batching)."""
    return int(np.random.default_rng([seed, 7919, index, view]).integers(0, 2**31 - 1))


@torch.no_grad()
def build_features(prefix: nn.Module, items: Sequence[CachedImage], spec: PreprocessSpec, aug: AugmentConfig | None,
                   views: int, seed: int, batch: int, device: torch.device, progress: Any = None,
                   label: str = "features", dtype: torch.dtype = torch.float16) -> torch.Tensor:
    """Feature maps [len(items) * views, C, H, W] (fp16, CPU), row ``i * views + v`` = view v of item i.

    ``aug`` None means un-augmented (validation): then ``views`` must be 1. ``dtype`` float32 keeps
    validation features exact, so validation figures equal ``graffiti eval``'s (fp16 halves training memory).
    """
    prefix.eval()
    px = spec.input_size[0]
    total = len(items) * views
    task = progress.add_task(label, total=total) if progress is not None else None
    chunks: list[torch.Tensor] = []
    pending: list[np.ndarray] = []

    def flush() -> None:
        x = torch.from_numpy(np.stack(pending)).to(device).contiguous(memory_format=torch.channels_last)
        chunks.append(prefix(x).to("cpu", dtype).contiguous())
        if task is not None:
            progress.advance(task, len(pending))
        pending.clear()

    for i, item in enumerate(items):
        for v in range(views):
            if aug is not None and aug.enabled:
                rng = np.random.default_rng(view_seed(seed, i, v))
                img = augment(item.image, item.label, item.graffiti_boxes, rng, aug, px, item.equalised)
            else:
                img = item.image
            pending.append(to_tensor_layout(img, spec))
            if len(pending) >= batch:
                flush()
    if pending:
        flush()
    if task is not None:
        progress.remove_task(task)
    if not chunks:
        return torch.zeros(0)
    return torch.cat(chunks)


class FeatureTrainSet(Dataset):
    """Training items addressed by (index, seed) from MixSampler: the seed picks one cached view."""

    def __init__(self, features: torch.Tensor, labels: Sequence[int], views: int,
                 keep: Sequence[bool] | None = None, teacher: torch.Tensor | None = None) -> None:
        self.features = features
        self.labels = torch.tensor([float(v) for v in labels])
        self.views = views
        # items held rather than labelled (config keep_sources): their starting logit per cached view
        self.keep = torch.tensor(list(keep), dtype=torch.bool) if keep is not None else None
        self.teacher = teacher

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, ...]:
        index, seed = key
        row = index * self.views + seed % self.views
        if self.keep is None or self.teacher is None:
            return self.features[row].float(), self.labels[index]
        return self.features[row].float(), self.labels[index], self.keep[index], self.teacher[row]


def keep_loss(logits: torch.Tensor, target: torch.Tensor, keep: torch.Tensor, teacher: torch.Tensor,
              weight: float, pos_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy on the labelled items of a batch and, on the held ones (``keep``), a one-sided
    distillation: ``weight x max(0, teacher - logit)`` — a held item may read hotter than the starting
    model read it, never colder. Mean over the batch."""
    from torch.nn import functional as f

    bce = f.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight, reduction="none")
    held = weight * torch.relu(teacher.to(logits.dtype) - logits)
    return torch.where(keep, held, bce).mean()


@torch.no_grad()
def predict_logits(suffix: nn.Module, features: torch.Tensor, batch: int, device: torch.device) -> torch.Tensor:
    """Logits of every cached feature row (eval mode), on the CPU in float32."""
    was_training = suffix.training
    suffix.eval()
    out = [suffix(features[i:i + batch].to(device).float().contiguous(memory_format=torch.channels_last)).float().cpu()
           for i in range(0, len(features), batch)]
    suffix.train(was_training)
    return torch.cat(out) if out else torch.zeros(0)


@torch.no_grad()
def predict_features(suffix: nn.Module, features: torch.Tensor, batch: int, device: torch.device) -> np.ndarray:
    """P(graffiti) from cached prefix features (eval mode)."""
    return torch.sigmoid(predict_logits(suffix, features, batch, device)).numpy()
