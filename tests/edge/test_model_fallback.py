"""A device that stays up: the last model that passed verification is kept in the data folder, and a
bad model file at start falls back to it with an ERROR (real runner process, real ONNX Runtime)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.edge.edge_models import redness_model, write_folder
from tests.edge.test_runner import scene


def edge_toml(tmp_path: Path, model: Path, frames: Path) -> Path:
    toml = tmp_path / "edge.toml"
    toml.write_text(
        f"[device]\nname = 'dev'\ndata_dir = '{tmp_path / 'data'}'\n"
        f"[model]\npath = '{model}'\nthreads = 1\n"
        f"[cameras.north]\nsource = '{frames}'\n"
        "[cameras.north.tiling]\ntile_px = 64\n[cameras.north.decision]\nwindow = 5\nconfirm_s = 20\n"
        "[cameras.north.wall]\nslot_s = 5\nslots = 3\ncommission_s = 10\n"
        "[delivery.local]\ndir = 'events'\n")
    return toml


def run_fast(toml: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "detector", "edge", "run", "--config", str(toml), "--fast",
                           "--log-format", "json"], cwd=REPO, capture_output=True, text=True, timeout=120)


def detections(tmp_path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(p.read_text()) for p in (tmp_path / "data" / "events" / "events").glob("*/*/event.json")]


def test_bad_model_at_start_falls_back_to_the_last_good_copy_and_keeps_detecting(tmp_path: Path) -> None:
    model = redness_model(tmp_path / "model.onnx", version="7")
    write_folder(tmp_path / "frames", scene(40, paint_from=10), interval_s=5)
    toml = edge_toml(tmp_path, model, tmp_path / "frames")
    first = run_fast(toml)
    assert first.returncode == 0, first.stderr
    kept = tmp_path / "data" / "models" / "last-good.onnx"
    assert kept.read_bytes() == model.read_bytes()  # the verified model was copied beside the data

    model.write_bytes(b"\x00garbage copied over the model during an update" * 50)
    for p in (tmp_path / "data").iterdir():  # a fresh outbox: only the second run's events count
        if p.name != "models":
            subprocess.run(["rm", "-rf", str(p)], check=True)
    second = run_fast(toml)
    assert second.returncode == 0, second.stderr
    records = [json.loads(line) for line in second.stderr.splitlines() if line.startswith("{")]
    errors = [r["message"] for r in records if r["level"] == "error"]
    assert len(errors) == 1 and "running the last model that passed verification" in errors[0], errors
    assert str(model) in errors[0] and "not a loadable ONNX model" in errors[0]
    events = detections(tmp_path)
    assert [e["type"] for e in events] == ["graffiti_detected"]
    assert events[0]["model"]["version"] == "7"  # detected by the kept copy
    assert kept.read_bytes() != model.read_bytes()  # the bad file never replaces the good copy


def test_bad_model_without_a_good_copy_still_fails_with_one_line(tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"\x00" * 100)
    toml = edge_toml(tmp_path, model, tmp_path)
    res = run_fast(toml)
    assert res.returncode == 2
    errors = [line for line in res.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "not a loadable ONNX model" in errors[0], res.stderr
