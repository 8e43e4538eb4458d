"""Events and their evidence pictures (JPEG bytes) as the review service expects them.

Evidence roles: ``frame`` (the full frame, unannotated — the review page draws the tile boxes from
the event), ``crop`` (the event's box with a margin) and, when known, ``reference`` (the camera's
last still, clean view, so an operator can compare before and after).

Event ids are derived, not drawn: ``uuid5`` of the device, camera, source, event type, the source's
time of the decision and the tile group (:func:`event_id`). Processing the same recording again, from
scratch or after a crash, gives the same ids, and the review service stores each id once (a
repeated id is answered "duplicate"), so a replay never reports the same graffiti twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

import numpy as np

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
