"""Training augmentation in numpy/cv2 on uint8 BGR, matched to fixed tunnel cameras.

Why each step exists:
- partial views: the edge scores overlapping tiles, so graffiti often covers only part of a tile;
  crops that keep graffiti regions (when annotated) model that without mislabelling positives.
- zoom-out (``zoom_out``, off unless a config sets it): the training photos are mostly close-ups,
  while a piece on a tunnel wall may fill a fifth of an edge tile; the view is shrunk inside its own
  mirrored surroundings, for clean and graffiti views alike (so the border carries no label).
- perspective: cameras look along the wall, so paint is foreshortened.
- low light, IR greyscale, sensor noise, motion/defocus blur, JPEG artefacts, low resolution:
  what tunnel CCTV frames look like at night and on cheap sensors.
- de-equalisation: the Roboflow street photos all carry strong adaptive histogram equalisation
  (the "HDR" look) and are 62% graffiti, so a model can learn "equalised = graffiti". We flatten
  contrast, add gamma and smooth illumination and desaturate them most of the time (and other
  sources sometimes), so the look carries no label.

Every function takes an explicit ``np.random.Generator``: a sample's augmentation depends only on
(seed, epoch, draw), never on worker scheduling, so runs are repeatable.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from detector.train.config import AugmentConfig

Box = tuple[float, float, float, float]


def _crop_box(h: int, w: int, rng: np.random.Generator, min_area: float,
              keep: Box | None) -> tuple[int, int, int, int]:
    """A random crop (x0, y0, x1, y1) of near-square aspect covering ≥ ``min_area`` of the image.

    With ``keep`` (a graffiti box), the crop is placed so that most of that box stays inside.
    """
    area = float(rng.uniform(min_area, 1.0)) * h * w
    aspect = float(np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3))))
    cw = int(round(min(w, np.sqrt(area * aspect))))
    ch = int(round(min(h, np.sqrt(area / aspect))))
    cw, ch = max(cw, 8), max(ch, 8)
    if keep is None:
        x0 = int(rng.integers(0, w - cw + 1))
        y0 = int(rng.integers(0, h - ch + 1))
    else:
        bx0, by0, bx1, by1 = keep
        # Range of origins for which the box (or the crop, if the box is larger) is fully covered.
        lo_x, hi_x = sorted((bx1 - cw, bx0))
        lo_y, hi_y = sorted((by1 - ch, by0))
        x0 = int(np.clip(rng.uniform(lo_x, hi_x), 0, w - cw))
        y0 = int(np.clip(rng.uniform(lo_y, hi_y), 0, h - ch))
    return x0, y0, x0 + cw, y0 + ch


def _perspective(img: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    h, w = img.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    jitter = rng.uniform(-strength, strength, size=(4, 2)) * np.array([w, h], dtype=np.float64)
    dst = (src + jitter).astype(np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def deequalize(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Undo the CLAHE look: compress global and local contrast, bend gamma, desaturate."""
    f = img.astype(np.float32)
    h, w = img.shape[:2]
    # Local mean at ~1/10 of the side, computed on a small copy (a wide blur at full size is slow).
    small = cv2.resize(f, (max(4, w // 16), max(4, h // 16)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 1.5)
    base = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    f = base + (f - base) * rng.uniform(0.55, 0.9)  # local contrast flattening
    mean = f.mean(axis=(0, 1), keepdims=True)
    f = mean + (f - mean) * rng.uniform(0.55, 0.9)  # global contrast compression
    f = 255.0 * np.power(np.clip(f / 255.0, 0.0, 1.0), rng.uniform(0.8, 1.3))
    grey = f.mean(axis=2, keepdims=True)
    f = grey + (f - grey) * rng.uniform(0.55, 0.95)  # equalisation inflates saturation
    return np.clip(f, 0, 255).astype(np.uint8)


def equalize(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Apply the CLAHE look to a non-equalised image (the other half of making the look label-free)."""
    lab = cv2.cvtColor(img, cv2.COLOR_BGR2LAB)
    clahe = cv2.createCLAHE(clipLimit=float(rng.uniform(1.5, 4.0)), tileGridSize=(8, 8))
    lab[:, :, 0] = clahe.apply(lab[:, :, 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


def _illumination(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Smooth light fall-off: a linear ramp in a random direction times a soft vignette."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    xx = xx / max(w - 1, 1) - 0.5
    yy = yy / max(h - 1, 1) - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx + np.sin(angle) * yy) * rng.uniform(0.2, 0.8)
    vignette = (xx**2 + yy**2) * rng.uniform(0.0, 1.2)
    gain = np.clip(1.0 + ramp - vignette, 0.45, 1.5)
    return np.clip(img.astype(np.float32) * gain[:, :, None], 0, 255).astype(np.uint8)


def _colour_jitter(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    f = img.astype(np.float32)
    f = f * rng.uniform(0.88, 1.12, size=3).astype(np.float32)  # white balance (sodium/LED light)
    mean = f.mean()
    f = mean + (f - mean) * rng.uniform(0.75, 1.25) + rng.uniform(-25, 25)
    grey = f.mean(axis=2, keepdims=True)
    f = grey + (f - grey) * rng.uniform(0.6, 1.3)
    out = np.clip(f, 0, 255).astype(np.uint8)
    shift = int(rng.integers(-6, 7))
    if shift:
        hsv = cv2.cvtColor(out, cv2.COLOR_BGR2HSV)
        hsv[:, :, 0] = ((hsv[:, :, 0].astype(np.int16) + shift) % 180).astype(np.uint8)
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    return out


def _motion_blur(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    length = int(rng.integers(3, 10))
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    rot = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), float(rng.uniform(0, 180)), 1.0)
    rotated = np.asarray(cv2.warpAffine(kernel, rot, (length, length)), dtype=np.float32)
    rotated /= max(float(rotated.sum()), 1e-6)
    return cv2.filter2D(img, -1, rotated, borderType=cv2.BORDER_REFLECT_101)


def _noise(img: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    f = img.astype(np.float32)
    luma = rng.standard_normal(size=img.shape[:2] + (1,), dtype=np.float32) * np.float32(sigma)
    chroma = rng.standard_normal(size=img.shape, dtype=np.float32) * np.float32(sigma * 0.4)
    return np.clip(f + luma + chroma, 0, 255).astype(np.uint8)


def _jpeg(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 91))])
    if not ok:
        return img
    out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out if out is not None else img


def zoom_out(img: np.ndarray, rng: np.random.Generator, min_side: float) -> np.ndarray:
    """The view shrunk to ``min_side``-0.9 of each side (aspect jittered), at a random place, the rest
    filled by mirroring it: what a camera further from the wall sees of the same scene. Applied to
    clean and graffiti views alike, so the mirrored border says nothing about the label."""
    h, w = img.shape[:2]
    sh = float(rng.uniform(min_side, 0.9))
    sw = float(np.clip(sh * rng.uniform(0.8, 1.25), min_side, 0.95))
    nh, nw = max(8, int(round(h * sh))), max(8, int(round(w * sw)))
    small = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
    top, left = int(rng.integers(0, h - nh + 1)), int(rng.integers(0, w - nw + 1))
    return cv2.copyMakeBorder(small, top, h - nh - top, left, w - nw - left, cv2.BORDER_REFLECT_101)


def augment(img: np.ndarray, label: int, graffiti_boxes: Sequence[Box], rng: np.random.Generator,
            cfg: AugmentConfig, out_px: int, equalised: bool) -> np.ndarray:
    """One augmented training view of a cached uint8 BGR image, ``out_px`` square, uint8 BGR.

    ``graffiti_boxes`` are graffiti regions in the cached image's pixels (may be empty);
    ``equalised`` marks sources with the histogram-equalised look.
    """
    h, w = img.shape[:2]
    keep: Box | None = None
    min_area = cfg.crop_min_area
    if label == 1:
        if graffiti_boxes:
            keep = graffiti_boxes[int(rng.integers(0, len(graffiti_boxes)))]
        else:
            min_area = max(min_area, cfg.crop_min_area_graffiti)
    x0, y0, x1, y1 = _crop_box(h, w, rng, min_area, keep)
    crop = img[y0:y1, x0:x1]
    interp = cv2.INTER_AREA if crop.shape[0] >= out_px and crop.shape[1] >= out_px else cv2.INTER_LINEAR
    out = cv2.resize(crop, (out_px, out_px), interpolation=interp)
    if rng.random() < cfg.hflip:
        out = np.ascontiguousarray(out[:, ::-1])
    if rng.random() < cfg.zoom_out:
        out = zoom_out(out, rng, cfg.zoom_out_min)
    if rng.random() < cfg.perspective:
        out = _perspective(out, rng, cfg.perspective_strength)
    if rng.random() < (cfg.deequalize if equalised else cfg.deequalize_other):
        out = deequalize(out, rng)
    elif not equalised and rng.random() < cfg.equalize_other:
        out = equalize(out, rng)
    if rng.random() < cfg.illumination:
        out = _illumination(out, rng)
    if rng.random() < cfg.colour_jitter:
        out = _colour_jitter(out, rng)
    dark = rng.random() < cfg.low_light
    if dark:
        f = out.astype(np.float32) * rng.uniform(0.3, 0.65)
        out = (255.0 * np.power(np.clip(f / 255.0, 0, 1), rng.uniform(1.0, 1.25))).astype(np.uint8)
    if rng.random() < cfg.ir_grey:
        grey = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)
        grey = cv2.convertScaleAbs(grey, alpha=rng.uniform(0.6, 1.1), beta=rng.uniform(0, 40))
        out = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    if rng.random() < cfg.motion_blur:
        out = _motion_blur(out, rng)
    if rng.random() < cfg.defocus:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.8))
    if rng.random() < cfg.downscale:
        small = max(16, int(out_px * rng.uniform(0.35, 0.7)))
        out = cv2.resize(cv2.resize(out, (small, small), interpolation=cv2.INTER_AREA),
                         (out_px, out_px), interpolation=cv2.INTER_LINEAR)
    if dark or rng.random() < cfg.noise:
        out = _noise(out, rng, rng.uniform(2.0, 9.0) * (2.0 if dark else 1.0))
    if rng.random() < cfg.jpeg:
        out = _jpeg(out, rng)
    return out
