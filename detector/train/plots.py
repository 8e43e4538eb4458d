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


def short_name(name: str, keep: int = 17) -> str:
    """A file name cut in the middle to fit a sheet caption ('08ACAE21~8cd1f.jpg'); report.json has the path."""
    if len(name) <= keep:
        return name
    head = (keep - 1) // 2
    return f"{name[:head]}~{name[-(keep - 1 - head):]}"


def mistake_caption(score: float, flagged: bool, path: str | Path) -> str:
    """Caption of a worst-mistake cell: score, '!' when it crossed the threshold, and the file's name."""
    return f"{score:.3f}{'!' if flagged else ''} {short_name(Path(path).name)}"


def contact_sheet(
    paths: Sequence[Path], captions: Sequence[str], out: Path, cell_px: int = 160, columns: int = 6
) -> Path:
    """The project's contact sheet (:mod:`detector.data.contact`) of ``paths``; unreadable images
    show as grey cells so the caption still names them."""
    from detector.data.contact import contact_sheet as sheet
    from detector.data.contact import write_png
    from detector.preprocess import read_image

    items = []
    for p, text in zip(paths, captions, strict=True):
        img = read_image(str(p))
        items.append((img if img is not None else np.full((cell_px, cell_px, 3), 128, np.uint8), text))
    return write_png(out, sheet(items, cols=columns, cell_px=cell_px))
