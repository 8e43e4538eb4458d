"""The ``graffiti data synth`` command (registered in ``data/cli.py``); typer and stdlib only at import."""

from __future__ import annotations

from pathlib import Path

import typer


def synth_command(
    out: Path = typer.Option(..., "--out", help="Folder to write: graffiti/*.jpg, clean/*.jpg and manifest.csv."),
    n: int = typer.Option(..., "--n", help="Number of images."),
    seed: int = typer.Option(0, "--seed", help="Dataset seed; the same seed and options give the same bytes."),
    size: int = typer.Option(320, "--size", help="Image side in pixels (an edge tile is 320 frame pixels)."),
    graffiti_fraction: float = typer.Option(0.5, "--graffiti-fraction", help="Share of images with graffiti."),
    only_negatives: bool = typer.Option(
        False, "--only-negatives",
        help="Every image clean, each showing one or two chosen hard negatives (a hard-negatives set)."),
    hard_negatives: bool = typer.Option(
        False, "--hard-negatives",
        help="Also mix the hard negatives the edge meets (parked bikes, close people and cyclists in lettered "
             "clothes, pipes, cables, tile panels, plaster, the IR look) into a share of the scenes. Off, a seed "
             "renders what it did before they existed (the shipped model's recipe and held-out sets)."),
    kinds: str = typer.Option(
        None, "--kinds",
        help="With --only-negatives: comma-separated kinds, e.g. bike,close-person,pipe,ir (default: the hard "
             "negatives the edge meets; see docs/synthetic.md)."),
) -> None:
    """Render synthetic CCTV views of pedestrian tunnels, clean or with graffiti, as a labelled dataset.

    Example: graffiti data synth --out data/synth-2k --n 2000 --seed 1

    With the hard negatives mixed in: graffiti data synth --out data/synth-hard --n 2000 --seed 1 --hard-negatives

    Hard negatives only: graffiti data synth --out data/negs --n 500 --seed 9101 --only-negatives --kinds bike,pipe,ir
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from detector.data.synth.dataset import check_synth_args, make_out_dir, parse_kinds, write_synth_dataset
    from detector.errors import ConfigError

    check_synth_args(n, seed, size, graffiti_fraction)
    if kinds is not None and not only_negatives:
        raise ConfigError("--kinds needs --only-negatives (it chooses the kinds of a hard-negatives set)")
    if hard_negatives and only_negatives:
        raise ConfigError("--hard-negatives and --only-negatives: choose one (--only-negatives already shows only them)")
    chosen = parse_kinds(kinds) if only_negatives else None
    make_out_dir(out)  # a bad --out fails before the progress bar
    with Progress(TextColumn("synth"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as bar:
        task = bar.add_task("synth", total=n)
        summary = write_synth_dataset(out, n, seed, size_px=size, graffiti_fraction=graffiti_fraction,
                                      on_image=lambda _i: bar.advance(task), only_negatives=chosen,
                                      hard_negatives=hard_negatives)
    kinds = ", ".join(f"{k} {v}" for k, v in summary.kinds.items())
    typer.echo(f"wrote {summary.n_graffiti} graffiti + {summary.n_clean} clean images "
               f"({summary.images_per_s:.1f} images/s) to {out}")
    typer.echo(f"kinds: {kinds}")
    typer.echo(f"manifest: {summary.manifest}")
