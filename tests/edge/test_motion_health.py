"""Motion gate and camera health (tamper) checks on generated frames (the evidence picture: test_evidence.py)."""

from __future__ import annotations

import numpy as np
import pytest

from detector.edge.config import HealthConfig, MotionConfig
from detector.edge.health import HealthMonitor
from detector.edge.motion import MotionDetector
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


def test_the_view_shift_is_the_same_on_every_sample_of_an_unchanged_view() -> None:
    """The health monitor keeps the phase correlation's window between samples; the reference view
    must come through each measurement unchanged (cv2.phaseCorrelate may window its inputs in place)."""
    import cv2

    rng = np.random.default_rng(4)
    view = cv2.resize(rng.integers(0, 256, (60, 80), dtype=np.uint8), (640, 480), interpolation=cv2.INTER_CUBIC)
    other = np.roll(view, 3, axis=1)
    mon = HealthMonitor(HealthConfig())
    assert mon.measure(view, True).shift_px is None  # the reference
    first = mon.measure(view, True).shift_px
    mon.measure(other, True)
    again = mon.measure(view, True).shift_px
    assert first is not None and again is not None
    assert first < 0.05 and again == pytest.approx(first, abs=1e-6)
