"""A window of a simulated tunnel stream as an edge source, for running the edge camera loop in-process.

Like the edge's ``sim://`` source it is clocked (``next_sample(due_t_s)`` renders only the frame that
is due, so a day sampled every few seconds costs thousands of renders, not millions), but it takes
an already built ``TunnelStream`` — whose timeline the caller needs for the ground truth — and can
start anywhere in it, e.g. at 08:00 of a simulated day. Event times are ``epoch0_s + t_s``.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from detector.edge.sources import Frame, Source

EPOCH0_S = 1_800_000_000.0  # wall-clock epoch of stream time 0 (any fixed value; events use it)


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


class StreamSource(Source):
    """Frames of ``stream`` from ``start_s`` to ``end_s`` on the stream's own clock."""

    def __init__(self, name: str, stream: Any, start_s: float = 0.0, end_s: float | None = None,
                 epoch0_s: float = EPOCH0_S) -> None:
        super().__init__(name)
        self.stream = stream
        self.start_s = float(start_s)
        self.end_s = float(stream.duration_s if end_s is None else min(end_s, stream.duration_s))
        self.epoch0_s = epoch0_s
        self._next_s = self.start_s
        self._seq = 0
        self.render_s = 0.0  # time spent rendering frames (to tell it apart from the edge's own work)
        self.last_t_s = self.start_s  # stream time of the frame handed out last (the one being processed)

    def next_sample(self, due_t_s: float | None) -> Frame | None:
        t = self._next_s if due_t_s is None else max(self._next_s, due_t_s)
        fps = float(self.stream.fps)
        t = math.ceil(t * fps - 1e-6) / fps  # the stream's frame grid
        if t >= self.end_s:
            self.finished = True
            return None
        t0 = time.perf_counter()
        img = self.stream.frame_at(t)
        self.render_s += time.perf_counter() - t0
        self._next_s = t + 1.0 / fps
        self.last_t_s = t
        self._seq += 1
        return Frame(np.ascontiguousarray(img), t, self.epoch0_s + t, self._seq, f"t={t:.0f}s")
