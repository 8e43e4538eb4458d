"""Encode a simulated stream to a video file, with its ground-truth timeline as JSON beside it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from detector.data.sim.stream import TunnelStream
from detector.errors import ConfigError, DatasetError

FOURCC = {".mp4": "mp4v", ".avi": "MJPG"}


def parse_size(text: str) -> tuple[int, int]:
    """``1280x720`` → (1280, 720); ConfigError naming --size otherwise."""
    from detector.tiling import parse_frame_size

    return parse_frame_size(text, "--size")


@dataclass(frozen=True)
class VideoSummary:
    video: Path
    timeline: Path
    frames: int
    seconds: float

    @property
    def frames_per_s(self) -> float:
        return self.frames / max(self.seconds, 1e-9)


def check_video_path(out: Path) -> str:
    """The fourcc for ``out``'s suffix; ConfigError naming --out for anything else."""
    fourcc = FOURCC.get(Path(out).suffix.lower())
    if fourcc is None:
        raise ConfigError(f"--out must end in {' or '.join(FOURCC)}, got {Path(out).name!r}")
    for path in (Path(out), Path(out).with_suffix(".json")):  # fail now, not after rendering every frame
        if path.is_dir():
            raise ConfigError(f"--out: {path} is a folder; expected a file path for the video and its .json timeline")
    return fourcc


def write_video(stream: TunnelStream, out: Path, on_frame: Callable[[int], None] | None = None) -> VideoSummary:
    """Write every frame of ``stream`` to ``out`` (.mp4 or .avi) and the timeline to ``out``.json."""
    import cv2

    out = Path(out)
    fourcc = check_video_path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"{out.parent}: cannot create folder ({exc.strerror})") from None
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*fourcc), stream.fps, stream.size)
    if not writer.isOpened():
        raise DatasetError(f"{out}: OpenCV cannot open a {fourcc} video writer here")
    t0 = time.perf_counter()
    n = stream.n_frames
    try:
        for i in range(n):
            writer.write(stream.frame_at(i / stream.fps))
            if on_frame is not None:
                on_frame(i)
    finally:
        writer.release()
    timeline = out.with_suffix(".json")
    try:
        timeline.write_text(stream.timeline.to_json() + "\n", encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"{timeline}: cannot write the timeline ({exc.strerror})") from None
    return VideoSummary(out, timeline, n, time.perf_counter() - t0)
