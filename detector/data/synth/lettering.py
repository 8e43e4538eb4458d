"""Letter shapes for graffiti: words drawn with OpenCV's Hershey fonts, jittered, slanted and fitted
into a box, plus free-hand strokes (swooshes, underlines) from random Bézier curves."""

from __future__ import annotations

import numpy as np

SYLLABLES = ("ka", "re", "zo", "ek", "mo", "sy", "dr", "ax", "ne", "ok", "vi", "tr", "um", "es", "qu", "ry",
             "bo", "x", "z", "k", "oe", "st", "fu", "ze", "ja", "pi", "no", "wa", "ht", "gr")
FONTS_SCRIPT = (6, 7)  # cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, SCRIPT_COMPLEX
FONTS_BLOCK = (0, 2, 3, 4)  # SIMPLEX, DUPLEX, COMPLEX, TRIPLEX
ITALIC = 16


def random_word(rng: np.random.Generator, min_len: int = 2, max_len: int = 6, upper: bool | None = None) -> str:
    word = ""
    while len(word) < min_len:
        word += str(rng.choice(SYLLABLES))
    word = word[:max_len]
    if rng.random() < 0.2:
        word += str(rng.integers(1, 99))
    if upper is None:
        upper = bool(rng.random() < 0.6)
    return word.upper() if upper else word


def text_mask(text: str, rng: np.random.Generator, width_px: int, height_px: int, *, font: int,
              stroke_frac: float, slant: float = 0.0, rotate_deg: float = 0.0, jitter: float = 0.1,
              overlap: float = 0.0, stretch: float = 1.0, wobble: float = 0.04) -> np.ndarray:
    """A float32 mask (height_px × width_px) of ``text`` fitted into the box.

    ``stroke_frac`` is the pen width relative to the letter height, ``slant`` a horizontal shear,
    ``jitter`` random per-letter scale/offset, ``overlap`` how much letters crowd into each other,
    ``wobble`` a smooth random bend of the strokes (fraction of the height) so they look hand-made.
    """
    import cv2

    # Draw near the final size so that a 1-2 px pen stays thin (etched marks) after fitting.
    base_h = int(np.clip(height_px * 0.8, 24, 128))
    scale = cv2.getFontScaleFromHeight(font, base_h, 1)
    thick = max(1, int(round(base_h * stroke_frac)))
    pad = thick + base_h
    widths = [cv2.getTextSize(ch, font, scale, thick)[0][0] for ch in text]
    total = int(sum(widths) * 1.5) + 2 * pad
    tmp = np.zeros((base_h * 3 + 2 * pad, total), np.uint8)
    x = pad
    for ch, wch in zip(text, widths, strict=True):
        s = scale * (1 + rng.uniform(-jitter, jitter))
        dy = int(rng.uniform(-jitter, jitter) * base_h)
        cv2.putText(tmp, ch, (x, pad + int(base_h * 1.8) + dy), font, s, 255, thick, cv2.LINE_AA)
        x += int(wch * (1 - overlap) * (1 + rng.uniform(-jitter, jitter) * 0.5))
    ys, xs = np.nonzero(tmp)
    if xs.size == 0:
        return np.zeros((height_px, width_px), np.float32)
    x1, x2, y1, y2 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    crop = tmp[y1:y2, x1:x2]
    h, w = crop.shape
    a = np.radians(rotate_deg)
    shear = np.array([[stretch, slant], [0, 1]], np.float64)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    m = rot @ shear
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64) @ m.T
    lo, hi = corners.min(0), corners.max(0)
    span = hi - lo
    k = min(width_px * 0.96 / span[0], height_px * 0.96 / span[1])
    m = m * k
    t = np.array([width_px, height_px]) / 2 - (lo + span / 2) * k
    aff = np.hstack([m, t[:, None]]).astype(np.float32)
    out = cv2.warpAffine(crop, aff, (width_px, height_px), flags=cv2.INTER_LINEAR).astype(np.float32) / 255.0
    if wobble > 0:
        out = bend(out, rng, wobble * height_px)
    return out


def bend(mask: np.ndarray, rng: np.random.Generator, amp_px: float) -> np.ndarray:
    """Displace a mask by a smooth random field (a few bumps across it): hand-drawn irregularity."""
    import cv2

    h, w = mask.shape
    field = rng.normal(0, amp_px, (2, 3, 5)).astype(np.float32)
    dx = cv2.resize(field[0], (w, h), interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(field[1], (w, h), interpolation=cv2.INTER_CUBIC)
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(mask, xs + dx, ys + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def bezier_points(rng: np.random.Generator, p0: np.ndarray, p3: np.ndarray, bend: float, n: int = 24) -> np.ndarray:
    """Points of a cubic Bézier from p0 to p3 whose control points wander by ``bend`` pixels."""
    d = p3 - p0
    p1 = p0 + d / 3 + rng.normal(0, bend, 2)
    p2 = p0 + 2 * d / 3 + rng.normal(0, bend, 2)
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t * t * p2 + t ** 3 * p3


def draw_polyline(mask: np.ndarray, pts: np.ndarray, width_px: float, value: float = 1.0) -> None:
    """Anti-aliased polyline into a float32 mask (sub-pixel precision)."""
    import cv2

    shift = 4
    p = np.round(pts * (1 << shift)).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(mask, [p], False, value, max(1, int(round(width_px))), cv2.LINE_AA, shift)
