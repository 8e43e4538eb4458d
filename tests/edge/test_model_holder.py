"""The model session: real onnxruntime, the metadata contract, one batched run, hot swap."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest

from detector.edge.model_holder import ModelHolder
from detector.errors import ModelContractError
from detector.onnxmodel import ModelSession
from tests.edge.edge_models import paint, redness_model, wall


def test_session_reads_the_contract_and_scores_tiles_in_one_batch(tmp_path: Path) -> None:
    s = ModelSession(redness_model(tmp_path / "m.onnx", threshold=0.6, clean_threshold=0.25), threads=1)
    assert (s.meta.threshold, s.meta.clean_threshold, s.spec.input_size) == (0.6, 0.25, (32, 32))
    assert len(s.sha256) == 64 and s.ref.name == "redness-test"
    img = wall(128, 64)
    red = paint(img, (0, 0, 64, 64))
    half = paint(img, (64, 0, 96, 64))
    scores = s.score([img[:, :64], red[:, :64], half[:, 64:128]])
    assert scores.shape == (3,) and scores.dtype == np.float32
    assert scores[0] < 0.05 and scores[1] == pytest.approx(1.0, abs=1e-3) and scores[2] == pytest.approx(0.5, abs=0.02)
    assert s.score([]).shape == (0,)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: redness_model(p, with_meta=False), "no graffiti metadata contract"),
        (lambda p: p.write_bytes(b"not an onnx file at all"), "not a loadable ONNX model"),
        (lambda p: None, "model file not found"),
    ],
    ids=["without_metadata", "corrupt_file", "missing_file"],
)
def test_bad_model_is_refused_with_a_one_line_error(tmp_path: Path, make, match: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "m.onnx"
    make(path)
    with pytest.raises(ModelContractError, match=match) as info:
        ModelSession(path, threads=1)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def _replace(path: Path, make) -> None:  # type: ignore[no-untyped-def]
    make(path)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))  # a visibly newer file


def test_a_good_new_model_dropped_in_place_is_swapped_in(tmp_path: Path) -> None:
    path = redness_model(tmp_path / "m.onnx", version="1")
    holder = ModelHolder(path, threads=1)
    first = holder.current
    assert holder.check() is False  # unchanged file: nothing to do
    _replace(path, lambda p: redness_model(p, version="2", threshold=0.7))
    assert holder.check() is True
    assert holder.current is not first and holder.current.meta.version == "2" and holder.current.meta.threshold == 0.7
    assert holder.current.sha256 != first.sha256 and holder.swaps == 1


@pytest.mark.parametrize(
    "make",
    [
        lambda p: redness_model(p, with_meta=False),
        lambda p: p.write_bytes(b"\x08\x01garbage"),
        lambda p: redness_model(p, offset=5.0),  # scores outside [0, 1]
    ],
    ids=["without_metadata", "corrupt", "scores_out_of_range"],
)
def test_a_bad_new_model_is_rejected_and_the_old_keeps_running(tmp_path: Path, caplog: pytest.LogCaptureFixture, make) -> None:  # type: ignore[no-untyped-def]
    path = redness_model(tmp_path / "m.onnx", version="1")
    holder = ModelHolder(path, threads=1)
    first = holder.current
    _replace(path, make)
    with caplog.at_level(logging.ERROR, logger="detector.edge.model_holder"):
        assert holder.check() is False
    assert holder.current is first and holder.rejections == 1
    assert "new model rejected" in caplog.text
    assert holder.check() is False and holder.rejections == 1  # not retried until the file changes again
    red = paint(wall(64, 64), (0, 0, 64, 64))
    assert holder.current.score([red])[0] == pytest.approx(1.0, abs=1e-3)  # the old model still scores


def test_first_model_must_pass_verification(tmp_path: Path) -> None:
    with pytest.raises(ModelContractError, match="reference scores must be finite and in"):
        ModelHolder(redness_model(tmp_path / "m.onnx", offset=3.0), threads=1)


@pytest.mark.parametrize(
    ("channel_order", "resize", "workers"),
    [("RGB", "area", 1), ("BGR", "linear", 1), ("RGB", "cubic", 3)],
    ids=["rgb_area_inline", "bgr_linear_inline", "rgb_cubic_threaded"],
)
def test_tile_preprocessor_matches_the_shared_preprocessing(channel_order: str, resize: str, workers: int) -> None:
    """The fused path within float32 rounding; the table path (kept when the fused call is not usable,
    threaded with several workers) bit for bit."""
    from detector.onnxmodel import BLOB_TOLERANCE, TilePreprocessor
    from detector.preprocess import PreprocessSpec, preprocess_batch

    spec = PreprocessSpec(input_size=(48, 40), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                          channel_order=channel_order, resize=resize)
    rng = np.random.default_rng(3)
    tiles = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), rng.integers(0, 256, (30, 20, 3), dtype=np.uint8),
             rng.integers(0, 256, (64, 64), dtype=np.uint8), rng.integers(0, 256, (50, 70, 4), dtype=np.uint8)]
    want = preprocess_batch(tiles, spec)
    fused = TilePreprocessor(spec, workers)
    fast = fused(tiles)
    assert fused._blob is not False
    assert fast.dtype == np.float32 and float(np.abs(fast - want).max()) <= BLOB_TOLERANCE
    table = TilePreprocessor(spec, workers)
    table._blob = False  # as on an OpenCV without the dnn module
    slow = table(tiles)
    assert slow.dtype == np.float32 and np.array_equal(slow, want)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "table"])
def test_windows_of_one_image_are_preprocessed_as_the_windows_alone(fused: bool) -> None:
    """The whole image normalised once, then overlapping windows gathered: the same batch as
    preprocessing each window on its own (fused: within float32 rounding; table path: bit for bit)."""
    from detector.onnxmodel import BLOB_TOLERANCE, TilePreprocessor
    from detector.preprocess import PreprocessSpec, preprocess_batch

    spec = PreprocessSpec(input_size=(48, 40))
    image = np.random.default_rng(5).integers(0, 256, (100, 130, 3), dtype=np.uint8)
    corners = [(0, 0), (30, 20), (90, 52), (45, 40)]  # overlapping, one at the far corner
    want = preprocess_batch([image[y:y + 48, x:x + 40] for x, y in corners], spec)
    pre = TilePreprocessor(spec, 1)
    if not fused:
        pre._blob = False
    got = pre.windows(image, corners)
    assert got.shape == (4, 3, 48, 40) and got.dtype == np.float32
    assert (pre._blob is not False) is fused
    assert float(np.abs(got - want).max()) <= (BLOB_TOLERANCE if fused else 0.0)
    assert pre.windows(image, []).shape == (0, 3, 48, 40)
