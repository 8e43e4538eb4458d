"""``graffiti data ...``: inspect, split and synthesise datasets."""

from __future__ import annotations

import typer

from detector.data.commands import inspect_command, split_command

app = typer.Typer(
    help="Dataset tools: inspect a dataset, make a group-aware split, render synthetic tunnel scenes.\n\n"
    "Example: graffiti data inspect ../shared/datasets/street-graffiti",
    no_args_is_help=True,
)

# inspect / split live in detector/data/commands.py (typer + stdlib only at import time).

app.command("inspect")(inspect_command)
app.command("split")(split_command)

from detector.data.synth.command import synth_command  # noqa: E402  (typer + stdlib only)

app.command("synth")(synth_command)
