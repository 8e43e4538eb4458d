"""What makes paint look sprayed: soft edges, overspray speckle, drips, and progressive reveal."""

from __future__ import annotations

import numpy as np

from detector.data.synth.lettering import draw_polyline

# BGR albedo of common spray colours; black and chrome dominate real tags.
SPRAY_COLOURS: dict[str, tuple[float, float, float]] = {
    "black": (0.04, 0.04, 0.05), "chrome": (0.72, 0.72, 0.74), "white": (0.92, 0.92, 0.92),
    "red": (0.10, 0.08, 0.78), "blue": (0.72, 0.30, 0.08), "sky": (0.92, 0.65, 0.25),
    "green": (0.18, 0.62, 0.12), "lime": (0.15, 0.85, 0.55), "pink": (0.65, 0.35, 0.95),
    "orange": (0.05, 0.45, 0.95), "yellow": (0.08, 0.85, 0.95), "purple": (0.55, 0.12, 0.45),
    "gold": (0.20, 0.62, 0.82), "maroon": (0.10, 0.08, 0.40), "teal": (0.55, 0.55, 0.05),
}
_NAMES = list(SPRAY_COLOURS)
_TAG_WEIGHTS = np.array([8, 4, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], np.float64)


def spray_colour(rng: np.random.Generator, *, tag: bool = False, exclude: tuple[str, ...] = ()) -> np.ndarray:
    """A spray colour with small variation; ``tag`` favours black/chrome like real tags."""
    names = [n for n in _NAMES if n not in exclude]
    w = np.array([_TAG_WEIGHTS[_NAMES.index(n)] if tag else 1.0 for n in names])
    name = names[int(rng.choice(len(names), p=w / w.sum()))]
    c = np.asarray(SPRAY_COLOURS[name], np.float32) * (1 + rng.normal(0, 0.06, 3)).astype(np.float32)
    return np.clip(c, 0.02, 0.97)


def spray(mask: np.ndarray, stroke_px: float, rng: np.random.Generator, overspray: float = 0.25) -> np.ndarray:
    """Soften a hard mask like a spray can: blurred edge plus a speckled halo of overspray."""
    import cv2

    soft = cv2.GaussianBlur(mask, (0, 0), max(0.5, 0.12 * stroke_px))
    if overspray <= 0:
        return soft
    halo = cv2.GaussianBlur(mask, (0, 0), max(1.0, 0.7 * stroke_px))
    speck = (rng.random(mask.shape, dtype=np.float32) < 0.35).astype(np.float32)
    return np.clip(np.maximum(soft, halo * overspray * (0.4 + speck)), 0, 1)


def drips(mask: np.ndarray, rng: np.random.Generator, count: int, stroke_px: float, max_len_px: float) -> np.ndarray:
    """Runs of paint hanging from the lowest painted pixel of random columns."""
    import cv2

    out = np.zeros_like(mask)
    cols = np.nonzero(mask.max(axis=0) > 0.5)[0]
    if cols.size == 0 or count <= 0:
        return out
    h = mask.shape[0]
    for x in rng.choice(cols, size=min(count, cols.size), replace=False):
        rows = np.nonzero(mask[:, x] > 0.5)[0]
        y0 = float(rows.max())
        length = rng.uniform(0.2, 1.0) * max_len_px
        y1 = min(h - 2.0, y0 + length)
        w = max(1.0, stroke_px * rng.uniform(0.25, 0.5))
        draw_polyline(out, np.array([[x, y0], [x + rng.normal(0, 0.5), y1]]), w)
        cv2.circle(out, (int(x), int(y1)), max(1, int(w * 0.8)), 1.0, -1, cv2.LINE_AA)
    return out


def reveal(mask: np.ndarray, progress: float, soft_px: float = 6.0, vertical: bool = False) -> np.ndarray:
    """The part of ``mask`` painted so far when the writer works left to right (or top to bottom)."""
    if progress >= 1.0:
        return mask
    if progress <= 0.0:
        return np.zeros_like(mask)
    n = mask.shape[0 if vertical else 1]
    pos = np.arange(n, dtype=np.float32)
    ramp = np.clip((progress * (n + soft_px) - pos) / soft_px, 0, 1)
    return mask * (ramp[:, None] if vertical else ramp[None, :])


def stage(progress: float, start: float, end: float) -> float:
    """Progress within one stage of a painting that runs from ``start`` to ``end`` of the whole."""
    return float(np.clip((progress - start) / max(end - start, 1e-6), 0, 1))
