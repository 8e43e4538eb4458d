"""Put a flat painted layer onto a tunnel wall in perspective and report where it landed.

A ``Placement`` is a rectangle on a wall in metres; ``warp_onto`` renders its layer through the
camera with a homography, clipped to the pixels that really see that wall, and returns the tight
box of what is visible, so manifest regions match the pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detector.data.synth.geometry import WALLS, Camera, SurfaceMaps, Tunnel
from detector.data.synth.layer import Layer


@dataclass(frozen=True)
class Placement:
    surface: int
    u_m: float  # centre along the wall
    v_m: float  # centre height above the floor
    width_m: float
    height_m: float

    def corners(self, tunnel: Tunnel) -> np.ndarray:
        """World corners in layer order: top-left, top-right, bottom-right, bottom-left."""
        u0, u1 = self.u_m - self.width_m / 2, self.u_m + self.width_m / 2
        v0, v1 = self.v_m - self.height_m / 2, self.v_m + self.height_m / 2
        return tunnel.wall_point(self.surface, np.array([u0, u1, u1, u0]), np.array([v1, v1, v0, v0]))


def wall_top_m(tunnel: Tunnel) -> float:
    return tunnel.floor_m + (tunnel.spring_m if tunnel.vault else tunnel.ceiling_m)


def place_at_pixel(maps: SurfaceMaps, camera: Camera, tunnel: Tunnel, x_px: int, y_px: int, size_px: float,
                   aspect: float) -> Placement | None:
    """A rectangle on the wall seen at pixel (x, y), about ``size_px`` wide on screen, or None."""
    surface = int(maps.surface[y_px, x_px])
    if surface not in WALLS:
        return None
    dist = float(np.linalg.norm(maps.xyz[y_px, x_px]))
    width = size_px * dist / camera.f_px
    height = width / aspect
    top = wall_top_m(tunnel)
    height = min(height, top - 0.1)
    v = float(np.clip(maps.v[y_px, x_px], 0.05 + height / 2, top - height / 2))
    return Placement(surface, float(maps.u[y_px, x_px]), v, width, height)


def random_placement(rng: np.random.Generator, maps: SurfaceMaps, camera: Camera, tunnel: Tunnel,
                     size_px: float, aspect: float, tries: int = 12) -> Placement | None:
    """Pick a random wall pixel in view and centre a rectangle there."""
    wall = np.isin(maps.surface, WALLS)
    ys, xs = np.nonzero(wall[::4, ::4])
    if ys.size == 0:
        return None
    for _ in range(tries):
        i = int(rng.integers(ys.size))
        p = place_at_pixel(maps, camera, tunnel, int(xs[i] * 4), int(ys[i] * 4), size_px, aspect)
        if p is not None:
            corners, front = camera.project(p.corners(tunnel))
            if front.all():
                return p
    return None


def layer_size_px(p: Placement, camera: Camera, tunnel: Tunnel, max_px: int = 720) -> tuple[int, int]:
    """Layer resolution that matches the placement's largest on-screen size (no wasted painting)."""
    px, _ = camera.project(p.corners(tunnel))
    edges = np.linalg.norm(px - np.roll(px, -1, axis=0), axis=1)
    w = float(max(edges[0], edges[2])) * 1.15
    h = float(max(edges[1], edges[3])) * 1.15
    k = min(1.0, max_px / max(w, h, 1.0))
    return max(16, int(w * k)), max(16, int(h * k))


@dataclass
class Warped:
    """A layer warped into the frame: premultiplied colour and alpha for the ``roi`` (x1, y1, x2, y2)."""

    rgb: np.ndarray
    alpha: np.ndarray
    roi: tuple[int, int, int, int]
    xyxy: tuple[float, float, float, float] | None  # tight box of visible paint, None if nothing visible

    def visible_px(self) -> float:
        return float(self.alpha.sum())


def warp_onto(layer: Layer, p: Placement, camera: Camera, tunnel: Tunnel, maps: SurfaceMaps,
              min_alpha: float = 0.2) -> Warped | None:
    """Warp ``layer`` onto placement ``p``; None when it falls outside the image."""
    import cv2

    dst, front = camera.project(p.corners(tunnel))
    if not front.all():
        return None
    h_img, w_img = maps.surface.shape
    x1 = int(max(0, np.floor(dst[:, 0].min())))
    y1 = int(max(0, np.floor(dst[:, 1].min())))
    x2 = int(min(w_img, np.ceil(dst[:, 0].max()) + 1))
    y2 = int(min(h_img, np.ceil(dst[:, 1].max()) + 1))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    lw, lh = layer.width_px, layer.height_px
    src = np.array([[0, 0], [lw, 0], [lw, lh], [0, lh]], np.float32)
    hom = cv2.getPerspectiveTransform(src, (dst - [x1, y1]).astype(np.float32))
    size = (x2 - x1, y2 - y1)
    rgba = np.dstack([layer.rgb, layer.alpha])
    out = cv2.warpPerspective(rgba, hom, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    seen = (maps.surface[y1:y2, x1:x2] == p.surface).astype(np.float32)
    alpha = out[..., 3] * seen
    rgb = out[..., :3] * seen[..., None]
    ys, xs = np.nonzero(alpha > min_alpha)
    xyxy = None
    if xs.size:
        xyxy = (float(x1 + xs.min()), float(y1 + ys.min()), float(x1 + xs.max() + 1), float(y1 + ys.max() + 1))
    return Warped(rgb, alpha, (x1, y1, x2, y2), xyxy)
