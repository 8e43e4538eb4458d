"""``graffiti runs compare``: training runs side by side — what differs, how well, how fast.

Reads only what every run folder already holds (config.yaml, summary.json, metrics.csv), so it
needs no torch and works on runs copied from another machine. Prints one table (the config keys
that differ between the runs, then best validation figures and speed) and writes a PNG with the
validation AUROC and loss per epoch of every run, plus a CSV/JSON of the table.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detector.errors import DatasetError

# Best-epoch figures shown for every run (key in summary.json's "best" → column title).
FIGURES = (("val_auroc", "val AUROC"), ("val_ap", "val AP"), ("val_recall_at_0.5", "recall@0.5"),
           ("val_fpr_at_0.5", "FPR@0.5"), ("val_loss", "val loss"))
# Config keys never worth a column (they differ between any two runs, or say nothing about the model).
IGNORED_KEYS = {"out", "workers", "device", "threads", "track", "init_from"}


@dataclass
class RunInfo:
    """One run folder as read from disk."""

    path: Path
    config: dict[str, Any]
    summary: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


def read_run(path: Path) -> RunInfo:
    """A run folder; DatasetError naming the folder when it is not one."""
    import yaml

    path = Path(path)
    cfg_path, summary_path, metrics_path = path / "config.yaml", path / "summary.json", path / "metrics.csv"
    if not path.is_dir() or not cfg_path.is_file():
        raise DatasetError(f"{path}: not a training run folder (no config.yaml)")
    config: dict[str, Any] = {}
    _flat("", yaml.safe_load(cfg_path.read_text(encoding="utf-8")) or {}, config)
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
    history: list[dict[str, float]] = []
    if metrics_path.is_file():
        with open(metrics_path, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                history.append({k: float(v) if v not in ("", None) else math.nan for k, v in row.items()})
    return RunInfo(path=path, config=config, summary=summary, history=history)


_METRIC_TITLES = {title for _, title in FIGURES} | {"test AUROC"}
_TIME_TITLES = {"s/epoch", "minutes"}


def _fmt(value: Any, column: str = "") -> str:
    """Metrics to 4 decimals, times to 1, settings as written in the config."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and column in _METRIC_TITLES:
        return f"{value:.4f}"
    if isinstance(value, float) and column in _TIME_TITLES:
        return f"{value:.1f}"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def differing_keys(runs: Sequence[RunInfo]) -> list[str]:
    """Config keys whose values are not the same in every run (the experiment's variables)."""
    keys = sorted({k for r in runs for k in r.config} - IGNORED_KEYS)
    return [k for k in keys if len({json.dumps(r.config.get(k), sort_keys=True) for r in runs}) > 1]


def run_row(run: RunInfo, keys: Sequence[str]) -> dict[str, Any]:
    best = run.summary.get("best") or {}
    epoch_s = [h["epoch_s"] for h in run.history if not math.isnan(h.get("epoch_s", math.nan))]
    row: dict[str, Any] = {"run": run.name}
    row.update({k: run.config.get(k) for k in keys})
    row.update({title: best.get(key) for key, title in FIGURES})
    test = run.summary.get("test") or {}
    row["test AUROC"] = test.get("test_auroc")
    row["best epoch"] = run.summary.get("best_epoch")
    row["epochs"] = run.summary.get("epochs_done", len(run.history))
    row["stopped"] = run.summary.get("stopped", "running?")
    row["s/epoch"] = sum(epoch_s) / len(epoch_s) if epoch_s else None
    row["minutes"] = run.summary["elapsed_s"] / 60 if run.summary.get("elapsed_s") is not None else None
    return row


@dataclass
class Comparison:
    rows: list[dict[str, Any]]
    varied: list[str]
    files: dict[str, Path]
    skipped: list[Path] = field(default_factory=list)


def compare_runs(paths: Sequence[Path], out_dir: Path | None = None) -> Comparison:
    """Read the runs, write compare.png/compare.csv/compare.json into ``out_dir``, return the table."""
    runs: list[RunInfo] = []
    skipped: list[Path] = []
    for p in paths:  # a glob like runs/* also matches folders that are not runs (runs/compare): skip them
        if Path(p).is_dir() and (Path(p) / "config.yaml").is_file():
            runs.append(read_run(Path(p)))
        else:
            skipped.append(Path(p))
    if not runs:
        if len(paths) == 1:
            read_run(Path(paths[0]))  # raises with the reason
        raise DatasetError(f"{', '.join(str(p) for p in paths) or '(none)'}: no training run folders to compare "
                           "(a run folder holds config.yaml)")
    varied = differing_keys(runs)
    rows = [run_row(r, varied) for r in runs]
    files: dict[str, Path] = {}
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        files["png"] = plot_runs(runs, out_dir / "compare.png")
        with open(out_dir / "compare.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows({k: _fmt(v, k) for k, v in r.items()} for r in rows)
        files["csv"] = out_dir / "compare.csv"
        (out_dir / "compare.json").write_text(json.dumps({"varied": varied, "runs": rows}, indent=2, default=str) + "\n",
                                              encoding="utf-8")
        files["json"] = out_dir / "compare.json"
    return Comparison(rows=rows, varied=varied, files=files, skipped=skipped)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A plain aligned text table (the first row's keys are the columns)."""
    cols = list(rows[0])
    cells = [[_fmt(r.get(c), c) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(out)


def plot_runs(runs: Sequence[RunInfo], path: Path) -> Path:
    """Validation AUROC and loss per epoch of every run, one colour per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_auc, ax_loss, ax_speed) = plt.subplots(1, 3, figsize=(15, 4.5))
    for run in runs:
        epochs = [h.get("epoch", math.nan) for h in run.history]
        ax_auc.plot(epochs, [h.get("val_auroc", math.nan) for h in run.history], "o-", label=run.name)
        ax_loss.plot(epochs, [h.get("val_loss", math.nan) for h in run.history], "s-", label=run.name)
        ax_speed.plot([h.get("elapsed_s", math.nan) / 60 for h in run.history],
                      [h.get("val_auroc", math.nan) for h in run.history], "o-", label=run.name)
    ax_auc.set(xlabel="epoch", ylabel="validation AUROC", title="validation AUROC")
    ax_loss.set(xlabel="epoch", ylabel="validation BCE loss", title="validation loss")
    ax_speed.set(xlabel="minutes of training", ylabel="validation AUROC", title="AUROC against time")
    for ax in (ax_auc, ax_loss, ax_speed):
        ax.grid(alpha=0.3)
    ax_auc.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
