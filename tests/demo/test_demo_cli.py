"""``graffiti demo`` mistakes: one line naming the option, exit status 2, before any work is done;
and the demo's code path never imports torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def graffiti(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "detector", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--minutes", "2"], "--minutes: expected 5 to 60"),
        (["--seed", "-1"], "--seed: expected a non-negative integer"),
        (["--port", "70000"], "--port: expected 1-65535"),
        (["--model", "no-such-model.onnx"], "--model: no-such-model.onnx not found"),
    ],
    ids=["minutes-too-short", "negative-seed", "port-out-of-range", "missing-model"],
)
def test_bad_option_is_one_line_naming_it(args: list[str], needle: str, tmp_path: Path) -> None:
    r = graffiti("demo", "--no-serve", "--data", str(tmp_path / "d"), *args)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_folder_that_is_not_a_demo_folder_is_left_alone(tmp_path: Path) -> None:
    data = tmp_path / "mine"
    data.mkdir()
    (data / "notes.txt").write_text("keep me")
    model = tmp_path / "m.onnx"
    from tests.e2e.standin import colourfulness_model

    colourfulness_model(model)
    r = graffiti("demo", "--no-serve", "--data", str(data), "--model", str(model))
    assert r.returncode == 2 and "is not a demo folder" in r.stderr, r.stderr
    assert [p.name for p in data.iterdir()] == ["notes.txt"]


def test_demo_code_path_imports_no_torch() -> None:
    code = ("import sys, detector.cli, detector.demo.run, detector.demo.inproc, detector.demo.render, "
            "detector.demo.service, detector.edge.runner, detector.data.sim.stream, detector.data.sim.video; "
            "print('torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"
