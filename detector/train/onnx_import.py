"""An exported ONNX model back into one of our checkpoints, so it can be fine-tuned (``graffiti import-onnx``).

A bundled model ships as ONNX only; its training checkpoint stays with whoever trained it. To fine-tune
it (``graffiti train --from``), its weights are read back from the graph into the architecture named
in its contract (``graffiti.arch``):

* Convolutions and the final linear layer are matched **in forward order** (ONNX nodes run in the
  order the network computes them; our architectures register their modules in that order), each
  pair checked for shape.
* The exporter folded every BatchNorm into the convolution before it (weight scaled, bias added), so
  the statistics and scale cannot be told apart again. The import writes the folded convolution
  with an identity BatchNorm behind it (mean 0, variance ``1 - eps``, scale 1, shift = the folded
  bias): the same function in eval mode. Such a BatchNorm must keep its statistics while training
  (``freeze_bn``); ``graffiti train --from`` turns that on for an imported checkpoint.
* The result is checked, not trusted: the rebuilt network and the ONNX model score the same random
  images (ONNX Runtime, like the device) and must agree within the export's parity tolerance.

An int8 model cannot be imported (its weights are quantised); import the fp32 model it came from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from detector.errors import CheckpointError, ModelContractError, require

PARITY_TOLERANCE = 1e-4  # as export's parity check (detector/train/onnx_export.py)
PARITY_IMAGES = 4
IMPORT_DROPOUT = 0.3  # not in the graph (eval has none); fine-tuning uses the training default


@dataclass
class ImportResult:
    path: Path
    arch: str
    convs: int
    batchnorms_folded: int
    linears: int
    max_abs_diff: float
    threshold: float


def _arrays(model: Any) -> dict[str, np.ndarray]:
    """Every constant tensor of the graph by name: initializers and Constant nodes' values."""
    from onnx import numpy_helper

    out = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    out[node.output[0]] = numpy_helper.to_array(attr.t)
        elif node.op_type == "Identity" and node.input[0] in out:
            out[node.output[0]] = out[node.input[0]]
    return out


def _attr(node: Any, name: str, default: int) -> int:
    for a in node.attribute:
        if a.name == name:
            return int(a.i)
    return default


def _layer_pairs(net: nn.Module) -> tuple[list[tuple[nn.Conv2d, nn.BatchNorm2d | None]], list[nn.Linear]]:
    """The network's convolutions in registration (= forward) order, each with the BatchNorm right after
    it (None when it has a bias of its own or no BatchNorm follows), and its linear layers."""
    modules = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear))]
    convs: list[tuple[nn.Conv2d, nn.BatchNorm2d | None]] = []
    linears: list[nn.Linear] = []
    for i, m in enumerate(modules):
        if isinstance(m, nn.Conv2d):
            nxt = modules[i + 1] if i + 1 < len(modules) else None
            bn = nxt if (isinstance(nxt, nn.BatchNorm2d) and m.bias is None
                         and nxt.num_features == m.out_channels) else None
            convs.append((m, bn))
        elif isinstance(m, nn.Linear):
            linears.append(m)
    return convs, linears


def _load_into(net: nn.Module, graph: Any, arrays: dict[str, np.ndarray], path: Path, arch: str) -> tuple[int, int, int]:
    convs, linears = _layer_pairs(net)
    conv_nodes = [n for n in graph.node if n.op_type == "Conv"]
    lin_nodes = [n for n in graph.node if n.op_type in ("Gemm", "MatMul")]
    if len(conv_nodes) != len(convs) or len(lin_nodes) != len(linears):
        raise CheckpointError(f"{path}: its graph does not match the {arch} architecture named in its metadata "
                              f"({len(conv_nodes)} convolutions and {len(lin_nodes)} linear layers, expected "
                              f"{len(convs)} and {len(linears)})")

    def const(node: Any, idx: int, what: str) -> np.ndarray:
        name = node.input[idx] if idx < len(node.input) else ""
        if name not in arrays:
            raise CheckpointError(f"{path}: {what} ({node.name or node.op_type}) takes a computed input "
                                  f"{name!r}, not a stored weight; this graph cannot be imported")
        return np.array(arrays[name], dtype=np.float32)  # a writable copy for torch.from_numpy

    folded = 0
    with torch.no_grad():
        for k, ((conv, bn), node) in enumerate(zip(convs, conv_nodes, strict=True)):
            w = const(node, 1, f"convolution {k}")
            if tuple(w.shape) != tuple(conv.weight.shape):
                raise CheckpointError(f"{path}: convolution {k} has weights {list(w.shape)}, the {arch} "
                                      f"architecture expects {list(conv.weight.shape)}")
            b = const(node, 2, f"convolution {k}") if len(node.input) > 2 and node.input[2] else None
            conv.weight.copy_(torch.from_numpy(w))
            bias = torch.from_numpy(b) if b is not None else torch.zeros(conv.out_channels)
            if bn is not None:  # the exporter folded it into this convolution: an identity that adds the bias
                assert bn.running_mean is not None and bn.running_var is not None  # tracked (eval used them)
                bn.weight.fill_(1.0)
                bn.bias.copy_(bias)
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
                folded += 1
            elif conv.bias is not None:
                conv.bias.copy_(bias)
            elif b is not None and np.any(b != 0):
                raise CheckpointError(f"{path}: convolution {k} has a bias the {arch} architecture has no place for")
        for k, (lin, node) in enumerate(zip(linears, lin_nodes, strict=True)):
            w = const(node, 1, f"linear layer {k}")
            if node.op_type == "MatMul" or not _attr(node, "transB", 0):
                w = w.T
            if tuple(w.shape) != tuple(lin.weight.shape):
                raise CheckpointError(f"{path}: linear layer {k} has weights {list(w.shape)}, the {arch} "
                                      f"architecture expects {list(lin.weight.shape)}")
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
            if lin.bias is not None:
                b = const(node, 2, f"linear layer {k}") if node.op_type == "Gemm" and len(node.input) > 2 else None
                lin.bias.copy_(torch.from_numpy(b.reshape(-1)) if b is not None else torch.zeros_like(lin.bias))
    return len(convs), folded, len(linears)


def _parity(net: nn.Module, sess: Any, input_size: tuple[int, int]) -> float:
    """Largest score difference between the rebuilt network and the ONNX Runtime session on random images."""
    from detector.modelmeta import INPUT_NAME

    h, w = input_size
    x = np.random.default_rng(0).standard_normal((PARITY_IMAGES, 3, h, w)).astype(np.float32)
    onnx_scores = np.asarray(sess.run(None, {INPUT_NAME: x})[0], dtype=np.float64).reshape(-1)
    net.eval()
    with torch.no_grad():
        torch_scores = torch.sigmoid(net(torch.from_numpy(x)).reshape(-1)).double().numpy()
    return float(np.max(np.abs(onnx_scores - torch_scores)))


def import_onnx(onnx_path: Path, out: Path) -> ImportResult:
    """Rebuild the fp32 ONNX model at ``onnx_path`` as one of our checkpoints at ``out`` (see the module doc)."""
    from detector.onnxmodel import meta_from_session, open_session
    from detector.train import archs
    from detector.train.checkpoint import FORMAT, preprocess_to_dict, write_checkpoint_dict

    onnx_path, out = Path(onnx_path), Path(out)
    onnx: Any = require("onnx", "train")
    sess = open_session(onnx_path, threads=0)  # one-line errors for a missing or unloadable file
    meta = meta_from_session(sess, str(onnx_path))  # ... and for a missing contract
    if meta.quantization != "none":
        raise CheckpointError(f"{onnx_path}: a quantised model ({meta.quantization}) cannot be imported for "
                              "training; import the fp32 model it was made from")
    try:
        arch = archs.get_arch(meta.arch)
    except Exception as exc:  # ConfigError: an architecture this install does not know
        raise CheckpointError(f"{onnx_path}: metadata names architecture {meta.arch!r}: {exc}") from None
    raw = onnx_path.read_bytes()
    try:
        graph_model = onnx.load_model_from_string(raw)
    except Exception as exc:
        raise ModelContractError(f"{onnx_path}: not a readable ONNX file ({type(exc).__name__})") from None
    model = archs.build(meta.arch, weights=None, dropout=IMPORT_DROPOUT)
    convs, folded, linears = _load_into(arch.inner(model), graph_model.graph, _arrays(graph_model), onnx_path,
                                        meta.arch)
    diff = _parity(model, sess, meta.input_size)
    if not diff <= PARITY_TOLERANCE:
        raise CheckpointError(f"{onnx_path}: the rebuilt {meta.arch} network scores differ from the ONNX model "
                              f"by up to {diff:.2g} (tolerance {PARITY_TOLERANCE:g}); its graph is not one this "
                              "architecture can be read back from")
    sha = hashlib.sha256(raw).hexdigest()
    payload: dict[str, Any] = {
        "format": FORMAT,
        "arch": meta.arch,
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer_state": None,
        "scheduler_state": None,
        "epoch": 0,
        "metrics": dict(meta.metrics),
        "config": {"arch": meta.arch, "input_px": int(meta.input_size[0]), "dropout": IMPORT_DROPOUT,
                   "freeze_bn": True},
        "preprocess": preprocess_to_dict(meta.preprocess_spec()),
        "data": {},
        "git_rev": meta.git_rev,
        "extra": {"imported_from": {"path": str(onnx_path), "sha256": sha, "name": meta.name,
                                    "version": meta.version, "threshold": meta.threshold,
                                    "clean_threshold": meta.clean_threshold,
                                    "training_data": meta.training_data},
                  "bn_folded": True, "parity_max_abs_diff": diff},
    }
    write_checkpoint_dict(out, payload)
    return ImportResult(out, meta.arch, convs, folded, linears, diff, meta.threshold)


def is_bn_folded(raw: dict[str, Any]) -> bool:
    """Whether a checkpoint dict holds folded BatchNorms (needs freeze_bn): imported from ONNX, or trained
    on from such a checkpoint with freeze_bn (its statistics are still the identity's). Read from the
    weights themselves: every BatchNorm has mean 0 and one variance just under 1 (``1 - eps``), which
    no BatchNorm that saw data has."""
    extra = raw.get("extra") or {}
    if isinstance(extra, dict) and extra.get("bn_folded"):
        return True
    state = raw.get("model_state") or {}
    found = False
    for key, var in state.items():
        if not key.endswith("running_var"):
            continue
        mean = state.get(key[: -len("var")] + "mean")
        if mean is None or var.numel() == 0:
            continue
        if bool(mean.any()) or not (float(var.min()) == float(var.max()) and 0.99 <= float(var.max()) < 1.0):
            return False
        found = True
    return found
