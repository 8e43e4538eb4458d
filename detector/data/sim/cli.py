"""``graffiti sim ...``: simulated tunnel camera streams (typer + stdlib only at import time)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="Simulated tunnel CCTV streams with scripted graffiti incidents and a ground-truth timeline.\n\n"
    "Example: graffiti sim video --out tunnel.mp4 --minutes 5 --seed 1",
    no_args_is_help=True,
)


@app.command("video")
def video_command(
    out: Path = typer.Option(..., "--out", help="Video to write (.mp4 or .avi); the timeline goes to the same name .json."),
    minutes: float = typer.Option(..., "--minutes", help="Length of the stream in minutes."),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed and options give the same frames and timeline."),
    size: str = typer.Option("1280x720", "--size", help="Frame size WIDTHxHEIGHT."),
    fps: float = typer.Option(10.0, "--fps", help="Frames per second."),
    script: str = typer.Option("default", "--script", help="default (any length), day (24 h compressed into --minutes), quiet."),
) -> None:
    """Render a fixed-camera tunnel stream: lighting over a day, passers-by, a tag painted and later cleaned.

    Example: graffiti sim video --out tunnel.mp4 --minutes 5 --seed 1 --fps 10
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from detector.data.sim.stream import TunnelStream, check_stream_args
    from detector.data.sim.video import check_video_path, parse_size, write_video

    check_video_path(out)
    wh = parse_size(size)
    check_stream_args(minutes * 60.0, fps, wh, script, seed)
    stream = TunnelStream(seed, minutes * 60.0, fps, wh, script=script)
    with Progress(TextColumn("frames"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as bar:
        task = bar.add_task("video", total=stream.n_frames)
        summary = write_video(stream, out, on_frame=lambda _i: bar.advance(task))
    typer.echo(f"wrote {summary.frames} frames ({summary.frames_per_s:.1f} frames/s) to {summary.video}")
    for inc in stream.timeline.incidents:
        cleaned = "stays" if inc.cleaned_s is None else f"cleaned {inc.cleaned_s:.0f}s"
        typer.echo(f"  {inc.id} {inc.type}/{inc.kind}: {inc.start_s:.0f}s → {inc.finished_s:.0f}s, {cleaned}, bbox {inc.bbox}")
    typer.echo(f"timeline: {summary.timeline}")
