"""The picture a detection is shown with, and the detections that wait for one (``EvidencePicker``)."""

from __future__ import annotations

import numpy as np

from detector.edge.decision import Opened
from detector.edge.evidence import Detection, EvidencePicker
from detector.edge.motion import MotionSample
from detector.events import ModelRef

STILL, MOVING = MotionSample(0.0, True), MotionSample(0.2, False)
MODEL = ModelRef(name="m", version="1", sha256="0" * 64)


def detection(key: int, since_t_s: float = 0.0) -> Detection:
    """A detection opened on tile 0, graffiti visible since ``since_t_s``."""
    return Detection(Opened(key, since_t_s + 30.0, {0: 0.9}, 0.9, since_t_s, []), 1.7e9, MODEL)


def keys(ready: list[tuple[Detection, np.ndarray]]) -> list[int]:
    return [d.decision.key for d, _ in ready]


def test_event_opened_during_motion_uses_a_recent_still_frame_at_once() -> None:
    p = EvidencePicker(wait_samples=3)
    still_frame, busy = np.zeros((4, 4, 3), np.uint8), np.ones((4, 4, 3), np.uint8)
    p.offer(still_frame, 10.0, STILL)
    p.offer(busy, 15.0, MOVING)
    assert p.pick(detection(1, since_t_s=5.0), busy, 15.0, MOVING) is still_frame
    # ...but not a still frame from before the graffiti appeared:
    assert p.pick(detection(2, since_t_s=12.0), busy, 15.0, MOVING) is None
    assert [d.decision.key for d in p.waiting] == [2]


def test_event_opened_during_motion_waits_for_a_still_frame() -> None:
    p = EvidencePicker(wait_samples=3)
    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(4)]
    det = detection(1)
    assert p.pick(det, frames[0], 0.0, MOVING) is None
    assert p.poll(frames[1], 5.0, MOVING) == []
    ready = p.poll(frames[2], 10.0, STILL)
    assert len(ready) == 1 and ready[0][0] is det and ready[0][1] is frames[2]
    assert p.waiting == []


def test_event_takes_the_stillest_frame_when_motion_never_stops() -> None:
    p = EvidencePicker(wait_samples=2)
    a, b, c = (np.full((4, 4, 3), i, np.uint8) for i in range(3))
    assert p.pick(detection(1), a, 0.0, MotionSample(0.3, False)) is None
    assert p.poll(b, 5.0, MotionSample(0.1, False)) == []
    ready = p.poll(c, 10.0, MotionSample(0.2, False))
    assert keys(ready) == [1] and ready[0][1] is b


def test_event_waits_while_the_wall_in_its_box_keeps_changing_then_takes_the_clear_wall() -> None:
    # A writer standing still while painting: the frame as a whole is still, but inside the event box
    # the wall changes from sample to sample; the picture waits until the box stops changing.
    def sample(box_changing: bool, frame_moving: bool = False) -> MotionSample:
        changed = np.zeros((90, 160), bool)
        if box_changing:
            changed[30:35, 10:20] = True  # inside the box below (frame pixels 0-320 → mask columns 0-40)
        if frame_moving:
            changed[:, 100:160] = True
        frac = float(changed.mean())
        return MotionSample(frac, frac <= 0.005, changed)

    p = EvidencePicker(wait_samples=2, still_fraction=0.005, busy_wait_samples=10)
    frames = [np.full((720, 1280, 3), i, np.uint8) for i in range(5)]
    box = (0, 240, 320, 560)
    painting, leaving, clear = sample(True), sample(True, frame_moving=True), sample(False)
    assert painting.still and p.pick(detection(1), frames[0], 0.0, painting, box=box) is None
    assert p.poll(frames[1], 5.0, painting) == []
    assert p.poll(frames[2], 10.0, leaving) == []
    ready = p.poll(frames[3], 15.0, clear)
    assert keys(ready) == [1] and ready[0][1] is frames[3]
    # Without the box (whole-frame stillness only) the painting sample would have been taken at once.
    assert EvidencePicker(wait_samples=2).pick(detection(2), frames[0], 0.0, painting) is frames[0]


def test_someone_walking_elsewhere_in_the_frame_does_not_delay_the_picture() -> None:
    changed = np.zeros((90, 160), bool)
    changed[:, 100:160] = True  # a cyclist on the far side; nothing changes inside the event box
    busy_elsewhere = MotionSample(float(changed.mean()), False, changed)
    frame = np.zeros((720, 1280, 3), np.uint8)
    p = EvidencePicker(wait_samples=2, still_fraction=0.005)
    assert p.pick(detection(1), frame, 0.0, busy_elsewhere, box=(0, 240, 320, 560)) is frame


def test_a_detection_taken_or_dropped_is_never_handed_out_again() -> None:
    """One owner: an event that closed first (taken) or was rejected (dropped) leaves no waiting copy."""
    p = EvidencePicker(wait_samples=2)
    busy = np.ones((4, 4, 3), np.uint8)
    first, second = detection(1), detection(2)
    assert p.pick(first, busy, 0.0, MOVING) is None and p.pick(second, busy, 0.0, MOVING) is None
    assert p.take(1) is first and p.take(1) is None
    p.drop([2, 99])
    assert p.waiting == []
    assert p.poll(np.zeros((4, 4, 3), np.uint8), 5.0, STILL) == [] and p.flush() == []


def test_detections_adopted_after_a_restart_take_the_first_frame_with_those_waiting_then() -> None:
    p = EvidencePicker(wait_samples=3)
    restored = detection(4)
    p.adopt([restored])
    assert p.waiting == [restored]
    frame = np.zeros((4, 4, 3), np.uint8)
    assert p.poll(frame, 5.0, STILL) == []  # an adopted detection is not polled: it has seen no frame yet
    new = detection(5)
    assert p.pick(new, frame, 5.0, MOVING) is None
    ready = p.release_adopted(frame)
    assert keys(ready) == [4, 5] and all(f is frame for _, f in ready)
    assert p.release_adopted(frame) == [] and p.waiting == []


def test_adopting_nothing_releases_nothing_and_flush_keeps_the_adopted() -> None:
    p = EvidencePicker(wait_samples=3)
    p.adopt([])
    busy = np.ones((4, 4, 3), np.uint8)
    assert p.pick(detection(1), busy, 0.0, MOVING) is None
    assert p.release_adopted(busy) == []  # nothing was adopted: the new detection keeps waiting
    p.adopt([detection(2)])  # replaces what waited
    assert [d.decision.key for d in p.waiting] == [2]
    assert p.flush() == [] and [d.decision.key for d in p.waiting] == [2]  # kept for the saved state


def test_flush_gives_each_waiting_detection_its_stillest_frame() -> None:
    p = EvidencePicker(wait_samples=5)
    a, b = np.full((4, 4, 3), 1, np.uint8), np.full((4, 4, 3), 2, np.uint8)
    assert p.pick(detection(1), a, 0.0, MotionSample(0.3, False)) is None
    assert p.poll(b, 5.0, MotionSample(0.1, False)) == []
    ready = p.flush()
    assert keys(ready) == [1] and ready[0][1] is b and p.waiting == []


def test_a_report_that_cannot_wait_shows_the_latest_still_frame() -> None:
    p = EvidencePicker(wait_samples=3)
    busy, still_frame = np.ones((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint8)
    assert p.still_picture(busy, MOVING) is busy  # no still frame known yet
    p.offer(still_frame, 0.0, STILL)
    assert p.still_picture(busy, MOVING) is still_frame
    assert p.still_picture(busy, STILL) is busy
