"""Does an evidence picture show a person in front of the wall? Answered with the simulator's ground truth.

The stream renders the same moment with and without its passers-by (a copy of the timeline with no
one in it), so the pixels a person covers are known exactly. An evidence JPEG is first matched to the
sample it was taken from (the decision's sample or one of the few after it, when the edge waited for a
still frame), then the person pixels inside the event's box are counted.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

PERSON_GREY_DELTA = 40  # grey levels a figure changes a wall pixel by (clothes, skin, shadow vs plain wall)


@dataclass(frozen=True)
class EvidenceCheck:
    t_s: float  # the sample the evidence picture was taken from
    match_grey: float  # mean absolute grey difference to that sample (JPEG noise: a few levels)
    person_px: int  # pixels inside the box covered by a person at t_s


def person_free(stream: Any) -> Any:
    """The same stream with nobody in the tunnel (walls, light, paint and noise unchanged)."""
    empty = copy.copy(stream)
    empty.timeline = dataclasses.replace(stream.timeline, passersby=[])
    return empty


def _grey(img: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.int16)


def person_pixels(stream: Any, t_s: float, box: Sequence[float], empty: Any = None) -> int:
    """Pixels inside ``box`` (x1, y1, x2, y2) that a person changes at ``t_s``."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    empty = empty if empty is not None else person_free(stream)
    diff = np.abs(_grey(stream.frame_at(t_s)) - _grey(empty.frame_at(t_s)))
    return int(np.count_nonzero(diff[y1:y2, x1:x2] >= PERSON_GREY_DELTA))


def check_evidence(stream: Any, evidence_jpeg: bytes, box: Sequence[float], candidates_s: Sequence[float]) -> EvidenceCheck:
    """Find which of ``candidates_s`` the evidence picture shows and count the person pixels in ``box``."""
    import cv2

    img = cv2.imdecode(np.frombuffer(evidence_jpeg, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("evidence picture: not a decodable image")
    grey = _grey(img)
    times = [t for t in candidates_s if 0 <= t < stream.duration_s]
    dist = [float(np.mean(np.abs(_grey(stream.frame_at(t)) - grey))) for t in times]
    k = int(np.argmin(dist))
    return EvidenceCheck(times[k], dist[k], person_pixels(stream, times[k], box))
