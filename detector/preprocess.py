"""The single preprocessing step, in numpy/cv2, shared by the edge runner, ONNX evaluation and training.

Training applies its augmentations to uint8 BGR images and then calls :func:`to_tensor_layout`
on each, so the model sees exactly what the device will feed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


def to_tensor_layout(image_bgr: np.ndarray, spec: PreprocessSpec, out: np.ndarray | None = None) -> np.ndarray:
    """uint8 BGR image (any size) → float32 3×H×W, channel order and normalisation per ``spec``."""
    img = resize_to_input(image_bgr, spec)
    if spec.channel_order == "RGB":
        img = img[:, :, ::-1]
    scale = np.float32(1.0 / 255.0)
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    chw = img.transpose(2, 0, 1).astype(np.float32) * scale
    chw -= mean[:, None, None]
    chw /= std[:, None, None]
    if out is not None:
        out[...] = chw
        return out
    return np.ascontiguousarray(chw)


def preprocess_batch(images_bgr: Sequence[np.ndarray], spec: PreprocessSpec) -> np.ndarray:
    """A list of uint8 BGR images → one float32 N×3×H×W batch for a single ORT run."""
    h, w = spec.input_size
    batch = np.empty((len(images_bgr), 3, h, w), dtype=np.float32)
    for i, img in enumerate(images_bgr):
        to_tensor_layout(img, spec, out=batch[i])
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
