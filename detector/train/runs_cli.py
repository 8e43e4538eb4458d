"""``graffiti runs ...``: look at training run folders (imports only typer at module level)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Training runs: compare run folders side by side.\n\nExample: graffiti runs compare runs/*",
                  no_args_is_help=True)


@app.command("compare")
def compare_command(
    runs: list[Path] = typer.Argument(..., help="Run folders (each holds config.yaml, summary.json, metrics.csv)."),
    out: Path = typer.Option(Path("runs/compare"), "--out", "-o",
                             help="Folder for compare.png, compare.csv and compare.json."),
) -> None:
    """Print the runs side by side (the config keys that differ, best validation figures, speed) and plot them.

    Example: graffiti runs compare runs/*
    """
    from detector.train.runs_compare import compare_runs, format_table

    result = compare_runs(runs, out)
    if result.skipped:
        typer.echo("skipped (not run folders): " + ", ".join(str(p) for p in result.skipped))
    if result.varied:
        typer.echo("differing settings: " + ", ".join(result.varied))
    else:
        typer.echo("all runs have the same settings")
    typer.echo(format_table(result.rows))
    typer.echo(f"wrote {result.files['png']} and {result.files['csv']}")
