"""Simulated tunnel stream: deterministic random access, a truthful timeline, a readable video."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from detector.data.sim.stream import TunnelStream
from detector.data.sim.video import write_video
from detector.errors import ConfigError

SIZE = (320, 180)  # small frames keep the tests fast; same code path as 1280×720


@pytest.fixture(scope="module")
def stream() -> TunnelStream:
    return TunnelStream(3, 120.0, fps=2.0, size=SIZE)


def test_frame_at_is_deterministic_and_random_access(stream: TunnelStream) -> None:
    late = stream.frame_at(100.0)
    for t in (0.0, 40.0, 55.5, 99.0):  # other frames (and other wall states) in between
        stream.frame_at(t)
    assert stream.frame_at(100.0).tobytes() == late.tobytes()
    fresh = TunnelStream(3, 120.0, fps=2.0, size=SIZE)
    assert fresh.frame_at(100.0).tobytes() == late.tobytes()
    assert late.shape == (SIZE[1], SIZE[0], 3) and late.dtype == np.uint8


def test_other_seed_gives_other_tunnel(stream: TunnelStream) -> None:
    other = TunnelStream(4, 120.0, fps=2.0, size=SIZE)
    diff = np.abs(other.frame_at(10.0).astype(int) - stream.frame_at(10.0).astype(int)).mean()
    assert diff > 5.0


def test_timeline_orders_the_default_script(stream: TunnelStream) -> None:
    tl = stream.timeline
    paint = [i for i in tl.incidents if i.type == "paint"]
    assert len(paint) == 1 and paint[0].label == 1 and paint[0].kind in ("tag", "throwup")
    p = paint[0]
    assert p.clean_start_s is not None and p.cleaned_s is not None
    assert 0 < p.start_s < p.finished_s < p.clean_start_s < p.cleaned_s < tl.duration_s
    assert abs(p.start_s - tl.duration_s / 3) < 1e-6 and abs(p.clean_start_s - 0.75 * tl.duration_s) < 1e-6
    assert {i.type for i in tl.incidents} == {"paint", "poster", "wet", "shadow"}
    for inc in tl.incidents:
        assert inc.bbox is not None
        x1, y1, x2, y2 = inc.bbox
        assert 0 <= x1 < x2 <= SIZE[0] and 0 <= y1 < y2 <= SIZE[1], inc
    roles = {w.role for w in tl.passersby}
    assert {"passer", "painter", "crew"} <= roles
    # The first stretch has passers-by only, the second neither passers-by nor incidents.
    (a0, a1, _), (b0, b1, _) = tl.quiet[:2]
    assert any(w.start_s < a1 and w.end_s > a0 for w in tl.passersby)
    assert not any(w.start_s < b1 and w.end_s > b0 for w in tl.passersby)
    assert all(i.start_s >= b1 for i in tl.incidents)
    data = json.loads(tl.to_json())
    assert data["seed"] == 3 and data["size"] == list(SIZE) and data["duration_s"] == 120.0
    assert data["incidents"][0]["bbox"] == list(p.bbox)
    back = type(tl).from_json(tl.to_json())
    assert [i.id for i in back.incidents] == [i.id for i in tl.incidents] and back.incidents[0].bbox == p.bbox
    assert len(back.passersby) == len(tl.passersby) and back.lighting[0].mode == tl.lighting[0].mode
    assert tl.graffiti_visible(p.start_s) == [] and tl.graffiti_visible(p.finished_s + 1) == [p]
    assert tl.graffiti_visible(p.cleaned_s) == []


def _median_patch(stream: TunnelStream, times: list[float], box: tuple[int, int, int, int]) -> np.ndarray:
    x1, y1, x2, y2 = box
    frames = [stream.frame_at(t)[y1:y2, x1:x2].astype(np.float32) for t in times]
    return np.median(np.stack(frames), axis=0)  # the median drops passers-by crossing the box


def test_paint_appears_after_finished_and_mostly_goes_after_cleaning(stream: TunnelStream) -> None:
    p = next(i for i in stream.timeline.incidents if i.type == "paint")
    assert p.bbox is not None and p.cleaned_s is not None
    box = tuple(int(v) for v in p.bbox)
    d = stream.duration_s
    before = _median_patch(stream, [0.23 * d + k for k in range(0, 5)], box)  # strip light, no paint yet
    painted = _median_patch(stream, [0.68 * d + k for k in range(0, 5)], box)  # finished, before cleaning
    cleaned = _median_patch(stream, [0.82 * d + k for k in range(0, 5)], box)  # after cleaning, crew gone
    d_paint = float(np.abs(painted - before).mean())
    d_clean = float(np.abs(cleaned - before).mean())
    assert d_paint > 8.0, f"paint barely visible: {d_paint:.1f}"
    assert d_clean < d_paint / 3, f"cleaning left too much: {d_clean:.1f} vs painted {d_paint:.1f}"


def test_day_script_has_several_incidents_and_hundreds_of_passersby() -> None:
    day = TunnelStream(5, 86400.0, fps=1.0, size=SIZE, script="day")
    tl = day.timeline
    assert sum(i.type == "paint" for i in tl.incidents) >= 3
    assert len([w for w in tl.passersby if w.role == "passer"]) >= 200
    assert {s.mode for s in tl.lighting} >= {"day", "dusk", "strip", "ir"}
    night = day.frame_at(3 * 3600.0).astype(int)  # IR at 03:00: greyscale
    assert np.abs(night[..., 0] - night[..., 2]).mean() < 3.0
    noon = day.frame_at(12 * 3600.0).astype(int)
    assert np.abs(noon[..., 0] - noon[..., 2]).mean() > 3.0


def test_video_file_has_every_frame_and_timeline_beside_it(tmp_path) -> None:
    import cv2

    s = TunnelStream(1, 3.0, fps=4.0, size=(160, 120))
    summary = write_video(s, tmp_path / "t.mp4")
    cap = cv2.VideoCapture(str(summary.video))
    assert cap.isOpened()
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        assert frame.shape == (120, 160, 3)
        n += 1
    cap.release()
    assert n == 12 == summary.frames
    data = json.loads((tmp_path / "t.json").read_text())
    assert data["fps"] == 4.0 and data["duration_s"] == 3.0


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [({"duration_s": 0.0}, "--minutes"), ({"fps": 0.0}, "--fps"), ({"size": (10, 10)}, "--size"),
     ({"script": "week"}, "--script"), ({"seed": -1}, "--seed")],
    ids=["zero-minutes", "zero-fps", "tiny-size", "unknown-script", "negative-seed"],
)
def test_bad_stream_settings_name_the_option(kwargs: dict, option: str) -> None:
    args = {"seed": 0, "duration_s": 10.0, "fps": 2.0, "size": SIZE, "script": "default"} | kwargs
    with pytest.raises(ConfigError, match=option):
        TunnelStream(args["seed"], args["duration_s"], args["fps"], args["size"], args["script"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--minutes", "0"], "error: --minutes must be greater than 0, got 0"),
     (["--minutes", "1", "--size", "big"], "error: --size big: expected WIDTHxHEIGHT, e.g. 1920x1080"),
     (["--minutes", "inf"], "error: --minutes must be at most 10080 (a week), got inf"),
     (["--minutes", "1e9"], "error: --minutes must be at most 10080 (a week), got 1e+09")],
    ids=["zero-minutes", "bad-size", "infinite-minutes", "huge-minutes"],
)
def test_cli_bad_args_print_one_line(tmp_path, argv: list[str], message: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "detector", "sim", "video", "--out", str(tmp_path / "t.mp4"), *argv],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert [ln for ln in proc.stderr.splitlines() if ln.strip()] == [message]


@pytest.mark.parametrize("folder", ["t.mp4", "t.json"], ids=["video-path-is-a-folder", "timeline-path-is-a-folder"])
def test_cli_out_that_is_a_folder_is_one_line_error_before_rendering(tmp_path, folder: str) -> None:
    (tmp_path / folder).mkdir()
    proc = subprocess.run([sys.executable, "-m", "detector", "sim", "video", "--out", str(tmp_path / "t.mp4"),
                           "--minutes", "0.05", "--size", "160x120", "--fps", "2"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert [ln for ln in proc.stderr.splitlines() if ln.strip()] == [
        f"error: --out: {tmp_path / folder} is a folder; expected a file path for the video and its .json timeline"]
    assert "frames" not in proc.stdout  # refused before the progress bar


def test_cli_writes_video_and_timeline(tmp_path) -> None:
    out = tmp_path / "clip.mp4"
    proc = subprocess.run([sys.executable, "-m", "detector", "sim", "video", "--out", str(out), "--minutes", "0.05",
                           "--size", "160x120", "--fps", "2", "--seed", "4"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "wrote 6 frames" in proc.stdout
    assert json.loads((tmp_path / "clip.json").read_text())["size"] == [160, 120]
