"""Graffiti painters: tags, throw-ups, pieces, etched marks and stickers.

``paint_graffiti(canvas, kind, rng, box, progress)`` paints one work into ``box`` of a flat layer.
Painting is a pure function of the generator's state, so calling it again with a generator in the
same state and a larger ``progress`` shows the same work further along: the simulated stream uses
that to let a writer paint a tag over a minute.
"""

from __future__ import annotations

import numpy as np

from detector.data.synth.layer import Layer, paint_into
from detector.data.synth.lettering import (
    FONTS_BLOCK,
    FONTS_SCRIPT,
    ITALIC,
    bezier_points,
    draw_polyline,
    random_word,
    text_mask,
)
from detector.data.synth.spray import SPRAY_COLOURS, drips, reveal, spray, spray_colour, stage

GRAFFITI_KINDS = ("tag", "throwup", "piece", "etch", "sticker")


def _squiggle_mask(rng: np.random.Generator, w: int, h: int, stroke_px: float) -> np.ndarray:
    """A fast signature-like scrawl: a chain of random loops and spikes along a slanted baseline."""
    mask = np.zeros((h, w), np.float32)
    n = int(rng.integers(4, 10))
    xs = np.sort(rng.uniform(0.05, 0.95, n)) * w
    ys = h * 0.5 + rng.uniform(-0.42, 0.42, n) * h + (xs - w / 2) * rng.uniform(-0.3, 0.05)
    pts = [np.array([xs[0], ys[0]])]
    for i in range(1, n):
        p0, p3 = pts[-1], np.array([xs[i], ys[i]])
        seg = bezier_points(rng, p0, p3, h * rng.uniform(0.1, 0.4), 16)
        if rng.random() < 0.35:  # a loop
            c = seg[-1]
            r = h * rng.uniform(0.06, 0.18)
            t = np.linspace(0, 2 * np.pi, 14)
            seg = np.vstack([seg, c + np.stack([r * np.sin(t), -r * (1 - np.cos(t))], 1)])
        draw_polyline(mask, seg, stroke_px)
        pts.append(seg[-1])
    return mask


def paint_tag(canvas: Layer, rng: np.random.Generator, box: tuple[int, int, int, int], progress: float) -> None:
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    has_drips = rng.random() < 0.5
    th = int(h * (0.72 if has_drips else 0.95))
    style = rng.choice(["script", "block", "squiggle"], p=[0.45, 0.35, 0.2])
    stroke_frac = float(rng.uniform(0.03, 0.07))
    if style == "squiggle":
        stroke_px = max(1.5, th * stroke_frac * 0.8)
        mask = _squiggle_mask(rng, w, th, stroke_px)
    else:
        font = int(rng.choice(FONTS_SCRIPT)) if style == "script" else int(rng.choice(FONTS_BLOCK)) | ITALIC
        word = random_word(rng, 3, 7)
        mask = text_mask(word, rng, w, th, font=font, stroke_frac=stroke_frac * (1.4 if style == "script" else 1.0),
                         slant=float(rng.uniform(-0.6, 0.1)), rotate_deg=float(rng.uniform(-14, 8)),
                         jitter=0.18, overlap=float(rng.uniform(0.0, 0.3)), stretch=float(rng.uniform(0.8, 1.4)))
        stroke_px = max(1.5, th * stroke_frac * 0.6)
    if rng.random() < 0.5:  # underline swoosh or crown flourish
        y = th * rng.uniform(0.7, 0.95)
        pts = bezier_points(rng, np.array([0.05 * w, y]), np.array([0.95 * w, y - th * rng.uniform(0, 0.4)]), th * 0.15)
        draw_polyline(mask, pts, stroke_px)
    full = np.zeros((h, w), np.float32)
    full[:th] = mask
    if has_drips:
        full = np.maximum(full, drips(full, rng, int(rng.integers(2, 9)), stroke_px * 2, h - th))
    colour = spray_colour(rng, tag=True)
    marker = rng.random() < 0.2  # a marker tag: crisp, no overspray
    soft = spray(full, stroke_px * 2, rng, 0.0 if marker else float(rng.uniform(0.1, 0.35)))
    if rng.random() < 0.15:  # outlined tag
        import cv2

        k = max(1, int(stroke_px * 0.6))
        ring = cv2.dilate(soft, np.ones((2 * k + 1, 2 * k + 1), np.uint8))
        canvas.over(spray_colour(rng, exclude=("black",)), reveal(ring, progress), box)
    canvas.over(colour, reveal(soft, progress) * float(rng.uniform(0.85, 1.0)), box)


def _bubble(mask: np.ndarray, radius_px: float) -> np.ndarray:
    """Round letters off into fat bubbles: dilate, blur, threshold."""
    import cv2

    r = max(1, int(radius_px))
    out = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    out = cv2.GaussianBlur(out, (0, 0), max(1.0, r * 0.6))
    return np.clip((out - 0.4) * 8, 0, 1)


def paint_throwup(canvas: Layer, rng: np.random.Generator, box: tuple[int, int, int, int], progress: float) -> None:
    """Bubble letters, each outlined, crowding over the previous one; outline colour, then fill."""
    import cv2

    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    word = random_word(rng, 2, 4, upper=True)
    n = len(word)
    font = int(rng.choice([0, 2, 4]))
    ov = float(rng.uniform(0.15, 0.35))
    slot = w * 0.9 / (n - (n - 1) * ov)
    th = h * 0.8
    fill_c = spray_colour(rng, exclude=("black", "maroon"))
    dark = rng.random() < 0.75 or fill_c.mean() > 0.55
    line_c = (np.asarray(SPRAY_COLOURS["black"], np.float32) if dark
              else spray_colour(rng, exclude=("chrome", "white", "yellow", "sky", "lime")))
    out_r = max(1, int(min(slot, th) * rng.uniform(0.035, 0.07)))
    ell = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * out_r + 1, 2 * out_r + 1))
    slant = float(rng.uniform(-0.25, 0.1))
    sloppy = rng.random() < 0.5
    fills = np.zeros((h, w), np.float32)
    for i, ch in enumerate(word):
        lw, lh = int(slot), int(th * rng.uniform(0.85, 1.0))
        lx = int(w * 0.05 + i * slot * (1 - ov))
        ly = int(h * 0.04 + rng.uniform(0, 0.1) * h)
        lm = text_mask(ch, rng, lw, lh, font=font, stroke_frac=float(rng.uniform(0.09, 0.16)), slant=slant,
                       rotate_deg=float(rng.uniform(-10, 10)), jitter=0.0)
        full = np.zeros((h, w), np.float32)
        ph, pw = min(lh, h - ly), min(lw, w - lx)
        full[ly:ly + ph, lx:lx + pw] = lm[:ph, :pw]
        fill = _bubble(full, min(lw, lh) * rng.uniform(0.02, 0.05))
        outline = cv2.dilate(fill, ell)
        p = stage(progress, i / n, (i + 1) / n)
        canvas.over(line_c, spray(outline, out_r * 2.0, rng, 0.1) * stage(p, 0, 0.4), box)
        fill_soft = spray(fill, out_r * 2.0, rng, 0.0)
        if sloppy:  # quick, uneven fill that lets the wall show through
            fill_soft *= 0.7 + 0.3 * cv2.resize(rng.random((h // 10 + 2, w // 6 + 2), dtype=np.float32), (w, h))
        canvas.over(fill_c, reveal(fill_soft, stage(p, 0.4, 1.0), vertical=True), box)
        fills = np.maximum(fills, fill)
    if rng.random() < 0.35:
        run = drips(fills, rng, int(rng.integers(2, 7)), out_r * 2.0, h * 0.14)
        canvas.over(fill_c, spray(run, out_r * 2.0, rng, 0.0) * stage(progress, 0.9, 1.0), box)


def paint_graffiti(canvas: Layer, kind: str, rng: np.random.Generator, box: tuple[int, int, int, int],
                   progress: float = 1.0) -> None:
    """Paint graffiti of ``kind`` (one of GRAFFITI_KINDS) into ``box`` (x1, y1, x2, y2) of ``canvas``.

    ``progress`` in [0, 1] is how far the writer has got; 1.0 is the finished work.
    """
    from detector.data.synth.pieces import paint_etch, paint_piece, paint_sticker

    painters = {"tag": paint_tag, "throwup": paint_throwup, "piece": paint_piece, "etch": paint_etch,
                "sticker": paint_sticker}
    paint_into(canvas, painters, kind, rng, box, progress, "graffiti")
