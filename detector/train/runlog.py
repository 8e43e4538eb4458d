"""What a run leaves in its folder besides checkpoints: metrics.csv, curves.png, train.log, summary."""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path
from typing import Any

METRIC_COLUMNS = ("epoch", "lr", "train_loss", "val_loss", "val_auroc", "val_ap", "val_recall_at_0.5",
                  "val_fpr_at_0.5", "epoch_s", "elapsed_s")


class RunLog:
    """Append-only text log mirrored to the console (rank 0 only writes)."""

    def __init__(self, run_dir: Path, console: Any, enabled: bool) -> None:
        self.path = run_dir / "train.log"
        self.console = console
        self.enabled = enabled

    def __call__(self, message: str) -> None:
        if not self.enabled:
            return
        stamp = time.strftime("%H:%M:%S")
        self.console.print(f"[dim]{stamp}[/dim] {message}", highlight=False)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(f"{stamp} {message}\n")


def write_metrics_csv(history: list[dict[str, Any]], path: Path) -> None:
    """Rewrite metrics.csv from the full history (so a resumed run never duplicates rows)."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=METRIC_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in history:
            writer.writerow({k: _fmt(row.get(k)) for k in METRIC_COLUMNS})


def _fmt(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def plot_curves(history: list[dict[str, Any]], path: Path) -> None:
    """Loss (train/val) and validation AUROC per epoch as a PNG (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]

    def series(key: str) -> list[float]:
        return [float(r[key]) if r.get(key) is not None else math.nan for r in history]

    fig, (ax_loss, ax_auc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, series("train_loss"), "o-", label="train")
    ax_loss.plot(epochs, series("val_loss"), "s-", label="validation")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("BCE loss")
    ax_loss.legend()
    ax_loss.grid(alpha=0.3)
    ax_auc.plot(epochs, series("val_auroc"), "o-", color="tab:green", label="AUROC")
    ax_auc.plot(epochs, series("val_ap"), "s--", color="tab:purple", label="average precision")
    ax_auc.set_xlabel("epoch")
    ax_auc.set_ylabel("validation")
    ax_auc.legend()
    ax_auc.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_json(data: dict[str, Any], path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


class LogProgress:
    """Progress for a log file (nohup): one line per 10% of each task instead of a live bar."""

    def __init__(self, log: Any) -> None:
        self.log = log
        self.tasks: dict[int, list[Any]] = {}

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def add_task(self, description: str, total: int) -> int:
        self.tasks[len(self.tasks)] = [description, max(total, 1), 0, 0]
        return len(self.tasks) - 1

    def advance(self, task: int, amount: float = 1) -> None:
        t = self.tasks[task]
        t[2] += amount
        step = int(10 * t[2] / t[1])
        if step > t[3]:
            t[3] = step
            self.log(f"  {t[0]}: {int(t[2])}/{t[1]}")

    def remove_task(self, task: int) -> None:
        self.tasks.pop(task, None)


def progress_for(console: Any, log: Any) -> Any:
    """A rich progress bar on a terminal; under nohup periodic log lines (or None without a log)."""
    if not console.is_terminal:
        return LogProgress(log) if log is not None else None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=True)
