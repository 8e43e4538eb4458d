"""`graffiti edge run --source`: a quick look at a recording without a config file — default settings, the
given (or bundled) model, events as files under --data-dir/events, and one summary line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from detector.cli import app
from tests.edge.edge_models import paint, redness_model, wall, write_folder

REPO = Path(__file__).resolve().parents[2]


def test_a_folder_recording_with_default_settings_alerts_once_and_says_where(tmp_path: Path) -> None:
    # Default settings: the wall model needs 100 s + 300 s of commissioning; paint at 600 s of a 900-s recording,
    # large enough to fill the default tiles (a ninth of the frame, 92 px) past the toy model's threshold; the toy
    # model takes 96-px inputs so the wall model works near the scale it has with the real model (224 px per tile).
    clean = wall(320, 240)
    painted = paint(clean, (60, 40, 260, 200))
    write_folder(tmp_path / "north portal", [clean] * 120 + [painted] * 60, interval_s=5)
    model = redness_model(tmp_path / "m.onnx", input_size=(96, 96))
    data = tmp_path / "look"
    res = CliRunner().invoke(app, ["edge", "run", "--source", str(tmp_path / "north portal"), "--model", str(model),
                                   "--data-dir", str(data), "--fast"])
    assert res.exit_code == 0, res.output
    found = sorted((data / "events" / "events").glob("*/*/event.json"))
    events = [json.loads(p.read_text()) for p in found]
    assert [e["type"] for e in events] == ["graffiti_detected"]
    assert events[0]["camera"] == "north-portal" and events[0]["device"] == "quick-look"
    assert any(f.suffix == ".jpg" for f in found[0].parent.iterdir())  # its evidence picture beside it
    assert f"1 event(s) under {data / 'events'}: graffiti_detected ×1" in res.output


def test_run_wants_exactly_one_of_config_and_source(tmp_path: Path) -> None:
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "detector", "edge", "run", *args], capture_output=True,
                              text=True, timeout=120, cwd=tmp_path, env={"PYTHONPATH": str(REPO), "PATH": ""})

    neither, both = run(), run("--config", "x.toml", "--source", "y.mp4")
    assert neither.returncode == 2 and neither.stderr == (
        "error: expected either --config FILE (a device) or --source VIDEO|FOLDER|URL (a quick look), not neither\n")
    assert both.returncode == 2 and both.stderr.endswith("not both\n") and both.stderr.count("\n") == 1
    stray = run("--config", "x.toml", "--model", "m.onnx")
    assert stray.returncode == 2 and "--model goes with --source" in stray.stderr
    missing = run("--source", str(tmp_path / "nope.mp4"), "--fast", "--model", str(redness_model(tmp_path / "m.onnx")))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "nope.mp4" in missing.stderr
