"""The shared preprocessing: layout, normalisation, and corrupt-image handling."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from detector.preprocess import PreprocessSpec, preprocess_batch, read_image, to_tensor_layout


def test_layout_channel_order_and_normalisation() -> None:
    spec = PreprocessSpec(input_size=(4, 6), mean=(0.0, 0.5, 1.0), std=(1.0, 0.5, 0.25))
    img = np.zeros((8, 12, 3), np.uint8)
    img[..., 2] = 255  # pure red in BGR
    out = to_tensor_layout(img, spec)
    assert out.shape == (3, 4, 6) and out.dtype == np.float32
    # RGB order: channel 0 is red → (1 - 0) / 1; green (0 - 0.5) / 0.5; blue (0 - 1) / 0.25
    np.testing.assert_allclose(out[:, 0, 0], [1.0, -1.0, -4.0], atol=1e-6)


def test_batch_matches_single_images() -> None:
    spec = PreprocessSpec(input_size=(16, 16))
    rng = np.random.default_rng(1)
    imgs = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [(16, 16), (40, 30), (10, 10)]]
    batch = preprocess_batch(imgs, spec)
    for i, img in enumerate(imgs):
        np.testing.assert_array_equal(batch[i], to_tensor_layout(img, spec))


def test_greyscale_images_become_three_channels() -> None:
    out = to_tensor_layout(np.full((20, 20), 128, np.uint8), PreprocessSpec(input_size=(8, 8)))
    assert out.shape == (3, 8, 8)


@pytest.mark.parametrize("kind", ["truncated", "empty", "garbage", "missing"])
def test_unreadable_images_return_none(tmp_path: Path, kind: str) -> None:
    ok, jpg = cv2.imencode(".jpg", np.full((32, 32, 3), 90, np.uint8))
    assert ok
    path = tmp_path / "x.jpg"
    if kind == "truncated":
        path.write_bytes(jpg.tobytes()[: len(jpg) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(b"not an image at all" * 10)
    assert read_image(str(path)) is None


def test_good_jpeg_decodes(tmp_path: Path) -> None:
    ok, jpg = cv2.imencode(".jpg", np.full((32, 24, 3), 90, np.uint8))
    path = tmp_path / "ok.jpg"
    path.write_bytes(jpg.tobytes())
    img = read_image(str(path))
    assert img is not None and img.shape == (32, 24, 3)


def test_lookup_table_normalisation_is_bit_identical_to_arithmetic() -> None:
    """The table lookup must give exactly what element-wise float32 arithmetic gives (training parity)."""
    spec = PreprocessSpec(input_size=(16, 16))
    img = np.random.default_rng(3).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    rgb = img[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) * np.float32(1.0 / 255.0)
    rgb -= np.asarray(spec.mean, np.float32)[:, None, None]
    rgb /= np.asarray(spec.std, np.float32)[:, None, None]
    np.testing.assert_array_equal(to_tensor_layout(img, spec), rgb)


def test_parallel_batch_equals_serial_batch() -> None:
    from concurrent.futures import ThreadPoolExecutor

    spec = PreprocessSpec(input_size=(24, 24))
    rng = np.random.default_rng(4)
    imgs = [rng.integers(0, 256, (50, 70, 3), dtype=np.uint8) for _ in range(6)]
    with ThreadPoolExecutor(3) as pool:
        np.testing.assert_array_equal(preprocess_batch(imgs, spec, pool), preprocess_batch(imgs, spec))
