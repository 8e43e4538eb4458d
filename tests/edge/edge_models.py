"""Tiny ONNX models with the metadata contract, and generated frames, for the edge runner's tests.

The "redness" model scores a tile by how red it is: mean over pixels of relu(R - (G + B) / 2) on
pixels scaled to [0, 1] (mean 0, std 1 in the contract). A tile fully covered by pure red paint
scores 1.0, a grey wall 0.0, a tile half covered 0.5 — so a test controls the score exactly by where
it paints. Built with the ``onnx`` helper API (dev extra); the edge code itself never needs onnx.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from detector.modelmeta import ModelMeta, write_meta


def contract_meta(threshold: float = 0.5, clean_threshold: float = 0.2, version: str = "1",
                  input_size: tuple[int, int] = (32, 32)) -> ModelMeta:
    return ModelMeta(
        name="redness-test", version=version, arch="redness-1x1conv", input_size=input_size,
        mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), threshold=threshold, clean_threshold=clean_threshold,
        resize="area", training_data={"note": "none: a hand-built test model"},
    )


def redness_model(path: Path, threshold: float = 0.5, clean_threshold: float = 0.2, version: str = "1",
                  with_meta: bool = True, offset: float = 0.0, input_size: tuple[int, int] = (32, 32)) -> Path:
    """Write the redness model to ``path``; ``offset`` is added to the score (e.g. 5.0 → out of range)."""
    import onnx
    from onnx import TensorProto, helper

    h, w = input_size
    weight = helper.make_tensor("w", TensorProto.FLOAT, [1, 3, 1, 1], [1.0, -0.5, -0.5])  # RGB channel order
    off = helper.make_tensor("off", TensorProto.FLOAT, [], [float(offset)])
    nodes = [
        helper.make_node("Conv", ["input", "w"], ["c"]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("ReduceMean", ["r"], ["m"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Add", ["m", "off"], ["score"]),
    ]
    graph = helper.make_graph(
        nodes, "redness",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, h, w])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"])],
        initializer=[weight, off],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    if with_meta:
        write_meta(model, contract_meta(threshold, clean_threshold, version, input_size))
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(model.SerializeToString())
    os.replace(tmp, path)  # an atomic drop-in, as an operator's `mv` would do
    return path


def wall(width: int = 320, height: int = 240, seed: int = 0) -> np.ndarray:
    """A grey, lightly textured tunnel wall (BGR uint8) — scores ~0 with the redness model."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = 120 + 25 * ((xx // 16 + yy // 16) % 2)  # tiles of the wall: texture for the health checks
    img = np.repeat(base[:, :, None], 3, axis=2).astype(np.float32) + rng.normal(0, 2, (height, width, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def paint(img: np.ndarray, xyxy: tuple[int, int, int, int]) -> np.ndarray:
    """A copy with a pure red rectangle (the 'graffiti')."""
    out = img.copy()
    x1, y1, x2, y2 = xyxy
    out[y1:y2, x1:x2] = (0, 0, 255)
    return out


def write_folder(folder: Path, frames: list[np.ndarray], interval_s: float, t0: float = 1_700_000_000.0) -> list[Path]:
    """Write frames as PNGs with modification times ``interval_s`` apart (the folder source's clock)."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, img in enumerate(frames):
        p = folder / f"frame_{i:05d}.png"
        cv2.imwrite(str(p), img)
        t = t0 + i * interval_s
        os.utime(p, (t, t))
        paths.append(p)
    return paths
