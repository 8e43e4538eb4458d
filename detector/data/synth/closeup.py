"""People and cyclists standing close to the camera in printed, lettered clothing, cut by the frame.

A person who stops right in front of a tunnel camera fills a tile with a big patch of colour and
letters (a band T-shirt, a sponsor's name on a cycling jersey, a number on a football shirt): the
bundled model scores such tiles 0.5-0.8. Passers-by in ``people.py`` are small, whole figures at
their depth; these are drawn straight in image space, larger than the view (head and shoulders, a
torso, sometimes a hand on a bike's bars), and placed so that the frame edge cuts them. A close
cyclist wears a helmet and a lettered jersey and stands beside the front of the bike.
"""

from __future__ import annotations

import numpy as np

from detector.data.synth.layer import Layer
from detector.data.synth.lettering import FONTS_BLOCK, random_word, text_mask

CLOSE_KINDS = ("close-person", "close-cyclist")
SHIRTS = [(0.1, 0.1, 0.75), (0.75, 0.3, 0.1), (0.1, 0.75, 0.95), (0.2, 0.6, 0.15), (0.6, 0.3, 0.9),
          (0.05, 0.45, 0.95), (0.9, 0.9, 0.9), (0.08, 0.08, 0.1), (0.5, 0.5, 0.5), (0.55, 0.15, 0.5),
          (0.15, 0.9, 0.6), (0.3, 0.2, 0.6)]
SKIN = [(0.55, 0.68, 0.85), (0.4, 0.52, 0.7), (0.25, 0.35, 0.5), (0.15, 0.22, 0.35)]


def _c(rng: np.random.Generator, table: list[tuple[float, float, float]]) -> np.ndarray:
    return np.asarray(table[int(rng.integers(len(table)))], np.float32)


def _contrast(colour: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A print colour that stands out on ``colour``: white or black, or another bright shirt colour."""
    if rng.random() < 0.4:
        other = _c(rng, SHIRTS)
        if abs(float(other.mean() - colour.mean())) > 0.25:
            return other
    return np.full(3, 0.95 if colour.mean() < 0.5 else 0.06, np.float32)


def _print(layer: Layer, torso: np.ndarray, rng: np.random.Generator, shirt: np.ndarray, box: tuple[int, int, int, int],
           jersey: bool) -> None:
    """Lettering, a logo, a number or stripes printed on the shirt, clipped to the torso."""
    import cv2

    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    if w < 8 or h < 8:
        return
    ink = _contrast(shirt, rng)
    mh, mw = layer.height_px, layer.width_px
    mask = np.zeros((mh, mw), np.float32)
    style = str(rng.choice(["word", "word", "logo", "number", "stripes"] if not jersey else ["word", "stripes"]))
    if style in ("word", "logo"):
        lines = int(rng.integers(1, 3)) if style == "word" else 1
        for i in range(lines):
            tw, th = int(w * rng.uniform(0.6, 0.95)), int(h / (lines + 1) * rng.uniform(0.5, 0.9))
            if tw < 8 or th < 6:
                continue
            tm = text_mask(random_word(rng, 3, 9, upper=bool(rng.random() < 0.7)), rng, tw, th,
                           font=int(rng.choice(FONTS_BLOCK)), stroke_frac=float(rng.uniform(0.1, 0.2)),
                           slant=float(rng.uniform(-0.15, 0.25)) if style == "word" else 0.0)
            ty = y1 + int(h * (0.15 + i * 0.4))
            tx = x1 + (w - tm.shape[1]) // 2
            ya, xa = max(0, ty), max(0, tx)
            yb, xb = min(mh, ty + tm.shape[0]), min(mw, tx + tm.shape[1])
            if yb > ya and xb > xa:
                mask[ya:yb, xa:xb] = np.maximum(mask[ya:yb, xa:xb], tm[ya - ty:yb - ty, xa - tx:xb - tx])
        if style == "logo":
            c = (x1 + w // 2, y1 + int(h * 0.65))
            cv2.circle(mask, c, max(2, int(min(w, h) * 0.18)), 1.0, max(1, int(min(w, h) * 0.04)), cv2.LINE_AA)
    elif style == "number":
        tm = text_mask(str(int(rng.integers(1, 99))), rng, int(w * 0.6), int(h * 0.55), font=int(rng.choice(FONTS_BLOCK)),
                       stroke_frac=0.22)
        ty, tx = y1 + int(h * 0.2), x1 + (w - tm.shape[1]) // 2
        ya, xa = max(0, ty), max(0, tx)
        yb, xb = min(mh, ty + tm.shape[0]), min(mw, tx + tm.shape[1])
        if yb > ya and xb > xa:
            mask[ya:yb, xa:xb] = tm[ya - ty:yb - ty, xa - tx:xb - tx]
    else:
        band = max(2, int(h * rng.uniform(0.06, 0.14)))
        for y in range(y1 + int(h * rng.uniform(0.05, 0.3)), y2, band * int(rng.integers(2, 4))):
            cv2.rectangle(mask, (x1, y), (x2, y + band), 1.0, -1)
    layer.over(ink, mask * torso)


def draw_close_figure(rng: np.random.Generator, size_px: int, cyclist: bool) -> Layer:
    """A person (or a cyclist with a bike) much taller than the view, placed so the frame cuts them.

    The layer is the size of the image; every painted pixel is in it (partial figures are normal).
    """
    import cv2

    layer = Layer.blank(size_px, size_px)
    hh = size_px * float(rng.uniform(1.1, 3.2))  # figure height in image pixels
    cx = size_px * float(rng.uniform(-0.15, 1.15))  # often cut by the left or right edge
    top = -hh * float(rng.uniform(0.0, 0.25)) + size_px * float(rng.uniform(-0.05, 0.3))
    shirt, skin = _c(rng, SHIRTS), _c(rng, SKIN)
    trousers = _c(rng, [(0.45, 0.25, 0.1), (0.1, 0.1, 0.12), (0.3, 0.3, 0.32), (0.2, 0.35, 0.45)])
    turned = float(rng.uniform(0.75, 1.0))  # torso width: facing the camera or turned a little
    sh_w = hh * 0.13 * turned
    neck_y, waist_y = top + hh * 0.17, top + hh * 0.5

    def poly(pts: list[tuple[float, float]], colour: np.ndarray) -> np.ndarray:
        m = np.zeros((size_px, size_px), np.float32)
        cv2.fillPoly(m, [np.asarray(pts, np.float64).round().astype(np.int32)], 1.0, cv2.LINE_AA)
        layer.over(colour, m)
        return m

    for side in (-1, 1):  # legs
        poly([(cx + side * sh_w * 0.1, waist_y), (cx + side * sh_w * 0.85, waist_y),
              (cx + side * sh_w * 0.7, top + hh), (cx + side * sh_w * 0.15, top + hh)], trousers)
    if cyclist:  # the bike's front beside them: wheel arc, fork, bars with a hand on them
        wx = cx + float(rng.choice([-1, 1])) * hh * 0.35
        r = hh * 0.19
        wheel = np.zeros((size_px, size_px), np.float32)
        cv2.circle(wheel, (int(wx), int(top + hh - r)), max(2, int(r)), 1.0, max(1, int(hh * 0.02)), cv2.LINE_AA)
        layer.over(np.full(3, 0.06, np.float32), wheel)
        frame = _c(rng, SHIRTS)
        bar_y = top + hh * 0.52
        fork = np.zeros_like(wheel)
        cv2.line(fork, (int(wx), int(top + hh - r)), (int(wx - (wx - cx) * 0.2), int(bar_y)), 1.0, max(1, int(hh * 0.025)),
                 cv2.LINE_AA)
        cv2.line(fork, (int(wx - (wx - cx) * 0.2), int(bar_y)), (int(cx), int(bar_y + hh * 0.02)), 1.0,
                 max(1, int(hh * 0.02)), cv2.LINE_AA)
        layer.over(frame, fork)
    jersey_bottom = waist_y + hh * (0.02 if cyclist else rng.uniform(0.02, 0.12))
    torso_pts = [(cx - sh_w, neck_y + hh * 0.02), (cx + sh_w, neck_y + hh * 0.02), (cx + sh_w * 0.9, jersey_bottom),
                 (cx - sh_w * 0.9, jersey_bottom)]
    torso = poly(torso_pts, shirt)
    for side in (-1, 1):  # sleeves and arms hanging (or one on the bars)
        sx = cx + side * sh_w
        hand = (sx + side * hh * 0.03, waist_y + hh * 0.05)
        if cyclist and rng.random() < 0.6:
            hand = (cx + side * hh * 0.05, top + hh * 0.53)
        arm = np.zeros((size_px, size_px), np.float32)
        cv2.line(arm, (int(sx), int(neck_y + hh * 0.04)), (int(hand[0]), int(hand[1])), 1.0, max(1, int(hh * 0.055)),
                 cv2.LINE_AA)
        layer.over(shirt * 0.92, arm)
        hm = np.zeros_like(arm)
        cv2.circle(hm, (int(hand[0]), int(hand[1])), max(1, int(hh * 0.025)), 1.0, -1, cv2.LINE_AA)
        layer.over(skin, hm)
    x_lo, x_hi = int(cx - sh_w * 0.8), int(cx + sh_w * 0.8)
    _print(layer, torso, rng, shirt, (x_lo, int(neck_y + hh * 0.05), x_hi, int(jersey_bottom - hh * 0.04)), cyclist)
    head = np.zeros((size_px, size_px), np.float32)
    hc = (int(cx + hh * 0.01 * float(rng.normal())), int(top + hh * 0.085))
    cv2.ellipse(head, hc, (max(1, int(hh * 0.05)), max(1, int(hh * 0.068))), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    layer.over(skin, head)
    cap = np.zeros_like(head)
    if cyclist:  # helmet: a shell with vents
        cv2.ellipse(cap, (hc[0], hc[1] - int(hh * 0.02)), (max(1, int(hh * 0.062)), max(1, int(hh * 0.05))), 0, 180, 360,
                    1.0, -1, cv2.LINE_AA)
        layer.over(_c(rng, SHIRTS), cap)
        vents = np.zeros_like(head)
        for dx in (-1, 0, 1):
            cv2.line(vents, (hc[0] + dx * int(hh * 0.02), hc[1] - int(hh * 0.06)),
                     (hc[0] + dx * int(hh * 0.025), hc[1] - int(hh * 0.035)), 1.0, max(1, int(hh * 0.006)))
        layer.over(np.full(3, 0.1, np.float32), vents * cap)
    else:  # hair or a hood
        cv2.ellipse(cap, (hc[0], hc[1] - int(hh * 0.015)), (max(1, int(hh * 0.055)), max(1, int(hh * 0.05))), 0, 180, 360,
                    1.0, -1, cv2.LINE_AA)
        layer.over(shirt if rng.random() < 0.25 else np.asarray((0.05, 0.07, 0.1), np.float32) * float(rng.uniform(1, 4)), cap)
    return layer


def add_close_figure(rng: np.random.Generator, albedo: np.ndarray, cyclist: bool) -> tuple[float, float, float, float] | None:
    """Draw a close person/cyclist over ``albedo`` (H×W×3 float, square); the box of every changed pixel."""
    import cv2

    size = albedo.shape[0]
    layer = draw_close_figure(rng, size, cyclist)
    if rng.random() < 0.5:  # close to the lens: a little out of focus
        s = float(rng.uniform(0.5, 2.0)) * size / 320
        layer = Layer(cv2.GaussianBlur(layer.rgb, (0, 0), s), cv2.GaussianBlur(layer.alpha, (0, 0), s))
    alpha = np.clip(layer.alpha, 0, 1)
    alpha[alpha <= 1e-3] = 0.0  # a blur's far tail would tint pixels outside the reported box
    rgb = layer.rgb * (alpha > 0)[..., None]
    ys, xs = np.nonzero(alpha > 1e-3)
    if xs.size < 0.02 * size * size:  # almost entirely out of view
        return None
    albedo *= (1 - alpha)[..., None]
    albedo += rgb
    return (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
