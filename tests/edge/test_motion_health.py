"""Motion gate, evidence-frame choice, and camera health (tamper) checks on generated frames."""

from __future__ import annotations

import numpy as np
import pytest

from detector.edge.config import HealthConfig, MotionConfig
from detector.edge.health import HealthMonitor
from detector.edge.motion import EvidencePicker, MotionDetector, MotionSample
from tests.edge.edge_models import wall


def with_person(img: np.ndarray, x: int) -> np.ndarray:
    out = img.copy()
    out[40:220, x:x + 40] = (30, 40, 50)
    return out


def test_still_scene_is_still_and_a_walker_is_motion() -> None:
    det = MotionDetector(MotionConfig())
    base = wall(320, 240)
    assert det.update(base).still  # the first sample has nothing to compare with
    assert det.update(base.copy()).still
    moving = det.update(with_person(base, 100))
    assert not moving.still and moving.moving_fraction > 0.05
    assert not det.update(with_person(base, 160)).still
    assert not det.update(base).still  # the walker left: differs from the previous sample
    assert det.update(base).still


def test_sensor_noise_is_not_motion() -> None:
    det = MotionDetector(MotionConfig())
    assert det.update(wall(320, 240, seed=1)).still
    assert det.update(wall(320, 240, seed=2)).still  # same wall, different noise


STILL, MOVING = MotionSample(0.0, True), MotionSample(0.2, False)


def test_event_opened_during_motion_uses_a_recent_still_frame_at_once() -> None:
    p = EvidencePicker(wait_samples=3)
    still_frame, busy = np.zeros((4, 4, 3), np.uint8), np.ones((4, 4, 3), np.uint8)
    p.offer(still_frame, 10.0, STILL)
    p.offer(busy, 15.0, MOVING)
    assert p.pick(1, busy, 15.0, MOVING, since_t_s=5.0) is still_frame
    # ...but not a still frame from before the graffiti appeared:
    assert p.pick(2, busy, 15.0, MOVING, since_t_s=12.0) is None and p.pending == [2]


def test_event_opened_during_motion_waits_for_a_still_frame() -> None:
    p = EvidencePicker(wait_samples=3)
    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(4)]
    assert p.pick(1, frames[0], 0.0, MOVING, since_t_s=0.0) is None
    assert p.poll(frames[1], 5.0, MOVING) == {}
    ready = p.poll(frames[2], 10.0, STILL)
    assert list(ready) == [1] and ready[1] is frames[2]


def test_event_takes_the_stillest_frame_when_motion_never_stops() -> None:
    p = EvidencePicker(wait_samples=2)
    a, b, c = (np.full((4, 4, 3), i, np.uint8) for i in range(3))
    assert p.pick(1, a, 0.0, MotionSample(0.3, False), since_t_s=0.0) is None
    assert p.poll(b, 5.0, MotionSample(0.1, False)) == {}
    ready = p.poll(c, 10.0, MotionSample(0.2, False))
    assert ready[1] is b


def lit_wall() -> np.ndarray:
    """The test wall under a light falling off to one side (contrast that survives blurring)."""
    img = wall(320, 240).astype(np.float32)
    img += (np.arange(320, dtype=np.float32) / 320 * 60 - 30)[None, :, None]
    return np.clip(img, 0, 255).astype(np.uint8)


def dark(img: np.ndarray) -> np.ndarray:
    return (img * 0.05).astype(np.uint8)


def uniform(img: np.ndarray) -> np.ndarray:
    return np.full_like(img, 140)


def blurred(img: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(img, (0, 0), 4)  # out of focus, or a smeared lens


def moved(img: np.ndarray) -> np.ndarray:
    return np.roll(img, (60, 90), axis=(0, 1))


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [(dark, "dark"), (uniform, "uniform"), (blurred, "blurred"), (moved, "moved")],
    ids=["too_dark", "uniform", "blurred", "view_moved"],
)
def test_persistent_problem_reports_one_tamper_with_its_reason(spoil, reason: str) -> None:  # type: ignore[no-untyped-def]
    mon = HealthMonitor(HealthConfig(confirm_s=20, repeat_s=3600))
    base = lit_wall()
    for t in range(0, 30, 5):  # healthy first: this sets the reference view
        sample = mon.measure(base, still=True)
        assert sample.healthy, sample
        assert mon.update(float(t), sample) is None
    bad = spoil(base)
    reports = []
    for t in range(30, 300, 5):
        r = mon.update(float(t), mon.measure(bad, still=True))
        if r is not None:
            reports.append((t, r))
    assert len(reports) == 1, reports  # rate-limited: once per repeat_s
    t, report = reports[0]
    assert t == 50 and reason in report.reasons and report.detail["reason"] == ",".join(report.reasons)
    assert mon.tampered


def test_brief_problem_is_not_tamper_and_health_clears() -> None:
    mon = HealthMonitor(HealthConfig(confirm_s=20, repeat_s=3600))
    base = wall(320, 240)
    mon.update(0.0, mon.measure(base, True))
    assert mon.update(5.0, mon.measure(dark(base), True)) is None  # a headlight off / a hand over the lens
    assert mon.update(10.0, mon.measure(base, True)) is None
    for t in range(15, 60, 5):
        mon.update(float(t), mon.measure(dark(base), True))
    assert mon.tampered
    for t in range(60, 100, 5):
        mon.update(float(t), mon.measure(base, True))
    assert not mon.tampered


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
    assert painting.still and p.pick(1, frames[0], 0.0, painting, since_t_s=0.0, box=box) is None
    assert p.poll(frames[1], 5.0, painting) == {}
    assert p.poll(frames[2], 10.0, leaving) == {}
    ready = p.poll(frames[3], 15.0, clear)
    assert list(ready) == [1] and ready[1] is frames[3]
    # Without the box (whole-frame stillness only) the painting sample would have been taken at once.
    assert EvidencePicker(wait_samples=2).pick(2, frames[0], 0.0, painting, since_t_s=0.0) is frames[0]


def test_someone_walking_elsewhere_in_the_frame_does_not_delay_the_picture() -> None:
    changed = np.zeros((90, 160), bool)
    changed[:, 100:160] = True  # a cyclist on the far side; nothing changes inside the event box
    busy_elsewhere = MotionSample(float(changed.mean()), False, changed)
    frame = np.zeros((720, 1280, 3), np.uint8)
    p = EvidencePicker(wait_samples=2, still_fraction=0.005)
    assert p.pick(1, frame, 0.0, busy_elsewhere, since_t_s=0.0, box=(0, 240, 320, 560)) is frame
