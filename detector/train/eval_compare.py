"""``graffiti eval A.onnx B.onnx ...``: several models on the same images, one comparison report.

Each model gets its own full report folder (``OUT/<model>/report.json`` and figures, exactly as a
single ``graffiti eval``); ``OUT/comparison.json``, ``OUT/comparison.md`` and ``OUT/roc.png`` put
them side by side. Besides each model's figures at its own threshold, the table gives recall at a
common false-positive rate read off each model's ROC curve, so models whose thresholds were
chosen differently are still compared on equal terms.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detector.errors import ConfigError
from detector.train import metrics as m

COMMON_FPR = 0.02


@dataclass
class ComparedModels:
    rows: list[dict[str, Any]]
    out_dir: Path
    files: dict[str, Path]


def _scores(report_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(report_dir / "scores.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return (np.array([r["label"] == "graffiti" for r in rows], dtype=np.float64),
            np.array([float(r["score"]) for r in rows], dtype=np.float64))


def recall_at_fpr(labels: np.ndarray, scores: np.ndarray, fpr: float) -> float | None:
    """The best recall with false-positive rate <= ``fpr`` (None without both classes)."""
    try:
        roc = m.roc_curve(labels, scores)
    except ValueError:
        return None
    ok = roc.x <= fpr + 1e-12
    return float(roc.y[ok].max()) if ok.any() else 0.0


def _unique_names(models: Sequence[Path]) -> list[str]:
    names: list[str] = []
    for p in models:
        base, name, i = Path(p).stem, Path(p).stem, 2
        while name in names:
            name, i = f"{base}-{i}", i + 1
        names.append(name)
    return names


def compare_models(models: Sequence[Path], data: Sequence[str], *, out_dir: Path | None = None,
                   common_fpr: float = COMMON_FPR, **eval_kwargs: Any) -> ComparedModels:
    """Evaluate every model on the same data (see :func:`detector.train.evaluation.evaluate`)."""
    from detector.train.evaluation import evaluate

    if not data:
        raise ConfigError("--data: comparing several models needs the same images for all of them; give --data DATASET "
                          "(e.g. a committed split: --data models/splits/graffiti-effnetlite0/street-graffiti.csv --split val)")
    if not 0.0 < common_fpr < 1.0:
        raise ConfigError(f"--common-fpr: expected a rate in (0, 1), found {common_fpr}")
    out = Path(out_dir) if out_dir is not None else Path("eval") / "compare"
    rows: list[dict[str, Any]] = []
    curves: list[tuple[str, np.ndarray, np.ndarray]] = []
    for model, name in zip(models, _unique_names(models), strict=True):
        result = evaluate(model, data, out_dir=out / name, **eval_kwargs)
        rep = result.report
        y, s = _scores(result.out_dir)
        curves.append((name, y, s))
        met = rep["metrics"]
        info = rep["model"]
        scored = max(1, rep["counts"]["scored"])
        rows.append({
            "model": name, "path": str(model), "arch": info.get("arch"), "quantization": info.get("quantization"),
            "input_px": (info.get("input_size") or [None])[0], "images": rep["counts"]["scored"],
            "auroc": met.get("auroc"), "ap": met.get("average_precision"), "threshold": rep["threshold"],
            "recall": met.get("recall"), "fpr": met.get("fpr"), "precision": met.get("precision"),
            f"recall@fpr{common_fpr:g}": recall_at_fpr(y, s, common_fpr),
            "ms_per_image": round(1000.0 * rep["elapsed_s"] / scored, 2),
            "size_mb": round(Path(model).stat().st_size / 1e6, 2),
            "leak_warning": (rep.get("leak_guard") or {}).get("warning"),
            "report": str(result.out_dir / "report.json"),
        })
    files = {"json": out / "comparison.json", "md": out / "comparison.md", "roc": out / "roc.png"}
    files["json"].write_text(json.dumps({"data": list(data), "common_fpr": common_fpr, "models": rows}, indent=2,
                                        default=str) + "\n", encoding="utf-8")
    files["md"].write_text(markdown_table(rows) + "\n", encoding="utf-8")
    plot_rocs(curves, common_fpr, files["roc"])
    return ComparedModels(rows=rows, out_dir=out, files=files)


def _fmt(v: Any, column: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.1f}" if column in ("ms_per_image", "size_mb") else f"{v:.4f}"
    return str(v)


TABLE_COLUMNS = ("model", "arch", "quantization", "input_px", "images", "auroc", "ap", "threshold", "recall", "fpr")


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    extra = [k for k in rows[0] if k.startswith("recall@")] + ["ms_per_image", "size_mb"]
    cols = [*TABLE_COLUMNS, *extra]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r.get(c), c) for c in cols) + " |" for r in rows]
    warnings = [f"- {r['model']}: {r['leak_warning']}" for r in rows if r.get("leak_warning")]
    if warnings:
        lines += ["", "Leak warnings:", *warnings]
    return "\n".join(lines)


def plot_rocs(curves: Sequence[tuple[str, np.ndarray, np.ndarray]], common_fpr: float, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    for name, y, s in curves:
        try:
            roc = m.roc_curve(y, s)
        except ValueError:
            continue
        ax.step(roc.x, roc.y, where="post", label=f"{name} (AUROC {m.auroc(y, s):.4f})")
    ax.axvline(common_fpr, ls="--", color="grey", lw=1, label=f"FPR {common_fpr:g}")
    ax.set(xlabel="false-positive rate", ylabel="recall", xlim=(0, 1), ylim=(0, 1.01), title="ROC, same images")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
