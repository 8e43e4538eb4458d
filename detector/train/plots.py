"""Evaluation figures as PNG files: PR and ROC curves, confusion matrix, reliability diagram,
and contact sheets of the worst mistakes (so a student sees *what* the model gets wrong)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detector.train import metrics as m


def _pyplot() -> Any:
    from detector.errors import require

    mpl: Any = require("matplotlib", "train")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)
    return path


def plot_roc(labels: np.ndarray, scores: np.ndarray, threshold: float, path: Path, title: str = "") -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    if len(set(labels.tolist())) == 2:
        roc = m.roc_curve(labels, scores)
        ax.plot(roc.x, roc.y, lw=2, label=f"AUROC {m.auroc(labels, scores):.4f}")
        c = m.confusion_at(labels, scores, threshold)
        ax.scatter([c.fpr], [c.recall], color="red", zorder=3, label=f"threshold {threshold:.3f}")
        ax.legend(loc="lower right")
    else:
        ax.text(0.5, 0.5, "ROC needs both classes", ha="center")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    ax.set(xlabel="false-positive rate (clean flagged)", ylabel="recall (graffiti found)",
           xlim=(0, 1), ylim=(0, 1.01), title=title or "ROC")
    return _save(fig, path)


def plot_pr(labels: np.ndarray, scores: np.ndarray, threshold: float, path: Path, title: str = "") -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    if labels.sum() > 0:
        pr = m.pr_curve(labels, scores)
        ax.step(pr.x, pr.y, where="post", lw=2, label=f"AP {m.average_precision(labels, scores):.4f}")
        c = m.confusion_at(labels, scores, threshold)
        if c.precision is not None:
            ax.scatter([c.recall], [c.precision], color="red", zorder=3, label=f"threshold {threshold:.3f}")
        ax.axhline(labels.mean(), ls="--", color="grey", lw=1, label="graffiti share")
        ax.legend(loc="lower left")
    else:
        ax.text(0.5, 0.5, "PR needs graffiti images", ha="center")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.01), title=title or "precision-recall")
    return _save(fig, path)


def plot_confusion(confusion: m.Confusion, path: Path) -> Path:
    plt = _pyplot()
    grid = np.array([[confusion.tn, confusion.fp], [confusion.fn, confusion.tp]])
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(grid, cmap="Blues")
    for (i, j), v in np.ndenumerate(grid):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=14,
                color="white" if v > grid.max() / 2 else "black")
    ax.set_xticks([0, 1], ["clean", "graffiti"])
    ax.set_yticks([0, 1], ["clean", "graffiti"])
    ax.set(xlabel="predicted", ylabel="true", title=f"threshold {confusion.threshold:.3f}")
    return _save(fig, path)


def plot_calibration(labels: np.ndarray, scores: np.ndarray, path: Path) -> Path:
    plt = _pyplot()
    bins = m.reliability_bins(labels, scores)
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(5, 6), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    if bins:
        ax.plot([b.mean_score for b in bins], [b.fraction_graffiti for b in bins], marker="o", lw=2)
    ece = m.expected_calibration_error(labels, scores)
    ax.set(ylabel="fraction graffiti", ylim=(0, 1.01), title=f"reliability (ECE {ece or 0:.4f})")
    hist.hist([scores[labels == 0], scores[labels == 1]], bins=20, range=(0, 1), stacked=True,
              label=["clean", "graffiti"], color=["tab:green", "tab:red"])
    hist.set(xlabel="score", ylabel="images", xlim=(0, 1))
    hist.legend(fontsize=8)
    return _save(fig, path)


def contact_sheet(
    paths: Sequence[Path], captions: Sequence[str], out: Path, tile_px: int = 160, columns: int = 6
) -> Path:
    """A grid of thumbnails with a caption each; unreadable images show as grey tiles."""
    import cv2

    from detector.preprocess import read_image

    n = max(len(paths), 1)
    cols = min(columns, n)
    rows = (n + cols - 1) // cols
    caption_px = 18
    sheet = np.full((rows * (tile_px + caption_px), cols * tile_px, 3), 255, dtype=np.uint8)
    for i, (p, text) in enumerate(zip(paths, captions, strict=True)):
        r, c = divmod(i, cols)
        img = read_image(str(p))
        if img is None:
            thumb = np.full((tile_px, tile_px, 3), 128, dtype=np.uint8)
        else:
            h, w = img.shape[:2]
            scale = tile_px / max(h, w)
            img = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
            thumb = np.full((tile_px, tile_px, 3), 255, dtype=np.uint8)
            y0, x0 = (tile_px - img.shape[0]) // 2, (tile_px - img.shape[1]) // 2
            thumb[y0:y0 + img.shape[0], x0:x0 + img.shape[1]] = img
        y, x = r * (tile_px + caption_px), c * tile_px
        sheet[y:y + tile_px, x:x + tile_px] = thumb
        cv2.putText(sheet, text[:24], (x + 3, y + tile_px + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1,
                    cv2.LINE_AA)
    if not paths:
        cv2.putText(sheet, "none", (10, tile_px // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), sheet):
        from detector.errors import DetectorError

        raise DetectorError(f"{out}: cannot write image")
    return out
