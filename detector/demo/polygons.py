"""The watch and ignore polygons an installer would draw for the simulated tunnel camera: its side
walls (where graffiti is sprayed) and its burned-in name and clock."""

from __future__ import annotations

from typing import Any

import numpy as np


def wall_polygons(stream: Any, min_area_px: float = 2000.0, tolerance_px: float = 4.0) -> list[list[list[float]]]:
    """The tunnel's side walls as watch polygons, as an installer draws them for a camera: graffiti is
    sprayed on walls, while the floor (IR glare, wet patches), the ceiling lights and the tunnel mouth
    only cost false alarms. Taken from the simulated camera's surface map."""
    import cv2

    from detector.data.synth.geometry import WALLS

    wall = np.isin(stream.maps.surface, WALLS).astype(np.uint8)
    contours, _ = cv2.findContours(wall, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [cv2.approxPolyDP(c, tolerance_px, True).reshape(-1, 2).astype(float).tolist()
            for c in contours if cv2.contourArea(c) >= min_area_px]


def osd_ignore(size: tuple[int, int]) -> list[list[float]]:
    """An ignore polygon over the simulated camera's on-screen name and clock (top-left corner,
    about 0.27 × 0.05 of the frame), with a margin: as on a real installation, the burned-in clock is
    masked so its changing digits never reach the model."""
    w, h = size
    x2, y2 = round(0.32 * w), round(0.07 * h)
    return [[0.0, 0.0], [float(x2), 0.0], [float(x2), float(y2)], [0.0, float(y2)]]
