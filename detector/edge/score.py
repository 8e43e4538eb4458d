"""``graffiti edge score``: score single images the way the runner does, and draw a heat map.

Each image is tiled exactly like a camera frame (by default tiles sized to the image, a ninth of its area —
320 px at 1280×720 — overlap 0.25), all tiles go
through one model run, and the per-tile scores are painted as a colour map over the image with the
hot tiles boxed — a quick way to see what the model reacts to.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector.onnxmodel import ModelSession
from detector.tiling import Tile, cut_tiles, plan_tiles, tile_px_for


@dataclass(frozen=True)
class ImageScore:
    path: Path
    max_score: float
    threshold: float
    tiles: list[Tile]
    tile_scores: list[float]
    heatmap_path: Path | None
    whole_score: float | None = None  # the whole image as one model input (what photo-level evaluation scores)

    @property
    def verdict(self) -> str:
        return "graffiti" if self.max_score >= self.threshold else "clean"


@dataclass(frozen=True)
class Skipped:
    """An argument or image that gave no score, and why (printed as ``<path>: <reason>``)."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def heat_overlay(image_bgr: np.ndarray, tiles: list[Tile], scores: list[float], threshold: float,
                 alpha: float = 0.45) -> np.ndarray:
    """The image with tile scores (max over overlapping tiles) as a JET colour map; hot tiles boxed red.

    A colour bar is added on the right (score 0 at the bottom, 1 at the top, the threshold marked),
    so the map can be read without knowing the colour map; the image itself keeps its pixels.
    """
    import cv2

    h, w = image_bgr.shape[:2]
    heat = np.zeros((h, w), dtype=np.float32)
    for t, s in zip(tiles, scores, strict=True):
        x1, y1, x2, y2 = t.xyxy
        np.maximum(heat[y1:y2, x1:x2], s, out=heat[y1:y2, x1:x2])
    colour = cv2.applyColorMap(np.clip(heat * 255.0, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
    out = cv2.addWeighted(image_bgr, 1.0 - alpha, colour, alpha, 0.0)
    thick = max(2, w // 400)
    for t, s in zip(tiles, scores, strict=True):
        if s >= threshold:
            x1, y1, x2, y2 = t.xyxy
            cv2.rectangle(out, (x1, y1), (x2 - 1, y2 - 1), (0, 0, 255), thick)
            cv2.putText(out, f"{s:.2f}", (x1 + 6, y1 + 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
    # colour bar: a strip right of the image, gradient from 0 (bottom) to 1 (top), threshold marked
    bar_w = max(56, w // 10)
    strip = np.full((h, bar_w, 3), 32, dtype=np.uint8)
    font_scale = max(0.3, min(0.6, h / 600))
    top, bottom = max(10, h // 20), h - max(10, h // 20)
    span = max(1, bottom - top)
    levels = np.clip((1.0 - (np.arange(span) / (span - 1 if span > 1 else 1))) * 255.0, 0, 255).astype(np.uint8)
    gradient = cv2.applyColorMap(levels.reshape(-1, 1), cv2.COLORMAP_JET)  # (span, 1, 3)
    x0, x1b = 4, 4 + max(8, bar_w // 3)
    strip[top:bottom, x0:x1b] = gradient
    for value in (0.0, 0.5, 1.0):
        y = int(round(bottom - 1 - value * (span - 1)))
        cv2.putText(strip, f"{value:.1f}", (x1b + 5, min(h - 2, y + 4)), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                    (230, 230, 230), 1, cv2.LINE_AA)
    y_thr = int(round(bottom - 1 - float(np.clip(threshold, 0.0, 1.0)) * (span - 1)))
    cv2.line(strip, (x0 - 2, y_thr), (x1b + 2, y_thr), (255, 255, 255), 2)
    cv2.putText(strip, "thr", (x1b + 5, max(10, y_thr - 4)), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255), 1,
                cv2.LINE_AA)
    return np.hstack([out, strip])


def score_image(model: ModelSession, image_bgr: np.ndarray, tile_px: int | None,
                overlap: float) -> tuple[list[Tile], list[float]]:
    """Tile scores of one image cut like a camera frame (``tile_px`` None: sized to the image, as the edge does)."""
    h, w = image_bgr.shape[:2]
    plan = plan_tiles((w, h), tile_px_for((w, h), tile_px), overlap)
    scores = model.score(cut_tiles(image_bgr, plan))
    return plan.tiles, [float(s) for s in scores]


def expand_images(args: list[Path]) -> tuple[list[tuple[Path, Path]], list[Skipped], list[str]]:
    """The image files named by ``args`` (files as given, folders searched recursively for image types, in
    name order), each with the name its heat map gets (``<stem>`` for a file, the path under the folder for
    a folder's images; a repeated name gets ``-2``, ``-3``…), one error line per argument or link that names
    nothing to score, and one note per folder that holds files of other types (not scored, but not silently:
    a user who put GIFs or RAW files there should know they were passed over)."""
    from detector.data.names import IMAGE_EXTENSIONS, is_image
    from detector.edge.sources import VIDEO_SUFFIXES

    found: list[tuple[Path, Path]] = []
    errors: list[Skipped] = []
    notes: list[str] = []
    for arg in args:
        if arg.is_file() and arg.suffix.lower() in VIDEO_SUFFIXES:
            errors.append(Skipped(arg, f"a video, not an image, skipped: for a recording run the edge on it "
                                       f"('graffiti edge run --source {arg} --fast')"))
        elif arg.is_file():
            found.append((arg, Path(arg.stem)))
        elif arg.is_dir():
            inside: list[Path] = []
            others: dict[str, int] = {}
            for p in sorted(arg.rglob("*")):
                if any(part.startswith(".") for part in p.relative_to(arg).parts):
                    continue  # hidden files and folders (.DS_Store, .git) are nobody's photos
                if p.is_file() and is_image(p):
                    inside.append(p)
                elif p.is_symlink() and not p.exists():
                    errors.append(Skipped(p, f"broken link (to {os.readlink(p)}), skipped"))
                elif p.is_file():
                    kind = p.suffix.lower() or "(no extension)"
                    others[kind] = others.get(kind, 0) + 1
            if others:
                kinds = ", ".join(f"{k} ×{n}" for k, n in sorted(others.items()))
                notes.append(f"{arg}: {sum(others.values())} other file(s) not scored, not an image type "
                             f"({kinds}); image types: {', '.join(sorted(IMAGE_EXTENSIONS))}")
            if not inside:
                errors.append(Skipped(arg, f"no image files in this folder (looked for "
                                           f"{', '.join(sorted(IMAGE_EXTENSIONS))}), skipped"))
            found.extend((p, p.relative_to(arg).with_suffix("")) for p in inside)
        elif arg.is_symlink():
            errors.append(Skipped(arg, f"broken link (to {os.readlink(arg)}), skipped"))
        else:
            errors.append(Skipped(arg, "not found, skipped"))
    seen: dict[Path, int] = {}
    named: list[tuple[Path, Path]] = []
    for path, name in found:
        seen[name] = seen.get(name, 0) + 1
        named.append((path, name if seen[name] == 1 else name.with_name(f"{name.name}-{seen[name]}")))
    return named, errors, notes


def score_images(model: ModelSession, paths: list[Path], out_dir: Path | None, tile_px: int | None = None,
                 overlap: float = 0.25, threshold: float | None = None,
                 heat_names: list[Path] | None = None) -> Iterator[ImageScore | Skipped]:
    """Score each image in turn; unreadable ones give a ``Skipped`` instead of a result (and no crash).

    With ``out_dir`` each heat map is ``out_dir/<name>.heat.png``, the name from ``heat_names`` (default the
    image's stem)."""
    import cv2

    from detector.preprocess import read_image

    thr = model.meta.threshold if threshold is None else threshold
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    names = heat_names if heat_names is not None else [Path(p.stem) for p in paths]
    for path, name in zip(paths, names, strict=True):
        img = read_image(str(path))
        if img is None:
            yield Skipped(path, "unreadable or truncated image, skipped")
            continue
        tiles, scores = score_image(model, img, tile_px, overlap)
        whole = float(model.score([img])[0])
        heat_path = None
        if out_dir is not None:
            heat_path = out_dir / name.parent / f"{name.name}.heat.png"
            heat_path.parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(heat_path), heat_overlay(img, tiles, scores, thr)):
                yield Skipped(heat_path, "could not write the heat map")
                heat_path = None
        yield ImageScore(path, max(scores) if scores else 0.0, thr, tiles, scores, heat_path, whole)
