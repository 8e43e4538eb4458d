"""The leak guard: does the evaluated data overlap the data the model was trained on?

Two checks. By *source name*: the model's metadata lists the sources of its training mix; data from
one of them is only honest on that source's held-out split. By *file content*: the first 16 hex
digits of the sha256 of every training image, recorded compactly at export
(``training_data.train_sha256_16``), in a checkpoint's own split manifest, or in the split manifests
committed beside a shipped model (``models/splits/<model name>/*.csv``, column ``sha256``), are
compared with the evaluated files, so a renamed or copied training image is still caught.

torch-free (used by ``graffiti eval`` on ONNX models) and cheap: hashing reads each file once.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HASH_CHARS = 16  # 64 bits: collisions among a few thousand images are out of the question
HASH_KEY = "train_sha256_16"


def short_hash(path: Path) -> str | None:
    """First HASH_CHARS hex digits of the file's sha256 (None when it cannot be read)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()[:HASH_CHARS]


def pack(hashes: Iterable[str]) -> str:
    """Sorted, de-duplicated hashes as one string (compact in ONNX metadata)."""
    return "".join(sorted(set(hashes)))


def unpack(text: str) -> set[str]:
    return {text[i:i + HASH_CHARS] for i in range(0, len(text) - HASH_CHARS + 1, HASH_CHARS)}


def training_fingerprint(samples: Sequence[Any]) -> dict[str, Any]:
    """What export records about the training split: the packed hashes and how many were readable."""
    hashes = [short_hash(Path(s.path)) for s in samples if s.split == "train"]
    found = [h for h in hashes if h is not None]
    return {HASH_KEY: pack(found), "train_images_hashed": len(found), "train_images_unreadable": len(hashes) - len(found)}


def write_split_with_hashes(samples: Sequence[Any], path: Path) -> Path:
    """A split manifest (loadable by ``--data``) with a ``sha256`` column: the committed split of a model."""
    from detector.data.manifest import write_manifest

    write_manifest(samples, path)
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    rows[0].append("sha256")
    for row, sample in zip(rows[1:], samples, strict=True):
        row.append(short_hash(Path(sample.path)) or "")
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    return path


def committed_split_hashes(model_path: Path, name: str) -> tuple[set[str], list[Path]]:
    """Training-row hashes from ``<model folder>/splits/<name>/*.csv`` (the shipped model's splits)."""
    folder = Path(model_path).parent / "splits" / name
    hashes: set[str] = set()
    files = sorted(folder.glob("*.csv")) if folder.is_dir() else []
    for f in files:
        with open(f, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                if row.get("split") == "train" and row.get("sha256"):
                    hashes.add(row["sha256"])
    return hashes, files


@dataclass
class LeakReport:
    training_sources: list[str]
    shared_sources: list[str]
    hashes_known: int
    hash_origin: str
    images_in_training: int | None
    examples: list[str] = field(default_factory=list)
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _sources(training: dict[str, Any]) -> list[str]:
    """Training source names from ``sources`` and ``counts.train`` (tolerating other shapes in old files)."""
    names: set[str] = set()
    sources = training.get("sources")
    if isinstance(sources, dict):
        names |= {str(k) for k in sources}
    counts = training.get("counts")
    train = counts.get("train") if isinstance(counts, dict) else None
    if isinstance(train, dict):
        names |= {str(k) for k in train}
    return sorted(names)


def check(training: dict[str, Any], samples: Sequence[Any], *, train_hashes: set[str] | None, origin: str,
          model_name: str, splits_hint: str | None = None) -> LeakReport:
    """Compare the evaluated samples with the model's training data (see the module docstring)."""
    sources = _sources(training)
    evaluated = sorted({s.source for s in samples})
    shared = [s for s in evaluated if s in sources]
    if splits_hint and shared and (Path(splits_hint) / f"{shared[0]}.csv").is_file():
        splits_hint = str(Path(splits_hint) / f"{shared[0]}.csv")  # the committed split of that very source
    report = LeakReport(training_sources=sources, shared_sources=shared, hashes_known=len(train_hashes or ()),
                        hash_origin=origin, images_in_training=None)
    if train_hashes:
        hits = [s for s in samples if short_hash(Path(s.path)) in train_hashes]
        report.images_in_training = len(hits)
        report.examples = [str(s.path) for s in hits[:5]]
        if hits:
            where = f" (e.g. --data {splits_hint} --split val)" if splits_hint else ""
            report.warning = (f"{len(hits)} of {len(samples)} evaluated images are in {model_name}'s training data "
                              f"(same file content); these figures are optimistic: evaluate its held-out split{where}")
    elif shared:
        where = f"; its splits are in {splits_hint}" if splits_hint else ""
        report.warning = (f"{model_name} was trained on source(s) {', '.join(shared)} and records no training file "
                          f"hashes, so overlap cannot be ruled out: trust these figures only on that source's "
                          f"held-out split{where}")
    return report


def guard_model(scorer: Any, samples: Sequence[Any], model_path: Path,
                checkpoint_manifest: Path | None = None) -> dict[str, Any]:
    """The leak report for an opened scorer (ONNX model with metadata, or a checkpoint) as a dict.

    ``checkpoint_manifest``: a checkpoint's split manifest (its training rows are hashed).
    """
    meta = getattr(scorer, "meta", None)
    loaded = getattr(scorer, "loaded", None)
    hashes: set[str] | None = None
    origin = "none recorded"
    hint = None
    if meta is not None:
        training, name = dict(meta.training_data or {}), meta.name
        committed, files = committed_split_hashes(model_path, meta.name)
        if files:
            hint = str(files[0].parent)
        if training.get(HASH_KEY):
            hashes, origin = unpack(str(training[HASH_KEY])), "model metadata"
        elif committed:
            hashes, origin = committed, f"{hint}/*.csv"
    elif loaded is not None:
        training, name = dict(loaded.data or {}), Path(model_path).name
        manifest = checkpoint_manifest
        if manifest is not None and manifest.is_file():
            from detector.data.manifest import read_manifest
            from detector.errors import DatasetError

            try:
                train = [s for s in read_manifest(manifest, check_files=False) if s.split == "train"]
            except DatasetError:
                train = []
            found = {h for h in (short_hash(Path(s.path)) for s in train) if h}
            if found:
                hashes, origin = found, str(manifest)
    else:
        return LeakReport([], [], 0, origin, None).to_dict()
    return check(training, samples, train_hashes=hashes, origin=origin, model_name=name,
                 splits_hint=hint).to_dict()
