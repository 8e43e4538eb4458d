"""Hard negatives: things on tunnel walls that are not graffiti but could fool a model.

Posters and signs (printed, crisp, rectangular), water stains and efflorescence (soft, run
downwards), cracks, dirt, and a permitted mural (painted, pictorial, label clean). Painted on a
flat layer like graffiti, with the same ``(canvas, rng, box, progress)`` signature.
"""

from __future__ import annotations

import numpy as np

from detector.data.synth.layer import Layer, paint_into
from detector.data.synth.lettering import draw_polyline, random_word, text_mask
from detector.data.synth.spray import reveal

NEGATIVE_KINDS = ("poster", "sign", "stain", "crack", "dirt", "mural", "buff", "ghost")
_PRINT = [(0.95, 0.95, 0.95), (0.85, 0.93, 0.97), (0.2, 0.2, 0.75), (0.7, 0.45, 0.1), (0.15, 0.6, 0.2),
          (0.1, 0.8, 0.95), (0.1, 0.1, 0.1), (0.6, 0.2, 0.55)]


def _rgb(rng: np.random.Generator, choices: list[tuple[float, float, float]]) -> np.ndarray:
    return np.asarray(choices[int(rng.integers(len(choices)))], np.float32)


def paint_poster(canvas: Layer, rng: np.random.Generator, box: tuple[int, int, int, int], progress: float) -> None:
    """A printed poster or notice, often in a display case: heading, picture, lines of small text."""
    import cv2

    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    img = np.ones((h, w, 3), np.float32) * _rgb(rng, _PRINT[:2] + _PRINT[5:6])
    ink = np.asarray((0.08, 0.08, 0.1), np.float32)
    accent = _rgb(rng, _PRINT[2:])
    y = int(h * 0.06)
    band = int(h * rng.uniform(0.12, 0.2))
    if rng.random() < 0.6:
        img[y:y + band, int(w * 0.04):int(w * 0.96)] = accent
    tm = text_mask(random_word(rng, 4, 8, upper=True), rng, int(w * 0.86), int(band * 0.8), font=int(rng.choice([0, 2, 4])),
                   stroke_frac=0.12)
    col = np.full(3, 0.97, np.float32) if accent.mean() < 0.5 else ink
    sl = img[y + int(band * 0.1):y + int(band * 0.1) + tm.shape[0], int(w * 0.07):int(w * 0.07) + tm.shape[1]]
    sl += (col - sl) * tm[..., None]
    y += band + int(h * 0.04)
    if rng.random() < 0.7:  # picture block
        ph = int(h * rng.uniform(0.2, 0.4))
        top, bot = _rgb(rng, _PRINT), _rgb(rng, _PRINT)
        t = np.linspace(0, 1, ph, dtype=np.float32)[:, None, None]
        img[y:y + ph, int(w * 0.08):int(w * 0.92)] = top * (1 - t) + bot * t
        cv2.circle(img, (int(w * rng.uniform(0.3, 0.7)), y + ph // 2), int(ph * 0.3), tuple(float(c) for c in accent), -1,
                   cv2.LINE_AA)
        y += ph + int(h * 0.04)
    lh = max(2, int(h * rng.uniform(0.025, 0.045)))
    while y + lh < h * 0.94:  # lines of small text, rendered as grey bars
        ln = rng.uniform(0.4, 0.84)
        cv2.rectangle(img, (int(w * 0.08), y), (int(w * (0.08 + ln)), y + max(1, lh // 2)), (0.35, 0.35, 0.38), -1)
        y += lh
    alpha = np.ones((h, w), np.float32)
    if rng.random() < 0.45:  # display case: metal frame and a glass sheen
        f = max(2, int(min(w, h) * 0.04))
        frame = np.ones((h, w), np.float32)
        frame[f:-f, f:-f] = 0
        img[frame > 0] = rng.uniform(0.25, 0.6)
        xs = np.arange(w, dtype=np.float32)[None, :] + np.arange(h, dtype=np.float32)[:, None] * 0.6
        img += (0.15 * np.exp(-((xs - w * rng.uniform(0.2, 0.9)) / (w * 0.12)) ** 2))[..., None]
    elif rng.random() < 0.4:  # torn, fly-posted corner
        cut = np.array([[w, h], [w - int(w * rng.uniform(0.1, 0.3)), h], [w, h - int(h * rng.uniform(0.1, 0.3))]], np.int32)
        cv2.fillPoly(alpha, [cut], 0.0)
    canvas.over(np.clip(img, 0, 1), alpha * (1.0 if progress >= 1 else float(progress > 0.5)), box)


def paint_sign(canvas: Layer, rng: np.random.Generator, box: tuple[int, int, int, int], progress: float) -> None:
    """Way-finding or warning sign: solid colour, white arrow or pictogram, short text."""
    import cv2

    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    style = rng.choice(["panel", "round", "cctv"])
    alpha = np.zeros((h, w), np.float32)
    img = np.zeros((h, w, 3), np.float32)
    white = (0.95, 0.95, 0.95)
    if style == "round":
        r = min(w, h) // 2 - 1
        c = (w // 2, h // 2)
        cv2.circle(alpha, c, r, 1.0, -1, cv2.LINE_AA)
        blue = rng.random() < 0.6
        cv2.circle(img, c, r, (0.7, 0.35, 0.05) if blue else white, -1, cv2.LINE_AA)
        if not blue:
            cv2.circle(img, c, r, (0.1, 0.1, 0.8), max(2, r // 5), cv2.LINE_AA)
        ink = white if blue else (0.05, 0.05, 0.05)
        cv2.circle(img, (c[0] - r // 3, c[1] + r // 4), r // 5, ink, max(1, r // 14), cv2.LINE_AA)  # bicycle
        cv2.circle(img, (c[0] + r // 3, c[1] + r // 4), r // 5, ink, max(1, r // 14), cv2.LINE_AA)
        cv2.line(img, (c[0] - r // 3, c[1] + r // 4), (c[0], c[1] - r // 6), ink, max(1, r // 12), cv2.LINE_AA)
        cv2.line(img, (c[0], c[1] - r // 6), (c[0] + r // 3, c[1] + r // 4), ink, max(1, r // 12), cv2.LINE_AA)
    else:
        alpha[:] = 1.0
        bg = (0.1, 0.85, 0.95) if style == "cctv" else tuple(float(v) for v in _rgb(rng, [(0.6, 0.3, 0.05), (0.2, 0.45, 0.1), (0.15, 0.25, 0.45)]))
        img[:] = bg
        ink = (0.05, 0.05, 0.05) if style == "cctv" else white
        b = max(1, min(w, h) // 20)
        cv2.rectangle(img, (b, b), (w - b - 1, h - b - 1), ink, max(1, b // 2), cv2.LINE_AA)
        a0 = (int(w * 0.1), h // 2)
        a1 = (int(w * 0.3), h // 2)
        cv2.arrowedLine(img, a0 if rng.random() < 0.5 else a1, a1 if rng.random() < 0.5 else a0, ink, max(1, h // 10),
                        cv2.LINE_AA, tipLength=0.5)
        tm = text_mask(random_word(rng, 3, 8, upper=True), rng, int(w * 0.55), int(h * 0.5), font=0, stroke_frac=0.12)
        sl = img[h // 4:h // 4 + tm.shape[0], int(w * 0.38):int(w * 0.38) + tm.shape[1]]
        sl += (np.asarray(ink, np.float32) - sl) * tm[..., None]
    canvas.over(img, alpha, box)


def paint_stain(canvas: Layer, rng: np.random.Generator, box: tuple[int, int, int, int], progress: float) -> None:
    """Water stain (dark, brownish) or efflorescence (white salt), running down from a seam."""
    salt = rng.random() < 0.4
    _soak(canvas, rng, box, salt)


def paint_wet(canvas: Layer, rng: np.random.Generator, box: tuple[int, int, int, int], progress: float) -> None:
    """A wet patch (rain or a leak): always the dark kind of stain, soaking in with ``progress``."""
    rng.random()
    _soak(canvas, rng, box, False, 0.35 + 0.35 * float(np.clip(progress, 0, 1)))


def _soak(canvas: Layer, rng: np.random.Generator, box: tuple[int, int, int, int], salt: bool,
          strength: float | None = None) -> None:
    import cv2

    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    blob = cv2.resize(rng.random((6, 8), dtype=np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    runs = cv2.resize(rng.random((1, max(2, w // 6)), dtype=np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    ys = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    fade = np.clip(1.2 - ys * rng.uniform(0.8, 1.6), 0, 1)
    mask = np.clip((blob * 0.6 + runs * 0.8 * fade - 0.45) * 2.5, 0, 1) * fade
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, w / 60))
    colour = (np.full(3, 0.9, np.float32) if salt else np.asarray((0.12, 0.17, 0.22), np.float32))
    amount = float(rng.uniform(0.25, 0.55))
    canvas.over(colour, mask * (amount if strength is None else strength), box)


def paint_crack(canvas: Layer, rng: np.random.Generator, box: tuple[int, int, int, int], progress: float) -> None:
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    mask = np.zeros((h, w), np.float32)
    p = np.array([rng.uniform(0, w), 0.0])
    for _ in range(int(rng.integers(1, 4))):
        pts = [p]
        q = p.copy()
        steps = 20
        for _ in range(steps):
            q = q + np.array([rng.normal(0, w * 0.04), h / steps * rng.uniform(0.5, 1.5)])
            pts.append(q)
        draw_polyline(mask, np.array(pts), 1.0, float(rng.uniform(0.6, 1.0)))
        p = pts[int(rng.integers(2, steps))]
    canvas.over(np.full(3, 0.08, np.float32), mask * float(rng.uniform(0.5, 0.85)), box)


def paint_dirt(canvas: Layer, rng: np.random.Generator, box: tuple[int, int, int, int], progress: float) -> None:
    import cv2

    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    mask = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(3, 12))):
        c = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        axes = (int(rng.uniform(0.05, 0.3) * w), int(rng.uniform(0.05, 0.3) * h))
        cv2.ellipse(mask, c, axes, float(rng.uniform(0, 180)), 0, 360, float(rng.uniform(0.3, 1.0)), -1)
    soft = cv2.GaussianBlur(mask, (0, 0), max(1.0, min(w, h) / 12))
    canvas.over(np.asarray((0.1, 0.12, 0.14), np.float32), np.clip(soft, 0, 1) * float(rng.uniform(0.2, 0.45)), box)


def paint_mural(canvas: Layer, rng: np.random.Generator, box: tuple[int, int, int, int], progress: float) -> None:
    """A permitted, brush-painted mural: a landscape or a geometric pattern inside a painted border."""
    import cv2

    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    pal = [np.asarray(c, np.float32) for c in
           rng.choice([(0.85, 0.6, 0.3), (0.3, 0.7, 0.3), (0.2, 0.5, 0.9), (0.6, 0.3, 0.6), (0.2, 0.8, 0.95),
                       (0.8, 0.8, 0.5), (0.3, 0.3, 0.8), (0.5, 0.6, 0.2), (0.9, 0.9, 0.9)], size=5, replace=False)]
    img = np.zeros((h, w, 3), np.float32)
    if rng.random() < 0.55:  # landscape: sky, sun, hills, trees
        t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        img[:] = np.asarray((0.9, 0.75, 0.5), np.float32) * (1 - t) + np.asarray((0.95, 0.9, 0.8), np.float32) * t
        cv2.circle(img, (int(w * rng.uniform(0.1, 0.9)), int(h * 0.25)), int(h * 0.12), (0.2, 0.8, 0.95), -1, cv2.LINE_AA)
        for i in range(3):
            xs = np.linspace(0, w, 12)
            ys = h * (0.45 + 0.15 * i) + rng.normal(0, h * 0.05, 12)
            poly = np.vstack([np.stack([xs, ys], 1), [[w, h], [0, h]]]).astype(np.int32)
            cv2.fillPoly(img, [poly], tuple(float(c) for c in pal[i] * (0.9 - 0.15 * i)), cv2.LINE_AA)
        for _ in range(int(rng.integers(2, 7))):
            tx, ty = int(rng.uniform(0, w)), int(h * rng.uniform(0.55, 0.8))
            cv2.line(img, (tx, ty), (tx, ty + int(h * 0.12)), (0.1, 0.2, 0.3), max(1, w // 80))
            cv2.circle(img, (tx, ty), int(h * 0.07), (0.15, 0.5, 0.2), -1, cv2.LINE_AA)
    else:  # geometric: triangles and stripes in a palette
        img[:] = pal[0]
        for _ in range(int(rng.integers(6, 16))):
            pts = rng.uniform([0, 0], [w, h], size=(3, 2)).astype(np.int32)
            cv2.fillPoly(img, [pts], tuple(float(c) for c in pal[int(rng.integers(1, 5))]), cv2.LINE_AA)
        for i in range(int(rng.integers(0, 4))):
            cv2.circle(img, (w // 2, h // 2), int(min(w, h) * (0.1 + 0.1 * i)), tuple(float(c) for c in pal[i % 5]),
                       max(2, w // 40), cv2.LINE_AA)
    b = max(2, min(w, h) // 30)
    cv2.rectangle(img, (0, 0), (w - 1, h - 1), tuple(float(c) for c in pal[4] * 0.5), b)
    canvas.over(img, reveal(np.full((h, w), 0.96, np.float32), progress), box)


def paint_buff(canvas: Layer, rng: np.random.Generator, box: tuple[int, int, int, int], progress: float) -> None:
    """A patch of plain paint rolled over old graffiti: a flat rectangle in a wall-ish colour."""
    import cv2

    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    grey = rng.uniform(0.35, 0.8)
    colour = np.clip(grey * (1 + rng.normal(0, 0.06, 3)), 0, 1).astype(np.float32)
    mask = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(1, 4))):  # one or a few overlapping rolled rectangles
        a = rng.uniform([0, 0], [0.4 * w, 0.4 * h])
        b = rng.uniform([0.6 * w, 0.6 * h], [w, h])
        cv2.rectangle(mask, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), 1.0, -1)
    soft = cv2.GaussianBlur(mask, (0, 0), max(0.8, min(w, h) / 80))
    canvas.over(colour, soft * float(rng.uniform(0.5, 0.9)), box)


def paint_ghost(canvas: Layer, rng: np.random.Generator, box: tuple[int, int, int, int], progress: float) -> None:
    """What a cleaning crew leaves: a scrubbed, slightly lighter patch with a faint trace of the tag.

    Label clean: the edge must close its event once a wall looks like this.
    """
    import cv2

    from detector.data.synth.paint import paint_graffiti

    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    old = Layer.blank(w, h)
    paint_graffiti(old, str(rng.choice(["tag", "throwup"])), rng, (0, 0, w, h))
    patch = cv2.GaussianBlur(cv2.dilate((old.alpha > 0.05).astype(np.float32), np.ones((9, 9), np.uint8)), (0, 0), 4.0)
    canvas.over(np.full(3, rng.uniform(0.6, 0.85), np.float32), patch * float(rng.uniform(0.08, 0.2)), box)
    trace = float(rng.uniform(0.04, 0.1))
    canvas.over(old.rgb / np.maximum(old.alpha, 1e-3)[..., None], old.alpha * trace, box)


def paint_negative(canvas: Layer, kind: str, rng: np.random.Generator, box: tuple[int, int, int, int],
                   progress: float = 1.0) -> None:
    """Paint a hard negative of ``kind`` (one of NEGATIVE_KINDS or ``fixtures.FIXTURE_KINDS``) into ``box``."""
    from detector.data.synth.fixtures import paint_cable, paint_pipe, paint_plaster, paint_tiles

    painters = {"poster": paint_poster, "sign": paint_sign, "stain": paint_stain, "crack": paint_crack,
                "dirt": paint_dirt, "mural": paint_mural, "wet": paint_wet, "buff": paint_buff, "ghost": paint_ghost,
                "pipe": paint_pipe, "cable": paint_cable, "tiles": paint_tiles, "plaster": paint_plaster}
    paint_into(canvas, painters, kind, rng, box, progress, "negative")
