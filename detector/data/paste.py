"""Real paint on real walls at the edge's tile scale: a training set composed from photographs.

The edge shows the model tiles of a camera view of a wall. A graffiti training photo is mostly seen
whole, and the clean tiles a model learns from (:mod:`detector.train.mine`: shop lettering, signs)
are at tile scale; a model trained on both learns "a tile of lettering is clean" and then reads a
real piece cut into tiles — black tags on a brick wall — as clean. This module makes the missing
examples: a patch of a **graffiti** photo (typically a mined tile, where the paint is) pasted onto
a **clean** training photo shown as a camera view, then a tile-sized window over the patch, labelled
graffiti. So that the paste itself carries no label, the same number of windows are made the same
way with a patch of another **clean** photo pasted instead, labelled clean: a framed poster, a
shop sign on a wall, a piece of another facade. The label is what the patch shows, not that
something was pasted.

The compositing deliberately differs from the edge's real-walls benchmark
(``scripts/bench_real_walls.py`` pastes whole held-out graffiti photos with a soft ellipse): patches
here are crops, with a feathered rectangle, an ellipse or an irregular blob as the mask, pasted
normally or as paint that only darkens or only brightens the wall, and the windows are cut anywhere
over the patch, not on the edge's grid. Only ``train``-split photos are used (walls, paint and
clean patches), so no validation or test photo leaks into training.

numpy/cv2 only (no torch, no model): ``graffiti data paste``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detector.data.sample import CLEAN, GRAFFITI, Sample
from detector.errors import DatasetError

PASTE_SOURCE = "paste"
PASTE_KIND = "pasted-tile"
MASKS = ("rect", "ellipse", "blob")
BLENDS = ("normal", "darken", "lighten")


@dataclass(frozen=True)
class PasteSpec:
    """How a patch is drawn and where the window goes (fractions of the view's width/height)."""

    view_px: tuple[int, int] = (1280, 720)
    tile_px: int = 0  # 0 = the edge's default tile
    patch_w: tuple[float, float] = (0.1, 0.35)  # patch width, share of the view's width
    crop_area: tuple[float, float] = (0.5, 1.0)  # share of the source image the patch shows
    patch_share: float = 0.5  # the window holds at least this share of the patch (its mask) ...
    window_share: float = 0.25  # ... or is at least this full of it
    min_visible: float = 0.06  # share of the window the paste visibly changed (paint blended into a wall of
    visible_delta: float = 30.0  # its own colour, or a crop with no paint in it, is no example): |Δ| > delta levels
    graffiti_share: float = 0.5  # share of windows that carry paint (the rest carry a clean patch)
    blend_p: tuple[float, float, float] = (0.6, 0.25, 0.15)  # normal, darken, lighten


@dataclass
class PasteSummary:
    made: dict[str, int]  # label name -> windows written
    walls: int
    unreadable: list[Path]
    manifest: Path | None = None
    sheet: Path | None = None
    masks: dict[str, int] = field(default_factory=dict)
    blends: dict[str, int] = field(default_factory=dict)
    invisible: int = 0  # windows dropped: the paste changed too little of them to show anything


def patch_mask(rng: np.random.Generator, h: int, w: int, kind: str) -> np.ndarray:
    """A float mask in [0, 1] of shape (h, w): a feathered rectangle, a soft ellipse or a blob."""
    import cv2

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u, v = (xx + 0.5) / w * 2 - 1, (yy + 0.5) / h * 2 - 1
    feather = float(rng.uniform(0.04, 0.25))
    if kind == "rect":
        d = 1.0 - np.maximum(np.abs(u), np.abs(v)) - 0.02  # the border pixels are not pasted
        return np.clip(d / feather, 0.0, 1.0)
    if kind == "ellipse":
        return np.clip((1.0 - np.sqrt(u * u + v * v)) / feather, 0.0, 1.0)
    if kind == "blob":  # low-frequency noise over a soft ellipse, thresholded: an irregular outline
        g = rng.normal(0, 1, (6, 6)).astype(np.float32)
        noise = cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)
        field_ = (1.0 - np.sqrt(u * u + v * v)) + 0.35 * noise
        return np.clip((field_ - 0.2) / feather, 0.0, 1.0)
    raise ValueError(f"unknown mask kind {kind!r} (expected one of {', '.join(MASKS)})")


def _random_crop(rng: np.random.Generator, img: np.ndarray, area: tuple[float, float]) -> np.ndarray:
    h, w = img.shape[:2]
    a = float(rng.uniform(*area))
    aspect = float(np.exp(rng.uniform(np.log(0.6), np.log(1.6))))
    cw = int(round(min(w, max(8, w * np.sqrt(a * aspect)))))
    ch = int(round(min(h, max(8, h * np.sqrt(a / aspect)))))
    x = int(rng.integers(0, w - cw + 1))
    y = int(rng.integers(0, h - ch + 1))
    return img[y:y + ch, x:x + cw]


def compose(rng: np.random.Generator, view: np.ndarray, patch_src: np.ndarray,
            spec: PasteSpec) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Paste a crop of ``patch_src`` onto ``view`` (in place on a copy): (image, full-view mask, mask kind, blend)."""
    import cv2

    vh, vw = view.shape[:2]
    crop = _random_crop(rng, patch_src, spec.crop_area)
    pw = int(round(float(rng.uniform(*spec.patch_w)) * vw))
    ph = int(round(pw * crop.shape[0] / max(1, crop.shape[1]) * float(rng.uniform(0.8, 1.25))))
    pw, ph = max(16, min(pw, vw - 2)), max(16, min(ph, int(vh * 0.7)))
    art = cv2.resize(crop, (pw, ph), interpolation=cv2.INTER_AREA if crop.shape[1] > pw else cv2.INTER_LINEAR)
    kind = MASKS[int(rng.integers(len(MASKS)))]
    blend = BLENDS[int(rng.choice(len(BLENDS), p=np.asarray(spec.blend_p) / sum(spec.blend_p)))]
    m = patch_mask(rng, ph, pw, kind) * float(rng.uniform(0.8, 1.0))
    x = int(rng.integers(0, vw - pw + 1))
    y = int(rng.integers(0, vh - ph + 1))
    out = view.astype(np.float32)
    region = out[y:y + ph, x:x + pw]
    a = art.astype(np.float32)
    if blend == "darken":
        a = np.minimum(a, region)
    elif blend == "lighten":
        a = np.maximum(a, region)
    region += (a - region) * m[..., None]
    full = np.zeros((vh, vw), np.float32)
    full[y:y + ph, x:x + pw] = m
    return np.clip(out, 0, 255).astype(np.uint8), full, kind, blend


def visible_share(after: np.ndarray, before: np.ndarray, delta: float) -> float:
    """Share of pixels whose largest channel change exceeds ``delta`` levels."""
    d = np.abs(after.astype(np.int16) - before.astype(np.int16)).max(axis=2)
    return float((d > delta).mean())


def pick_window(rng: np.random.Generator, mask: np.ndarray, tile: int, patch_share: float, window_share: float,
                tries: int = 40) -> tuple[int, int] | None:
    """Top-left of a ``tile``-square window over the pasted patch: it holds at least ``patch_share`` of the
    patch's mask, or is at least ``window_share`` full of it. None when no such window was found."""
    vh, vw = mask.shape
    total = float(mask.sum())
    if total <= 0 or tile > vh or tile > vw:
        return None
    ys, xs = np.nonzero(mask > 0.5)
    if ys.size == 0:
        return None
    integral = np.pad(mask.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    for _ in range(tries):
        k = int(rng.integers(ys.size))  # a window around a random point of the patch
        cx = int(xs[k]) + int(rng.integers(-tile // 3, tile // 3 + 1))
        cy = int(ys[k]) + int(rng.integers(-tile // 3, tile // 3 + 1))
        x0 = int(np.clip(cx - tile // 2, 0, vw - tile))
        y0 = int(np.clip(cy - tile // 2, 0, vh - tile))
        inside = float(integral[y0 + tile, x0 + tile] - integral[y0, x0 + tile] - integral[y0 + tile, x0]
                       + integral[y0, x0])
        if inside >= patch_share * total or inside >= window_share * tile * tile:
            return x0, y0
    return None


def paste_pools(walls: Sequence[Sample], paint: Sequence[Sample], patches: Sequence[Sample],
                splits: Sequence[str] = ("train",)) -> tuple[list[Sample], list[Sample], list[Sample]]:
    """The walls, paint and clean patches that may be used; DatasetError (one line) when one is empty."""
    keep = set(splits)
    pools = ([s for s in walls if s.label == CLEAN and (s.split or "") in keep],
             [s for s in paint if s.label == GRAFFITI and (s.split or "") in keep],
             [s for s in patches if s.label == CLEAN and (s.split or "") in keep])
    for (what, option, want, label), given, pool in zip(
            (("walls", "--wall", "clean", CLEAN), ("paint", "--paint", "graffiti", GRAFFITI),
             ("clean patches", "--patch", "clean", CLEAN)), (walls, paint, patches), pools, strict=True):
        if pool:
            continue
        if not any(s.label == label for s in given):
            raise DatasetError(f"{option}: no {want} images at all for the {what} (the {what} must be {want})")
        have = sorted({s.split or "(none)" for s in given if s.label == label})
        raise DatasetError(f"{option}: no {want} images in split(s) {', '.join(splits)} for the {what} (they are "
                           f"in: {', '.join(have)}); give --split, or split the dataset first")
    return pools


def paste_dataset(walls: Sequence[Sample], paint: Sequence[Sample], patches: Sequence[Sample], out_dir: Path, *,
                  n: int, seed: int = 0, spec: PasteSpec | None = None, splits: Sequence[str] = ("train",),
                  progress: bool = True, on_written: Callable[[int], None] | None = None) -> PasteSummary:
    """Write ``n`` windows (``graffiti/*.jpg``, ``clean/*.jpg``), a ``manifest.csv`` and a contact sheet.

    ``walls``: clean photos shown as camera views; ``paint``: graffiti images whose crops are pasted as
    paint; ``patches``: clean images whose crops are pasted as clean patches (may be the walls). Only
    samples in ``splits`` are used (by label: clean walls and patches, graffiti paint)."""
    from tqdm import tqdm

    from detector.data.contact import write_jpeg
    from detector.data.manifest import write_manifest
    from detector.preprocess import read_image
    from detector.tiling import DEFAULT_TILE_PX, stretch_to_view

    spec = spec or PasteSpec()
    wall_pool, paint_pool, patch_pool = paste_pools(walls, paint, patches, splits)
    if n <= 0:
        raise DatasetError(f"--n must be at least 1 (got {n})")
    tile = spec.tile_px or int(DEFAULT_TILE_PX)
    rng = np.random.default_rng([seed, 7321])
    cache: dict[Path, np.ndarray | None] = {}
    unreadable: list[Path] = []

    def load(s: Sample) -> np.ndarray | None:
        p = Path(s.path)
        if p not in cache:
            img = read_image(str(p))
            if img is None:
                unreadable.append(p)
            elif img.ndim == 2:  # a greyscale patch source (walls are made BGR by stretch_to_view)
                img = np.repeat(img[..., None], 3, axis=2)
            cache[p] = img
            if len(cache) > 256:  # bounded: photos are re-read rather than all kept
                cache.pop(next(iter(cache)))
        return cache[p]

    dirs = {CLEAN: out_dir / "clean", GRAFFITI: out_dir / "graffiti"}
    try:
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"{out_dir}: cannot create the output folder ({exc.strerror})") from None
    rows: list[Sample] = []
    sheet_items: list[tuple[np.ndarray, str]] = []
    made = {"clean": 0, "graffiti": 0}
    masks: dict[str, int] = {}
    blends: dict[str, int] = {}
    walls_used: set[Path] = set()
    n_graffiti = int(round(n * spec.graffiti_share))
    labels = [GRAFFITI] * n_graffiti + [CLEAN] * (n - n_graffiti)
    rng.shuffle(labels)
    bar = tqdm(total=n, desc="pasting patches onto walls", unit="tile", disable=not progress)
    attempts = 0
    invisible = 0
    i = 0
    while i < n:
        attempts += 1
        if attempts > 20 * n + 100:
            raise DatasetError(f"could only make {i} of {n} windows: the images are too small or unreadable "
                               f"({len(unreadable)} unreadable)")
        label = labels[i]
        wall_s = wall_pool[int(rng.integers(len(wall_pool)))]
        src_pool = paint_pool if label == GRAFFITI else patch_pool
        src_s = src_pool[int(rng.integers(len(src_pool)))]
        if Path(src_s.path) == Path(wall_s.path):
            continue
        wall_img, src_img = load(wall_s), load(src_s)
        if wall_img is None or src_img is None:
            continue
        view = stretch_to_view(wall_img, spec.view_px)
        img, mask, kind, blend = compose(rng, view, src_img, spec)
        at = pick_window(rng, mask, tile, spec.patch_share, spec.window_share)
        if at is None:
            continue
        x0, y0 = at
        window = img[y0:y0 + tile, x0:x0 + tile]
        if visible_share(window, view[y0:y0 + tile, x0:x0 + tile], spec.visible_delta) < spec.min_visible:
            invisible += 1  # the same test for both labels: what is pasted must show, whatever it is
            continue
        word = "graffiti" if label == GRAFFITI else "clean"
        path = dirs[label] / f"paste-{i:05d}.jpg"
        write_jpeg(path, window)
        rows.append(Sample(path=path, label=label, group=f"{PASTE_SOURCE}:{wall_s.source}:{wall_s.group}",
                           source=PASTE_SOURCE, split="train", kind=PASTE_KIND))
        made[word] += 1
        masks[kind] = masks.get(kind, 0) + 1
        blends[blend] = blends.get(blend, 0) + 1
        walls_used.add(Path(wall_s.path))
        if len(sheet_items) < 60:
            sheet_items.append((window, f"{word} {kind}/{blend}"))
        i += 1
        bar.update(1)
        if on_written is not None:
            on_written(i)
    bar.close()
    summary = PasteSummary(made=made, walls=len(walls_used), unreadable=sorted(set(unreadable)), masks=masks,
                           blends=blends, invisible=invisible)
    summary.manifest = write_manifest(rows, out_dir / "manifest.csv")
    if sheet_items:
        from detector.data.contact import contact_sheet, write_png

        summary.sheet = write_png(out_dir / "pasted.png", contact_sheet(sheet_items, cols=10, cell_px=128))
    return summary
