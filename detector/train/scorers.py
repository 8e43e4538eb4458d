"""Score images with a checkpoint (torch) or an ONNX file (onnxruntime), through the edge preprocessing.

Both scorers take the same numpy batch from :func:`detector.preprocess.preprocess_batch`, so the
only difference between them is the network runtime — which is what export's parity check and
``graffiti eval`` on either kind of model rely on. An ONNX file is run by :mod:`detector.onnxmodel`,
the module the edge runs it with, so its scores are the device's. The ONNX path never imports torch:
the module imports torch only inside :class:`TorchScorer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from detector.data.sample import Sample
from detector.errors import CheckpointError, ModelContractError, require
from detector.modelmeta import ModelMeta
from detector.preprocess import PreprocessSpec, preprocess_batch, read_image

BATCH_SIZE = 16
ONNX_SUFFIXES = (".onnx",)
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")


class Scorer(Protocol):
    """Something that turns a preprocessed N×3×H×W float32 batch into N graffiti probabilities."""

    kind: str  # "onnx" | "checkpoint"
    path: Path
    preprocess: PreprocessSpec

    def score_batch(self, batch: np.ndarray) -> np.ndarray: ...


class OnnxScorer:
    """An exported model, run exactly as the edge runs it: :mod:`detector.onnxmodel`'s session and
    scoring rules (clipping to [0, 1], NaN as 0), the contract read from its metadata."""

    kind = "onnx"

    def __init__(self, path: Path, threads: int = 0, preprocess: PreprocessSpec | None = None) -> None:
        """``preprocess`` given: score a graph that has no contract yet (during export); else read it."""
        from detector.onnxmodel import ModelSession, OnnxGraph

        self.path = Path(path)
        self.meta: ModelMeta | None = None
        self.model: OnnxGraph
        if preprocess is None:
            session = ModelSession(self.path, threads)
            self.meta, self.preprocess, self.model = session.meta, session.spec, session
        else:
            self.preprocess, self.model = preprocess, OnnxGraph(self.path, threads)

    def score_batch(self, batch: np.ndarray) -> np.ndarray:
        return self.model.run(batch).astype(np.float64)


class TorchScorer:
    """A training checkpoint, run in torch on the same numpy preprocessing as the edge."""

    kind = "checkpoint"

    def __init__(self, path: Path | None = None, loaded: Any = None) -> None:
        require("torch", "train")
        if loaded is None:
            from detector.train.checkpoint import load_checkpoint

            loaded = load_checkpoint(Path(str(path)))
        self.loaded = loaded
        self.path = Path(loaded.path)
        self.preprocess = loaded.preprocess
        self.model = loaded.model.eval()

    def score_batch(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            logits = self.model(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)))
            probs = torch.sigmoid(logits.reshape(-1).float())
        return probs.numpy().astype(np.float64)


def open_scorer(path: Path | str) -> Scorer:
    """A scorer for an ONNX file or one of our checkpoints, chosen by the file's suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in ONNX_SUFFIXES:
        return OnnxScorer(path)
    if suffix in CHECKPOINT_SUFFIXES:
        if not path.is_file():
            raise CheckpointError(f"{path}: checkpoint file not found")
        return TorchScorer(path)
    raise ModelContractError(
        f"{path}: unknown model type {suffix or '(no suffix)'!r}; expected an ONNX file (.onnx) "
        f"or a training checkpoint ({', '.join(CHECKPOINT_SUFFIXES)})"
    )


@dataclass
class ScoredSamples:
    """Scores for the readable samples, in input order, plus the images that could not be read."""

    samples: list[Sample]
    scores: np.ndarray
    unreadable: list[Path] = field(default_factory=list)

    @property
    def labels(self) -> np.ndarray:
        return np.asarray([s.label for s in self.samples], dtype=np.int64)


def load_images(samples: Sequence[Sample]) -> tuple[list[Sample], list[np.ndarray], list[Path]]:
    """Decode images (uint8 BGR); unreadable/truncated ones are returned separately, not raised."""
    kept, images, bad = [], [], []
    for s in samples:
        img = read_image(str(s.path))
        if img is None:
            bad.append(Path(s.path))
        else:
            kept.append(s)
            images.append(img)
    return kept, images, bad


def score_samples(
    samples: Sequence[Sample],
    scorers: Sequence[Scorer],
    *,
    batch_size: int = BATCH_SIZE,
    description: str = "scoring",
    progress: bool = True,
) -> list[ScoredSamples]:
    """Score every sample with each scorer (images decoded once); unreadable images are skipped.

    All scorers must share the preprocessing (true for a model and its int8 copy, or a checkpoint
    and its export).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    if not scorers:
        return []
    spec = scorers[0].preprocess
    kept: list[Sample] = []
    bad: list[Path] = []
    parts: list[list[np.ndarray]] = [[] for _ in scorers]
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress, transient=True, console=progress_console()) as bar:
        task = bar.add_task(description, total=len(samples))
        for start in range(0, len(samples), batch_size):
            chunk = samples[start:start + batch_size]
            ok, images, unreadable = load_images(chunk)
            bad.extend(unreadable)
            if images:
                batch = preprocess_batch(images, spec)
                kept.extend(ok)
                for i, scorer in enumerate(scorers):
                    parts[i].append(scorer.score_batch(batch))
            bar.advance(task, len(chunk))
    return [
        ScoredSamples(samples=list(kept), scores=np.concatenate(p) if p else np.zeros(0), unreadable=list(bad))
        for p in parts
    ]


def progress_console() -> Any:
    """Progress bars go to stderr, so a command's stdout (tables, paths) stays clean for pipes.

    Not a terminal (a log file, a pipe, a test): quiet, because a transient bar that cannot redraw
    leaves only an empty line behind each time it stops.
    """
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        console.quiet = True
    return console
