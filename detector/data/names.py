"""Shared vocabulary of the readers: image file types, label and class names, default groups.

Kept apart so every reader maps the same words to the same label and tests can check one table.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from detector.data.sample import CLEAN, GRAFFITI

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})

# Folder / column / class names that unambiguously mean one label (compared lower-case).
GRAFFITI_NAMES = frozenset({
    "graffiti", "tag", "tags", "throwup", "throwups", "throw-up", "throw-ups", "masterpiece",
    "masterpieces", "piece", "pieces", "etch", "etching", "sticker", "stickers", "positive", "1",
})
CLEAN_NAMES = frozenset({
    "clean", "nograffiti", "no_graffiti", "no-graffiti", "not_graffiti", "negative", "0",
})
# Names that only say the label, so they carry no sub-kind worth keeping on the sample.
GENERIC_NAMES = frozenset({
    "graffiti", "positive", "1", "clean", "nograffiti", "no_graffiti", "no-graffiti",
    "not_graffiti", "negative", "0",
})

SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}

_RF_SUFFIX = re.compile(r"\.rf\.[0-9a-fA-F]+$")


def is_image(path: Path) -> bool:
    """True for a file whose extension is an image type we decode (case-insensitive)."""
    return path.suffix.lower() in IMAGE_EXTENSIONS


def label_from_class_name(name: str) -> int | None:
    """The label a well-known class name stands for, or None when the name is not known."""
    key = name.strip().lower()
    if key in GRAFFITI_NAMES:
        return GRAFFITI
    if key in CLEAN_NAMES:
        return CLEAN
    return None


def parse_label(text: str) -> int | None:
    """A manifest ``label`` cell (``graffiti``/``clean``/``1``/``0``) → 0/1, or None when invalid."""
    key = text.strip().lower()
    return {"graffiti": GRAFFITI, "1": GRAFFITI, "clean": CLEAN, "0": CLEAN}.get(key)


def default_group(path: Path) -> str:
    """Group of an image when the source names none: its file stem without a Roboflow ``.rf.<hash>``.

    Roboflow exports keep the original photo's name before ``.rf.``, so the augmented copies of
    one photo share a group and can never land on both sides of a split.
    """
    return _RF_SUFFIX.sub("", path.stem)


def absolute(path: Path) -> Path:
    """Absolute, ``..``-free path (symlinks kept), so samples from any reader compare equal."""
    return Path(os.path.abspath(path))


def read_text(path: Path, what: str) -> str:
    """The whole text of a small CSV/JSON/TXT file (BOM stripped), or a DatasetError naming it."""
    from detector.errors import DatasetError

    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read {what} ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: {what} is not UTF-8 text (byte {exc.start})") from None
