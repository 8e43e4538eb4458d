"""Training data: load a weighted mix of datasets, split it by group, cache decoded images, sample.

Images are decoded once per run and kept in memory with their shorter side at ``cache_px``, so an
epoch costs augmentation + the network, not JPEG decoding. Unreadable files are reported and
skipped, never fatal. The resolved split is written as the run's ``data_manifest.csv``; its sha256
goes into every checkpoint, so a model can always be traced to the exact images it saw.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from detector.data.sample import LABELS, Sample
from detector.errors import DatasetError
from detector.modelmeta import file_sha256
from detector.preprocess import PreprocessSpec, read_image, resize_to_input, to_tensor_layout
from detector.train.augment import augment
from detector.train.config import AugmentConfig


@dataclass
class SourceInfo:
    """One dataset of the mix: where it came from, its sampling weight, whether it is equalised."""

    spec: str
    weight: float
    equalised: bool
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class MixedData:
    """All samples of the mix with ``split`` set, and what each source is."""

    samples: list[Sample]
    sources: dict[str, SourceInfo]


def _is_equalised(fmt: str, source: str, equalised_names: Sequence[str]) -> bool:
    return fmt == "roboflow" or source in equalised_names


def load_mix(specs: Sequence[str], val_fraction: float, test_fraction: float, seed: int,
             equalised_names: Sequence[str] = ()) -> MixedData:
    """Load every dataset spec, keep given splits, split the rest by group. DatasetError if empty."""
    from detector.data.formats import detect_format, load_dataset, parse_dataset_spec
    from detector.data.split import group_split

    if not specs:
        raise DatasetError("no training data: give at least one --data PATH (or 'data:' in the config)")
    samples: list[Sample] = []
    sources: dict[str, SourceInfo] = {}
    for text in specs:
        spec = parse_dataset_spec(text)
        loaded = load_dataset(spec)
        if not loaded:
            raise DatasetError(f"dataset {spec.path}: contains no images")
        fmt = spec.format or detect_format(spec.path, label=spec.label)
        for name in sorted({s.source for s in loaded}):
            if name in sources:
                raise DatasetError(f"dataset {spec.path}: source name {name!r} is used twice in the mix; "
                                   "give one of them ::name=OTHER")
            counts = Counter(s.label_name for s in loaded if s.source == name)
            sources[name] = SourceInfo(spec=text, weight=spec.weight,
                                       equalised=_is_equalised(fmt, name, equalised_names),
                                       counts={k: counts.get(k, 0) for k in LABELS})
        samples.extend(loaded)
    unsplit = [i for i, s in enumerate(samples) if s.split not in ("train", "val", "test")]
    if unsplit:
        done = group_split([samples[i] for i in unsplit], val_fraction, test_fraction, seed)
        for i, s in zip(unsplit, done, strict=True):
            samples[i] = s
    return MixedData(samples=samples, sources=sources)


def check_trainable(samples: Sequence[Sample]) -> None:
    """Refuse data that cannot train a binary classifier, with a one-line reason."""
    train = [s for s in samples if s.split == "train"]
    if not train:
        raise DatasetError("no training images after the split (every image is in val/test)")
    labels = Counter(s.label for s in train)
    if len(labels) < 2:
        only = LABELS[next(iter(labels))]
        raise DatasetError(f"the training images are all '{only}': need both clean and graffiti examples")


def split_counts_by_source(samples: Sequence[Sample]) -> dict[str, dict[str, dict[str, int]]]:
    """{split: {source: {clean: n, graffiti: n}}} for logs, checkpoints and the model card."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for s in samples:
        per = out.setdefault(s.split or "unsplit", {}).setdefault(s.source, {"clean": 0, "graffiti": 0})
        per[s.label_name] += 1
    return out


# --------------------------------------------------------------------------- cache
@dataclass
class CachedImage:
    image: np.ndarray  # uint8 BGR, shorter side ≈ cache_px
    label: int
    graffiti_boxes: list[tuple[float, float, float, float]]
    equalised: bool
    source: str
    sample: Sample


def _cache_one(img: np.ndarray, cache_px: int) -> tuple[np.ndarray, float]:
    h, w = img.shape[:2]
    scale = min(cache_px / min(h, w), 2 * cache_px / max(h, w))
    if abs(scale - 1.0) < 1e-3:
        return img, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(img, size, interpolation=interp), scale


def cache_images(samples: Sequence[Sample], sources: dict[str, SourceInfo], cache_px: int,
                 progress: Any = None, eval_spec: PreprocessSpec | None = None) -> tuple[list[CachedImage], list[Sample]]:
    """Decode and shrink every sample once. Returns (cached, unreadable samples).

    With ``eval_spec``, validation and test images are cached already brought to the model input by
    the edge's own resize (one area resize from full resolution), so training's validation figures
    are computed on exactly the pixels ``graffiti eval`` feeds the model; training images keep
    ``cache_px`` so augmentation can crop them.
    """
    cached: list[CachedImage] = []
    bad: list[Sample] = []
    task = progress.add_task("decode images", total=len(samples)) if progress is not None else None
    for s in samples:
        img = read_image(str(s.path))
        if task is not None:
            progress.advance(task)
        if img is None:
            bad.append(s)
            continue
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        if eval_spec is not None and s.split in ("val", "test"):
            small = resize_to_input(img, eval_spec)
            sx, sy = small.shape[1] / img.shape[1], small.shape[0] / img.shape[0]
        else:
            small, scale = _cache_one(img, cache_px)
            sx = sy = scale
        boxes = [(r.xyxy[0] * sx, r.xyxy[1] * sy, r.xyxy[2] * sx, r.xyxy[3] * sy)
                 for r in s.regions if r.label == 1]
        info = sources.get(s.source)
        cached.append(CachedImage(image=small, label=s.label, graffiti_boxes=boxes,
                                  equalised=bool(info and info.equalised), source=s.source, sample=s))
    if task is not None:
        progress.remove_task(task)
    return cached, bad


# --------------------------------------------------------------------------- torch datasets
class TrainSet(Dataset):
    """Augmented views; an item is addressed by (index, augmentation seed) from :class:`MixSampler`."""

    def __init__(self, items: Sequence[CachedImage], spec: PreprocessSpec, aug: AugmentConfig) -> None:
        self.items = list(items)
        self.spec = spec
        self.aug = aug

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index, seed = key
        item = self.items[index]
        px = self.spec.input_size[0]
        if self.aug.enabled:
            rng = np.random.default_rng(seed)
            img = augment(item.image, item.label, item.graffiti_boxes, rng, self.aug, px, item.equalised)
        else:
            img = item.image
        x = torch.from_numpy(to_tensor_layout(img, self.spec))
        return x, torch.tensor(float(item.label))


class EvalSet(Dataset):
    """Un-augmented views through the edge's own preprocessing (the whole image, stretched)."""

    def __init__(self, items: Sequence[CachedImage], spec: PreprocessSpec) -> None:
        self.items = list(items)
        self.spec = spec

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        item = self.items[index]
        return torch.from_numpy(to_tensor_layout(item.image, self.spec)), torch.tensor(float(item.label))


def sampling_weights(items: Sequence[CachedImage], sources: dict[str, SourceInfo], balance: bool) -> np.ndarray:
    """Per-image draw probability: source weight × (optionally) inverse class frequency.

    A source's ``weight`` multiplies how often each of its images is drawn; with ``balance`` the
    clean and graffiti halves of the mix get equal total probability, so neither class dominates.
    """
    w = np.array([sources[i.source].weight if i.source in sources else 1.0 for i in items], dtype=np.float64)
    if balance:
        labels = np.array([i.label for i in items])
        for label in (0, 1):
            mask = labels == label
            total = w[mask].sum()
            if total > 0:
                w[mask] *= 0.5 / total
    return w / w.sum()


class MixSampler(Sampler):
    """Draws an epoch of (index, augmentation seed) pairs; under DDP each rank takes its own shard.

    Plays the role of DistributedSampler for a weighted mix: every rank draws the same epoch from
    (seed, epoch) and keeps every world-th draw, so shards are disjoint and equally long.
    """

    def __init__(self, probs: np.ndarray, draws: int, seed: int, rank: int = 0, world: int = 1,
                 weighted: bool = True) -> None:
        self.probs = probs
        self.draws = max(world, draws - draws % world)
        self.seed = seed
        self.rank = rank
        self.world = world
        self.weighted = weighted
        self.epoch = 0
        self.skip = 0  # draws of this rank to leave out at the start (resuming inside an epoch)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.draws // self.world

    def __iter__(self) -> Iterator[tuple[int, int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        n = len(self.probs)
        if self.weighted:
            idx = rng.choice(n, size=self.draws, replace=True, p=self.probs)
        else:
            idx = np.concatenate([rng.permutation(n) for _ in range(-(-self.draws // n))])[: self.draws]
        seeds = rng.integers(0, 2**31 - 1, size=self.draws)
        for i in range(self.rank + self.skip * self.world, self.draws, self.world):
            yield int(idx[i]), int(seeds[i])


def write_split_manifest(samples: Sequence[Sample], path: Path) -> str:
    """Write the resolved split as a manifest CSV; return its sha256."""
    from detector.data.manifest import write_manifest

    write_manifest(samples, path)
    return file_sha256(path)
