"""Tiny on-disk datasets for the data tests, written with cv2 (a few KB each)."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np


def write_jpeg(path: Path, seed: int, size_px: tuple[int, int] = (24, 32)) -> Path:
    """A distinct small picture per seed (smoothed random blocks: pHashes differ by > 16 bits between seeds)."""
    import cv2

    rng = np.random.default_rng(seed)
    h, w = size_px
    blocks = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    img = cv2.resize(blocks, (w, h), interpolation=cv2.INTER_LINEAR)  # smooth, photo-like: stable pHash
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(path.suffix or ".jpg", img)
    assert ok
    path.write_bytes(buf.tobytes())
    return path


def write_roboflow(root: Path, rows: list[tuple[str, tuple[int, ...]]],
                   columns: tuple[str, ...] = ("masterpiece", "nograffiti", "tags", "throwups")) -> Path:
    """A Roboflow multi-class CSV export: ``_classes.csv`` with spaces after the commas + images."""
    root.mkdir(parents=True, exist_ok=True)
    lines = [", ".join(("filename", *columns))]
    for i, (name, ticks) in enumerate(rows):
        write_jpeg(root / name, seed=i)
        lines.append(", ".join((name, *(str(t) for t in ticks))))
    (root / "_classes.csv").write_text("\n".join(lines), encoding="utf-8")
    return root


def rf_name(stem: str, copy: int) -> str:
    """A Roboflow-style file name: the augmented copies of one photo share the stem before .rf."""
    return f"{stem}_jpg.rf.{copy:02d}{zlib.crc32(stem.encode()):08x}abcdef.jpg"
