"""Cut the watched part of a frame into overlapping square tiles for one batched model run.

Shared by the edge (which scores the tiles) and evaluation (which shows a photo as a camera view cut
the same way), so it lives outside both.

Small tags on a wide view would vanish if the whole frame were shrunk to 224 px, so the watched
area is covered by ``tile_px`` squares (overlap 0.25) that are each resized to the model input. By
default a tile covers the same share of the frame at any resolution (:func:`tile_px_for`: a ninth of
its area, 320 px at 1280×720, 480 px at 1920×1080): the model's operating point was measured on
1280×720 views cut into 320-px tiles, and 320-px tiles on a 1080p frame see a smaller patch of wall
and flag about four times as many clean views. Pixels outside the watch polygons or inside ignore polygons are painted grey
before scoring, so a passer-by's face or a ceiling light never reaches the model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

MASK_GREY = 128  # fill value for masked pixels (a neutral mid-grey)
DEFAULT_TILE_PX = 320  # the edge's default tile (frame pixels); evaluation cuts camera views the same way
DEFAULT_OVERLAP = 0.25
REFERENCE_FRAME = (1280, 720)  # the camera view the default tile (and the models' view-level figures) refer to
DEFAULT_TILE_SHARE = DEFAULT_TILE_PX ** 2 / (REFERENCE_FRAME[0] * REFERENCE_FRAME[1])  # a tile's area / the frame's: 1/9


def tile_px_for(frame_size: tuple[int, int], tile_px: int | None = None, share: float = DEFAULT_TILE_SHARE) -> int:
    """The tile size for a frame: ``tile_px`` when given, else the square whose area is ``share`` of the
    frame's (320 px at 1280×720, 480 at 1920×1080, 185 at 640×480), at least 16 px."""
    if tile_px:
        return int(tile_px)
    w, h = frame_size
    return max(16, int(round(math.sqrt(float(w) * float(h) * share))))


MIN_FRAME = (160, 120)
MAX_FRAME = (8192, 8192)


def parse_frame_size(text: str, option: str = "--size") -> tuple[int, int]:
    """``1280x720`` (or ``1280×720``) → (1280, 720), for every option that names a camera frame size;
    anything else, or a frame outside 160×120..8192×8192, is a ConfigError naming ``option``."""
    from detector.errors import ConfigError

    parts = str(text).strip().lower().replace("×", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ConfigError(f"{option} {text}: expected WIDTHxHEIGHT, e.g. 1920x1080")
    w, h = int(parts[0]), int(parts[1])
    if not (MIN_FRAME[0] <= w <= MAX_FRAME[0] and MIN_FRAME[1] <= h <= MAX_FRAME[1]):
        raise ConfigError(f"{option} {text}: expected a camera frame between "
                          f"{MIN_FRAME[0]}x{MIN_FRAME[1]} and {MAX_FRAME[0]}x{MAX_FRAME[1]}")
    return w, h


@dataclass(frozen=True)
class Tile:
    index: int
    xyxy: tuple[int, int, int, int]  # frame pixels, x2/y2 exclusive

    def touches(self, other: Tile) -> bool:
        """True when the tiles overlap or share an edge/corner (they are neighbours)."""
        ax1, ay1, ax2, ay2 = self.xyxy
        bx1, by1, bx2, by2 = other.xyxy
        return ax1 <= bx2 and bx1 <= ax2 and ay1 <= by2 and by1 <= ay2


@dataclass
class TilePlan:
    """The tiles for one frame size and set of regions; reused until the frame size changes."""

    frame_size: tuple[int, int]  # (width, height)
    tiles: list[Tile]
    mask: np.ndarray  # uint8 H×W: 255 = scored (watched and not ignored), 0 = painted grey
    neighbours: list[frozenset[int]] = field(default_factory=list)
    fully_watched: bool = True  # True when nothing needs painting (no watch/ignore polygons apply)


def stretch_to_view(image_bgr: np.ndarray, view_px: tuple[int, int]) -> np.ndarray:
    """A photo stretched to a camera view of ``view_px`` (width, height), as a camera sees a wall: BGR,
    area resize when shrinking, linear when enlarging (evaluation's views and generated training walls)."""
    import cv2

    if image_bgr.ndim == 2:
        image_bgr = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR)
    h, w = image_bgr.shape[:2]
    if (w, h) == tuple(view_px):
        return image_bgr
    interp = cv2.INTER_AREA if w >= view_px[0] and h >= view_px[1] else cv2.INTER_LINEAR
    return cv2.resize(image_bgr, (int(view_px[0]), int(view_px[1])), interpolation=interp)


def _axis_starts(lo: int, hi: int, size: int, stride: int) -> list[int]:
    """Tile start positions covering [lo, hi) with tiles of ``size``; the last one is flush with hi."""
    if hi - lo <= size:
        return [lo]
    starts = list(range(lo, hi - size, stride))
    starts.append(hi - size)
    return starts


def polygon_mask(frame_size: tuple[int, int], polygons: Sequence[Sequence[tuple[float, float]]]) -> np.ndarray:
    """uint8 H×W mask, 255 inside any of the polygons (frame pixels)."""
    import cv2

    w, h = frame_size
    mask = np.zeros((h, w), dtype=np.uint8)
    if polygons:
        pts = [np.round(np.asarray(p, dtype=np.float64)).astype(np.int32).reshape(-1, 1, 2) for p in polygons]
        cv2.fillPoly(mask, pts, 255)
    return mask


def plan_tiles(
    frame_size: tuple[int, int],
    tile_px: int,
    overlap: float,
    watch: Sequence[Sequence[tuple[float, float]]] = (),
    ignore: Sequence[Sequence[tuple[float, float]]] = (),
) -> TilePlan:
    """Tiles covering every watched, non-ignored pixel; tiles with no such pixel are dropped."""
    w, h = frame_size
    mask = polygon_mask(frame_size, watch) if watch else np.full((h, w), 255, dtype=np.uint8)
    if ignore:
        mask[polygon_mask(frame_size, ignore) > 0] = 0
    fully = not watch and not ignore
    ys, xs = np.nonzero(mask)
    tiles: list[Tile] = []
    if len(xs):
        x_lo, x_hi, y_lo, y_hi = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
        size_x, size_y = min(tile_px, w), min(tile_px, h)
        stride_x = max(1, int(round(size_x * (1.0 - overlap))))
        stride_y = max(1, int(round(size_y * (1.0 - overlap))))
        # Start from the watched area's bounding box, but keep tiles inside the frame.
        x_lo, y_lo = min(x_lo, w - size_x), min(y_lo, h - size_y)
        x_hi, y_hi = max(x_hi, x_lo + size_x), max(y_hi, y_lo + size_y)
        for y1 in _axis_starts(y_lo, y_hi, size_y, stride_y):
            for x1 in _axis_starts(x_lo, x_hi, size_x, stride_x):
                box = (x1, y1, x1 + size_x, y1 + size_y)
                if fully or mask[box[1]:box[3], box[0]:box[2]].any():
                    tiles.append(Tile(len(tiles), box))
    neighbours = [frozenset(o.index for o in tiles if o.index != t.index and t.touches(o)) for t in tiles]
    return TilePlan(frame_size=(w, h), tiles=tiles, mask=mask, neighbours=neighbours, fully_watched=fully)


def masked_frame(frame_bgr: np.ndarray, plan: TilePlan) -> np.ndarray:
    """The frame with unwatched/ignored pixels painted grey (a copy; the input is not changed)."""
    if plan.fully_watched:
        return frame_bgr
    out = frame_bgr.copy()
    out[plan.mask == 0] = MASK_GREY
    return out


def cut_tiles(frame_bgr: np.ndarray, plan: TilePlan) -> list[np.ndarray]:
    """Views of the (already masked) frame, one per tile, in tile index order."""
    return [frame_bgr[y1:y2, x1:x2] for (x1, y1, x2, y2) in (t.xyxy for t in plan.tiles)]


def scaled_frame(frame_bgr: np.ndarray, plan: TilePlan,
                 input_hw: tuple[int, int]) -> tuple[np.ndarray, list[tuple[int, int]]] | None:
    """The frame at model scale and each tile's top-left corner in it (one resize for all tiles).

    With square tiles of one size (the usual plan) the frame is scaled by input/tile once and each
    tile is a plain window of it: the fixed per-frame cost of 15 tiles shrinks to one area resize. Area
    resampling is local, so the scores match per-tile resizing within a small tolerance (tested). None
    for any other plan (tiles of several sizes, clipped at a small frame).
    """
    import cv2

    sizes = {(t.xyxy[2] - t.xyxy[0], t.xyxy[3] - t.xyxy[1]) for t in plan.tiles}
    ih, iw = input_hw
    if len(sizes) != 1:
        return None
    (tw, th), = sizes
    sx, sy = iw / tw, ih / th
    h, w = frame_bgr.shape[:2]
    size = (max(iw, int(round(w * sx))), max(ih, int(round(h * sy))))
    interp = cv2.INTER_AREA if sx <= 1.0 and sy <= 1.0 else cv2.INTER_LINEAR
    small = cv2.resize(frame_bgr, size, interpolation=interp)
    corners = [(min(int(round(t.xyxy[0] * sx)), size[0] - iw), min(int(round(t.xyxy[1] * sy)), size[1] - ih))
               for t in plan.tiles]
    return small, corners


def scaled_tiles(frame_bgr: np.ndarray, plan: TilePlan, input_hw: tuple[int, int]) -> list[np.ndarray]:
    """The tiles at model input size, as windows of :func:`scaled_frame`; any other plan falls back to
    cutting at frame scale (the model's resize brings those tiles to its input)."""
    scaled = scaled_frame(frame_bgr, plan, input_hw)
    if scaled is None:
        return cut_tiles(frame_bgr, plan)
    small, corners = scaled
    ih, iw = input_hw
    return [small[y:y + ih, x:x + iw] for x, y in corners]


def union_box(tiles: Sequence[Tile]) -> tuple[int, int, int, int]:
    """The smallest xyxy box holding all ``tiles``."""
    return (
        min(t.xyxy[0] for t in tiles),
        min(t.xyxy[1] for t in tiles),
        max(t.xyxy[2] for t in tiles),
        max(t.xyxy[3] for t in tiles),
    )


def tiles_in_regions(
    plan: TilePlan, polygons: Sequence[Sequence[tuple[float, float]]], min_fraction: float
) -> frozenset[int]:
    """Indices of tiles with at least ``min_fraction`` of their area inside the polygons."""
    if not polygons or not plan.tiles:
        return frozenset()
    inside = polygon_mask(plan.frame_size, polygons) > 0
    out = set()
    for t in plan.tiles:
        x1, y1, x2, y2 = t.xyxy
        if inside[y1:y2, x1:x2].mean() >= min_fraction:
            out.add(t.index)
    return frozenset(out)
