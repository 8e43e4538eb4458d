"""Readers for the foreign dataset layouts: ImageFolder, Roboflow multi-class CSV, plain folders (+YOLO).

Each returns ``list[Sample]`` with absolute paths, sorted by path so every run sees the same order.
The manifest CSV (our own format, also the review-service export) lives in ``manifest.py``.
"""

from __future__ import annotations

import csv
import io
import json
import struct
from collections.abc import Mapping
from pathlib import Path

from detector.data.names import (
    GENERIC_NAMES,
    SPLIT_NAMES,
    absolute,
    default_group,
    is_image,
    label_from_class_name,
    read_text,
)
from detector.data.sample import GRAFFITI, Region, Sample
from detector.errors import DatasetError

# YOLO class names of shared datasets whose label folders carry no classes.txt / data.yaml.
# facades-spb: from its README (Urban-Research-Lab/building-facades-advertising-dataset).
KNOWN_YOLO_NAMES: dict[str, tuple[str, ...]] = {
    "facades-spb": ("window", "cantilever", "arch", "signboard", "win_ad", "door"),
}

ROBOFLOW_CSV = "_classes.csv"


def list_images(folder: Path) -> list[Path]:
    """Every image file below ``folder`` (recursive, hidden entries skipped), sorted."""
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and is_image(p) and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


# --------------------------------------------------------------------------- class mappings

def parse_class_mapping(text: str, where: str) -> dict[str, int]:
    """``name:label;name:label`` or a JSON file path → {class name: 0/1}. Labels as in manifests."""
    from detector.data.names import parse_label

    candidate = Path(text)
    if text.endswith(".json") or candidate.is_file():
        return read_classes_json(candidate)
    mapping: dict[str, int] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        name, sep, value = part.partition(":")
        label = parse_label(value) if sep else None
        if label is None or not name.strip():
            raise DatasetError(f"{where}: class mapping item {part!r} must look like folder:graffiti or folder:clean")
        mapping[name.strip()] = label
    return mapping


def read_classes_json(path: Path) -> dict[str, int]:
    """A ``classes.json`` file: {"folder or column name": "graffiti" | "clean" | 0 | 1}."""
    from detector.data.names import parse_label

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read class mapping ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}:{exc.lineno}: class mapping is not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: class mapping must be a JSON object {{\"folder\": \"graffiti\"|\"clean\"}}")
    mapping = {}
    for name, value in data.items():
        label = parse_label(str(value))
        if label is None:
            raise DatasetError(f"{path}: class {name!r} maps to {value!r}; expected graffiti, clean, 1 or 0")
        mapping[str(name)] = label
    return mapping


def _class_label(name: str, mapping: Mapping[str, int], where: str) -> int:
    if name in mapping:
        return mapping[name]
    label = label_from_class_name(name)
    if label is None:
        raise DatasetError(
            f"{where}: unknown class {name!r}; name it graffiti/tags/throwups/... or clean/nograffiti/..., "
            "or map it with a classes.json file or the spec key classes=NAME:graffiti;NAME:clean"
        )
    return label


def read_group_file(path: Path) -> dict[str, str]:
    """A ``groups.csv`` (``path,group``; path relative to the dataset root) → {posix path: group}."""
    groups: dict[str, str] = {}
    reader = csv.reader(io.StringIO(read_text(path, "group file"), newline=""))
    header = [h.strip() for h in next(reader, [])]
    if header != ["path", "group"]:
        raise DatasetError(f"{path}:1: group file header must be path,group, found {','.join(header)}")
    for row in reader:
        if not row:
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise DatasetError(f"{path}:{reader.line_num}: expected two non-empty fields path,group")
        groups[Path(row[0].strip()).as_posix()] = row[1].strip()
    return groups


# --------------------------------------------------------------------------- ImageFolder

def read_imagefolder(root: Path, *, source: str, classes: Mapping[str, int] | None = None,
                     groups: Mapping[str, str] | None = None) -> list[Sample]:
    """``root/<class>/**/*.jpg`` (or ``root/<split>/<class>/...``): the class folder gives the label.

    An unknown class folder is an error naming it: guessing a label would silently poison training.
    """
    root = absolute(root)
    mapping = dict(classes or {})
    if (root / "classes.json").is_file():
        mapping = {**read_classes_json(root / "classes.json"), **mapping}
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    parts: list[tuple[str | None, Path]]
    if subdirs and all(p.name.lower() in SPLIT_NAMES for p in subdirs):
        parts = [(SPLIT_NAMES[p.name.lower()], p) for p in subdirs]
    else:
        parts = [(None, root)]
    samples: list[Sample] = []
    for split, base in parts:
        for class_dir in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
            images = list_images(class_dir)
            if not images:
                continue
            label = _class_label(class_dir.name, mapping, f"{class_dir}")
            kind = None if class_dir.name.lower() in GENERIC_NAMES else class_dir.name
            for image in images:
                rel = image.relative_to(root).as_posix()
                samples.append(Sample(
                    path=image, label=label, group=(groups or {}).get(rel) or default_group(image),
                    source=source, split=split, kind=kind,
                ))
    if not samples:
        raise DatasetError(f"{root}: no images found in class sub-folders (expected {root}/<class>/*.jpg)")
    return samples


# --------------------------------------------------------------------------- Roboflow multi-class CSV

def roboflow_split_dirs(root: Path) -> list[Path]:
    """The folders of a Roboflow export holding ``_classes.csv``: root itself or its split folders."""
    if (root / ROBOFLOW_CSV).is_file():
        return [root]
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / ROBOFLOW_CSV).is_file())


def read_roboflow(root: Path, *, source: str, classes: Mapping[str, int] | None = None) -> list[Sample]:
    """A Roboflow "multi-class classification" export (one-hot ``_classes.csv`` per split folder).

    Columns map to labels by name (masterpiece/tags/throwups → graffiti, nograffiti → clean); the
    sample ``kind`` is the ticked column. A row ticking several columns is graffiti when any ticked
    column is graffiti (graffiti wins: a photo showing some graffiti is a graffiti photo), with
    kind ``mixed``; such rows are kept, never dropped, and ``graffiti data inspect`` counts them.
    A row ticking nothing is an error. Group = file name before ``.rf.`` (the augmented copies).
    Split folder names (train/valid/test) become splits only when the export has more than one.
    """
    root = absolute(root)
    dirs = roboflow_split_dirs(root)
    if not dirs:
        raise DatasetError(f"{root}: no {ROBOFLOW_CSV} here or in its sub-folders (train/, valid/, test/)")
    samples: list[Sample] = []
    for folder in dirs:
        split = SPLIT_NAMES.get(folder.name.lower()) if len(dirs) > 1 else None
        samples.extend(_read_roboflow_csv(folder / ROBOFLOW_CSV, source, split, classes or {}))
    return sorted(samples, key=lambda s: str(s.path))


def _read_roboflow_csv(csv_path: Path, source: str, split: str | None,
                       mapping: Mapping[str, int]) -> list[Sample]:
    folder = absolute(csv_path.parent)
    samples: list[Sample] = []
    reader = csv.reader(io.StringIO(read_text(csv_path, "Roboflow CSV"), newline=""), skipinitialspace=True)
    header = [h.strip() for h in next(reader, [])]
    if len(header) < 2 or header[0].lower() != "filename":
        raise DatasetError(f"{csv_path}:1: expected a header 'filename, <class>, <class>, ...', found {header}")
    class_names = header[1:]
    labels = [_class_label(name, mapping, f"{csv_path}:1: column {name!r}") for name in class_names]
    for row in reader:
        if not row or all(not c.strip() for c in row):
            continue
        where = f"{csv_path}:{reader.line_num}"
        if len(row) != len(header):
            raise DatasetError(f"{where}: expected {len(header)} fields, found {len(row)}")
        name = row[0].strip()
        try:
            ticks = [int(c.strip()) for c in row[1:]]
        except ValueError:
            raise DatasetError(f"{where}: class columns must be 0 or 1, found {row[1:]}") from None
        if any(t not in (0, 1) for t in ticks):
            raise DatasetError(f"{where}: class columns must be 0 or 1, found {ticks}")
        ticked = [i for i, t in enumerate(ticks) if t]
        if not ticked:
            raise DatasetError(f"{where}: no class ticked for {name}; label it or remove the row")
        image = folder / name
        if not image.is_file():
            raise DatasetError(f"{where}: image file not found: {image}")
        if len(ticked) == 1:
            label, kind = labels[ticked[0]], class_names[ticked[0]]
        else:
            label = GRAFFITI if any(labels[i] == GRAFFITI for i in ticked) else labels[ticked[0]]
            kind = "mixed"
        samples.append(Sample(path=image, label=label, group=default_group(image), source=source,
                              split=split, kind=kind))
    return samples


# --------------------------------------------------------------------------- plain folder (+ YOLO boxes)

def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the JPEG/PNG header without decoding the pixels; decodes other types."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(32)
            if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
                w, h = struct.unpack(">II", head[16:24])
                return int(w), int(h)
            if head[:2] == b"\xff\xd8":
                fh.seek(2)
                while True:
                    marker = fh.read(2)
                    if len(marker) < 2 or marker[0] != 0xFF:
                        break
                    code = marker[1]
                    if code in (0xD8, 0x01) or 0xD0 <= code <= 0xD7:
                        continue
                    length_bytes = fh.read(2)
                    if len(length_bytes) < 2:
                        break
                    (length,) = struct.unpack(">H", length_bytes)
                    if code in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                        data = fh.read(5)
                        if len(data) < 5:
                            break
                        h, w = struct.unpack(">HH", data[1:5])
                        return int(w), int(h)
                    fh.seek(length - 2, 1)
    except OSError:
        return None
    from detector.preprocess import read_image

    img = read_image(str(path))
    return None if img is None else (int(img.shape[1]), int(img.shape[0]))


def _yolo_names(root: Path, labels_dir: Path) -> tuple[str, ...] | None:
    for candidate in (labels_dir / "classes.txt", root / "classes.txt"):
        if candidate.is_file():
            return tuple(n.strip() for n in candidate.read_text(encoding="utf-8").splitlines() if n.strip())
    for candidate in (root / "data.yaml", root / "dataset.yaml"):
        if candidate.is_file():
            import yaml

            data = yaml.safe_load(candidate.read_text(encoding="utf-8")) or {}
            names = data.get("names") if isinstance(data, dict) else None
            if isinstance(names, dict):
                return tuple(str(names[k]) for k in sorted(names))
            if isinstance(names, list):
                return tuple(str(n) for n in names)
    return KNOWN_YOLO_NAMES.get(root.name)


def _read_yolo_boxes(txt: Path, image: Path, names: tuple[str, ...] | None) -> tuple[Region, ...]:
    lines = [ln for ln in txt.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not lines:
        return ()
    size = image_size(image)
    if size is None:
        return ()  # an unreadable image: inspect reports it; its boxes cannot be placed
    w, h = size
    regions = []
    for n, line in enumerate(lines, start=1):
        parts = line.split()
        try:
            cls = int(parts[0])
            cx, cy, bw, bh = (float(v) for v in parts[1:5])
        except (ValueError, IndexError):
            raise DatasetError(f"{txt}:{n}: expected a YOLO box 'class cx cy w h', found {line!r}") from None
        kind = names[cls] if names and 0 <= cls < len(names) else f"class{cls}"
        label = 1 if label_from_class_name(kind) == GRAFFITI else 0
        x1, y1 = max(0.0, (cx - bw / 2) * w), max(0.0, (cy - bh / 2) * h)
        x2, y2 = min(float(w), (cx + bw / 2) * w), min(float(h), (cy + bh / 2) * h)
        regions.append(Region(kind=kind, xyxy=(round(x1, 2), round(y1, 2), round(x2, 2), round(y2, 2)), label=label))
    return tuple(regions)


def read_folder(root: Path, *, label: int, source: str, groups: Mapping[str, str] | None = None) -> list[Sample]:
    """Images that all share one label (``root/**`` or ``root/images/**``).

    YOLO boxes in ``root/labels/<same relative path>.txt`` become Regions in pixels (the header is
    read for the image size, the pixels are not decoded); class names come from classes.txt,
    data.yaml or the table of known shared datasets, else ``class<N>``.
    """
    root = absolute(root)
    image_dir = root / "images" if (root / "images").is_dir() else root
    labels_dir = root / "labels"
    names = _yolo_names(root, labels_dir) if labels_dir.is_dir() else None
    samples = []
    for image in list_images(image_dir):
        if labels_dir.is_dir() and labels_dir in image.parents:
            continue
        rel_in_images = image.relative_to(image_dir)
        txt = (labels_dir / rel_in_images).with_suffix(".txt")
        regions = _read_yolo_boxes(txt, image, names) if txt.is_file() else ()
        rel = image.relative_to(root).as_posix()
        samples.append(Sample(path=image, label=label, group=(groups or {}).get(rel) or default_group(image),
                              source=source, regions=regions))
    if not samples:
        raise DatasetError(f"{root}: no image files found")
    return samples
