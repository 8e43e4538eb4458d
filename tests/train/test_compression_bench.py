"""scripts/bench_compression.py: the piece's reading is the hottest tile over its box, and only over its box."""

from __future__ import annotations

from pathlib import Path

from detector.onnxmodel import ModelSession
from tests.edge.edge_models import paint, redness_model, wall
from tests.scripts_loader import load_script


def test_the_piece_reads_the_hottest_tile_over_its_box_not_elsewhere(tmp_path: Path) -> None:
    bench = load_script("bench_compression")
    model = ModelSession(redness_model(tmp_path / "m.onnx"), threads=1)
    frame = paint(wall(1280, 720), (40, 40, 300, 300))  # red in the top-left tile only
    assert bench.piece_score(model, frame, (40, 40, 300, 300)) > 0.5
    assert bench.piece_score(model, frame, (900, 400, 1200, 700)) < 0.05  # a box far from the paint
    args = bench.parse_args([])
    assert args.quality == [70, 50, 30] and args.walls == 68
