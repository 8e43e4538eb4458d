"""Passers-by: people on foot and cyclists in colourful clothes, drawn in image space at their depth.

A passer-by is the commonest false alarm in a tunnel (a red jacket in front of a wall), so they are
drawn as hard negatives in still scenes and walk through the simulated stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detector.data.synth.geometry import Camera, Tunnel
from detector.data.synth.layer import Layer

CLOTHES = [(0.1, 0.1, 0.75), (0.75, 0.3, 0.1), (0.1, 0.75, 0.95), (0.2, 0.6, 0.15), (0.6, 0.3, 0.9),
           (0.05, 0.45, 0.95), (0.15, 0.9, 0.6), (0.9, 0.9, 0.9), (0.08, 0.08, 0.1), (0.5, 0.5, 0.5),
           (0.35, 0.2, 0.1), (0.55, 0.15, 0.5)]
SKIN = [(0.55, 0.68, 0.85), (0.4, 0.52, 0.7), (0.25, 0.35, 0.5), (0.15, 0.22, 0.35)]
TROUSERS = [(0.45, 0.25, 0.1), (0.1, 0.1, 0.12), (0.3, 0.3, 0.32), (0.2, 0.35, 0.45), (0.1, 0.1, 0.6)]


@dataclass(frozen=True)
class Look:
    """What one passer-by wears and carries; drawn once, reused for every frame they appear in."""

    cyclist: bool
    height_m: float
    jacket: tuple[float, float, float]
    trousers: tuple[float, float, float]
    skin: tuple[float, float, float]
    hat: tuple[float, float, float] | None
    backpack: tuple[float, float, float] | None


def random_look(rng: np.random.Generator, cyclist: bool | None = None) -> Look:
    def pick(table: list[tuple[float, float, float]]) -> tuple[float, float, float]:
        return table[int(rng.integers(len(table)))]

    cyc = bool(rng.random() < 0.3) if cyclist is None else cyclist
    return Look(cyc, float(rng.uniform(1.55, 1.92)), pick(CLOTHES), pick(TROUSERS), pick(SKIN),
                pick(CLOTHES) if rng.random() < 0.35 else None, pick(CLOTHES) if rng.random() < 0.4 else None)


def _limb(layer: Layer, a: tuple[float, float], b: tuple[float, float], width: float,
          colour: tuple[float, float, float]) -> None:
    import cv2

    m = np.zeros(layer.alpha.shape, np.float32)
    cv2.line(m, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), 1.0, max(1, int(width)), cv2.LINE_AA)
    layer.over(np.asarray(colour, np.float32), m)


def draw_passerby(look: Look, height_px: float, phase: float, facing: int) -> Layer:
    """A figure ``height_px`` tall in its own layer (feet at the bottom centre). ``phase`` in [0, 1)
    animates the stride/pedals; ``facing`` is +1 walking right, -1 left, 0 towards/away."""
    import cv2

    hh = max(8, int(height_px))
    ww = max(6, int(hh * (0.95 if look.cyclist else 0.5)))
    layer = Layer.blank(ww, hh)
    cx = ww / 2
    s = np.sin(2 * np.pi * phase)
    lw = max(1.0, hh * 0.075)
    if look.cyclist:
        r = hh * 0.19
        wy = hh - r - 1
        wx = (cx - hh * 0.27, cx + hh * 0.27)
        ring = np.zeros(layer.alpha.shape, np.float32)
        for x in wx:
            cv2.circle(ring, (int(x), int(wy)), int(r), 1.0, max(1, int(hh * 0.02)), cv2.LINE_AA)
        layer.over(np.asarray((0.06, 0.06, 0.07), np.float32), ring)
        frame_c = look.backpack or (0.1, 0.1, 0.7)
        seat = (cx - hh * 0.08, hh * 0.5)
        bar = (cx + hh * 0.2, hh * 0.45)
        _limb(layer, (wx[0], wy), seat, hh * 0.025, frame_c)
        _limb(layer, seat, (cx, wy), hh * 0.025, frame_c)
        _limb(layer, (cx, wy), (wx[1], wy), hh * 0.025, frame_c)
        _limb(layer, bar, (wx[1], wy), hh * 0.025, frame_c)
        hip = seat
        _limb(layer, hip, (cx + hh * 0.08 * s, wy - hh * 0.05 * s), lw, look.trousers)
        shoulder = (cx + hh * 0.06 * facing + hh * 0.05, hh * 0.2)
        _limb(layer, hip, shoulder, lw * 1.8, look.jacket)
        _limb(layer, shoulder, bar, lw * 0.7, look.jacket)
        head = (shoulder[0] + hh * 0.04, hh * 0.1)
    else:
        stride = hh * 0.12 * s if facing else hh * 0.025 * s
        hx = hh * 0.045
        coat = look.backpack is None and look.hat is not None  # a long coat now and then
        for side in (-1, 1):  # legs, then shoes
            hip = (cx + side * hx, hh * 0.52)
            foot = (cx + side * hx + side * stride, hh - lw * 0.6)
            _limb(layer, hip, foot, lw * 1.1, look.trousers)
            shoe = np.zeros(layer.alpha.shape, np.float32)
            cv2.ellipse(shoe, (int(foot[0] + facing * lw * 0.3), int(foot[1])), (max(1, int(lw * 0.8)), max(1, int(lw * 0.45))),
                        0, 0, 360, 1.0, -1, cv2.LINE_AA)
            layer.over(np.asarray((0.06, 0.06, 0.07), np.float32), shoe)
        tw = hh * (0.11 if facing else 0.14)
        if look.backpack is not None:
            bp = np.zeros(layer.alpha.shape, np.float32)
            off = -facing * tw * 0.9
            cv2.rectangle(bp, (int(cx + off - tw * 0.6), int(hh * 0.22)), (int(cx + off + tw * 0.6), int(hh * 0.45)), 1.0, -1)
            layer.over(np.asarray(look.backpack, np.float32), bp)
        torso = np.zeros(layer.alpha.shape, np.float32)
        bottom = hh * (0.68 if coat else 0.56)
        pts = np.array([[cx - tw, hh * 0.2], [cx + tw, hh * 0.2], [cx + tw * 0.9, bottom], [cx - tw * 0.9, bottom]], np.int32)
        cv2.fillPoly(torso, [pts], 1.0, cv2.LINE_AA)
        cv2.ellipse(torso, (int(cx), int(hh * 0.21)), (max(1, int(tw)), max(1, int(hh * 0.035))), 0, 180, 360, 1.0, -1,
                    cv2.LINE_AA)
        layer.over(np.asarray(look.jacket, np.float32), torso)
        for side in (-1, 1):  # arms swing against the legs; hands in skin colour
            sh = (cx + side * tw * 0.85, hh * 0.23)
            hand = (cx + side * (tw + hh * 0.02) - side * stride * 0.5, hh * 0.5)
            _limb(layer, sh, hand, lw * 0.85, look.jacket)
            hm_ = np.zeros(layer.alpha.shape, np.float32)
            cv2.circle(hm_, (int(hand[0]), int(hand[1])), max(1, int(lw * 0.5)), 1.0, -1, cv2.LINE_AA)
            layer.over(np.asarray(look.skin, np.float32), hm_)
        head = (cx + facing * hh * 0.01, hh * 0.09)
    hm = np.zeros(layer.alpha.shape, np.float32)
    cv2.ellipse(hm, (int(head[0]), int(head[1])), (max(1, int(hh * 0.055)), max(1, int(hh * 0.07))), 0, 0, 360, 1.0, -1,
                cv2.LINE_AA)
    layer.over(np.asarray(look.skin, np.float32), hm)
    top = np.zeros_like(hm)
    cv2.ellipse(top, (int(head[0]), int(head[1] - hh * 0.02)), (max(1, int(hh * 0.06)), max(1, int(hh * 0.05))), 0, 180,
                360, 1.0, -1, cv2.LINE_AA)
    layer.over(np.asarray(look.hat or (0.08, 0.08, 0.1), np.float32), top)
    return layer


def place_passerby(layer: Layer, camera: Camera, tunnel: Tunnel, x_m: float, z_m: float,
                   base: np.ndarray, blur_px: float = 0.0) -> tuple[float, float, float, float] | None:
    """Composite a figure standing on the floor at (x_m, z_m) onto ``base``; its visible xyxy or None."""
    import cv2

    feet, front = camera.project(np.array([[x_m, tunnel.floor_m, z_m]]))
    if not front[0]:
        return None
    h_img, w_img = base.shape[:2]
    fx, fy = feet[0]
    x0 = int(round(fx - layer.width_px / 2))
    y0 = int(round(fy - layer.height_px))
    xa, ya = max(0, x0), max(0, y0)
    xb, yb = min(w_img, x0 + layer.width_px), min(h_img, y0 + layer.height_px)
    if xb - xa < 2 or yb - ya < 2:
        return None
    rgb = layer.rgb[ya - y0:yb - y0, xa - x0:xb - x0]
    alpha = layer.alpha[ya - y0:yb - y0, xa - x0:xb - x0]
    if blur_px > 0.5:
        k = int(blur_px) | 1
        rgb = cv2.blur(rgb, (k, 1))
        alpha = cv2.blur(alpha, (k, 1))
    region = base[ya:yb, xa:xb]
    region *= (1 - alpha)[..., None]
    region += rgb
    return (float(xa), float(ya), float(xb), float(yb))


def figure_height_px(camera: Camera, tunnel: Tunnel, look: Look, x_m: float, z_m: float) -> float:
    """Pixel height of a figure at that spot: project its feet and the top of its head."""
    pts, front = camera.project(np.array([[x_m, tunnel.floor_m, z_m], [x_m, tunnel.floor_m - look.height_m, z_m]]))
    if not front.all():
        return 0.0
    return float(abs(pts[0, 1] - pts[1, 1]))
