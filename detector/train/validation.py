"""Validation during training: score cached images with the torch model, summarise with metrics.py.

The same AUROC/AP definitions as ``graffiti eval`` (detector.train.metrics), so the number that
chose the best epoch is the number the evaluation report shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from detector.preprocess import PreprocessSpec
from detector.train.data import CachedImage, EvalSet


@torch.no_grad()
def predict(model: nn.Module, items: Sequence[CachedImage], spec: PreprocessSpec, batch: int,
            device: torch.device) -> np.ndarray:
    """P(graffiti) for each cached image (eval mode, no augmentation)."""
    was_training = model.training
    model.eval()
    out: list[np.ndarray] = []
    for x, _ in DataLoader(EvalSet(items, spec), batch_size=max(batch, 1) * 2, shuffle=False):
        x = x.to(device).contiguous(memory_format=torch.channels_last)
        out.append(torch.sigmoid(model(x).float()).cpu().numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def _bce(labels: np.ndarray, probs: np.ndarray) -> float:
    p = np.clip(probs.astype(np.float64), 1e-7, 1 - 1e-7)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))


def summarise(labels: np.ndarray, probs: np.ndarray, sources: Sequence[str], prefix: str = "val_") -> dict[str, Any]:
    """Loss, AUROC, AP and the operating point at 0.5, overall and per source (keys start with ``prefix``)."""
    from detector.train.metrics import auroc as auroc_fn
    from detector.train.metrics import average_precision, breakdown, confusion_at

    if labels.size == 0:
        return {f"{prefix}n": 0}
    conf = confusion_at(labels, probs, 0.5)
    per_source = {
        name: {"n": m.n, "auroc": m.auroc, "recall_at_0.5": m.confusion.recall, "fpr_at_0.5": m.confusion.fpr,
               "mean_score": m.mean_score}
        for name, m in breakdown(labels, probs, list(sources), 0.5).items()
    }
    return {
        f"{prefix}n": int(labels.size),
        f"{prefix}loss": _bce(labels, probs),
        f"{prefix}auroc": auroc_fn(labels, probs),
        f"{prefix}ap": average_precision(labels, probs),
        f"{prefix}recall_at_0.5": conf.recall,
        f"{prefix}fpr_at_0.5": conf.fpr,
        f"{prefix}per_source": per_source,
    }


def evaluate_items(model: nn.Module, items: Sequence[CachedImage], spec: PreprocessSpec, batch: int,
                   device: torch.device, prefix: str = "val_") -> dict[str, Any]:
    labels = np.array([i.label for i in items], dtype=np.float64)
    probs = predict(model, items, spec, batch, device)
    return summarise(labels, probs, [i.source for i in items], prefix)


def selection_key(metrics: dict[str, Any], epoch: int) -> tuple[float, float]:
    """Which epoch is best: higher validation AUROC (to 4 decimals), then lower validation loss.

    AUROC near 1 saturates, so the loss breaks ties; without validation data or with one class
    only, the loss alone decides (and without any, the latest epoch wins).
    """
    auc = metrics.get("val_auroc")
    loss = metrics.get("val_loss")
    return (round(float(auc), 4) if auc is not None else -1.0,
            -float(loss) if loss is not None else float(epoch))
