"""The model contract round-trips through ONNX metadata and rejects models without it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detector.errors import ModelContractError
from detector.modelmeta import ModelMeta, write_meta
from detector.onnxmodel import read_meta

onnx = pytest.importorskip("onnx")


def _meta(**overrides: object) -> ModelMeta:
    base: dict = dict(name="t", version="1", arch="tiny", input_size=(8, 8), mean=(0.5, 0.5, 0.5),
                      std=(0.25, 0.25, 0.25), threshold=0.7, clean_threshold=0.3,
                      metrics={"auroc": 0.9}, training_data={"sources": ["synth"]})
    base.update(overrides)
    return ModelMeta(**base)


def _tiny_model(path: Path, meta: ModelMeta | None) -> None:
    """A real ONNX graph: score = sigmoid(mean of the input)."""
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("ReduceMean", ["input"], ["m"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Sigmoid", ["m"], ["score"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    if meta is not None:
        write_meta(model, meta)
    onnx.save(model, str(path))


def test_contract_round_trips_through_onnx(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    _tiny_model(path, _meta())
    meta = read_meta(path)
    assert meta == _meta()
    assert meta.preprocess_spec().input_size == (8, 8)


def test_model_without_contract_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.onnx"
    _tiny_model(path, None)
    with pytest.raises(ModelContractError, match="plain.onnx: ONNX model has no graffiti metadata contract"):
        read_meta(path)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"threshold": 1.5}, "graffiti.threshold"),
        ({"clean_threshold": 0.9}, "graffiti.clean_threshold"),
        ({"input_size": (3, 224)}, "graffiti.input_size"),
        ({"std": (1.0, 0.0, 1.0)}, "graffiti.std"),
        ({"channel_order": "GBR"}, "graffiti.channel_order"),
    ],
    ids=["threshold-above-1", "clean-above-detect", "tiny-input", "zero-std", "channel-order"],
)
def test_invalid_contract_values_name_the_key(tmp_path: Path, overrides: dict, match: str) -> None:
    path = tmp_path / "bad.onnx"
    _tiny_model(path, _meta(**overrides))
    with pytest.raises(ModelContractError, match=match):
        read_meta(path)


def test_missing_key_is_named() -> None:
    props = _meta().to_props()
    del props["graffiti.mean"]
    with pytest.raises(ModelContractError, match="'graffiti.mean' is missing"):
        ModelMeta.from_props(props, "x.onnx")


def test_corrupt_file_is_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(ModelContractError, match="corrupt.onnx: not a loadable ONNX model") as info:
        read_meta(path)
    assert "\n" not in str(info.value)
