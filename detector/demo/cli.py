"""``graffiti demo``: the README's main job in one command (typer + stdlib at import time)."""

from __future__ import annotations

from pathlib import Path

import typer


def demo_command(
    minutes: float = typer.Option(12.0, "--minutes", help="Tunnel time to simulate (5-60 minutes)."),
    seed: int = typer.Option(4, "--seed", help="Seed of the simulated tunnel, people and paint."),
    port: int = typer.Option(None, "--port", help="Port of the review page (default 8080, or a free one)."),
    data: Path = typer.Option(Path("demo-data"), "--data", help="Folder for the video, database and outbox (reused)."),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="Keep the review page running until Ctrl-C."),
    model: Path = typer.Option(None, "--model", help="ONNX model (default: the bundled models/graffiti-effnetlite0.onnx)."),
    fps: float = typer.Option(1.0, "--fps", help="Frame rate of the rendered video."),
) -> None:
    """Simulated tunnel → edge runner → review service over HTTP, events checked against ground truth.

    Renders a few minutes of a simulated tunnel camera (passers-by, a lighting change, someone painting
    a tag, a poster, a wet patch, a shadow, a cleaning crew), starts the review service on SQLite,
    runs the edge runner over the video delivering to it, prints each event and a summary, and leaves
    the review page running. Exits 2 when the demo shows a missed detection or a false alarm.

    Example: graffiti demo --minutes 12 --seed 4 --port 8080
    """
    from detector.demo.run import DemoOptions, run_demo

    run_demo(DemoOptions(data=data, minutes=minutes, seed=seed, port=port, model=model, fps=fps, serve=serve))
