"""An exported model run the way the device runs it: the one place that opens ONNX Runtime and scores.

The edge (:mod:`detector.edge.model_holder`, ``graffiti edge score``), ``graffiti eval``/``export``/
``rethreshold`` and the view-level figures (:mod:`detector.train.scorers`) and the contract reader
(:func:`read_meta`) all open their sessions here, so they share the session options, the
one-line errors for a missing or unloadable file, the preprocessing read from the contract and the
device's rules for a score: at most ``max_batch`` tiles per run, exactly one value per input, and
every value clipped to [0, 1] with NaN read as 0 ("no evidence"). Evaluation figures are therefore
what the device does, by construction, not by keeping two copies in step.

numpy/cv2/onnxruntime only — never torch; the contract itself (keys, checks, writing) lives in
:mod:`detector.modelmeta`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from detector.errors import ModelContractError, require
from detector.events import ModelRef
from detector.modelmeta import INPUT_NAME, OUTPUT_NAME, ModelMeta
from detector.preprocess import PreprocessSpec, preprocess_batch


def open_session(path: Path, threads: int = 0, data: bytes | None = None) -> Any:
    """An onnxruntime InferenceSession on the CPU for the ONNX file ``path`` (or its bytes ``data``).

    ``threads``: intra-op threads (0: onnxruntime's default, all cores). A missing or unloadable
    file is a one-line :class:`ModelContractError` naming the file.
    """
    path = Path(path)
    if data is None and not path.is_file():
        raise ModelContractError(f"{path}: model file not found")
    ort: Any = require("onnxruntime", "edge")
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path) if data is None else data, sess_options=opts,
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own opaque error types
        first = (str(exc).strip().splitlines() or ["unknown error"])[0][:160]
        raise ModelContractError(f"{path}: not a loadable ONNX model ({first})") from None


def meta_from_session(sess: Any, source: str) -> ModelMeta:
    """Read and check the contract from an open onnxruntime InferenceSession."""
    props = dict(sess.get_modelmeta().custom_metadata_map)
    meta = ModelMeta.from_props(props, source)
    inputs = [i.name for i in sess.get_inputs()]
    outputs = [o.name for o in sess.get_outputs()]
    if inputs != [INPUT_NAME] or OUTPUT_NAME not in outputs:
        raise ModelContractError(
            f"{source}: expected one input '{INPUT_NAME}' and an output '{OUTPUT_NAME}', found inputs {inputs} outputs {outputs}"
        )
    return meta


def read_meta(path: Path) -> ModelMeta:
    """Read the contract from an ONNX file as the edge will read it (onnxruntime only, no onnx/torch)."""
    return meta_from_session(open_session(Path(path), threads=1), str(path))


def device_scores(raw: np.ndarray) -> np.ndarray:
    """The device's reading of model outputs: float32 clipped to [0, 1]; NaN is "no evidence" (0).

    A NaN must never look like graffiti or like a clean wall.
    """
    return np.nan_to_num(np.clip(np.asarray(raw, dtype=np.float32), 0.0, 1.0), nan=0.0)


class TilePreprocessor:
    """:func:`detector.preprocess.preprocess_batch` on a thread pool sized to the model's thread count,
    so a frame's tiles are resized and normalised in parallel on a multi-core Pi."""

    def __init__(self, spec: PreprocessSpec, workers: int = 1) -> None:
        self.spec = spec
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="preprocess") if workers > 1 else None

    def __call__(self, tiles_bgr: Sequence[np.ndarray]) -> np.ndarray:
        return preprocess_batch(tiles_bgr, self.spec, self._pool)


class OnnxGraph:
    """An ONNX file with the contract's input and output, run in batches of at most ``max_batch``.

    The graph alone, without reading the contract: export scores its freshly traced graph with it
    before the contract is written. :class:`ModelSession` adds the contract.
    """

    def __init__(self, path: Path, threads: int = 0, max_batch: int = 0, data: bytes | None = None) -> None:
        self.path = Path(path)
        self.max_batch = int(max_batch)  # 0: every input in one run; n: runs of at most n inputs
        self.threads = int(threads)
        self.session: Any = open_session(self.path, self.threads, data)

    def raw_scores(self, batch: np.ndarray) -> np.ndarray:
        """The model's own outputs for a preprocessed N×3×H×W batch: float32 [N], not yet clipped."""
        if batch.shape[0] == 0:
            return np.zeros((0,), dtype=np.float32)
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        step = self.max_batch if 0 < self.max_batch < batch.shape[0] else batch.shape[0]
        parts = [self.session.run([OUTPUT_NAME], {INPUT_NAME: batch[i:i + step]})[0]
                 for i in range(0, batch.shape[0], step)]
        scores = np.concatenate([np.asarray(p, dtype=np.float32).reshape(-1) for p in parts])
        if scores.shape[0] != batch.shape[0]:
            raise ModelContractError(
                f"{self.path}: output '{OUTPUT_NAME}' has {scores.shape[0]} values for {batch.shape[0]} inputs"
            )
        return scores

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Scores for a preprocessed N×3×H×W batch → float32 [N] in [0, 1], as the device reads them."""
        return device_scores(self.raw_scores(batch))


class ModelSession(OnnxGraph):
    """A loaded model under its contract: ``score(tiles)`` runs all tiles of a frame through ONE batched run.

    Everything about the input (size, mean/std, channel order, resize) comes from the metadata; a
    model without the contract is refused.
    """

    def __init__(self, path: Path, threads: int = 4, max_batch: int = 0) -> None:
        path = Path(path)
        if not path.is_file():
            raise ModelContractError(f"{path}: model file not found")
        # Read the bytes once so the sha256 and the session describe the same file version.
        data = path.read_bytes()
        super().__init__(path, threads, max_batch, data)
        self.sha256 = hashlib.sha256(data).hexdigest()
        self.meta: ModelMeta = meta_from_session(self.session, str(self.path))
        self.spec: PreprocessSpec = self.meta.preprocess_spec()
        self._preprocess = TilePreprocessor(self.spec, self.threads)

    @property
    def ref(self) -> ModelRef:
        return ModelRef(name=self.meta.name, version=self.meta.version, sha256=self.sha256)

    def preprocess(self, tiles_bgr: Sequence[np.ndarray]) -> np.ndarray:
        """uint8 BGR tiles → N×3×H×W float32, exactly as detector.preprocess.preprocess_batch."""
        return self._preprocess(tiles_bgr)

    def score(self, tiles_bgr: Sequence[np.ndarray]) -> np.ndarray:
        """Scores for uint8 BGR tiles (any size): preprocess per the contract, batched runs, device rules."""
        return self.run(self.preprocess(tiles_bgr))
