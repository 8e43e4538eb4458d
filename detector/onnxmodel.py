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

import functools
import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from detector.errors import ModelContractError, require
from detector.events import ModelRef
from detector.modelmeta import INPUT_NAME, OUTPUT_NAME, ModelMeta
from detector.preprocess import PreprocessSpec, preprocess_batch, resize_to_input


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
    # No memory-pattern plans: the edge runs batches of changing size (only the tiles whose wall changed), and a
    # plan per shape kept RSS growing for thousands of frames (fp32: 317 -> 360 MB over 3,000 frames, int8 with
    # runs of <= 5 tiles: 181 MB vs 169 MB flat without); no measurable cost in run time (scripts/bench_edge.py).
    opts.enable_mem_pattern = False
    try:
        session = ort.InferenceSession(str(path) if data is None else data, sess_options=opts,
                                       providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own opaque error types
        first = (str(exc).strip().splitlines() or ["unknown error"])[0][:160]
        raise ModelContractError(f"{path}: not a loadable ONNX model ({first})") from None
    return_freed_memory()
    return session


def return_freed_memory() -> bool:
    """Give the heap memory the C allocator holds free back to the system (glibc's ``malloc_trim``).

    Building a session parses the model and rewrites its graph (layout transforms of every convolution):
    about 30 MB of transient allocations for the 13.6 MB fp32 model, which glibc keeps in the process
    after they are freed, and so do a sample's temporaries on the edge. Returned, the edge's resident
    memory is that much lower for as long as it runs (``scripts/bench_edge.py``). False where the C
    library has no ``malloc_trim`` (musl, macOS, Windows): nothing to do there.
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


@functools.cache
def _malloc_trim() -> Any:
    import ctypes

    try:  # the symbols already loaded into this process (no ldconfig lookup, no subprocess)
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


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
    a = np.asarray(raw, dtype=np.float32)
    return np.where(a > 0.0, np.minimum(a, np.float32(1.0)), np.float32(0.0)).astype(np.float32, copy=False)


BLOB_TOLERANCE = 1e-5  # largest difference from the table path that the fused path may show (float32 rounding)


class TilePreprocessor:
    """:func:`detector.preprocess.preprocess_batch` for a frame's tiles, as fast as the machine allows.

    Tiles are brought to the input size by the contract's resize (:func:`resize_to_input`, a no-op
    for the edge's tiles, which are cut from one resized frame); then normalisation and the
    HWC→CHW layout of the whole batch are ONE fused OpenCV call (``cv2.dnn.blobFromImagesWithParams``:
    ``(x - 255·mean) · 1/(255·std)`` per channel), about twice as fast on one core as the per-channel
    table lookups of :func:`preprocess_batch`. Its results differ from the table's only by float32
    rounding; the first call checks that on a test tile (within ``BLOB_TOLERANCE``) and keeps the
    table path when the check fails or the OpenCV build has no ``dnn`` module. With the table path
    the tiles are converted on a thread pool sized to the model's thread count.
    """

    def __init__(self, spec: PreprocessSpec, workers: int = 1) -> None:
        self.spec = spec
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._blob: Any = None  # cv2.dnn.Image2BlobParams once checked; False when the table path is used
        self._whole: tuple[tuple[int, int], Any] | None = None  # the same for a whole image of this (w, h)

    def _fused_params(self) -> Any:
        """The fused call's Image2BlobParams, checked on first use; False: use the table path."""
        if self._blob is None:
            self._blob = self._check_blob()
        return self._blob

    def __call__(self, tiles_bgr: Sequence[np.ndarray]) -> np.ndarray:
        if self._fused_params() is False or not tiles_bgr:
            if self._pool is None and self.workers > 1:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="preprocess")
            return preprocess_batch(tiles_bgr, self.spec, self._pool)
        return self._fused(tiles_bgr, self._blob)

    def windows(self, image_bgr: np.ndarray, boxes: Sequence[tuple[int, int]]) -> np.ndarray:
        """The batch for input-sized windows of one uint8 BGR image (top-left corners ``(x, y)``): the
        image is normalised once, then the windows are gathered — overlapping tiles are not normalised
        twice. The same values as :meth:`__call__` on the windows (the per-pixel operation is the same)."""
        h, w = self.spec.input_size
        p = self._fused_params()
        if p is False or not boxes:
            return self([image_bgr[y:y + h, x:x + w] for x, y in boxes])
        import cv2

        ih, iw = image_bgr.shape[:2]
        key = (iw, ih)
        if self._whole is None or self._whole[0] != key:
            self._whole = (key, cv2.dnn.Image2BlobParams(scalefactor=p.scalefactor, size=key, mean=p.mean,
                                                          swapRB=p.swapRB, ddepth=p.ddepth))
        blob = np.asarray(cv2.dnn.blobFromImageWithParams(image_bgr, self._whole[1]), dtype=np.float32)[0]
        out = np.empty((len(boxes), 3, h, w), dtype=np.float32)
        for k, (x, y) in enumerate(boxes):
            out[k] = blob[:, y:y + h, x:x + w]
        return out

    def _fused(self, tiles_bgr: Sequence[np.ndarray], params: Any) -> np.ndarray:
        import cv2

        sized = [resize_to_input(t, self.spec) for t in tiles_bgr]
        out = cv2.dnn.blobFromImagesWithParams(sized, params)
        return np.asarray(out, dtype=np.float32)

    def _check_blob(self) -> Any:
        """Image2BlobParams for this spec when the fused call reproduces the table path, else False."""
        import cv2

        h, w = self.spec.input_size
        rgb = self.spec.channel_order == "RGB"
        # mean and scale in the blob's channel order (after swapRB), as the normalisation wants them
        mean = tuple(255.0 * float(m) for m in self.spec.mean)
        scale = tuple(1.0 / (255.0 * float(s)) for s in self.spec.std)
        try:
            params = cv2.dnn.Image2BlobParams(scalefactor=(*scale, 0.0), size=(w, h), mean=(*mean, 0.0),
                                              swapRB=rgb, ddepth=cv2.CV_32F)
        except (AttributeError, cv2.error):  # an OpenCV without the dnn module
            return False
        return params if self._check_blob_params(params) else False

    def _check_blob_params(self, params: Any) -> bool:
        """Does the fused call with these params reproduce the table path on a tile holding every level?"""
        import cv2

        h, w = self.spec.input_size
        levels = np.arange(256, dtype=np.uint8)
        probe = np.stack([np.resize(np.roll(levels, 85 * k), (h, w)) for k in range(3)], axis=2)
        try:
            got = np.asarray(cv2.dnn.blobFromImagesWithParams([probe], params), dtype=np.float32)
        except (AttributeError, cv2.error):
            return False
        want = preprocess_batch([probe], self.spec)
        return got.shape == want.shape and float(np.abs(got - want).max()) <= BLOB_TOLERANCE


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
    """A loaded model under its contract: ``score(tiles)`` runs the tiles of a frame in batched runs of at most
    ``max_batch`` (0: one run; the edge's default is 1, as fast as runs of 5 here and the lightest).

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

    def score_windows(self, image_bgr: np.ndarray, boxes: Sequence[tuple[int, int]]) -> np.ndarray:
        """Scores for input-sized windows (top-left corners) of one image already at model scale."""
        return self.run(self._preprocess.windows(image_bgr, boxes))
