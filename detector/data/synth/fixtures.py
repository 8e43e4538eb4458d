"""Wall fixtures and finishes that fool a graffiti model: pipes, cables, ceramic tile panels, plaster.

Real clean walls the edge watches carry services (pipes on brackets, cable runs, conduit with junction
boxes) and patches of other finishes (a tiled panel, a troweled plaster repair). The bundled model
scores such walls hot, so they are painted here as flat decals (label clean), warped onto the wall in
perspective like posters. Same ``(canvas, rng, box, progress)`` signature as the other painters;
nothing is drawn outside ``box``.
"""

from __future__ import annotations

import numpy as np

from detector.data.synth.layer import Layer

FIXTURE_KINDS = ("pipe", "cable", "tiles", "plaster")
# BGR: galvanised grey, black, white PVC, rust, gas yellow, fire-main red, copper, green
_PIPE_COLOURS = [(0.62, 0.62, 0.6), (0.1, 0.1, 0.11), (0.9, 0.9, 0.88), (0.15, 0.3, 0.5), (0.1, 0.8, 0.9),
                 (0.1, 0.12, 0.75), (0.25, 0.45, 0.7), (0.25, 0.5, 0.25)]
_CABLE_COLOURS = [(0.06, 0.06, 0.07), (0.3, 0.3, 0.32), (0.1, 0.45, 0.85), (0.85, 0.85, 0.85), (0.1, 0.1, 0.6)]
_TILE_COLOURS = [(0.9, 0.9, 0.88), (0.75, 0.55, 0.2), (0.2, 0.6, 0.85), (0.3, 0.65, 0.3), (0.15, 0.15, 0.7),
                 (0.55, 0.3, 0.1), (0.8, 0.8, 0.3), (0.12, 0.12, 0.14), (0.5, 0.75, 0.9), (0.6, 0.4, 0.6)]


def _pick(rng: np.random.Generator, table: list[tuple[float, float, float]]) -> np.ndarray:
    return np.asarray(table[int(rng.integers(len(table)))], np.float32)


def _tube(img: np.ndarray, alpha: np.ndarray, y_px: float, r_px: float, colour: np.ndarray, x0: int, x1: int) -> None:
    """A horizontal cylinder from x0 to x1 at height y: shaded across its diameter, a bright highlight."""
    h = img.shape[0]
    ys = np.arange(h, dtype=np.float32)
    t = (ys - y_px) / max(r_px, 0.5)  # -1..1 across the tube
    inside = np.abs(t) <= 1
    shade = (0.55 + 0.45 * np.sqrt(np.clip(1 - t * t, 0, 1))) * (1 + 0.35 * np.exp(-((t + 0.45) / 0.2) ** 2))
    col = np.clip(colour[None, :] * shade[:, None], 0, 1)
    rows = np.flatnonzero(inside)
    if rows.size == 0 or x1 <= x0:
        return
    img[rows, x0:x1] = col[rows, None, :]
    alpha[rows, x0:x1] = 1.0


def paint_pipe(canvas: Layer, rng: np.random.Generator, box: tuple[int, int, int, int], progress: float) -> None:
    """One to four parallel pipes along the wall on brackets, sometimes with a bend down or a valve."""
    import cv2

    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    img = np.zeros((h, w, 3), np.float32)
    alpha = np.zeros((h, w), np.float32)
    n = int(rng.choice([1, 1, 2, 3, 4]))
    r = float(np.clip(h / (2.6 * n) * rng.uniform(0.5, 0.95), 1.5, h / 2.2))
    same = rng.random() < 0.5
    colour = _pick(rng, _PIPE_COLOURS)
    gap = (h - 2 * r * n) / (n + 1)
    bracket_every = int(max(8, w * rng.uniform(0.12, 0.3)))
    for i in range(n):
        c = colour if same else _pick(rng, _PIPE_COLOURS)
        ri = r * float(rng.uniform(0.6, 1.0)) if i else r
        yc = gap * (i + 1) + r * (2 * i + 1)
        _tube(img, alpha, yc, ri, c * float(rng.uniform(0.85, 1.1)), 0, w)
        for bx in range(int(rng.integers(0, bracket_every)), w, bracket_every):  # clamps/brackets
            bw = max(2, int(ri * 0.5))
            cv2.rectangle(img, (bx, int(yc - ri * 1.25)), (bx + bw, int(yc + ri * 1.25)), (0.3, 0.3, 0.32), -1)
            cv2.rectangle(alpha, (bx, int(yc - ri * 1.25)), (bx + bw, int(yc + ri * 1.25)), 1.0, -1)
        if rng.random() < 0.25:  # a valve wheel or a joint collar
            vx = int(rng.uniform(0.1, 0.9) * w)
            cv2.circle(img, (vx, int(yc)), int(ri * 1.4), (0.1, 0.1, 0.7), max(1, int(ri * 0.3)), cv2.LINE_AA)
            cv2.circle(alpha, (vx, int(yc)), int(ri * 1.4), 1.0, max(1, int(ri * 0.3)), cv2.LINE_AA)
    if rng.random() < 0.3:  # a downpipe leaving the run
        dx = int(rng.uniform(0.1, 0.9) * w)
        sub = np.ascontiguousarray(np.transpose(img, (1, 0, 2)))
        sub_a = np.ascontiguousarray(alpha.T)
        _tube(sub, sub_a, dx, r * 0.8, colour, int(gap + r), h)
        img, alpha = np.transpose(sub, (1, 0, 2)), sub_a.T
    if rng.random() < 0.5:  # grime along the underside
        alpha_soft = cv2.GaussianBlur(alpha, (0, 0), max(1.0, r * 0.3))
        img *= (1 - 0.25 * np.clip(np.roll(alpha_soft, int(r * 0.4), axis=0) - alpha_soft, 0, 1))[..., None]
    canvas.over(np.clip(img, 0, 1), alpha, box)


def paint_cable(canvas: Layer, rng: np.random.Generator, box: tuple[int, int, int, int], progress: float) -> None:
    """Cables along the wall: sagging between clips, bundled in a tray, or in conduit with junction boxes."""
    import cv2

    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    alpha = np.zeros((h, w), np.float32)
    img = np.zeros((h, w, 3), np.float32)
    style = str(rng.choice(["sag", "tray", "conduit"]))
    xs = np.arange(w, dtype=np.float32)
    if style == "tray":  # a perforated metal tray holding a bundle
        ty0, ty1 = int(h * 0.25), int(h * 0.75)
        cv2.rectangle(img, (0, ty0), (w - 1, ty1), (0.55, 0.56, 0.58), -1)
        cv2.rectangle(alpha, (0, ty0), (w - 1, ty1), 1.0, -1)
        step = max(4, (ty1 - ty0) // 2)
        for x in range(step // 2, w, step):
            cv2.rectangle(img, (x, ty0 + step // 3), (x + max(1, step // 3), ty1 - step // 3), (0.25, 0.25, 0.27), -1)
    n = int(rng.integers(1, 6))
    thick = max(1, int(h * rng.uniform(0.03, 0.09)))
    clip_every = max(10.0, w * float(rng.uniform(0.1, 0.3)))
    for i in range(n):
        colour = tuple(float(c) for c in _pick(rng, _CABLE_COLOURS))
        base = h * (0.3 + 0.4 * (i + 0.5) / n)
        if style == "sag":
            phase = (xs + rng.uniform(0, clip_every)) % clip_every / clip_every
            ys = (base - h * 0.12 + h * rng.uniform(0.05, 0.25) * 4 * phase * (1 - phase)).astype(np.float32)
        else:
            ys = np.full_like(xs, base)
        pts = np.stack([xs, np.clip(ys, thick, h - 1 - thick)], 1).astype(np.int32)
        cv2.polylines(img, [pts], False, colour, thick, cv2.LINE_AA)
        cv2.polylines(alpha, [pts], False, 1.0, thick, cv2.LINE_AA)
    if style == "conduit":  # grey conduit with square junction boxes
        cy, r = h * 0.5, max(1.5, h * 0.08)
        _tube(img, alpha, cy, r, np.asarray((0.75, 0.75, 0.74), np.float32), 0, w)
        for _ in range(int(rng.integers(1, 4))):
            bx, bs = int(rng.uniform(0.05, 0.85) * w), int(h * rng.uniform(0.3, 0.6))
            cv2.rectangle(img, (bx, int(cy - bs / 2)), (bx + bs, int(cy + bs / 2)), (0.7, 0.7, 0.68), -1)
            cv2.rectangle(img, (bx, int(cy - bs / 2)), (bx + bs, int(cy + bs / 2)), (0.35, 0.35, 0.35), max(1, bs // 12))
            cv2.rectangle(alpha, (bx, int(cy - bs / 2)), (bx + bs, int(cy + bs / 2)), 1.0, -1)
    canvas.over(np.clip(img, 0, 1), np.clip(alpha, 0, 1), box)


def paint_tiles(canvas: Layer, rng: np.random.Generator, box: tuple[int, int, int, int], progress: float) -> None:
    """A panel of ceramic tiles on the wall: plain, chequered, a random mosaic or a decorated band;
    glazed (per-tile shading and sheen), grout lines, now and then a missing tile."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    style = str(rng.choice(["plain", "chequer", "mosaic", "band"]))
    n_across = int(rng.integers(4, 10) if style != "mosaic" else rng.integers(10, 24))
    cell = max(3, w // n_across)
    cols, rows = int(np.ceil(w / cell)), int(np.ceil(h / cell))
    a, b = _pick(rng, _TILE_COLOURS), _pick(rng, _TILE_COLOURS)
    ii, jj = np.meshgrid(np.arange(cols), np.arange(rows))
    if style == "plain":
        grid = np.broadcast_to(a, (rows, cols, 3)).copy()
    elif style == "chequer":
        grid = np.where(((ii + jj) % 2 == 0)[..., None], a, b)
    elif style == "mosaic":
        palette = np.stack([_pick(rng, _TILE_COLOURS) for _ in range(int(rng.integers(3, 6)))])
        grid = palette[rng.integers(len(palette), size=(rows, cols))]
    else:
        grid = np.broadcast_to(a, (rows, cols, 3)).copy()
        band = int(rng.integers(0, max(1, rows - 1)))
        grid[band:band + int(rng.integers(1, 3))] = np.where((ii[:1] % 2 == 0)[..., None], b, _pick(rng, _TILE_COLOURS))
    grid = grid * (1 + rng.normal(0, 0.05, (rows, cols, 1)))  # glaze varies tile to tile
    img = np.repeat(np.repeat(grid.astype(np.float32), cell, 0), cell, 1)[:h, :w]
    yy, xx = np.mgrid[0:h, 0:w]
    u, v = (xx % cell) / cell, (yy % cell) / cell
    img = img * (1 + 0.12 * np.exp(-(((u - 0.3) ** 2 + (v - 0.3) ** 2) / 0.04)))[..., None]  # sheen
    grout_px = max(1, cell // 10)
    grout = ((xx % cell) < grout_px) | ((yy % cell) < grout_px)
    img[grout] = float(rng.uniform(0.3, 0.8))
    alpha = np.ones((h, w), np.float32)
    for _ in range(int(rng.choice([0, 0, 1, 2]))):  # a missing tile shows the wall behind
        ci, cj = int(rng.integers(cols)), int(rng.integers(rows))
        alpha[cj * cell:(cj + 1) * cell, ci * cell:(ci + 1) * cell] = 0.0
    canvas.over(np.clip(img, 0, 1), alpha, box)


def paint_plaster(canvas: Layer, rng: np.random.Generator, box: tuple[int, int, int, int], progress: float) -> None:
    """Textured plaster: a rough, troweled patch (swirls, stipple) in a wall-ish colour, ragged edges."""
    import cv2

    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    base = float(rng.uniform(0.45, 0.85))
    colour = np.clip(base * (1 + rng.normal(0, 0.05, 3)), 0, 1).astype(np.float32)
    coarse = cv2.resize(rng.random((8, 8), dtype=np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    fine = cv2.GaussianBlur(rng.random((h, w), dtype=np.float32), (0, 0), float(rng.uniform(0.6, 1.6)))
    fine = (fine - fine.mean()) / (fine.std() + 1e-6)
    shade = 1 + 0.08 * (coarse - 0.5) + float(rng.uniform(0.04, 0.1)) * fine
    swirl = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(6, 30))):  # trowel arcs: lighter ridges
        c = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        ax = (max(2, int(rng.uniform(0.05, 0.25) * w)), max(2, int(rng.uniform(0.03, 0.15) * h)))
        start = float(rng.uniform(0, 360))
        cv2.ellipse(swirl, c, ax, float(rng.uniform(0, 180)), start, start + float(rng.uniform(60, 200)), 1.0,
                    max(1, min(w, h) // 60), cv2.LINE_AA)
    shade = shade + 0.12 * cv2.GaussianBlur(swirl, (0, 0), 1.0) * float(rng.choice([-1.0, 1.0]))
    img = np.clip(colour[None, None, :] * shade[..., None], 0, 1)
    edge = cv2.resize(rng.random((6, 6), dtype=np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = np.minimum(np.minimum(xx / w, 1 - xx / w), np.minimum(yy / h, 1 - yy / h))  # 0 at the border, 0.5 inside
    alpha = np.clip((d * 6 - 0.25 + 0.35 * (edge - 0.5)) * 4, 0, 1).astype(np.float32)
    canvas.over(img.astype(np.float32), alpha, box)
