"""The more elaborate graffiti painters: multi-colour pieces with 3-D blocks, etched scratches, stickers."""

from __future__ import annotations

import numpy as np

from detector.data.synth.layer import Layer
from detector.data.synth.lettering import FONTS_BLOCK, ITALIC, draw_polyline, random_word, text_mask
from detector.data.synth.spray import SPRAY_COLOURS, reveal, spray, spray_colour, stage


def _shift(mask: np.ndarray, dx: int, dy: int) -> np.ndarray:
    out = np.zeros_like(mask)
    h, w = mask.shape
    out[max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)] = mask[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
    return out


def paint_piece(canvas: Layer, rng: np.random.Generator, box: tuple[int, int, int, int], progress: float) -> None:
    import cv2

    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    word = random_word(rng, 3, 6, upper=True)
    font = int(rng.choice(FONTS_BLOCK)) | (ITALIC if rng.random() < 0.3 else 0)
    mw, mh = int(w * 0.86), int(h * 0.78)
    letters = text_mask(word, rng, mw, mh, font=font, stroke_frac=float(rng.uniform(0.16, 0.26)),
                        slant=float(rng.uniform(-0.35, 0.1)), rotate_deg=float(rng.uniform(-10, 10)), jitter=0.22,
                        overlap=float(rng.uniform(0.05, 0.2)), stretch=float(rng.uniform(0.8, 1.3)),
                        wobble=float(rng.uniform(0.04, 0.1)))
    fill = np.zeros((h, w), np.float32)
    oy, ox = int(h * 0.08), int(w * 0.06)
    fill[oy:oy + mh, ox:ox + mw] = letters
    _arrows(fill, rng, int(rng.choice([0, 1, 2, 3], p=[0.35, 0.3, 0.2, 0.15])), max(2, int(mh * 0.08)))
    r = max(1, int(min(w, h) * 0.015))
    ell = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    fill = np.clip(cv2.GaussianBlur(cv2.dilate(fill, ell), (0, 0), r * 0.5) * 1.6, 0, 1)
    depth = max(2, int(min(w, h) * rng.uniform(0.03, 0.07)))
    ddx, ddy = int(rng.choice([-1, 1])), 1
    block = np.zeros_like(fill)
    for i in range(1, depth + 1):
        block = np.maximum(block, _shift(fill, ddx * i, ddy * i))
    outline = cv2.dilate(np.maximum(fill, block), ell, iterations=2)
    stroke = float(r * 2)
    if rng.random() < 0.35:  # a second, outer outline in another colour
        outer = cv2.dilate(outline, ell, iterations=3)
        canvas.over(spray_colour(rng), reveal(spray(outer, stroke, rng, 0.15), stage(progress, 0.15, 0.3)), box)
    if rng.random() < 0.6:  # background cloud of bubbles
        cloud = np.zeros_like(fill)
        for _ in range(int(rng.integers(5, 11))):
            cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.3, 0.7) * h
            cv2.circle(cloud, (int(cx), int(cy)), int(rng.uniform(0.12, 0.3) * h), 1.0, -1, cv2.LINE_AA)
        cloud_line = cv2.dilate(cloud, ell, iterations=2)
        canvas.over(spray_colour(rng), reveal(spray(cloud_line, stroke, rng, 0.2), stage(progress, 0, 0.2)), box)
        canvas.over(spray_colour(rng), reveal(spray(cloud, stroke, rng, 0.1), stage(progress, 0, 0.25)), box)
    line_c = np.asarray(SPRAY_COLOURS["black" if rng.random() < 0.7 else "white"], np.float32)
    canvas.over(line_c, reveal(spray(outline, stroke, rng, 0.15), stage(progress, 0.2, 0.45)), box)
    shade_c = spray_colour(rng) * 0.45
    canvas.over(shade_c, reveal(spray(block, stroke, rng, 0.0), stage(progress, 0.45, 0.6)), box)
    fill_img, marks = _fill_pattern(rng, fill)
    canvas.over(fill_img, reveal(spray(fill, stroke, rng, 0.0), stage(progress, 0.6, 0.9)), box)
    if marks is not None:  # cuts or bubbles inside the letters, in their own colour
        canvas.over(marks[1], reveal(marks[0] * fill, stage(progress, 0.85, 0.95)), box)
    # Highlights: a light edge on the upper side of each letter, and a few sparkles.
    edge = np.clip(fill - _shift(fill, -ddx * max(1, r), -2 * max(1, r)), 0, 1)
    hl = np.zeros_like(fill)
    for _ in range(int(rng.integers(0, 5))):
        cx, cy = int(rng.uniform(0.05, 0.95) * w), int(rng.uniform(0.1, 0.9) * h)
        s = int(min(w, h) * rng.uniform(0.03, 0.06))
        cv2.line(hl, (cx - s, cy), (cx + s, cy), 1.0, max(1, r // 2), cv2.LINE_AA)
        cv2.line(hl, (cx, cy - s), (cx, cy + s), 1.0, max(1, r // 2), cv2.LINE_AA)
    canvas.over(SPRAY_COLOURS["white"], stage(progress, 0.9, 1.0) * np.maximum(edge * 0.8, hl), box)


def _arrows(mask: np.ndarray, rng: np.random.Generator, count: int, width_px: int) -> None:
    """Arrows shooting out of the letters (a wildstyle staple), drawn into the letter mask."""
    import cv2

    ys, xs = np.nonzero(mask > 0.5)
    if xs.size == 0:
        return
    h, w = mask.shape
    for _ in range(count):
        i = int(rng.integers(xs.size))
        p0 = np.array([xs[i], ys[i]], np.float64)
        ang = rng.uniform(0, 2 * np.pi)
        p1 = p0 + np.array([np.cos(ang), np.sin(ang)]) * rng.uniform(0.15, 0.35) * min(w, h) * 1.5
        p1 = np.clip(p1, [0.05 * w, 0.05 * h], [0.95 * w, 0.95 * h])
        cv2.arrowedLine(mask, (int(p0[0]), int(p0[1])), (int(p1[0]), int(p1[1])), 1.0, width_px, cv2.LINE_AA,
                        tipLength=float(rng.uniform(0.25, 0.45)))


def _fill_pattern(rng: np.random.Generator, fill: np.ndarray
                  ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """The letters' fill: a fade, or wavy bands, of 2-4 colours; optionally cuts or bubbles on top."""
    import cv2

    h, w = fill.shape
    cols = np.stack([spray_colour(rng, exclude=("black",)) for _ in range(int(rng.integers(2, 5)))])
    ys = np.arange(h, dtype=np.float32)[:, None]
    xs = np.arange(w, dtype=np.float32)[None, :]
    style = rng.choice(["fade", "bands"], p=[0.55, 0.45])
    if style == "fade":
        pos = np.broadcast_to(ys / max(h - 1, 1) * (len(cols) - 1), (h, w))
    else:
        wave = rng.uniform(0.03, 0.1) * h * np.sin(xs * rng.uniform(0.02, 0.08) + rng.uniform(0, 6))
        pos = np.clip((ys + wave) / max(h - 1, 1), 0, 0.999) * len(cols) - 0.5
        pos = np.clip(np.floor(pos) + np.clip((pos - np.floor(pos) - 0.45) * 10, 0, 1), 0, len(cols) - 1)
    idx = np.minimum(pos.astype(int), len(cols) - 2)
    frac = (pos - idx)[..., None]
    img = cols[idx] * (1 - frac) + cols[idx + 1] * frac
    marks = None
    kind = rng.choice(["none", "cuts", "bubbles"], p=[0.4, 0.35, 0.25])
    if kind != "none":
        m = np.zeros((h, w), np.float32)
        if kind == "cuts":  # thin diagonal splits across the letters
            for _ in range(int(rng.integers(2, 6))):
                y0 = rng.uniform(0, h)
                cv2.line(m, (0, int(y0)), (w, int(y0 + rng.uniform(-0.5, 0.5) * h)), 1.0, max(1, h // 60), cv2.LINE_AA)
            colour = cols.mean(axis=0) * 0.4
        else:  # bubbles / dots inside the fill
            for _ in range(int(rng.integers(5, 16))):
                cv2.circle(m, (int(rng.uniform(0, w)), int(rng.uniform(0, h))), int(rng.uniform(0.02, 0.06) * h), 1.0, -1,
                           cv2.LINE_AA)
            colour = np.clip(cols.mean(axis=0) * 1.4 + 0.15, 0, 1)
        marks = (m, colour.astype(np.float32))
    return img.astype(np.float32), marks


def paint_etch(canvas: Layer, rng: np.random.Generator, box: tuple[int, int, int, int], progress: float) -> None:
    """Scratched or etched letters: thin, sharp, pale (scraped) or dark (scratched into dirt)."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    word = random_word(rng, 2, 7)
    font = int(rng.choice([0, 6, 1])) | (ITALIC if rng.random() < 0.5 else 0)
    mask = text_mask(word, rng, w, int(h * 0.8), font=font, stroke_frac=0.012, slant=float(rng.uniform(-0.4, 0.2)),
                     rotate_deg=float(rng.uniform(-12, 12)), jitter=0.3, overlap=0.05)
    full = np.zeros((h, w), np.float32)
    full[: mask.shape[0]] = mask
    for _ in range(int(rng.integers(2, 9))):  # loose scratches through and around the letters
        p0 = rng.uniform([0, 0], [w, h])
        p1 = p0 + rng.normal(0, [w * 0.3, h * 0.25])
        draw_polyline(full, np.stack([p0, p1]), 1.0, float(rng.uniform(0.5, 1.0)))
    pale = rng.random() < 0.65
    colour = np.full(3, rng.uniform(0.75, 0.95) if pale else rng.uniform(0.05, 0.2), np.float32)
    canvas.over(colour, reveal(np.clip(full, 0, 1), progress) * float(rng.uniform(0.55, 0.9)), box)


def paint_sticker(canvas: Layer, rng: np.random.Generator, box: tuple[int, int, int, int], progress: float) -> None:
    """A cluster of small printed stickers ("slaps"), stuck on one after another."""
    import cv2

    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    n = int(rng.integers(1, 5))
    shown = int(np.ceil(progress * n))
    for i in range(n):
        s = min(w, h) * rng.uniform(0.35, 0.7)
        sw = int(max(8, s * rng.choice([1.0, 1.5, 2.0])))
        sh = int(max(8, s))
        bg = np.asarray(rng.choice([(0.95, 0.95, 0.95), (0.1, 0.85, 0.95), (0.1, 0.1, 0.8), (0.08, 0.08, 0.08),
                                    (0.75, 0.35, 0.1), (0.2, 0.75, 0.2)]), np.float32)
        img = np.ones((sh, sw, 3), np.float32) * bg
        ink = (0.05, 0.05, 0.05) if bg.mean() > 0.5 else (0.95, 0.95, 0.95)
        word = random_word(rng, 2, 6, upper=True)
        tm = text_mask(word, rng, int(sw * 0.85), int(sh * 0.6), font=int(rng.choice([0, 2, 6])),
                       stroke_frac=float(rng.uniform(0.1, 0.2)), slant=float(rng.uniform(-0.4, 0.0)), jitter=0.1)
        oy, ox = int(sh * 0.2), int(sw * 0.075)
        img[oy:oy + tm.shape[0], ox:ox + tm.shape[1]] += (np.asarray(ink, np.float32) - img[oy:oy + tm.shape[0], ox:ox + tm.shape[1]]) * tm[..., None]
        alpha = np.ones((sh, sw), np.float32)
        if rng.random() < 0.4:  # round sticker
            alpha = np.zeros((sh, sw), np.float32)
            cv2.ellipse(alpha, (sw // 2, sh // 2), (sw // 2 - 1, sh // 2 - 1), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
        ang = rng.uniform(-35, 35)
        cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
        m = cv2.getRotationMatrix2D((sw / 2, sh / 2), ang, 1.0)
        m[:, 2] += np.array([cx - sw / 2, cy - sh / 2])
        warped = cv2.warpAffine(img * alpha[..., None], m, (w, h), flags=cv2.INTER_LINEAR)
        a = cv2.warpAffine(alpha, m, (w, h), flags=cv2.INTER_LINEAR)
        if i < shown:
            colour = warped / np.maximum(a, 1e-3)[..., None]
            canvas.over(colour, a * 0.97, box)
