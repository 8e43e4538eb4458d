"""Cheap procedural noise for wall textures: hashes of integer cells and tileable value noise.

Everything is vectorised numpy/cv2 so a 320×320 scene costs a few milliseconds, and every value
comes from the scene's own ``numpy.random.Generator`` so a seed reproduces the same bytes.
"""

from __future__ import annotations

import numpy as np


def cell_hash(iu: np.ndarray, iv: np.ndarray, salt: float = 0.0) -> np.ndarray:
    """A pseudo-random value in [0, 1) per integer cell (a tile, a brick), stable across frames."""
    x = np.sin(iu * 12.9898 + iv * 78.233 + salt * 37.719) * 43758.5453
    return (x - np.floor(x)).astype(np.float32)


def value_noise(rng: np.random.Generator, size: int = 128, octaves: int = 4) -> np.ndarray:
    """A tileable fractal noise texture, float32 in about [-1, 1], to be sampled with BORDER_WRAP."""
    import cv2

    out = np.zeros((size, size), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        cells = max(2, 4 * 2**o)
        grid = rng.standard_normal((cells, cells)).astype(np.float32)
        # Tile the grid so the cubic upsampling wraps around seamlessly.
        tiled = np.tile(grid, (3, 3))
        up = cv2.resize(tiled, (size * 3, size * 3), interpolation=cv2.INTER_CUBIC)
        out += amp * up[size:2 * size, size:2 * size]
        total += amp
        amp *= 0.55
    return out / total


_BANK: list[np.ndarray] = []


def bank_noise(rng: np.random.Generator) -> np.ndarray:
    """One of 16 fixed noise textures (made once per process from fixed seeds), randomly rolled.

    Making fresh fractal noise for every scene costs more than the rest of the wall shader; a
    shared bank with a random offset looks the same and stays deterministic.
    """
    if not _BANK:
        _BANK.extend(value_noise(np.random.default_rng(1000 + i)) for i in range(16))
    tex = _BANK[int(rng.integers(len(_BANK)))]
    return np.roll(tex, (int(rng.integers(128)), int(rng.integers(128))), axis=(0, 1))


def sample_wrapped(tex: np.ndarray, u: np.ndarray, v: np.ndarray, scale: float) -> np.ndarray:
    """Sample a tileable texture at world coordinates (metres) with ``scale`` texels per metre.

    ``u``/``v`` may have any shape; they are sampled as one flat batch (cv2.remap needs 2-D maps
    under 32767 rows, so the batch is folded into rows of 1024).
    """
    import cv2

    size = tex.shape[0]
    shape = u.shape
    n = u.size
    cols = 1024
    rows = -(-n // cols)
    mx = np.zeros(rows * cols, np.float32)
    my = np.zeros(rows * cols, np.float32)
    mx[:n] = np.mod(u.ravel() * scale, size)
    my[:n] = np.mod(v.ravel() * scale, size)
    out = cv2.remap(tex, mx.reshape(rows, cols), my.reshape(rows, cols), cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    return out.ravel()[:n].reshape(shape)


def smooth_line(dist: np.ndarray, half_width: float | np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Anti-aliased line coverage in [0, 1] from a distance field (same units as ``footprint``)."""
    return np.clip((half_width + footprint * 0.5 - dist) / (footprint + 1e-6), 0.0, 1.0).astype(np.float32)
