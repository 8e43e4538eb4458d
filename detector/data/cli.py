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


app = typer.Typer(
    help="Dataset tools: inspect a dataset, make a group-aware split, render synthetic tunnel scenes.\n\n"
    "Example: graffiti data inspect ../shared/datasets/street-graffiti",
    no_args_is_help=True,
)
app.command("inspect")(inspect_command)
app.command("split")(split_command)

from detector.data.synth.command import synth_command  # noqa: E402  (typer + stdlib only)

app.command("synth")(synth_command)
