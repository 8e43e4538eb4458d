"""Experiment tracking beside every run: TensorBoard event files by default, MLflow when asked for.

What is logged: the resolved config as hyper-parameters, each epoch's row of metrics.csv as
scalars, and a sheet of fixed validation images with their current scores (sample predictions),
so TensorBoard's image slider shows how the model's view of the same walls changes. The run folder
stays the source of truth (metrics.csv, summary.json); trackers are views of it. A tracker that is
not installed is one log line, never a failed run — except MLflow, which is only used when asked for
and then checked before the run starts. MLflow writes to ``$MLFLOW_TRACKING_URI`` when set, else
to ``RUN_DIR/mlflow.db`` (SQLite) with artifacts in ``RUN_DIR/mlruns``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detector.errors import ConfigError

TRACKERS = ("tensorboard", "mlflow")
SAMPLE_IMAGES = 8


def parse_track(text: str) -> tuple[str, ...]:
    """'tensorboard', 'tensorboard,mlflow', 'mlflow' or 'none' → the tracker names; ConfigError otherwise."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if names == ("none",):
        return ()
    bad = [n for n in names if n not in TRACKERS]
    if bad or not names:
        raise ConfigError(f"track: expected 'none' or a comma-separated list of {', '.join(TRACKERS)}, found {text!r}")
    return names


def check_available(text: str) -> None:
    """Fail before the run when MLflow is asked for but not installed (TensorBoard only warns)."""
    if "mlflow" in parse_track(text):
        try:
            import mlflow  # noqa: F401
        except ModuleNotFoundError:
            raise ConfigError("track: mlflow is not installed (pip install '.[mlflow]'), or use --track tensorboard") from None


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, list | tuple):
        out[prefix] = ",".join(str(v) for v in value)
    elif value is None:
        out[prefix] = ""
    else:
        out[prefix] = value


def flat_hparams(config: dict[str, Any]) -> dict[str, Any]:
    """Nested config → flat {dotted.key: scalar} (lists joined by commas), as trackers want them."""
    out: dict[str, Any] = {}
    _flat("", config, out)
    return out


class Tracker:
    """Fan-out to the configured trackers; every method is a no-op when none is open."""

    def __init__(self, run_dir: Path, names: Sequence[str], config: dict[str, Any], log: Any,
                 samples: Sequence[Any] = (), spec: Any = None, resumed: bool = False) -> None:
        self.run_dir = run_dir
        self.log = log
        self.tb: Any = None
        self.mlflow: Any = None
        self.samples = list(samples)
        self.spec = spec
        hparams = flat_hparams(config)
        if "tensorboard" in names:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(log_dir=str(run_dir / "tensorboard"))
                if not resumed:
                    self.tb.add_text("config", "\n".join(f"    {k}: {v}" for k, v in hparams.items()), 0)
            except ModuleNotFoundError:
                log("tracking: tensorboard is not installed (pip install tensorboard); no event files written")
        if "mlflow" in names:
            import os

            import mlflow

            # a tracking server when the user set one up, else a SQLite store + artifacts inside the run
            local = not os.environ.get("MLFLOW_TRACKING_URI")
            if local:
                mlflow.set_tracking_uri(f"sqlite:///{(run_dir / 'mlflow.db').resolve()}")
            client = mlflow.MlflowClient()
            exp = client.get_experiment_by_name("graffiti")
            exp_id = exp.experiment_id if exp is not None else client.create_experiment(
                "graffiti", artifact_location=(run_dir / "mlruns").resolve().as_uri() if local else None)
            mlflow.start_run(experiment_id=exp_id, run_name=run_dir.name)
            mlflow.log_params({k: str(v)[:250] for k, v in hparams.items()})
            self.mlflow = mlflow
        self.hparams = hparams

    def epoch(self, row: dict[str, Any], model: Any = None) -> None:
        """One epoch's scalars (and the sample sheet when a model is given)."""
        step = int(row["epoch"])
        scalars = {k: float(v) for k, v in row.items()
                   if k != "epoch" and isinstance(v, int | float) and math.isfinite(float(v))}
        if self.tb is not None:
            for key, value in scalars.items():
                self.tb.add_scalar(_tag(key), value, step)
            if model is not None and self.samples:
                self.tb.add_image("samples/validation", sample_sheet(model, self.samples, self.spec), step,
                                  dataformats="HWC")
            self.tb.flush()
        if self.mlflow is not None:
            self.mlflow.log_metrics({k.replace("@", "_at_"): v for k, v in scalars.items()}, step=step)

    def close(self, summary: dict[str, Any]) -> None:
        best = summary.get("best") or {}
        final = {f"hparam/{k}": float(v) for k, v in best.items()
                 if k.startswith("val_") and isinstance(v, int | float) and math.isfinite(float(v))}
        if self.tb is not None:
            if final:
                simple = {k: v for k, v in self.hparams.items() if isinstance(v, int | float | str | bool)}
                self.tb.add_hparams(simple, final, run_name=".")
            self.tb.close()
            self.tb = None
        if self.mlflow is not None:
            self.mlflow.log_metrics({k.split("/", 1)[1].replace("@", "_at_"): v for k, v in final.items()})
            self.mlflow.set_tag("stopped", str(summary.get("stopped")))
            for name in ("metrics.csv", "curves.png", "summary.json"):
                if (self.run_dir / name).is_file():
                    self.mlflow.log_artifact(str(self.run_dir / name))
            self.mlflow.end_run()
            self.mlflow = None


def _tag(key: str) -> str:
    """Group scalars in TensorBoard: train/loss, val/auroc, time/epoch_s ..."""
    if key.startswith("val_"):
        return "val/" + key[4:]
    if key.startswith("train_"):
        return "train/" + key[6:]
    if key.endswith("_s"):
        return "time/" + key
    return "train/" + key


def pick_samples(items: Sequence[Any], n: int = SAMPLE_IMAGES) -> list[Any]:
    """Up to n validation items, half of each class, spread over the split (the same every epoch)."""
    out: list[Any] = []
    for label in (1, 0):
        of = [it for it in items if it.label == label]
        if of:
            idx = np.linspace(0, len(of) - 1, min(n // 2, len(of))).round().astype(int)
            out.extend(of[i] for i in sorted(set(idx.tolist())))
    return out


def sample_sheet(model: Any, items: Sequence[Any], spec: Any, tile_px: int = 128) -> np.ndarray:
    """RGB uint8 grid: each image with its label and current P(graffiti) (green = right at 0.5)."""
    import cv2
    import torch

    from detector.preprocess import to_tensor_layout

    was = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        x = torch.from_numpy(np.stack([to_tensor_layout(it.image, spec) for it in items])).to(device)
        with torch.no_grad():
            probs = torch.sigmoid(model(x)).float().cpu().numpy()
    finally:
        model.train(was)
    tiles = []
    for it, p in zip(items, probs, strict=True):
        img = cv2.resize(it.image, (tile_px, tile_px), interpolation=cv2.INTER_AREA)
        right = (p >= 0.5) == bool(it.label)
        colour = (0, 170, 0) if right else (0, 0, 220)
        cv2.rectangle(img, (0, 0), (tile_px - 1, 17), colour, -1)
        text = f"{'graffiti' if it.label else 'clean'} {p:.2f}"
        cv2.putText(img, text, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(img)
    cols = 4
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)]
    return cv2.cvtColor(np.vstack(rows), cv2.COLOR_BGR2RGB)
