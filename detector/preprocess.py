"""The single preprocessing step, in numpy/cv2, shared by the edge runner, ONNX evaluation and training.

Training applies its augmentations to uint8 BGR images and then calls :func:`to_tensor_layout`
on each, so the model sees exactly what the device will feed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class PreprocessSpec:
    input_size: tuple[int, int] = (224, 224)  # (height, width)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    channel_order: str = "RGB"
    resize: str = "area"


def _interp(name: str) -> int:
    import cv2

    return {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC,
            "nearest": cv2.INTER_NEAREST}[name]


def resize_to_input(image_bgr: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """Stretch a uint8 BGR (or greyscale) image to the model input size. Returns uint8 BGR H×W×3."""
    import cv2

    if image_bgr.ndim == 2:
        image_bgr = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR)
    elif image_bgr.shape[2] == 4:
        image_bgr = cv2.cvtColor(image_bgr, cv2.COLOR_BGRA2BGR)
    h, w = spec.input_size
    if image_bgr.shape[:2] != (h, w):
        # INTER_AREA is only anti-aliased when shrinking; use linear when enlarging.
        shrinking = image_bgr.shape[0] >= h and image_bgr.shape[1] >= w
        interp = _interp(spec.resize if shrinking or spec.resize != "area" else "linear")
        image_bgr = cv2.resize(image_bgr, (w, h), interpolation=interp)
    return image_bgr


@lru_cache(maxsize=16)
def _channel_tables(spec: PreprocessSpec) -> tuple[np.ndarray, ...]:
    """Per output channel, the normalised float32 value of each uint8 level.

    Built with exactly the float32 operations an element-wise ``(x / 255 - mean) / std`` would do, so
    a table lookup gives the same bits as computing it — and is several times faster on a Pi.
    """
    scale = np.float32(1.0 / 255.0)
    tables = []
    for c in range(3):
        table = np.arange(256, dtype=np.float32) * scale
        table -= np.float32(spec.mean[c])
        table /= np.float32(spec.std[c])
        tables.append(table)
    return tuple(tables)


def to_tensor_layout(image_bgr: np.ndarray, spec: PreprocessSpec, out: np.ndarray | None = None) -> np.ndarray:
    """uint8 BGR image (any size) → float32 3×H×W, channel order and normalisation per ``spec``."""
    img = resize_to_input(image_bgr, spec)
    tables = _channel_tables(spec)
    source_channel = (2, 1, 0) if spec.channel_order == "RGB" else (0, 1, 2)
    if out is None:
        h, w = spec.input_size
        out = np.empty((3, h, w), dtype=np.float32)
    for c in range(3):
        np.take(tables[c], img[:, :, source_channel[c]], out=out[c])
    return out


def preprocess_batch(
    images_bgr: Sequence[np.ndarray], spec: PreprocessSpec, executor: Executor | None = None
) -> np.ndarray:
    """A list of uint8 BGR images → one float32 N×3×H×W batch for a single ORT run.

    With an ``executor`` the images are converted in parallel (cv2 and numpy release the GIL).
    """
    h, w = spec.input_size
    batch = np.empty((len(images_bgr), 3, h, w), dtype=np.float32)
    if executor is None or len(images_bgr) < 2:
        for i, img in enumerate(images_bgr):
            to_tensor_layout(img, spec, out=batch[i])
    else:
        for _ in executor.map(lambda i: to_tensor_layout(images_bgr[i], spec, out=batch[i]), range(len(images_bgr))):
            pass
    return batch


def read_image(path: str) -> np.ndarray | None:
    """Decode an image file to uint8 BGR, or None when it is missing, truncated or not an image.

    Uses imdecode on the bytes so non-ASCII paths work and a truncated JPEG is detected
    (OpenCV decodes partial JPEGs with a warning; we check the end-of-image marker).
    """
    import cv2

    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    if not data:
        return None
    if data[:2] == b"\xff\xd8" and data.rstrip(b"\x00")[-2:] != b"\xff\xd9":
        return None  # truncated JPEG: no end-of-image marker
    arr = np.frombuffer(data, dtype=np.uint8)
    img = cv2.imdecode(arr, cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        return None
    return img
