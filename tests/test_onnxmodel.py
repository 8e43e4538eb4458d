"""One ONNX scoring module: ``graffiti eval`` scores an image exactly as the edge does.

Real onnxruntime on tiny models the tests build (the redness model of ``tests/edge/edge_models.py``:
a fully red tile scores 1.0 plus ``offset``; a grey wall 0.0 plus ``offset``), so the device's rules
(clip to [0, 1], NaN as 0) show in the numbers: with ``offset`` 0.3 a red tile's raw output is 1.3.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from detector.onnxmodel import ModelSession, read_meta
from tests.edge.edge_models import contract_meta, paint, redness_model, wall

onnx = pytest.importorskip("onnx")

VIEW_W, VIEW_H = 1280, 720  # the edge's reference frame: eval shows a photo of this size unchanged


def _nan_model(path: Path) -> Path:
    """A model whose every output is NaN: sqrt(mean(input) - 10) on inputs in [0, 1]."""
    from onnx import TensorProto, helper

    from detector.modelmeta import write_meta

    ten = helper.make_tensor("ten", TensorProto.FLOAT, [], [10.0])
    nodes = [helper.make_node("ReduceMean", ["input"], ["m"], axes=[1, 2, 3], keepdims=0),
             helper.make_node("Sub", ["m", "ten"], ["d"]),
             helper.make_node("Sqrt", ["d"], ["score"])]
    graph = helper.make_graph(nodes, "nan", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])],
                              [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"])], initializer=[ten])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    write_meta(model, contract_meta())
    path.write_bytes(model.SerializeToString())
    return path


def _photos(folder: Path) -> dict[str, np.ndarray]:
    """An ImageFolder dataset of camera-sized photos: a clean wall and a wall with a red piece."""
    import cv2

    base = wall(VIEW_W, VIEW_H, seed=3)
    photos = {"clean/wall.png": base, "graffiti/piece.png": paint(base, (500, 200, 900, 520))}
    for name, img in photos.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(folder / name), img)
    return {str((folder / name).resolve()): img for name, img in photos.items()}


def _edge_tile_scores(model: Path, image: np.ndarray) -> list[float]:
    from detector.edge.score import score_image
    from detector.tiling import DEFAULT_OVERLAP, DEFAULT_TILE_PX

    _, scores = score_image(ModelSession(model, threads=2), image, DEFAULT_TILE_PX, DEFAULT_OVERLAP)
    return scores


def test_eval_scores_equal_the_edge_scores_of_the_same_image(tmp_path: Path) -> None:
    from detector.train.evaluation import evaluate

    model = redness_model(tmp_path / "m.onnx", offset=0.3)  # a red tile's raw output is 1.3: the edge reads 1.0
    photos = _photos(tmp_path / "data")
    result = evaluate(model, [str(tmp_path / "data")], out_dir=tmp_path / "eval", progress=False)

    with open(result.files["scores"], newline="") as fh:
        photo_scores = {row["path"]: float(row["score"]) for row in csv.DictReader(fh)}
    with open(result.files["view_scores"], newline="") as fh:
        view_scores = {row["path"]: float(row["view_score"]) for row in csv.DictReader(fh)}
    assert set(photo_scores) == set(view_scores) == set(photos)
    edge = ModelSession(model, threads=2)
    for path, img in photos.items():
        assert photo_scores[path] == pytest.approx(float(edge.score([img])[0]), abs=1e-6)  # the photo as one input
        assert view_scores[path] == pytest.approx(max(_edge_tile_scores(model, img)), abs=1e-6)  # the hottest tile
    assert view_scores[str((tmp_path / "data/graffiti/piece.png").resolve())] == 1.0  # clipped as on the device


@pytest.mark.parametrize(("make", "expected"), [
    (lambda p: redness_model(p, offset=0.3), None),
    (lambda p: redness_model(p, offset=-2.0), 0.0),
    (_nan_model, 0.0),
], ids=["above_one_is_clipped", "below_zero_is_clipped", "nan_is_no_evidence"])
def test_every_tile_of_a_view_scores_as_on_the_edge(tmp_path: Path, make, expected: float | None) -> None:  # type: ignore[no-untyped-def]
    from detector.data.formats import load_dataset
    from detector.train.scorers import open_scorer
    from detector.train.viewlevel import score_views

    model = make(tmp_path / "m.onnx")
    photos = _photos(tmp_path / "data")
    views = score_views(load_dataset(str(tmp_path / "data")), [open_scorer(model)], progress=False)[0]
    for sample, tiles in zip(views.samples, views.tile_scores, strict=True):
        edge = _edge_tile_scores(model, photos[str(Path(sample.path).resolve())])
        np.testing.assert_array_equal(tiles, np.asarray(edge, dtype=np.float32).astype(np.float64))
        assert tiles.min() >= 0.0 and tiles.max() <= 1.0
        if expected is not None:
            assert set(tiles.tolist()) == {expected}


def test_read_meta_reads_the_contract_as_the_session_does(tmp_path: Path) -> None:
    model = redness_model(tmp_path / "m.onnx", threshold=0.6, clean_threshold=0.25)
    assert read_meta(model) == ModelSession(model, threads=1).meta


BUNDLED = Path(__file__).resolve().parents[1] / "models" / "graffiti-effnetlite0.onnx"


@pytest.mark.skipif(not BUNDLED.is_file(), reason="the bundled model is not in this checkout")
@pytest.mark.parametrize("max_batch", [1, 4, 5])
def test_runs_of_at_most_max_batch_tiles_score_exactly_as_one_run(max_batch: int) -> None:
    """The edge's runs of one tile (the default) or of a few change no score (so no decision) against
    one run of all tiles: the bundled network on 11 tiles, an uneven split."""
    rng = np.random.default_rng(7)
    tiles = [rng.integers(0, 256, (320, 320, 3), dtype=np.uint8) for _ in range(11)]
    one = ModelSession(BUNDLED, threads=1, max_batch=0).score(tiles)
    runs = ModelSession(BUNDLED, threads=1, max_batch=max_batch).score(tiles)
    assert one.shape == runs.shape == (11,)
    np.testing.assert_allclose(runs, one, rtol=0, atol=1e-6)


def test_the_edge_runs_one_tile_at_a_time_without_memory_patterns(tmp_path: Path) -> None:
    from detector.edge.config import ModelConfig
    from detector.edge.model_holder import ModelHolder
    from tests.edge.edge_models import redness_model

    assert ModelConfig().max_batch == 1
    holder = ModelHolder(redness_model(tmp_path / "m.onnx"), 1, max_batch=ModelConfig().max_batch)
    assert holder.current.max_batch == 1
    assert holder.current.session.get_session_options().enable_mem_pattern is False


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(ln.split()[1]) for ln in fh if ln.startswith("VmRSS:")) / 1024.0


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux's /proc to read the resident size")
def test_return_freed_memory_gives_freed_heap_back_to_the_system() -> None:
    from detector.onnxmodel import return_freed_memory

    # 64 MB of 64-kB heap blocks (under glibc's mmap threshold), every other one kept: the heap cannot
    # shrink from its top, so the freed half stays in the process until it is handed back.
    blocks = [bytearray(64 * 1024) for _ in range(1_000)]
    for b in blocks:
        b[::4096] = b"x" * len(b[::4096])  # touch every page
    keep = blocks[1::2]
    del blocks
    before = _rss_mb()
    if not return_freed_memory():
        pytest.skip("this C library has no malloc_trim")
    after = _rss_mb()
    assert before - after > 15, (before, after)
    assert len(keep) == 500

