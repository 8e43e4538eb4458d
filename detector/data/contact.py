"""Contact sheets: a grid of captioned thumbnails, the quickest way for a person to check a dataset.

Used by ``graffiti data inspect``, the synthetic-scene renderer and the evaluation reports, so
every picture of many images in this project looks the same. numpy/cv2 only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from detector.errors import DatasetError

BACKGROUND = (40, 40, 40)
CAPTION_COLOUR = (235, 235, 235)
PAD_PX = 2


def _as_bgr(image: np.ndarray) -> np.ndarray:
    import cv2

    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def _fit(image: np.ndarray, cell_px: int) -> np.ndarray:
    """Letterbox ``image`` into a cell_px square, keeping its aspect ratio."""
    import cv2

    image = _as_bgr(image)
    h, w = image.shape[:2]
    scale = cell_px / max(h, w, 1)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    thumb = cv2.resize(image, (nw, nh), interpolation=interp)
    cell = np.full((cell_px, cell_px, 3), BACKGROUND, dtype=np.uint8)
    y0, x0 = (cell_px - nh) // 2, (cell_px - nw) // 2
    cell[y0:y0 + nh, x0:x0 + nw] = thumb
    return cell


def _caption(text: str, width_px: int, height_px: int) -> np.ndarray:
    """A caption strip; long text is cut with '…'-style '..' so it never spills into the next cell."""
    import cv2

    strip = np.full((height_px, width_px, 3), BACKGROUND, dtype=np.uint8)
    font, scale, thick = cv2.FONT_HERSHEY_SIMPLEX, max(0.3, height_px / 40.0), 1
    text = text.encode("ascii", "replace").decode("ascii")
    while text:
        (tw, th), _ = cv2.getTextSize(text, font, scale, thick)
        if tw <= width_px - 4:
            break
        text = text[:-3] + ".." if len(text) > 3 else text[:-1]
    if text:
        (tw, th), _ = cv2.getTextSize(text, font, scale, thick)
        cv2.putText(strip, text, (2, (height_px + th) // 2), font, scale, CAPTION_COLOUR, thick, cv2.LINE_AA)
    return strip


def contact_sheet(items: Sequence[tuple[np.ndarray, str]], *, cols: int, cell_px: int) -> np.ndarray:
    """A BGR uint8 grid of ``(image, caption)`` items, ``cols`` per row, each image fitted into
    a ``cell_px`` square with its caption below. An empty list gives one blank cell."""
    if cols < 1 or cell_px < 8:
        raise ValueError(f"contact_sheet needs cols >= 1 and cell_px >= 8, got cols={cols}, cell_px={cell_px}")
    caption_px = max(12, cell_px // 10)
    cell_h, cell_w = cell_px + caption_px + PAD_PX, cell_px + PAD_PX
    n = max(1, len(items))
    cols = min(cols, n)
    rows = (n + cols - 1) // cols
    sheet = np.full((rows * cell_h, cols * cell_w, 3), BACKGROUND, dtype=np.uint8)
    for i, (image, caption) in enumerate(items):
        r, c = divmod(i, cols)
        y, x = r * cell_h, c * cell_w
        sheet[y:y + cell_px, x:x + cell_px] = _fit(image, cell_px)
        sheet[y + cell_px:y + cell_px + caption_px, x:x + cell_px] = _caption(caption, cell_px, caption_px)
    return sheet


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write a PNG (creating folders). Encodes in memory so non-ASCII paths work everywhere."""
    import cv2

    path = Path(path)
    ok, buf = cv2.imencode(".png", _as_bgr(image))
    if not ok:
        raise DatasetError(f"{path}: could not encode the image as PNG")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(buf.tobytes())
    except OSError as exc:
        raise DatasetError(f"{path}: cannot write ({exc.strerror})") from None
    return path


def write_jpeg(path: str | Path, image: np.ndarray, quality: int = 95) -> Path:
    """Write a JPEG into an existing folder (dataset writers make theirs once, not per image)."""
    import cv2

    path = Path(path)
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise DatasetError(f"{path}: could not encode the image as JPEG")
    try:
        path.write_bytes(buf.tobytes())
    except OSError as exc:
        raise DatasetError(f"{path}: cannot write ({exc.strerror})") from None
    return path
