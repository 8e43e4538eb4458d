"""The edge runtime must never load torch (a Pi has no room for it): checked in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
import detector.edge.runner, detector.edge.camera, detector.edge.score, detector.edge.cli
from detector.cli import app
from typer.main import get_command
cmd = get_command(app)
assert "edge" in cmd.commands, sorted(cmd.commands)
heavy = sorted(m for m in ("torch", "torchvision", "onnx") if m in sys.modules)
print(",".join(heavy) or "none")
"""


def test_edge_runner_and_cli_import_without_torch() -> None:
    res = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "none"


RUN = """
import sys
from typer.testing import CliRunner
from detector.cli import app
res = CliRunner().invoke(app, ["edge", "score", sys.argv[1], "--model", sys.argv[2], "--threads", "1"])
assert res.exit_code == 0, res.output
print("torch" in sys.modules, "onnx" in sys.modules)
"""


def test_scoring_an_image_loads_neither_torch_nor_onnx(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import cv2

    from tests.edge.edge_models import redness_model, wall

    model = redness_model(tmp_path / "m.onnx")
    img = tmp_path / "wall.png"
    cv2.imwrite(str(img), wall(64, 64))
    res = subprocess.run([sys.executable, "-c", RUN, str(img), str(model)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False", "False"]
