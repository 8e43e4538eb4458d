"""``graffiti train``: fine-tune the graffiti classifier (imports only typer at module level)."""

from __future__ import annotations

from pathlib import Path

import typer


def train_command(
    data: list[str] = typer.Option(None, "--data", "-d", metavar="SPEC",
                                   help="Dataset PATH[::key=value,...] (format, label, weight, name); repeat for a mix."),
    arch: str = typer.Option(None, help="efficientnet_lite0 (default), mobilenet_v3_small, mobilenet_v3_large, "
                             "torchvision:<name> or timm:<name> (e.g. torchvision:resnet18, timm:mobilenetv3_small_100)."),
    weights: str = typer.Option(None, help="'imagenet' (the arch's default file on disk), 'hub' (download it; needs "
                                "internet), a state_dict file (.pth/.safetensors), or 'none'."),
    init_from: Path = typer.Option(None, "--from", metavar="CHECKPOINT", help="Continue from one of our checkpoints (.pt)."),
    resume: Path = typer.Option(None, metavar="RUN_DIR", help="Resume an interrupted run from RUN_DIR/last.pt."),
    out: Path = typer.Option(None, metavar="RUN_DIR", help="Run folder to create (default runs/train)."),
    config: Path = typer.Option(None, metavar="YAML", help="Config file; flags override it. A run's config.yaml works."),
    epochs: int = typer.Option(None, help="Maximum number of epochs (default 12)."),
    batch_size: int = typer.Option(None, help="Images per step (per process under torchrun; default 32)."),
    lr: float = typer.Option(None, help="Peak AdamW learning rate (default 3e-4)."),
    seed: int = typer.Option(None, help="Seed for split, sampling, augmentation and init (default 0)."),
    max_minutes: float = typer.Option(None, help="Time box: stop after the epoch when another would not fit."),
    workers: int = typer.Option(None, help="DataLoader worker processes (default 0 = in the main process)."),
    device: str = typer.Option(None, help="cpu, cuda or auto (default)."),
    freeze_blocks: int = typer.Option(None, help="Keep the stem and this many first blocks frozen (default 0)."),
    cached_views: int = typer.Option(None, help="With --freeze-blocks: cache this many augmented views per image "
                                     "through the frozen layers and train the rest on them (fast on CPU)."),
    input_px: int = typer.Option(None, help="Model input side in pixels (default 224)."),
    val_fraction: float = typer.Option(None, help="Share of groups for validation when the data has no split (0.15)."),
    test_fraction: float = typer.Option(None, help="Share of groups held out as a test split (default 0)."),
    samples_per_epoch: int = typer.Option(None, help="Images drawn per epoch (default: the training set size)."),
    threads: int = typer.Option(None, help="torch CPU threads (default: torch's choice)."),
    fraction: float = typer.Option(None, help="Quick run: keep about this share of the images (whole groups, every "
                                   "split and class), e.g. 0.1."),
    max_images: int = typer.Option(None, help="Quick run: at most this many images (whole groups)."),
    track: str = typer.Option(None, help="Experiment trackers: tensorboard (default; event files in RUN_DIR/tensorboard), "
                              "mlflow (RUN_DIR/mlruns), 'tensorboard,mlflow' or none."),
) -> None:
    """Fine-tune the classifier on one or more datasets and write a run folder.

    Writes config.yaml, data_manifest.csv (the split), metrics.csv, curves.png, train.log, summary.json, best.pt, last.pt
    and tensorboard/ (view with: tensorboard --logdir runs). Compare runs with: graffiti runs compare runs/*

    Under `torchrun --nproc_per_node N -m detector train ...` it trains with DistributedDataParallel.

    Example: graffiti train --data ../shared/datasets/street-graffiti --data ../shared/datasets/facades-spb::label=clean,weight=2 --epochs 10 --out runs/my-model
    """
    from rich.console import Console

    from detector.errors import require

    require("torch", "train")
    from detector.train.run import train_main

    overrides = {
        "data": list(data) if data else None, "arch": arch, "weights": weights,
        "init_from": str(init_from) if init_from else None, "out": str(out) if out else None,
        "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "max_minutes": max_minutes,
        "workers": workers, "device": device, "freeze_blocks": freeze_blocks, "cached_views": cached_views, "input_px": input_px,
        "val_fraction": val_fraction, "test_fraction": test_fraction, "samples_per_epoch": samples_per_epoch,
        "threads": threads, "track": track, "fraction": fraction, "max_images": max_images,
    }
    console = Console(soft_wrap=True)
    result = train_main(config, overrides, resume, console)
    if result.best_metrics or result.epochs_done:
        typer.echo(f"best checkpoint: {result.best_path}")
    if result.stopped == "interrupted":
        from detector.train.interrupt import EXIT_CODE

        raise typer.Exit(EXIT_CODE)
