"""``graffiti data ...``: inspect, split and synthesise datasets (the data subsystem's one CLI module).

Only typer and the standard library at module level: the work is imported inside each command.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from detector.data.sample import Sample

_SPEC_HELP = (
    "Dataset folder, manifest CSV or spec PATH[::format=...,label=...,name=...]; "
    "the format is detected (roboflow, manifest, imagefolder, folder)."
)


def _not_empty(samples: list[Sample], dataset: str) -> list[Sample]:
    """A dataset with no samples (e.g. a manifest with only its header) is a mistake worth one line."""
    from detector.errors import DatasetError

    if not samples:
        raise DatasetError(f"{dataset}: the dataset has no samples (a manifest with only its header line?)")
    return samples


def _check_out_outside(root: Path, out_dir: Path, fmt: str | None, label: str | None) -> None:
    """A report inside a folder-of-images dataset would be read as part of it next time (PNGs, a class)."""
    from detector.data.formats import detect_format
    from detector.errors import DatasetError

    if not root.is_dir() or (fmt or detect_format(root, label=label)) not in ("folder", "imagefolder"):
        return
    if out_dir.resolve().is_relative_to(root.resolve()):
        raise DatasetError(f"--out {out_dir}: is inside the dataset folder {root}, so its contact sheets would be "
                           "read as images next time; give an --out outside it")


def inspect_command(
    dataset: str = typer.Argument(..., help=_SPEC_HELP),
    label: str | None = typer.Option(None, "--label", help="Label of every image of a plain folder: clean or graffiti."),
    fmt: str | None = typer.Option(None, "--format", help="Override format detection: roboflow|manifest|imagefolder|folder."),
    out: Path | None = typer.Option(None, "--out", help="Report folder (default ./inspect-<name>)."),
    phash_bits: int = typer.Option(6, "--phash-bits", min=0, max=32,
                                   help="Near-duplicate threshold: max differing bits of the 64-bit pHash."),
    sheet_max: int = typer.Option(48, "--sheet-max", min=0,
                                  help="Thumbnails per label in the contact sheets (0 = all, several pages)."),
) -> None:
    """Count labels, kinds, sources and groups; find unreadable files and (near-)duplicates; draw contact sheets.

    Example: graffiti data inspect ../shared/datasets/street-graffiti --out reports/street-graffiti
    """
    from detector.data.formats import load_dataset, parse_dataset_spec
    from detector.data.inspect import inspect_dataset, print_report

    spec = parse_dataset_spec(dataset)
    samples = _not_empty(load_dataset(spec, label=label, fmt=fmt), dataset)
    name = spec.source_name
    out_dir = out or Path(f"inspect-{name}")
    _check_out_outside(spec.path, out_dir, fmt or spec.format, label or spec.label)
    report = inspect_dataset(samples, name=name, out_dir=out_dir, phash_max_distance_bits=phash_bits,
                             sheet_max=sheet_max)
    print_report(report)
    typer.echo(f"report: {out_dir / 'report.json'}")


def split_command(
    dataset: str = typer.Argument(..., help=_SPEC_HELP),
    out: Path = typer.Option(..., "--out", help="Manifest CSV to write, with a split column."),
    val: float = typer.Option(0.2, "--val", help="Fraction of images for validation."),
    test: float = typer.Option(0.0, "--test", help="Fraction of images for the test split."),
    seed: int = typer.Option(0, "--seed", help="Shuffle seed; the same seed gives the same split."),
    label: str | None = typer.Option(None, "--label", help="Label of every image of a plain folder: clean or graffiti."),
    fmt: str | None = typer.Option(None, "--format", help="Override format detection: roboflow|manifest|imagefolder|folder."),
) -> None:
    """Group-aware, stratified, deterministic split into train/val/test, written as a manifest CSV.

    Example: graffiti data split ../shared/datasets/street-graffiti --val 0.2 --seed 0 --out data/street-split.csv
    """
    from rich.console import Console
    from rich.table import Table

    from detector.data.formats import load_dataset, write_manifest
    from detector.data.split import SPLITS, group_split, split_counts

    samples = group_split(_not_empty(load_dataset(dataset, label=label, fmt=fmt), dataset), val, test, seed)
    write_manifest(samples, out)
    counts = split_counts(samples)
    table = Table(title=f"{len(samples)} images, seed {seed}")
    for col in ("split", "clean", "graffiti", "images", "share", "groups"):
        table.add_column(col, justify="left" if col == "split" else "right")
    for split in SPLITS:
        if split not in counts.images:
            continue
        row = counts.images[split]
        n = row["clean"] + row["graffiti"]
        table.add_row(split, str(row["clean"]), str(row["graffiti"]), str(n), f"{n / len(samples):.1%}",
                      str(counts.groups.get(split, 0)))
    Console().print(table)
    typer.echo(f"groups on more than one side: {counts.groups_on_several_sides}")
    typer.echo(f"wrote {out}")
    n_groups = len({s.group for s in samples})
    for side, fraction in (("train", 1.0 - val - test), ("val", val), ("test", test)):
        if fraction > 0 and side not in counts.images:
            typer.echo(f"warning: the {side} split is empty: {n_groups} groups are too few for "
                       f"--val {val:g} --test {test:g}", err=True)



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


def paste_command(
    wall: list[str] = typer.Option(..., "--wall", help="Clean photos to show as camera views (walls). " + _SPEC_HELP
                                   + " Repeatable."),
    paint: list[str] = typer.Option(..., "--paint", help="Graffiti images whose crops are pasted as paint, e.g. the "
                                    "tiles of `graffiti data mine --label graffiti`. Repeatable."),
    patch: list[str] = typer.Option(None, "--patch", help="Clean images whose crops are pasted as clean patches "
                                    "(posters, signs, another facade); default: the walls. Repeatable."),
    out: Path = typer.Option(..., "--out", help="Folder to write: graffiti/*.jpg, clean/*.jpg, manifest.csv and "
                                                "pasted.png."),
    n: int = typer.Option(2000, "--n", min=1, help="Windows to write, half with paint, half with a clean patch."),
    seed: int = typer.Option(0, "--seed", help="The same seed and inputs give the same windows."),
    split: list[str] = typer.Option(["train"], "--split",
                                    help="Use the images of this split (repeatable). Using val/test photos would "
                                         "leak them into training."),
) -> None:
    """Real paint on real walls at the edge's tile scale: paste crops of graffiti images onto clean photos shown
    as camera views and cut a tile-sized window over each; as many windows get a crop of another clean photo
    instead, so the paste itself carries no label. Only train-split images are used by default.

    Example: graffiti data paste --wall runs/default-data/street-graffiti.csv --wall runs/default-data/facades-spb.csv
    --paint runs/mined-pos-v3/manifest.csv --out runs/paste --n 2000

    Then train with it: add runs/paste/manifest.csv to the training data.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from detector.data.formats import load_dataset
    from detector.data.paste import paste_dataset, paste_pools
    from detector.errors import ConfigError

    bad = sorted(set(split) - {"train", "val", "test"})
    if bad:
        raise ConfigError(f"--split {bad[0]}: expected train, val or test")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {out}: exists and is not an empty folder; give a new folder")
    walls = [s for spec in wall for s in _not_empty(load_dataset(spec), spec)]
    paints = [s for spec in paint for s in _not_empty(load_dataset(spec), spec)]
    patches = [s for spec in patch for s in _not_empty(load_dataset(spec), spec)] if patch else walls
    paste_pools(walls, paints, patches, split)  # a missing label or split fails before the progress bar
    with Progress(TextColumn("paste"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as bar:
        task = bar.add_task("paste", total=n)
        summary = paste_dataset(walls, paints, patches, out, n=n, seed=seed, splits=split, progress=False,
                                on_written=lambda k: bar.update(task, completed=k))
    for path in summary.unreadable:
        typer.echo(f"skipped unreadable image: {path}", err=True)
    typer.echo(f"wrote {summary.made['graffiti']} graffiti + {summary.made['clean']} clean windows over "
               f"{summary.walls} walls to {out}")
    if summary.invisible:
        typer.echo(f"dropped {summary.invisible} windows where the paste hardly showed (blended into its wall)")
    typer.echo("masks: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.masks.items()))
               + "; blends: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.blends.items())))
    typer.echo(f"manifest: {summary.manifest}")
    if summary.sheet is not None:
        typer.echo(f"contact sheet: {summary.sheet}")


app = typer.Typer(
    help="Dataset tools: inspect a dataset, make a group-aware split, render synthetic tunnel scenes, paste real "
    "paint onto real walls, mine hard negatives.\n\n"
    "Example: graffiti data inspect ../shared/datasets/street-graffiti",
    no_args_is_help=True,
)
app.command("inspect")(inspect_command)
app.command("split")(split_command)

app.command("synth")(synth_command)
app.command("paste")(paste_command)
# `graffiti data mine` scores with a model: it lives in detector.train.cli and is attached by detector/cli.py
# (the data subsystem imports nothing of training).
