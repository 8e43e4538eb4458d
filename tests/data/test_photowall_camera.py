"""A real CCTV camera on the real-walls stream (detector.data.sim.photowall): JPEG block artefacts, exposure
hunting and the burned-in name and clock, drawn per sample and the same on every render of that sample; the day
itself unchanged."""

from __future__ import annotations

import cv2
import numpy as np

from detector.data.sim.photowall import PhotoWallStream

SIZE = (640, 360)


def _wall() -> np.ndarray:
    rng = np.random.default_rng(0)
    img = np.clip(120 + rng.normal(0, 6, (SIZE[1], SIZE[0], 3)), 0, 255).astype(np.uint8)
    cv2.putText(img, "SHOP 24", (60, 200), cv2.FONT_HERSHEY_SIMPLEX, 3.0, (30, 30, 200), 8)
    return img


def _blockiness(img: np.ndarray) -> float:
    """Mean jump across 8-px block borders over the mean jump elsewhere (1 for a picture without blocks)."""
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
    d = np.abs(np.diff(g, axis=1))
    at_border = d[:, 7::8].mean()
    inside = np.delete(d, np.s_[7::8], axis=1).mean()
    return float(at_border / inside)


def test_jpeg_frames_show_block_artefacts_and_keep_the_picture() -> None:
    plain = PhotoWallStream(_wall(), [], [], seed=5, size=SIZE)
    cheap = PhotoWallStream(_wall(), [], [], seed=5, size=SIZE, jpeg_quality=20)
    assert plain.day.people == cheap.day.people and plain.day.paint == cheap.day.paint
    t = 13 * 3600.0
    a, b = plain.frame_at(t, people=False), cheap.frame_at(t, people=False)
    assert _blockiness(b) > 1.2 * _blockiness(a)
    # compressed (the fine sensor noise goes), still the same wall: its 8-px block means agree
    means = [cv2.resize(x, (SIZE[0] // 8, SIZE[1] // 8), interpolation=cv2.INTER_AREA).astype(np.float32) for x in (a, b)]
    assert np.abs(means[0] - means[1]).mean() < 2.0
    assert np.array_equal(b, cheap.frame_at(t, people=False))  # the same sample renders the same


def test_exposure_hunts_per_sample_around_the_plain_exposure() -> None:
    plain = PhotoWallStream(_wall(), [], [], seed=5, size=SIZE)
    hunting = PhotoWallStream(_wall(), [], [], seed=5, size=SIZE, exposure_jitter=0.1)
    ratios = []
    for t in np.arange(13 * 3600.0, 13 * 3600.0 + 200, 5.0):
        a = plain.frame_at(float(t), people=False).astype(np.float32).mean()
        b = hunting.frame_at(float(t), people=False).astype(np.float32).mean()
        ratios.append(b / a)
        assert np.array_equal(hunting.frame_at(float(t), people=False), hunting.frame_at(float(t), people=False))
    r = np.array(ratios)
    assert 0.04 < r.std() < 0.16 and abs(r.mean() - 1.0) < 0.05


def test_the_burned_in_clock_changes_its_corner_every_second_and_nothing_else() -> None:
    plain = PhotoWallStream(_wall(), [], [], seed=5, size=SIZE, clock0_s=8 * 3600.0)
    cctv = PhotoWallStream(_wall(), [], [], seed=5, size=SIZE, osd=True, clock0_s=8 * 3600.0)
    t = 5 * 3600.0  # 13:00
    a, b, c = plain.frame_at(t, people=False), cctv.frame_at(t, people=False), cctv.frame_at(t + 1.0, people=False)
    changed = np.argwhere(np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2) > 40)
    assert len(changed) > 200  # white text with a black outline
    (_, x1), (y2, x2) = changed.min(axis=0), changed.max(axis=0)
    assert y2 < 0.08 * SIZE[1] and x1 < 0.05 * SIZE[0] and x2 < 0.6 * SIZE[0]  # one line, top left
    ticked = np.argwhere(np.abs(b.astype(np.int16) - c.astype(np.int16)).max(axis=2) > 40)
    assert len(ticked) > 0 and ticked[:, 0].max() < 0.08 * SIZE[1]  # the next second: only the clock differs
