"""The edge's current model and hot swapping of its file.

The model itself is a :class:`detector.onnxmodel.ModelSession` (the contract, preprocessing and the
device's scoring rules, shared with evaluation). A new file dropped in place is loaded beside the
running one, checked, and swapped in only if it behaves; a bad one is logged and the old model
keeps running.

The last model that passed verification is copied beside the active one (``last_good``, in the data
folder), so a bad file plus a restart (a power cut after a botched update) does not leave the device
down: at start a model that fails falls back to that copy, with an ERROR, and the file keeps being
watched for a good replacement.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector.errors import ModelContractError
from detector.onnxmodel import ModelSession, return_freed_memory

log = logging.getLogger("detector.edge.model_holder")


@dataclass(frozen=True)
class FileSignature:
    """What identifies a version of the model file on disk (a change means a new model)."""

    mtime_ns: int
    size: int

    @classmethod
    def of(cls, path: Path) -> FileSignature | None:
        try:
            st = Path(path).stat()
        except OSError:
            return None
        return cls(st.st_mtime_ns, st.st_size)


def synthetic_reference(size_hw: tuple[int, int] = (360, 640)) -> np.ndarray:
    """A deterministic textured frame for verifying a new model when no reference image is configured."""
    h, w = size_hw
    rng = np.random.default_rng(20240611)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 90 + 60 * np.sin(xx / 37.0) * np.cos(yy / 23.0)
    img = np.stack([base, base * 0.9 + 10, base * 0.8 + 20], axis=-1) + rng.normal(0, 12, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def verify_model(candidate: ModelSession, reference_tiles: Sequence[np.ndarray]) -> None:
    """Raise ModelContractError unless the model scores the reference tiles to finite values in [0, 1]."""
    scores = candidate.raw_scores(candidate.preprocess(reference_tiles))  # before the device's clipping
    if not np.all(np.isfinite(scores)) or scores.min() < 0.0 or scores.max() > 1.0:
        raise ModelContractError(
            f"{candidate.path}: reference scores must be finite and in [0, 1], found "
            f"min {float(np.nanmin(scores)) if np.isfinite(scores).any() else float('nan'):.3g}, "
            f"max {float(np.nanmax(scores)) if np.isfinite(scores).any() else float('nan'):.3g}"
        )


class ModelHolder:
    """The current model, shared by all camera threads, and the watcher that swaps it when the file changes.

    ``last_good``: where a copy of the last model that passed verification is kept (None: no copy, no
    fallback). At start, a model that cannot be loaded or verified falls back to that copy.
    """

    def __init__(self, path: Path, threads: int = 4, reference_frame: np.ndarray | None = None,
                 max_batch: int = 0, last_good: Path | None = None) -> None:
        self.path = Path(path)
        self.threads = threads
        self.max_batch = max_batch
        self.last_good = None if last_good is None else Path(last_good)
        self.reference_tiles = _reference_tiles(reference_frame if reference_frame is not None else synthetic_reference())
        self.fallback_reason: str | None = None  # why the configured file is not the one running
        self._lock = threading.Lock()
        self.swaps = 0
        self.rejections = 0
        seen = FileSignature.of(self.path)
        try:
            first = self._load(self.path)
        except ModelContractError as exc:
            first = self._fall_back(exc)
        else:
            self._keep_copy(first)
        self._current = first
        self._seen = seen

    def _load(self, path: Path) -> ModelSession:
        candidate = ModelSession(path, self.threads, self.max_batch)
        verify_model(candidate, self.reference_tiles)
        return_freed_memory()  # the load's and the verification run's transients
        return candidate

    def _fall_back(self, exc: ModelContractError) -> ModelSession:
        """Start on the last good copy (ERROR), or re-raise when there is none that works."""
        if self.last_good is None or not self.last_good.is_file():
            raise exc
        try:
            session = self._load(self.last_good)
        except ModelContractError as exc2:
            log.error("the last good model copy %s is unusable too: %s", self.last_good, exc2)
            raise exc from None
        self.fallback_reason = str(exc)
        log.error("model %s is unusable (%s); running the last model that passed verification instead: %s "
                  "(%s %s, sha256 %s). Replace the model file with a good one; it is picked up without a restart",
                  self.path, exc, self.last_good, session.meta.name, session.meta.version, session.sha256[:12])
        return session

    def _keep_copy(self, session: ModelSession) -> None:
        """Copy a verified model to ``last_good`` (atomically; skipped when the copy is already that model)."""
        dest = self.last_good
        if dest is None or session.path == dest:
            return
        try:
            if dest.is_file() and hashlib.sha256(dest.read_bytes()).hexdigest() == session.sha256:
                return
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.tmp")
            shutil.copyfile(session.path, tmp)
            with open(tmp, "rb") as fh:
                ok = hashlib.sha256(fh.read()).hexdigest() == session.sha256
                os.fsync(fh.fileno())
            if not ok:  # the file changed while we copied: keep the old copy, try at the next swap
                tmp.unlink(missing_ok=True)
                return
            os.replace(tmp, dest)
            log.info("kept a copy of the verified model as %s", dest)
        except OSError as exc:  # a full disk must not stop detection
            log.warning("could not keep a copy of the verified model at %s (%s)", dest, exc)

    @property
    def current(self) -> ModelSession:
        return self._current

    def check(self) -> bool:
        """Look at the model file; load, verify and swap in a changed one. True when swapped.

        A file still being written changes again before the next check and is retried then; a
        rejected version is not retried until the file changes again (no log spam, no crash loop).
        """
        sig = FileSignature.of(self.path)
        if sig is None or sig == self._seen:
            return False
        with self._lock:
            time.sleep(0.05)  # let a writer that is just finishing complete
            if FileSignature.of(self.path) != sig:
                return False  # still changing: look again next time
            self._seen = sig
            try:
                candidate = self._load(self.path)
            except ModelContractError as exc:
                self.rejections += 1
                log.error("new model rejected, keeping %s %s: %s", self._current.meta.name,
                          self._current.meta.version, exc)
                return False
            old = self._current
            self._current = candidate
            self.swaps += 1
            self.fallback_reason = None
            log.info("model swapped: %s %s (sha256 %s) → %s %s (sha256 %s)", old.meta.name, old.meta.version,
                     old.sha256[:12], candidate.meta.name, candidate.meta.version, candidate.sha256[:12])
        self._keep_copy(candidate)
        return True


def _reference_tiles(frame: np.ndarray, tile_px: int = 320) -> list[np.ndarray]:
    """A few tiles of the reference frame (corners and centre) — enough to exercise a new model."""
    h, w = frame.shape[:2]
    s = min(tile_px, h, w)
    spots = [(0, 0), (w - s, 0), ((w - s) // 2, (h - s) // 2), (0, h - s)]
    return [frame[y:y + s, x:x + s] for x, y in spots]

