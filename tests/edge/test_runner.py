"""The runner end to end: generated frames → real ORT session → decisions → outbox → local sink files."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detector.edge.config import parse_edge_config
from detector.edge.runner import EdgeRunner
from detector.errors import DetectorError
from tests.edge.edge_models import paint, redness_model, wall, write_folder

REPO = Path(__file__).resolve().parents[2]
PATCH = (100, 100, 180, 160)  # the 'graffiti', frame pixels


def config(tmp_path: Path, source: str, **camera: Any) -> dict[str, Any]:
    cam = {
        "source": source,
        "interval_s": 5,
        "offline_after_s": 30,
        "tiling": {"tile_px": 64, "overlap": 0.25},
        "decision": {"window": 5, "confirm_s": 20, "clean_s": 60},
        # The wall model on (the default), with a short memory to suit these minute-long scenes.
        "wall": {"slot_s": 5, "slots": 3, "commission_s": 10},
        "health": {"confirm_s": 15},
    }
    cam.update(camera)
    return {
        "device": {"name": "test-dev", "data_dir": str(tmp_path / "data"), "heartbeat_interval_s": 1},
        "model": {"path": str(redness_model(tmp_path / "model.onnx")), "threads": 1},
        "cameras": {"north": cam},
        "delivery": {"local": {"dir": "events"}},
    }


def delivered(tmp_path: Path) -> list[dict[str, Any]]:
    """Events the local sink wrote, oldest first, each with the evidence files next to it."""
    out = []
    for p in sorted((tmp_path / "data" / "events" / "events").glob("*/*/event.json")):
        ev = json.loads(p.read_text())
        ev["_files"] = sorted(f.name for f in p.parent.iterdir() if f.name != "event.json")
        out.append(ev)
    return sorted(out, key=lambda e: e["time"])


def scene(n: int, paint_from: int | None, paint_until: int | None = None, passerby_at: tuple[int, ...] = ()) -> list[np.ndarray]:
    """n frames of a wall; red paint on PATCH in [paint_from, paint_until); a red-coated passer-by at some frames."""
    base = wall(320, 240)
    frames = []
    for i in range(n):
        img = base.copy()
        if paint_from is not None and i >= paint_from and (paint_until is None or i < paint_until):
            img = paint(img, PATCH)
        if i in passerby_at:
            img = paint(img, (220, 60, 300, 230))  # a red coat right in front of the wall
        frames.append(img)
    return frames


def run_fast(cfg: dict[str, Any], tmp_path: Path) -> EdgeRunner:
    runner = EdgeRunner(parse_edge_config(cfg, tmp_path), realtime=False)
    runner.setup()
    assert runner.run() == 0
    return runner


def test_persistent_paint_gives_exactly_one_detection_with_evidence(tmp_path: Path) -> None:
    write_folder(tmp_path / "frames", scene(40, paint_from=10, passerby_at=(3, 25)), interval_s=5)
    runner = run_fast(config(tmp_path, str(tmp_path / "frames")), tmp_path)
    events = delivered(tmp_path)
    assert [e["type"] for e in events] == ["graffiti_detected"], events
    ev = events[0]
    assert ev["device"] == "test-dev" and ev["camera"] == "north" and ev["frame_size"] == [320, 240]
    assert ev["_files"] == ["crop.jpg", "frame.jpg", "reference.jpg"]
    assert ev["evidence"] == {"frame": "frame.jpg", "crop": "crop.jpg", "reference": "reference.jpg"}
    x1, y1, x2, y2 = ev["bbox"]
    assert x1 <= PATCH[0] and y1 <= PATCH[1] and x2 >= PATCH[2] and y2 >= PATCH[3]  # the box holds the paint
    assert x1 > 0 or y1 > 0  # ... and is not the whole frame
    assert ev["score"] >= ev["threshold"] == 0.5
    assert ev["model"]["name"] == "redness-test" and len(ev["model"]["sha256"]) == 64
    assert all(t["score"] >= 0.0 for t in ev["tiles"]) and len(ev["tiles"]) >= 1
    assert runner.heartbeats_sent >= 1 and (tmp_path / "data" / "events" / "heartbeat.json").is_file()


def test_cleaned_wall_closes_the_detection(tmp_path: Path) -> None:
    write_folder(tmp_path / "frames", scene(50, paint_from=5, paint_until=20), interval_s=5)
    run_fast(config(tmp_path, str(tmp_path / "frames")), tmp_path)
    events = delivered(tmp_path)
    assert [e["type"] for e in events] == ["graffiti_detected", "graffiti_cleaned"]
    assert events[1]["related_event"] == events[0]["id"]
    assert "frame.jpg" in events[1]["_files"]


def test_accepted_region_never_alerts_in_the_runner(tmp_path: Path) -> None:
    write_folder(tmp_path / "frames", scene(40, paint_from=5), interval_s=5)
    accepted = [[[80, 80], [200, 80], [200, 180], [80, 180]]]
    run_fast(config(tmp_path, str(tmp_path / "frames"), accepted=accepted), tmp_path)
    assert delivered(tmp_path) == []


def test_ignored_area_hides_paint_from_the_model(tmp_path: Path) -> None:
    write_folder(tmp_path / "frames", scene(40, paint_from=5), interval_s=5)
    ignore = [[[90, 90], [190, 90], [190, 170], [90, 170]]]
    run_fast(config(tmp_path, str(tmp_path / "frames"), ignore=ignore), tmp_path)
    assert delivered(tmp_path) == []


def test_video_file_in_fast_mode_detects_once_and_corrupt_images_are_skipped(tmp_path: Path) -> None:
    import cv2

    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 2.0, (320, 240))
    assert writer.isOpened()
    # 100 s at 2 fps, sampled every 5 s of video time; paint after the wall's baseline was taken (~25 s)
    for img in scene(200, paint_from=80):
        writer.write(img)
    writer.release()
    run_fast(config(tmp_path, str(video), decision={"window": 3, "confirm_s": 10, "clean_s": 60}), tmp_path)
    assert [e["type"] for e in delivered(tmp_path)] == ["graffiti_detected"]


def test_a_recording_too_short_for_a_baseline_says_so_and_a_long_enough_one_does_not(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # The wall here needs 10 s (slots of 5 s) + commission_s; 6 samples of 5 s (25 s) fall short of 10 + 30 s.
    write_folder(tmp_path / "short", scene(6, paint_from=2), interval_s=5)
    run_fast(config(tmp_path, str(tmp_path / "short"), wall={"slot_s": 5, "slots": 3, "commission_s": 30}), tmp_path)
    assert delivered(tmp_path) == []
    warned = [r.getMessage() for r in caplog.records if "before the wall model had its baseline" in r.getMessage()]
    assert warned == ["camera north: the recording ended after 25 s, before the wall model had its baseline (it needs "
                      "about 40 s of footage: 10 s for the wall estimate, then wall.commission_s 30 s), so nothing in "
                      "it could alert; for a short clip score its frames with 'graffiti edge score', or set "
                      "wall.enabled = false"]
    caplog.clear()
    long_run = tmp_path / "long"
    long_run.mkdir()
    write_folder(long_run / "frames", scene(40, paint_from=5), interval_s=5)
    run_fast(config(long_run, str(long_run / "frames")), long_run)
    assert [e["type"] for e in delivered(long_run)] == ["graffiti_detected"]
    assert "before the wall model had its baseline" not in caplog.text


def test_corrupt_and_truncated_images_are_logged_and_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    paths = write_folder(tmp_path / "frames", scene(40, paint_from=5), interval_s=5)
    paths[12].write_bytes(b"garbage, not a PNG")
    data = (tmp_path / "x.jpg")
    cv2_img = scene(1, paint_from=0)[0]
    import cv2

    ok, buf = cv2.imencode(".jpg", cv2_img)
    data.write_bytes(buf.tobytes()[: len(buf) // 2])  # truncated JPEG
    trunc = tmp_path / "frames" / "frame_00020x.jpg"
    data.replace(trunc)
    st = paths[20].stat()
    import os

    os.utime(trunc, (st.st_mtime, st.st_mtime))
    run_fast(config(tmp_path, str(tmp_path / "frames")), tmp_path)
    assert [e["type"] for e in delivered(tmp_path)] == ["graffiti_detected"]
    assert "frame_00012.png" in caplog.text and "unreadable or truncated" in caplog.text


def test_gap_in_a_recording_gives_offline_then_online(tmp_path: Path) -> None:
    frames = scene(10, paint_from=None)
    write_folder(tmp_path / "frames", frames[:5], interval_s=5)
    write_folder(tmp_path / "later", frames[5:], interval_s=5, t0=1_700_000_000.0 + 300)
    for p in (tmp_path / "later").iterdir():
        p.rename(tmp_path / "frames" / ("late_" + p.name))
    run_fast(config(tmp_path, str(tmp_path / "frames")), tmp_path)
    events = delivered(tmp_path)
    assert [e["type"] for e in events] == ["camera_offline", "camera_online"]
    assert events[1]["detail"]["offline_s"] == pytest.approx(280.0)


def test_tamper_covered_lens_reports_once(tmp_path: Path) -> None:
    frames = scene(8, paint_from=None) + [np.full((240, 320, 3), 3, np.uint8)] * 20  # lens covered: black
    write_folder(tmp_path / "frames", frames, interval_s=5)
    run_fast(config(tmp_path, str(tmp_path / "frames")), tmp_path)
    events = delivered(tmp_path)
    assert [e["type"] for e in events] == ["camera_tamper"]
    assert "dark" in events[0]["detail"]["reason"] and "frame.jpg" in events[0]["_files"]


def test_missing_model_is_a_one_line_error_at_start(tmp_path: Path) -> None:
    cfg = config(tmp_path, str(tmp_path))
    cfg["model"]["path"] = str(tmp_path / "nope.onnx")
    with pytest.raises(DetectorError, match="model file not found"):
        EdgeRunner(parse_edge_config(cfg, tmp_path)).setup()


def test_missing_video_file_is_a_one_line_error_at_start(tmp_path: Path) -> None:
    cfg = config(tmp_path, str(tmp_path / "nope.mp4"))
    with pytest.raises(DetectorError, match="video file .*nope.mp4 not found"):
        EdgeRunner(parse_edge_config(cfg, tmp_path)).setup()


def test_camera_url_that_never_opens_goes_offline_without_crashing(tmp_path: Path) -> None:
    cfg = config(tmp_path, "rtsp://127.0.0.1:9/none", interval_s=0.2, offline_after_s=1, reconnect_initial_s=0.05,
                 reconnect_max_s=0.2)
    runner = EdgeRunner(parse_edge_config(cfg, tmp_path), realtime=True)
    runner.setup()
    import threading

    threading.Timer(3.0, runner.request_stop).start()
    assert runner.run() == 0
    events = delivered(tmp_path)
    assert [e["type"] for e in events] == ["camera_offline"]
    assert runner.workers["north"].stats().state == "offline"


def write_toml(tmp_path: Path, cfg: dict[str, Any]) -> Path:
    lines = [f"[device]\nname = '{cfg['device']['name']}'\ndata_dir = '{cfg['device']['data_dir']}'\n"
             "heartbeat_interval_s = 1\n",
             f"[model]\npath = '{cfg['model']['path']}'\nthreads = 1\n",
             f"[cameras.north]\nsource = '{cfg['cameras']['north']['source']}'\ninterval_s = 0.2\n",
             "[delivery.local]\ndir = 'events'\n"]
    p = tmp_path / "edge.toml"
    p.write_text("\n".join(lines))
    return p


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_signal_stops_the_runner_cleanly_with_exit_0(tmp_path: Path, sig: signal.Signals) -> None:
    folder = tmp_path / "incoming"
    write_folder(folder, scene(2, paint_from=None), interval_s=1, t0=time.time() - 5)
    toml = write_toml(tmp_path, config(tmp_path, str(folder)))
    proc = subprocess.Popen([sys.executable, "-m", "detector", "edge", "run", "--config", str(toml), "--log-format",
                             "json"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        hb = tmp_path / "data" / "events" / "heartbeat.json"
        deadline = time.monotonic() + 30
        while not hb.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert hb.exists(), proc.stderr.read() if proc.poll() is not None else "no heartbeat within 30 s"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    messages = [r["message"] for r in records]
    assert any(m.startswith("edge runner stopped") for m in messages), messages
    assert json.loads(hb.read_text())["cameras"]["north"]["frames_seen"] >= 1


def test_fast_and_realtime_on_a_video_make_the_same_decisions(tmp_path: Path) -> None:
    import cv2

    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    for img in scene(30, paint_from=5, paint_until=18, passerby_at=(2,)):  # 3 s of video
        writer.write(img)
    writer.release()
    results = []
    for realtime in (False, True):
        run_dir = tmp_path / ("realtime" if realtime else "fast")
        cfg = config(run_dir, str(video), interval_s=0.2, offline_after_s=1,
                     decision={"window": 3, "confirm_s": 0.4, "clean_s": 0.6},
                     wall={"enabled": False})  # 3 s of video: shorter than any wall memory
        runner = EdgeRunner(parse_edge_config(cfg, run_dir), realtime=realtime)
        runner.setup()
        started = time.monotonic()
        assert runner.run() == 0
        elapsed = time.monotonic() - started
        events = delivered(run_dir)
        results.append(([(e["type"], e["bbox"], [t["xyxy"] for t in e["tiles"]], e["score"]) for e in events], elapsed))
    (fast, fast_s), (real, real_s) = results
    assert [e[0] for e in fast] == ["graffiti_detected", "graffiti_cleaned"]
    assert fast == real
    assert real_s >= 2.5  # real time really waited for the video clock (3 s of frames)


@pytest.fixture
def sim_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    """sim:// cameras as the graffiti CLI assembles the edge: the simulator's source registered by scheme."""
    from detector.data.sim.source import SimSource
    from detector.frames import SOURCE_KINDS

    monkeypatch.setitem(SOURCE_KINDS, "sim", SimSource.from_url)


@pytest.mark.usefixtures("sim_kind")
def test_simulated_tunnel_stream_is_a_clocked_source(tmp_path: Path) -> None:
    pytest.importorskip("detector.data.sim.stream")
    cfg = config(tmp_path, "sim://3?minutes=1&fps=2&size=320x240", interval_s=5)
    runner = run_fast(cfg, tmp_path)
    assert runner.workers["north"].frames_seen == 12  # t = 0, 5, ..., 55 s of a 60 s stream


@pytest.mark.usefixtures("sim_kind")
def test_unknown_sim_option_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(DetectorError, match="unknown sim:// option"):
        EdgeRunner(parse_edge_config(config(tmp_path, "sim://3?minutes=1&colour=red"), tmp_path)).setup()


def test_sim_camera_without_the_simulator_registered_says_how(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The edge does not import the simulator (tests/test_layering.py): a program that did not
    register it gets one line."""
    from detector.frames import SOURCE_KINDS

    monkeypatch.delitem(SOURCE_KINDS, "sim", raising=False)  # importing detector.cli registers it
    with pytest.raises(DetectorError, match="camera north: sim://.*register_source_kind"):
        EdgeRunner(parse_edge_config(config(tmp_path, "sim://3?minutes=1"), tmp_path)).setup()


def test_graffiti_edge_run_opens_a_simulated_camera(tmp_path: Path) -> None:
    """From the command line a sim:// camera works as before (the CLI hands the simulator to the edge)."""
    pytest.importorskip("detector.data.sim.stream")
    cfg = config(tmp_path, "sim://3?minutes=1&fps=2&size=320x240")
    toml = tmp_path / "edge.toml"
    toml.write_text(
        f"[device]\nname = 'test-dev'\ndata_dir = '{cfg['device']['data_dir']}'\n"
        f"[model]\npath = '{cfg['model']['path']}'\nthreads = 1\n"
        f"[cameras.north]\nsource = '{cfg['cameras']['north']['source']}'\ninterval_s = 5\n"
        "[delivery.local]\ndir = 'events'\n")
    res = subprocess.run([sys.executable, "-m", "detector", "edge", "run", "--config", str(toml), "--fast"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    hb = json.loads((tmp_path / "data" / "events" / "heartbeat.json").read_text())
    assert hb["cameras"]["north"]["frames_seen"] == 12  # t = 0, 5, ..., 55 s of a 60 s stream


@pytest.mark.parametrize(
    ("model", "expected"),
    [("missing", "model file not found"), ("no_contract", "no graffiti metadata contract"),
     ("corrupt", "not a loadable ONNX model")],
    ids=["missing_model", "model_without_metadata", "corrupt_model"],
)
def test_edge_run_with_a_bad_model_fails_at_start_with_one_line(tmp_path: Path, model: str, expected: str) -> None:
    cfg = config(tmp_path, str(tmp_path))
    path = tmp_path / "bad.onnx"
    if model == "no_contract":
        redness_model(path, with_meta=False)
    elif model == "corrupt":
        path.write_bytes(b"\x00" * 100)
    cfg["model"]["path"] = str(path)
    toml = write_toml(tmp_path, cfg)
    res = subprocess.run([sys.executable, "-m", "detector", "edge", "run", "--config", str(toml)], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    errors = [line for line in res.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and expected in errors[0] and "Traceback" not in res.stderr, res.stderr


def test_a_commission_request_reaches_the_running_cameras(tmp_path: Path) -> None:
    """`graffiti edge commission` drops a request file per camera; the runner's camera takes it (and
    re-commissions its baseline) — the file is gone after the run."""
    from typer.testing import CliRunner

    from detector.edge.camera import commission_request_path
    from detector.edge.cli import app

    write_folder(tmp_path / "frames", scene(20, paint_from=None), interval_s=5)
    cfg = config(tmp_path, str(tmp_path / "frames"))
    cfg_path = tmp_path / "edge.yaml"
    cfg_path.write_text(json.dumps(cfg))  # JSON is YAML
    res = CliRunner().invoke(app, ["commission", "--config", str(cfg_path), "--camera", "north"])
    assert res.exit_code == 0, res.output
    request = commission_request_path(tmp_path / "data", "north")
    assert request.exists()
    run_fast(cfg, tmp_path)
    assert not request.exists(), "the running camera never took the commission request"
