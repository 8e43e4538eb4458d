"""The demo's stream: render the simulated tunnel video once, reuse it while the options match.

Rendering is the slowest step of a first demo, so the video and its timeline JSON stay in the data
folder; a re-run with the same seed, length and frame rate reuses them (the timeline is rebuilt from
the seed in well under a second and must match the stored one byte for byte).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class DemoStream:
    video: Path
    timeline_json: Path
    stream: Any  # detector.data.sim.TunnelStream (frames on demand; its .timeline is the ground truth)
    reused: bool
    render_s: float = 0.0


def stream_name(seed: int, minutes: float, fps: float) -> str:
    return f"tunnel-seed{seed}-{minutes:g}min-{fps:g}fps"


def prepare_stream(folder: Path, seed: int, minutes: float, fps: float, console: Any = None,
                   size: tuple[int, int] = (1280, 720)) -> DemoStream:
    """Render ``folder``/<name>.mp4 + .json with a progress bar, or reuse a matching earlier render."""
    from detector.data.sim.stream import TunnelStream
    from detector.data.sim.video import write_video

    stream = TunnelStream(seed, minutes * 60.0, fps, size, script="default")
    name = stream_name(seed, minutes, fps)
    video, timeline = folder / f"{name}.mp4", folder / f"{name}.json"
    expected = stream.timeline.to_json() + "\n"
    if video.is_file() and video.stat().st_size > 0 and timeline.is_file() and timeline.read_text() == expected:
        return DemoStream(video, timeline, stream, reused=True)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("tunnel-seed*"):  # an earlier render with other options: not needed again
        old.unlink()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    label = f"rendering {minutes:g} min of tunnel video ({fps:g} frames/s, 1280×720)"
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("render", total=stream.n_frames)
        summary = write_video(stream, video, on_frame=lambda _i: bar.advance(task))
    return DemoStream(summary.video, summary.timeline, stream, reused=False, render_s=summary.seconds)
