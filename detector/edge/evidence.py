"""Events and their evidence pictures (JPEG bytes) as the review service expects them, and the choice
of the picture a detection is shown with.

Evidence roles: ``frame`` (the full frame, unannotated — the review page draws the tile boxes from
the event), ``crop`` (the event's box with a margin) and, when known, ``reference`` (the camera's
last still, clean view, so an operator can compare before and after).

Event ids are derived, not drawn: ``uuid5`` of the device, camera, source, event type, the source's
time of the decision and the tile group (:func:`event_id`). Processing the same recording again, from
scratch or after a crash, gives the same ids, and the review service stores each id once (a
repeated id is answered "duplicate"), so a replay never reports the same graffiti twice.

The picture (:class:`EvidencePicker`): samples taken while someone walks through are still scored,
but the picture an operator sees should show the wall, not the cyclist. So the camera keeps the
latest still frame and, when an event opens during motion, the detection waits a few samples for a
still one, else takes the stillest it saw. Inside the event's box "still" also means unchanged since
the previous sample, so a writer standing still while painting is not in the picture. The picker is
the one place a decided detection waits for its picture (also across a restart: it is exported with
the camera's state), so a detection is reported once, with one picture.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from detector.edge.decision import Opened
from detector.edge.motion import MotionSample
from detector.events import Event, ModelRef, TileScore
from detector.tiling import Tile, union_box

# A fixed namespace for event ids (never change it: ids of stored events would no longer match).
EVENT_ID_NAMESPACE = uuid.UUID("635e008b-2488-430c-ae9f-a80f3e81a9e9")


def event_id(device: str, camera: str, source: str, kind: str, source_time_s: float,
             tiles: Iterable[int] = ()) -> str:
    """The deterministic id of an event: the same inputs (a replay) always give the same id.

    ``source_time_s``: the source's own clock where it is reproducible (media time of a file, image
    modification time of a folder), the wall clock for a live camera; rounded to the millisecond.
    """
    group = ",".join(str(i) for i in sorted(set(tiles)))
    key = f"{device}\x1f{camera}\x1f{source}\x1f{kind}\x1f{source_time_s:.3f}\x1f{group}"
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, key))


def encode_jpeg(image_bgr: np.ndarray, quality: int = 90) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", image_bgr, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def crop_box(frame_size: tuple[int, int], xyxy: tuple[int, int, int, int], margin: float) -> tuple[int, int, int, int]:
    """``xyxy`` grown by ``margin`` × its size on each side, clipped to the frame."""
    w, h = frame_size
    x1, y1, x2, y2 = xyxy
    mx, my = int(round((x2 - x1) * margin)), int(round((y2 - y1) * margin))
    return max(0, x1 - mx), max(0, y1 - my), min(w, x2 + mx), min(h, y2 + my)


def iso_time(epoch_s: float) -> str:
    """Epoch seconds → the schema's ISO 8601 UTC form with milliseconds and 'Z'."""
    return datetime.fromtimestamp(epoch_s, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def evidence_files(
    event: Event,
    frame_bgr: np.ndarray | None,
    bbox: tuple[int, int, int, int] | None,
    reference_bgr: np.ndarray | None,
    quality: int,
    margin: float,
) -> dict[str, bytes]:
    """Encode the evidence JPEGs, record their names in ``event.evidence``, return name → bytes."""
    files: dict[str, bytes] = {}

    def add(role: str, img: np.ndarray) -> None:
        name = f"{role}.jpg"  # the outbox and receivers keep evidence per event id
        files[name] = encode_jpeg(img, quality)
        event.evidence[role] = name

    if frame_bgr is not None:
        add("frame", frame_bgr)
        if bbox is not None:
            h, w = frame_bgr.shape[:2]
            x1, y1, x2, y2 = crop_box((w, h), bbox, margin)
            if x2 > x1 and y2 > y1:
                add("crop", frame_bgr[y1:y2, x1:x2])
    if reference_bgr is not None:
        add("reference", reference_bgr)
    return files


def graffiti_event(
    kind: str,
    device: str,
    camera: str,
    wall_time: float,
    tiles: Mapping[int, float],
    plan_tiles: list[Tile],
    frame_size: tuple[int, int],
    model: ModelRef,
    threshold: float,
    score: float,
    score_history: list[tuple[float, float]],
    t_s: float,
    related_event: str | None = None,
    detail: dict[str, Any] | None = None,
    source: str = "",
    source_time_s: float | None = None,
) -> Event:
    """A graffiti_detected / graffiti_cleaned event: tiles with their median scores, their union box.

    Its id is :func:`event_id` of the source and ``source_time_s`` (default ``t_s``, the decision's
    source time) and the tile group.
    """
    members = [plan_tiles[i] for i in sorted(tiles)]
    when = t_s if source_time_s is None else source_time_s
    return Event(
        id=event_id(device, camera, source, kind, when, tiles),
        device=device,
        camera=camera,
        type=kind,
        time=iso_time(wall_time),
        score=round(float(score), 4),
        threshold=float(threshold),
        tiles=[TileScore(xyxy=t.xyxy, score=round(float(tiles[t.index]), 4)) for t in members],
        bbox=union_box(members) if members else None,
        frame_size=frame_size,
        model=model,
        related_event=related_event,
        score_history=[(round(t_s - ts, 2), round(float(s), 4)) for ts, s in score_history],
        detail=dict(detail or {}),
    )


def camera_event(kind: str, device: str, camera: str, wall_time: float, detail: dict[str, Any],
                 frame_size: tuple[int, int] | None = None, model: ModelRef | None = None,
                 source: str = "", source_time_s: float | None = None) -> Event:
    """camera_offline / camera_online / camera_tamper; a deterministic id when ``source_time_s`` is known."""
    ev = Event(device=device, camera=camera, type=kind, time=iso_time(wall_time), detail=dict(detail),
               frame_size=frame_size, model=model)
    if source_time_s is not None:
        ev.id = event_id(device, camera, source, kind, source_time_s)
    return ev


# ---------------------------------------------------------------- the picture of a detection
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Detection:
    """A detection the decision engine opened whose event is not stored yet: what its event will say."""

    decision: Opened
    wall_time: float  # when it was decided: the event's time
    model: ModelRef  # the model that decided it


@dataclass
class _Candidate:
    frame: np.ndarray
    t_s: float
    moving_fraction: float
    motion: MotionSample | None = None


@dataclass
class _Waiting:
    detection: Detection
    box: Box | None
    frame_size: tuple[int, int] | None
    best: _Candidate | None  # the stillest frame seen so far; None: adopted after a restart, no frame seen yet
    waited: int = 0  # samples with motion in the frame
    busy: int = 0  # samples with a still frame but changes inside the event box (someone still painting)


class EvidencePicker:
    """Chooses the frame a detection is illustrated with, and holds the detections that wait for one.

    ``offer`` is called with every sample; ``pick`` for a new detection returns a frame at once when a
    still frame at or after the time the graffiti appeared is known, else None and the detection
    waits: ``poll`` returns it with its frame once a still sample arrives or ``wait_samples`` samples
    have passed (then the stillest one seen).

    With the event's ``box``, "still" means nothing changed inside the box since the previous sample
    (motion elsewhere in the frame does not matter): a passer-by in front of the graffiti moves, and
    a writer who stands still while painting keeps changing the wall in front of them, so the picture
    waits (up to ``busy_wait_samples`` while only the box changes) until the wall is left alone.
    """

    def __init__(self, wait_samples: int, still_fraction: float = 0.005, busy_wait_samples: int = 120) -> None:
        self.wait_samples = wait_samples
        self.still_fraction = still_fraction
        self.busy_wait_samples = busy_wait_samples
        self.latest_still: _Candidate | None = None
        self._waiting: dict[int, _Waiting] = {}
        self._adopted = False

    def _still(self, motion: MotionSample | None, box: Box | None, frame_size: tuple[int, int] | None) -> bool:
        """Still where it matters: inside the event box when there is one (someone walking elsewhere
        in the frame does not stand in front of the graffiti), else in the whole frame."""
        if motion is None:
            return False
        if box is None or frame_size is None or motion.changed is None:
            return motion.still
        return motion.moving_fraction_in(box, frame_size) <= self.still_fraction

    @staticmethod
    def _fraction(motion: MotionSample, box: Box | None, size: tuple[int, int]) -> float:
        return motion.moving_fraction if box is None else motion.moving_fraction_in(box, size)

    def offer(self, frame: np.ndarray, t_s: float, motion: MotionSample) -> None:
        if motion.still:
            self.latest_still = _Candidate(frame, t_s, motion.moving_fraction, motion)

    def still_picture(self, frame: np.ndarray, motion: MotionSample) -> np.ndarray:
        """The picture of a report that cannot wait (a cleaning, a commissioning report): this frame when
        it is still, else the latest still one."""
        still = self.latest_still
        return frame if motion.still or still is None else still.frame

    def pick(self, detection: Detection, frame: np.ndarray, t_s: float, motion: MotionSample,
             box: Box | None = None) -> np.ndarray | None:
        """The frame for a detection opened at ``t_s`` (graffiti visible since its ``hot_since_s``), or
        None: it waits (``poll``)."""
        size = (frame.shape[1], frame.shape[0])
        if self._still(motion, box, size):
            return frame
        latest = self.latest_still
        if latest is not None and latest.t_s >= detection.decision.hot_since_s and self._still(latest.motion, box, size):
            return latest.frame
        if self.wait_samples <= 0:
            return frame
        best = _Candidate(frame, t_s, self._fraction(motion, box, size), motion)
        self._waiting[detection.decision.key] = _Waiting(detection, box, size, best)
        return None

    def poll(self, frame: np.ndarray, t_s: float, motion: MotionSample) -> list[tuple[Detection, np.ndarray]]:
        """Waiting detections that now have their frame, oldest first (one call per later sample)."""
        ready: list[tuple[Detection, np.ndarray]] = []
        for key, w in list(self._waiting.items()):
            if w.best is None:  # adopted after a restart: released by ``release_adopted``
                continue
            if self._still(motion, w.box, w.frame_size):
                ready.append((w.detection, frame))
            else:
                size = w.frame_size or (frame.shape[1], frame.shape[0])
                fraction = self._fraction(motion, w.box, size)
                if fraction < w.best.moving_fraction:
                    w.best = _Candidate(frame, t_s, fraction, motion)
                if motion.still:
                    w.busy += 1
                else:
                    w.waited += 1
                if w.waited >= self.wait_samples or w.busy >= self.busy_wait_samples:
                    ready.append((w.detection, w.best.frame))
                else:
                    continue
            del self._waiting[key]
        return ready

    def take(self, key: int) -> Detection | None:
        """Stop waiting for detection ``key`` (its event closed first: it is reported now); None if not waiting."""
        w = self._waiting.pop(key, None)
        return None if w is None else w.detection

    def drop(self, keys: Iterable[int]) -> None:
        """Forget detections that will never be reported (an operator rejected their region)."""
        for key in keys:
            self._waiting.pop(key, None)

    def adopt(self, detections: Iterable[Detection]) -> None:
        """After a restart: the detections that were decided but not stored (replaces any waiting).
        ``release_adopted`` reports them with the first frame processed."""
        self._waiting = {d.decision.key: _Waiting(d, None, None, None) for d in detections}
        self._adopted = bool(self._waiting)

    def release_adopted(self, frame: np.ndarray) -> list[tuple[Detection, np.ndarray]]:
        """Once detections were adopted: every waiting detection, with ``frame`` (nothing otherwise)."""
        if not self._adopted:
            return []
        self._adopted = False
        ready = [(w.detection, frame) for w in self._waiting.values()]
        self._waiting.clear()
        return ready

    def flush(self) -> list[tuple[Detection, np.ndarray]]:
        """At shutdown: every waiting detection gets the stillest frame seen so far."""
        ready = [(w.detection, w.best.frame) for w in self._waiting.values() if w.best is not None]
        self._waiting = {k: w for k, w in self._waiting.items() if w.best is None}
        return ready

    @property
    def waiting(self) -> list[Detection]:
        """The detections waiting for their picture, oldest first (kept across a restart)."""
        return [w.detection for w in self._waiting.values()]
