"""The infrared look of a scene: what a day/night camera delivers once its IR-cut filter is out.

The lighting model already has an IR mode (a camera-mounted illuminator lighting a greyscale
scene). This is the other half the edge meets at night: the same view as a flat, greyish picture in
which red things are bright (red dyes and paints reflect near infrared), colour is gone and contrast
is squeezed. ``ir_look`` turns any exposed scene into that, so every hard negative can also be seen
the way a night camera sees it.
"""

from __future__ import annotations

import numpy as np

# BGR weights of the IR-mode luminance: red-weighted (cf. ITU-R BT.601's 0.114/0.587/0.299).
IR_WEIGHTS = (0.1, 0.3, 0.6)


def ir_look(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Exposed float BGR image in [0, 1] → greyscale (three equal channels), red-weighted, flat contrast."""
    grey = img @ np.asarray(IR_WEIGHTS, np.float32)
    mean = float(grey.mean())
    k = float(rng.uniform(0.4, 0.75))  # contrast kept
    lift = float(rng.uniform(0.0, 0.12))  # milky haze of the illuminator's back-scatter
    flat = np.clip(mean + (grey - mean) * k + lift, 0, 1).astype(np.float32)
    return np.repeat(flat[..., None], 3, axis=2)
