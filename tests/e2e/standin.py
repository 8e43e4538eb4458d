"""A stand-in contract model for the end-to-end test while no trained model is bundled.

"Colourfulness": the share of a tile's pixels whose chroma (max(R,G,B) - min(R,G,B), pixels in
[0, 1]) exceeds 0.1, mapped through a steep sigmoid. Sprayed paint on a pale tunnel wall is
colourful and stays; a passer-by's jacket is colourful too but walks on, which is what the edge's
decision rules (floor, median window, confirm time) are for. Built with the ``onnx`` helper API.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from detector.modelmeta import write_meta
from tests.edge.edge_models import contract_meta

CHROMA_MIN = 0.1  # chroma that counts a pixel as "painted"
SHARE_MID = 0.04  # share of painted pixels that scores 0.5
GAIN = 120.0  # sigmoid steepness (per unit of share)


def colourfulness_model(path: Path, input_size: tuple[int, int] = (64, 64)) -> Path:
    import onnx
    from onnx import TensorProto, helper

    h, w = input_size
    const = [helper.make_tensor(n, TensorProto.FLOAT, [], [v])
             for n, v in (("cmin", CHROMA_MIN), ("mid", SHARE_MID), ("gain", GAIN), ("big", 1000.0))]
    nodes = [
        helper.make_node("ReduceMax", ["input"], ["mx"], axes=[1], keepdims=0),
        helper.make_node("ReduceMin", ["input"], ["mn"], axes=[1], keepdims=0),
        helper.make_node("Sub", ["mx", "mn"], ["chroma"]),
        helper.make_node("Sub", ["chroma", "cmin"], ["over"]),
        helper.make_node("Mul", ["over", "big"], ["steep"]),
        helper.make_node("Sigmoid", ["steep"], ["painted"]),
        helper.make_node("ReduceMean", ["painted"], ["share"], axes=[1, 2], keepdims=0),
        helper.make_node("Sub", ["share", "mid"], ["d"]),
        helper.make_node("Mul", ["d", "gain"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["score"]),
    ]
    graph = helper.make_graph(
        nodes, "colourfulness",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, h, w])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"])],
        initializer=const,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    meta = dataclasses.replace(contract_meta(0.6, 0.3, "1", input_size), name="colourfulness-standin",
                               arch="chroma-share")
    write_meta(model, meta)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(model.SerializeToString())
    os.replace(tmp, path)
    return path
