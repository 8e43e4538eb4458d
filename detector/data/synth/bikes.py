"""Parked bicycles against a tunnel wall: a hard negative the edge meets every day.

On the edge's real-walls benchmark the bundled model raised false alerts on parked bikes (thin
coloured frame tubes, wheel arcs, a saddle: strokes and colours a tag also has). A bike is drawn
side-on in its own flat layer (frame, wheels with spokes, saddle, bars, sometimes mudguards, a rack, a
basket, a lock), then stood on the floor near a wall on a vertical plane at any heading (parallel to
the wall, angled, or nose-in at a stand) and warped into the view through the camera, so it is
foreshortened like the wall behind it. A row of bikes overlaps; a stand in front of a bike hides
part of it; the frame edge cuts the rest. Written for this project; it shares nothing with the
held-out benchmark's renderer (``detector.data.sim.photowall``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detector.data.synth.geometry import WALLS, Camera, SurfaceMaps, Tunnel
from detector.data.synth.layer import Layer

LENGTH_M, HEIGHT_M = 1.8, 1.15  # the layer's plane: a bit larger than a bike (1.7 m long, 1.05 m tall)
FRAME_COLOURS = [(0.1, 0.1, 0.75), (0.08, 0.08, 0.09), (0.85, 0.85, 0.85), (0.7, 0.35, 0.05), (0.15, 0.6, 0.15),
                 (0.1, 0.75, 0.95), (0.55, 0.55, 0.58), (0.45, 0.15, 0.55), (0.05, 0.4, 0.9), (0.35, 0.55, 0.2)]


@dataclass(frozen=True)
class BikeLook:
    frame: tuple[float, float, float]
    step_through: bool
    wheel_m: float  # wheel radius
    mudguards: bool
    rack: bool
    basket: bool
    lock: bool
    facing: int  # +1 front wheel right in the layer, -1 left


def random_bike(rng: np.random.Generator) -> BikeLook:
    frame = FRAME_COLOURS[int(rng.integers(len(FRAME_COLOURS)))]
    return BikeLook(frame, bool(rng.random() < 0.3), float(rng.uniform(0.28, 0.35)), bool(rng.random() < 0.5),
                    bool(rng.random() < 0.35), bool(rng.random() < 0.2), bool(rng.random() < 0.3),
                    int(rng.choice([-1, 1])))


def draw_bike(look: BikeLook, px_per_m: float, stand: bool = False) -> Layer:
    """A bike side-on in a layer LENGTH_M × HEIGHT_M at ``px_per_m``, wheels on the bottom edge.

    ``stand`` draws a steel bike stand (an inverted U) in front of it, hiding part of the bike.
    """
    import cv2

    k = max(px_per_m, 8.0)
    lw, lh = max(8, int(LENGTH_M * k)), max(6, int(HEIGHT_M * k))
    layer = Layer.blank(lw, lh)
    r = look.wheel_m

    def p(x_m: float, y_m: float) -> tuple[int, int]:
        x = x_m if look.facing > 0 else LENGTH_M - x_m
        return int(round(x * k)), int(round(lh - 1 - y_m * k))

    def line(a: tuple[float, float], b: tuple[float, float], width_m: float, colour: tuple[float, float, float]) -> None:
        m = np.zeros((lh, lw), np.float32)
        cv2.line(m, p(*a), p(*b), 1.0, max(1, int(round(width_m * k))), cv2.LINE_AA)
        layer.over(np.asarray(colour, np.float32), m)

    rear, front = (0.1 + r, r), (0.1 + r + 1.05, r)
    bb = (rear[0] + 0.43, 0.3)
    seat = (rear[0] + 0.27, 0.85)
    head_top, head_bot = (front[0] - 0.12, 0.9), (front[0] - 0.08, 0.72)
    tyre = (0.06, 0.06, 0.07)
    for hub in (rear, front):  # tyres, rims, spokes
        m = np.zeros((lh, lw), np.float32)
        cv2.circle(m, p(*hub), max(2, int(r * k)), 1.0, max(1, int(0.035 * k)), cv2.LINE_AA)
        layer.over(np.asarray(tyre, np.float32), m)
        s = np.zeros((lh, lw), np.float32)
        for a in np.linspace(0, np.pi, 9)[:-1]:
            dx, dy = np.cos(a) * r * 0.9, np.sin(a) * r * 0.9
            cv2.line(s, p(hub[0] - dx, hub[1] - dy), p(hub[0] + dx, hub[1] + dy), 0.5, 1, cv2.LINE_AA)
        layer.over(np.asarray((0.7, 0.7, 0.72), np.float32), s)
        if look.mudguards:
            g = np.zeros((lh, lw), np.float32)
            c = p(*hub)
            cv2.ellipse(g, c, (int(r * 1.12 * k), int(r * 1.12 * k)), 0, 190 if look.facing > 0 else 200, 340, 1.0,
                        max(1, int(0.02 * k)), cv2.LINE_AA)
            layer.over(np.asarray(look.frame, np.float32) * 0.8, g)
    tube = 0.032
    top_from = (seat[0] + 0.02, 0.55 if look.step_through else 0.8)
    for a, b in ((rear, bb), (rear, seat), (seat, bb), (bb, head_bot), (top_from, head_top), (head_top, head_bot),
                 (head_bot, front)):
        line(a, b, tube, look.frame)
    line(seat, (seat[0] - 0.03, seat[1] + 0.1), 0.025, (0.6, 0.6, 0.62))  # seat post
    line((seat[0] - 0.14, seat[1] + 0.12), (seat[0] + 0.08, seat[1] + 0.12), 0.055, (0.08, 0.08, 0.08))  # saddle
    line(head_top, (head_top[0] - 0.05, head_top[1] + 0.12), 0.025, (0.6, 0.6, 0.62))  # stem
    line((head_top[0] - 0.18, head_top[1] + 0.14), (head_top[0] + 0.05, head_top[1] + 0.12), 0.03, (0.15, 0.15, 0.15))
    line(bb, (bb[0] + 0.08, bb[1] - 0.1), 0.03, (0.2, 0.2, 0.2))  # crank
    m = np.zeros((lh, lw), np.float32)
    cv2.circle(m, p(*bb), max(1, int(0.09 * k)), 1.0, max(1, int(0.015 * k)), cv2.LINE_AA)  # chainring
    layer.over(np.asarray((0.5, 0.5, 0.52), np.float32), m)
    if look.rack:
        line((rear[0] - 0.12, rear[1] + 0.4), (seat[0] - 0.05, seat[1] - 0.4), 0.025, (0.1, 0.1, 0.1))
        line((rear[0] - 0.1, rear[1] + 0.4), (rear[0], rear[1]), 0.02, (0.1, 0.1, 0.1))
    if look.basket:
        a, b = p(front[0] - 0.05, 0.95), p(front[0] + 0.3, 0.72)
        m = np.zeros((lh, lw), np.float32)
        cv2.rectangle(m, (min(a[0], b[0]), a[1]), (max(a[0], b[0]), b[1]), 1.0, -1)
        layer.over(np.asarray((0.2, 0.35, 0.5), np.float32), m * 0.9)
    if look.lock:
        line((seat[0] + 0.05, 0.7), (bb[0] - 0.05, 0.45), 0.04, (0.1, 0.6, 0.9))
    if stand:  # a steel stand at the bike's middle, nearer the camera than the bike
        x0, x1 = bb[0] - 0.35, bb[0] + 0.35
        for xx in (x0, x1):
            line((xx, 0.0), (xx, 0.75), 0.05, (0.55, 0.56, 0.58))
        line((x0, 0.75), (x1, 0.75), 0.05, (0.55, 0.56, 0.58))
    return layer


def warp_plane(layer: Layer, corners_xyz: np.ndarray, camera: Camera, base: np.ndarray) -> tuple[float, float, float, float] | None:
    """Composite ``layer`` (premultiplied) onto ``base`` as the plane with world corners TL, TR, BR, BL.

    Returns the visible box (every pixel the layer touched) or None when it is behind the camera or
    out of view.
    """
    import cv2

    dst, front = camera.project(corners_xyz)
    if not front.all():
        return None
    h, w = base.shape[:2]
    x1, y1 = int(max(0, np.floor(dst[:, 0].min()))), int(max(0, np.floor(dst[:, 1].min())))
    x2, y2 = int(min(w, np.ceil(dst[:, 0].max()) + 1)), int(min(h, np.ceil(dst[:, 1].max()) + 1))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    lw, lh = layer.width_px, layer.height_px
    src = np.array([[0, 0], [lw, 0], [lw, lh], [0, lh]], np.float32)
    hom = cv2.getPerspectiveTransform(src, (dst - [x1, y1]).astype(np.float32))
    rgba = cv2.warpPerspective(np.dstack([layer.rgb, layer.alpha]), hom, (x2 - x1, y2 - y1), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT)
    alpha = np.clip(rgba[..., 3], 0, 1)
    keep = alpha > 1e-3  # interpolation's faint fringe would tint pixels outside the reported box
    ys, xs = np.nonzero(keep)
    if xs.size == 0:
        return None
    region = base[y1:y2, x1:x2]
    region *= (1 - alpha * keep)[..., None]
    region += rgba[..., :3] * keep[..., None]
    return (float(x1 + xs.min()), float(y1 + ys.min()), float(x1 + xs.max() + 1), float(y1 + ys.max() + 1))


def _plane(centre: np.ndarray, heading_rad: float) -> np.ndarray:
    d = np.array([np.sin(heading_rad), 0.0, np.cos(heading_rad)]) * LENGTH_M / 2
    up = np.array([0.0, -HEIGHT_M, 0.0])
    return np.stack([centre - d + up, centre + d + up, centre + d, centre - d])


def park_bikes(rng: np.random.Generator, camera: Camera, tunnel: Tunnel, maps: SurfaceMaps,
               albedo: np.ndarray) -> tuple[float, float, float, float] | None:
    """Park one to four bikes against a wall in view (onto ``albedo``); the box of all of them, or None."""
    low = np.isin(maps.surface, WALLS) & (maps.v < 1.0) & (maps.v > 0.05)
    ys, xs = np.nonzero(low[::2, ::2])
    if ys.size == 0:
        return None
    i = int(rng.integers(ys.size))
    y, x = int(ys[i]) * 2, int(xs[i]) * 2
    wx, _, wz = (float(c) for c in maps.xyz[y, x])
    side = -1.0 if wx < 0 else 1.0
    style = str(rng.choice(["parallel", "angled", "nose-in"], p=[0.45, 0.3, 0.25]))
    n = int(rng.choice([1, 1, 2, 3, 4]))
    step = float(rng.uniform(0.45, 0.8) if style == "nose-in" else rng.uniform(0.9, 2.0))
    z0 = wz - step * (n - 1) * float(rng.uniform(0, 1))
    stands = bool(rng.random() < 0.35)
    bikes = []
    for j in range(n):
        if style == "parallel":
            heading, inset = float(rng.normal(0, 0.05)), float(rng.uniform(0.25, 0.45))
        elif style == "angled":
            heading, inset = float(rng.uniform(0.3, 0.7)) * float(rng.choice([-1, 1])), float(rng.uniform(0.5, 0.8))
        else:
            heading, inset = np.pi / 2 + float(rng.normal(0, 0.08)), LENGTH_M / 2 + float(rng.uniform(0.0, 0.15))
        xc = (tunnel.right_m - inset) if side > 0 else (-tunnel.left_m + inset)
        centre = np.array([xc, tunnel.floor_m, z0 + j * step + float(rng.normal(0, 0.05))])
        bikes.append((float(np.linalg.norm(centre)), centre, heading, random_bike(rng)))
    boxes = []
    for _, centre, heading, look in sorted(bikes, key=lambda b: -b[0]):  # far ones first: near ones hide them
        corners = _plane(centre, heading)
        px, front = camera.project(corners)
        if not front.all():
            continue
        edge = float(max(np.linalg.norm(px[1] - px[0]), np.linalg.norm(px[2] - px[1]) * LENGTH_M / HEIGHT_M))
        k = min(edge / LENGTH_M * 1.2, 900 / LENGTH_M)
        if edge < 12:
            continue
        box = warp_plane(draw_bike(look, k, stand=stands), corners, camera, albedo)
        if box is not None:
            boxes.append(box)
    if not boxes:
        return None
    b = np.array(boxes)
    return (float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max()))
