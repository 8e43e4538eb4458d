"""State that survives restarts, through the real runner process: kill -9 mid-recording gives the same
events as an uninterrupted run; a restart on a live camera with an open event gives no second alert
and the cleaning closes the first; a camera moved across a restart is reported (tamper)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.conftest import REPO
from tests.edge.edge_models import paint, redness_model, wall
from tests.edge.test_runner import PATCH

pytestmark = pytest.mark.slow


def edge_toml(run: Path, source: Path, model: Path, *, interval_s: float, device: str = "", camera: str = "",
              wall_cfg: str = "slot_s = 5\nslots = 3\ncommission_s = 10\n",
              decision: str = "window = 5\nconfirm_s = 20\nclean_s = 60\n") -> Path:
    run.mkdir(parents=True, exist_ok=True)
    toml = run / "edge.toml"
    toml.write_text(
        f"[device]\nname = 'dev'\ndata_dir = '{run / 'data'}'\nheartbeat_interval_s = 60\n{device}"
        f"[model]\npath = '{model}'\nthreads = 1\n"
        f"[cameras.north]\nsource = '{source}'\ninterval_s = {interval_s}\n{camera}"
        f"[cameras.north.tiling]\ntile_px = 64\n[cameras.north.decision]\n{decision}"
        f"[cameras.north.wall]\n{wall_cfg}"
        "[delivery.local]\ndir = 'events'\n")
    return toml


def start(toml: Path, fast: bool, log: Path) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "detector", "edge", "run", "--config", str(toml), "--log-format", "json"]
    with open(log, "ab") as fh:
        return subprocess.Popen(args + (["--fast"] if fast else []), cwd=REPO, stdout=fh, stderr=fh)


def events(run: Path) -> list[dict[str, Any]]:
    found = [json.loads(p.read_text()) for p in (run / "data" / "events" / "events").glob("*/*/event.json")]
    return sorted(found, key=lambda e: (e["time"], e["type"]))


def outbox_events(run: Path) -> list[str]:
    ev = run / "data" / "outbox" / "evidence"
    return [p.name for p in ev.iterdir() if (p / "event.json").is_file()] if ev.is_dir() else []


def wait_for(predicate, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def messages(log: Path) -> list[str]:
    return [json.loads(line)["message"] for line in log.read_text().splitlines() if line.startswith("{")]


def write_video(path: Path, n: int, paint_from: int, paint_until: int, size: tuple[int, int] = (640, 480)) -> None:
    w, h = size
    base = cv2.resize(wall(320, 240), (w, h), interpolation=cv2.INTER_NEAREST)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 1.0, (w, h))
    box = tuple(v * 2 for v in PATCH)
    for i in range(n):
        writer.write(paint(base, box) if paint_from <= i < paint_until else base)  # type: ignore[arg-type]
    writer.release()


def test_kill_9_mid_recording_then_restart_gives_the_same_events_as_an_uninterrupted_run(tmp_path: Path) -> None:
    model = redness_model(tmp_path / "model.onnx")
    video = tmp_path / "clip.avi"
    write_video(video, 900, paint_from=60, paint_until=200)  # 15 min of recording at 1 fps
    device = "state_every_s = 1\nstate_full_every_s = 30\n"

    whole = tmp_path / "whole"
    proc = start(edge_toml(whole, video, model, interval_s=1, device=device), True, tmp_path / "whole.log")
    assert proc.wait(300) == 0
    expected = [(e["type"], e["id"]) for e in events(whole)]
    assert [t for t, _ in expected] == ["graffiti_detected", "graffiti_cleaned"], expected

    run = tmp_path / "killed"
    toml = edge_toml(run, video, model, interval_s=1, device=device)
    log = tmp_path / "killed.log"
    proc = start(toml, True, log)
    assert wait_for(lambda: len(outbox_events(run)) >= 1 or proc.poll() is not None, 300)
    proc.send_signal(signal.SIGKILL)  # right after the detection was stored, mid-file
    proc.wait(30)
    assert not any(m == "every source has finished" for m in messages(log)), "the recording ended before the kill"
    proc = start(toml, True, log)
    assert proc.wait(300) == 0
    got = [(e["type"], e["id"]) for e in events(run)]
    assert got == expected
    resumed = [m for m in messages(log) if "re-adopting its state" in m]
    assert resumed and "source position" in resumed[-1], messages(log)[-20:]
    # processed to its end: nothing to resume, a new run starts from the beginning
    assert not (run / "data" / "state" / "full" / "north.json").exists()


class Feeder:
    """A live camera as a watched folder: writes the current view a few times a second (new files)."""

    def __init__(self, folder: Path, view: np.ndarray) -> None:
        import threading

        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.view = view
        self.n = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            tmp = self.folder / f".f{self.n:06d}.png"
            cv2.imwrite(str(tmp), self.view)
            os.replace(tmp, self.folder / f"f{self.n:06d}.png")
            (self.folder / f"f{self.n - 20:06d}.png").unlink(missing_ok=True)
            self.n += 1
            self._stop.wait(0.2)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


LIVE_DEVICE = "state_every_s = 1\nstate_full_every_s = 2\n"
LIVE_WALL = "slot_s = 1\nslots = 3\ncommission_s = 1\n"
LIVE_DECISION = "window = 3\nconfirm_s = 2\nclean_s = 3\n"


def test_restart_on_a_live_camera_with_an_open_event_gives_no_second_alert_and_cleaning_closes_it(tmp_path: Path) -> None:
    model = redness_model(tmp_path / "model.onnx")
    clean_view, painted = wall(320, 240), paint(wall(320, 240), PATCH)
    feeder = Feeder(tmp_path / "cam", clean_view)
    run = tmp_path / "run"
    toml = edge_toml(run, tmp_path / "cam", model, interval_s=0.2, device=LIVE_DEVICE, wall_cfg=LIVE_WALL,
                     decision=LIVE_DECISION)
    log = tmp_path / "runner.log"
    proc = start(toml, False, log)
    try:
        time.sleep(6)  # the wall model and its baseline exist
        feeder.view = painted
        assert wait_for(lambda: [e["type"] for e in events(run)] == ["graffiti_detected"], 60), messages(log)[-15:]
        first = events(run)[0]
        time.sleep(2.5)  # a full snapshot with the paint in the wall model
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)

        proc = start(toml, False, log)  # the paint is still there
        time.sleep(10)
        assert [e["type"] for e in events(run)] == ["graffiti_detected"], "a second alert after the restart"
        assert any("re-adopting its state" in m for m in messages(log))
        feeder.view = clean_view  # the crew cleans it
        assert wait_for(lambda: len(events(run)) == 2, 60), messages(log)[-15:]
        cleaned = events(run)[1]
        assert cleaned["type"] == "graffiti_cleaned" and cleaned["related_event"] == first["id"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        feeder.stop()
        if proc.poll() is None:
            proc.kill()


def test_a_camera_moved_while_the_runner_was_down_is_reported(tmp_path: Path) -> None:
    model = redness_model(tmp_path / "model.onnx")
    view = wall(320, 240, seed=3)
    view[40:200, 60:120] = 40  # some structure, so a shift of the view is measurable
    view[100:140, 200:300] = 220
    feeder = Feeder(tmp_path / "cam", view)
    run = tmp_path / "run"
    toml = edge_toml(run, tmp_path / "cam", model, interval_s=0.2, device=LIVE_DEVICE, wall_cfg=LIVE_WALL,
                     decision=LIVE_DECISION, camera="[cameras.north.health]\nconfirm_s = 1\n")
    log = tmp_path / "runner.log"
    proc = start(toml, False, log)
    try:
        time.sleep(4)  # the tamper reference view is taken from the still, healthy view
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        feeder.view = np.roll(view, 90, axis=1)  # someone turned the camera while the runner was down
        proc = start(toml, False, log)
        assert wait_for(lambda: [e["type"] for e in events(run)] == ["camera_tamper"], 60), messages(log)[-15:]
        assert "moved" in events(run)[0]["detail"]["reason"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        feeder.stop()
        if proc.poll() is None:
            proc.kill()
