"""``graffiti edge score``: score single images the way the runner does, and draw a heat map.

Each image is tiled exactly like a camera frame (default 320 px tiles, overlap 0.25), all tiles go
through one model run, and the per-tile scores are painted as a colour map over the image with the
hot tiles boxed — a quick way to see what the model reacts to.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector.onnxmodel import ModelSession
from detector.tiling import Tile, cut_tiles, plan_tiles


@dataclass(frozen=True)
class ImageScore:
    path: Path
    max_score: float
    threshold: float
    tiles: list[Tile]
    tile_scores: list[float]
    heatmap_path: Path | None

    @property
    def verdict(self) -> str:
        return "graffiti" if self.max_score >= self.threshold else "clean"


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


def score_image(model: ModelSession, image_bgr: np.ndarray, tile_px: int, overlap: float) -> tuple[list[Tile], list[float]]:
    h, w = image_bgr.shape[:2]
    plan = plan_tiles((w, h), tile_px, overlap)
    scores = model.score(cut_tiles(image_bgr, plan))
    return plan.tiles, [float(s) for s in scores]


def score_images(model: ModelSession, paths: list[Path], out_dir: Path | None, tile_px: int = 320,
                 overlap: float = 0.25, threshold: float | None = None) -> list[ImageScore | str]:
    """Score each image; unreadable ones give an error string instead of a result (and no crash)."""
    import cv2

    from detector.preprocess import read_image

    thr = model.meta.threshold if threshold is None else threshold
    results: list[ImageScore | str] = []
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    for path in paths:
        img = read_image(str(path))
        if img is None:
            results.append(f"{path}: unreadable or truncated image, skipped")
            continue
        tiles, scores = score_image(model, img, tile_px, overlap)
        heat_path = None
        if out_dir is not None:
            heat_path = out_dir / f"{path.stem}.heat.png"
            if not cv2.imwrite(str(heat_path), heat_overlay(img, tiles, scores, thr)):
                results.append(f"{heat_path}: could not write the heat map")
                heat_path = None
        results.append(ImageScore(path, max(scores) if scores else 0.0, thr, tiles, scores, heat_path))
    return results
