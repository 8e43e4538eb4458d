"""``graffiti data ...``: inspect, split and synthesise datasets."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Dataset tools: inspect a dataset, make a group-aware split, render synthetic tunnel scenes.\n\n"
    "Example: graffiti data inspect ../shared/datasets/street-graffiti",
    no_args_is_help=True,
)
