"""64-bit perceptual hashes (DCT pHash) and vectorised near-duplicate search, numpy/cv2 only.

pHash survives re-encoding, resizing, mild blur and noise, so it finds the same photo saved twice
under different names; a horizontal flip or a large crop changes it (those copies are caught by
groups, not by hashes).
"""

from __future__ import annotations

import numpy as np

HASH_SIZE = 8  # 8×8 low-frequency DCT coefficients → 64 bits
_DCT_INPUT_PX = 32


def phash(image_bgr: np.ndarray) -> np.uint64:
    """The 64-bit DCT perceptual hash of an image (grey, 32×32, top-left 8×8 DCT vs its median)."""
    import cv2

    grey = image_bgr if image_bgr.ndim == 2 else cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(grey, (_DCT_INPUT_PX, _DCT_INPUT_PX), interpolation=cv2.INTER_AREA).astype(np.float32)
    coeffs = cv2.dct(small)[:HASH_SIZE, :HASH_SIZE].flatten()
    # The DC term is excluded from the median so overall brightness does not move every bit.
    bits = coeffs > np.median(coeffs[1:])
    return np.uint64(int(np.packbits(bits).view(">u8")[0]))


def hamming_pairs(hashes: np.ndarray, max_distance: int, block_rows: int = 1024) -> list[tuple[int, int, int]]:
    """All index pairs (i < j) whose hashes differ in at most ``max_distance`` bits, with the distance.

    Bits are unpacked to a 0/1 matrix and distances computed as a matrix product, in row blocks so
    memory stays O(block_rows × N) for large datasets.
    """
    n = len(hashes)
    if n < 2:
        return []
    as_bytes = np.asarray(hashes, dtype=">u8").view(np.uint8).reshape(n, 8)
    bits = np.unpackbits(as_bytes, axis=1).astype(np.float32)  # n × 64
    ones = bits.sum(axis=1)
    pairs: list[tuple[int, int, int]] = []
    for start in range(0, n, block_rows):
        block = bits[start:start + block_rows]
        # |a xor b| = |a| + |b| - 2 a·b
        dist = ones[start:start + block_rows, None] + ones[None, :] - 2.0 * (block @ bits.T)
        rows, cols = np.nonzero(dist <= max_distance + 0.5)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            i = start + r
            if i < c:
                pairs.append((i, c, int(round(float(dist[r, c])))))
    return pairs
