"""Tunnel geometry and a pinhole camera: which wall each pixel sees, and where a wall point appears.

The camera sits at the origin looking along +Z (image x right, y down, so world Y points down).
A tunnel is a box or a vault around the camera's axis; casting one ray per pixel gives, for every
pixel, the surface it hits and that point's world and texture coordinates. Textures and lighting are
then computed per pixel from those maps (a tiny shader), so perspective, foreshortening and the
fall-off of detail with depth come out right without any 3D library.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LEFT, RIGHT, FLOOR, CEILING, OUTSIDE = 0, 1, 2, 3, 4
WALLS = (LEFT, RIGHT)


def rotation(yaw_deg: float = 0.0, pitch_deg: float = 0.0, roll_deg: float = 0.0) -> np.ndarray:
    """Camera-to-world rotation: yaw about Y (positive turns right), pitch about X (positive looks down)."""
    y, p, r = np.radians([yaw_deg, pitch_deg, roll_deg])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), np.sin(p)], [0, -np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return ry @ rx @ rz


@dataclass(frozen=True)
class Camera:
    """A pinhole camera: focal length and principal point in output pixels, rotation camera→world."""

    width_px: int
    height_px: int
    f_px: float
    cx_px: float
    cy_px: float
    rot: np.ndarray

    @classmethod
    def full_frame(cls, width_px: int, height_px: int, hfov_deg: float, rot: np.ndarray,
                   offset_px: tuple[float, float] = (0.0, 0.0)) -> Camera:
        f = (width_px / 2) / np.tan(np.radians(hfov_deg) / 2)
        return cls(width_px, height_px, float(f), width_px / 2 + offset_px[0], height_px / 2 + offset_px[1], rot)

    def window(self, x0: float, y0: float, side: float, out_px: int) -> Camera:
        """The camera that renders only the square ``side``-pixel window at (x0, y0), at ``out_px`` pixels.

        This is what one edge tile of a full frame sees, rendered directly at the tile's resolution.
        """
        k = out_px / side
        return Camera(out_px, out_px, self.f_px * k, (self.cx_px - x0) * k, (self.cy_px - y0) * k, self.rot)

    def scaled(self, k: float) -> Camera:
        """The same view at ``k`` times the resolution (a cheap preview for checks)."""
        return Camera(max(1, int(self.width_px * k)), max(1, int(self.height_px * k)), self.f_px * k,
                      self.cx_px * k, self.cy_px * k, self.rot)

    def project(self, xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points N×3 → (pixels N×2, in-front mask N)."""
        c = np.asarray(xyz, np.float64) @ self.rot  # = (R^T p^T)^T
        z = c[:, 2]
        front = z > 0.05
        zs = np.where(front, z, 0.05)
        px = np.stack([self.cx_px + self.f_px * c[:, 0] / zs, self.cy_px + self.f_px * c[:, 1] / zs], axis=1)
        return px, front


@dataclass(frozen=True)
class Tunnel:
    """Cross-section relative to the camera (metres): distances to each wall, the floor, the ceiling.

    A vaulted tunnel has vertical walls up to ``spring_m`` above the camera, then a half-circle roof.
    ``length_m`` is where the far mouth opens onto daylight; ``back_m`` the same behind the camera.
    """

    left_m: float
    right_m: float
    floor_m: float
    ceiling_m: float
    vault: bool
    length_m: float
    back_m: float = 30.0

    @property
    def spring_m(self) -> float:
        # Spring line of the vault: the roof's half-circle must top out at ``ceiling_m``.
        return self.ceiling_m - (self.left_m + self.right_m) / 2

    def wall_point(self, surface: int, u_m: np.ndarray, v_m: np.ndarray) -> np.ndarray:
        """World points of texture coordinates on a wall: ``u`` along the wall as seen, ``v`` height."""
        u = np.asarray(u_m, np.float64)
        y = self.floor_m - np.asarray(v_m, np.float64)
        if surface == LEFT:
            return np.stack([np.full_like(u, -self.left_m), y, u], axis=-1)
        return np.stack([np.full_like(u, self.right_m), y, -u], axis=-1)


@dataclass
class SurfaceMaps:
    """Per-pixel results of casting rays: surface id, world XYZ, texture uv, footprint (m/pixel)."""

    surface: np.ndarray  # uint8 H×W, one of LEFT..OUTSIDE
    xyz: np.ndarray  # float32 H×W×3
    u: np.ndarray  # float32 H×W (metres along the surface, left→right as seen facing it)
    v: np.ndarray  # float32 H×W (height above floor for walls; across for floor/ceiling)
    footprint: np.ndarray  # float32 H×W, metres covered by one pixel (for anti-aliasing)


def cast(camera: Camera, tunnel: Tunnel) -> SurfaceMaps:
    """Cast one ray per pixel into the tunnel."""
    h, w = camera.height_px, camera.width_px
    xs = np.arange(w, dtype=np.float32) + 0.5 - camera.cx_px
    ys = np.arange(h, dtype=np.float32) + 0.5 - camera.cy_px
    dx, dy = np.meshgrid(xs, ys)
    rot = camera.rot.astype(np.float32)
    rays = [rot[i, 0] * dx + rot[i, 1] * dy + rot[i, 2] * camera.f_px for i in range(3)]
    rx, ry, rz = rays
    inf = np.float32(1e9)
    with np.errstate(divide="ignore", invalid="ignore"):
        s_left = np.where(rx < 0, -tunnel.left_m / rx, inf)
        s_right = np.where(rx > 0, tunnel.right_m / rx, inf)
        s_floor = np.where(ry > 0, tunnel.floor_m / ry, inf)
        if tunnel.vault:
            spring = tunnel.spring_m
            # Walls stop at the spring line; above it the ray meets the half-circle roof.
            s_left = np.where(s_left * ry > -spring, s_left, inf)
            s_right = np.where(s_right * ry > -spring, s_right, inf)
            ccx, ccy = (tunnel.right_m - tunnel.left_m) / 2, -spring
            r = (tunnel.left_m + tunnel.right_m) / 2
            a = rx * rx + ry * ry
            b = -2 * (rx * ccx + ry * ccy)
            c = ccx * ccx + ccy * ccy - r * r
            disc = np.maximum(b * b - 4 * a * c, 0)
            s_roof = (-b + np.sqrt(disc)) / (2 * a + 1e-12)
            s_ceil = np.where((s_roof * ry <= -spring) & (s_roof > 0), s_roof, inf)
        else:
            s_ceil = np.where(ry < 0, -tunnel.ceiling_m / ry, inf)
    surface = np.zeros(s_left.shape, np.uint8)
    s = s_left
    for sid, cand in ((RIGHT, s_right), (FLOOR, s_floor), (CEILING, s_ceil)):
        closer = cand < s
        surface[closer] = sid
        s = np.where(closer, cand, s)
    x, y, z = s * rx, s * ry, s * rz
    surface[(z > tunnel.length_m) | (z < -tunnel.back_m) | (s >= inf)] = OUTSIDE
    u = np.where(surface == RIGHT, -z, z).astype(np.float32)
    v = np.where((surface == LEFT) | (surface == RIGHT), tunnel.floor_m - y, x).astype(np.float32)
    # Footprint: how far the texture coordinates move between neighbouring pixels.
    du = np.abs(np.diff(u, axis=1, append=u[:, -1:])) + np.abs(np.diff(u, axis=0, append=u[-1:, :]))
    dv = np.abs(np.diff(v, axis=1, append=v[:, -1:])) + np.abs(np.diff(v, axis=0, append=v[-1:, :]))
    footprint = np.clip(np.maximum(du, dv), 1e-4, 0.5).astype(np.float32)
    xyz = np.stack([x, y, z], axis=-1).astype(np.float32)
    return SurfaceMaps(surface, xyz, u, v, footprint)
