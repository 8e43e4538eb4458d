"""The spider's web across the lens (detector.data.sim.photowall): spun at night, bright in IR, faint by day,
in its corner only, and the rest of the day unchanged by it."""

from __future__ import annotations

import numpy as np

from detector.data.sim.photowall import DAY_S, PhotoWallStream, is_ir, plan_web

SIZE = (640, 360)


def _wall() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.clip(120 + rng.normal(0, 6, (SIZE[1], SIZE[0], 3)), 0, 255).astype(np.uint8)


def test_a_web_is_spun_at_night_and_only_when_the_stream_holds_a_night() -> None:
    for seed in range(20):
        web = plan_web(seed, SIZE)
        assert web is not None and is_ir(web.start_s)
        assert web.start_s < web.built_s < web.gone_s <= DAY_S
        x1, y1, x2, y2 = web.box(SIZE)
        assert 0 <= x1 < x2 <= SIZE[0] and 0 <= y1 < y2 <= SIZE[1]
    # six hours from 08:00: no night hour, no web
    assert plan_web(1, SIZE, duration_s=6 * 3600.0, clock0_s=8 * 3600.0) is None


def test_the_web_changes_nothing_else_of_the_day() -> None:
    a = PhotoWallStream(_wall(), [_wall()], [], seed=5, size=SIZE)
    b = PhotoWallStream(_wall(), [_wall()], [], seed=5, size=SIZE, web=True)
    assert a.day.webs == [] and len(b.day.webs) == 1
    assert a.day.people == b.day.people and a.day.paint == b.day.paint and a.day.fixtures == b.day.fixtures
    web = b.day.webs[0]
    before = web.start_s - 5.0
    assert np.array_equal(a.frame_at(before, people=False), b.frame_at(before, people=False))


def test_the_web_is_bright_in_its_corner_at_night_and_faint_by_day() -> None:
    a = PhotoWallStream(_wall(), [], [], seed=5, size=SIZE)
    b = PhotoWallStream(_wall(), [], [], seed=5, size=SIZE, web=True)
    web = b.day.webs[0]
    x1, y1, x2, y2 = web.box(SIZE)
    night = next(t for t in np.arange(web.built_s, web.gone_s, 60.0) if is_ir(t))
    diff = b.frame_at(night, people=False).astype(np.int16) - a.frame_at(night, people=False).astype(np.int16)
    inside = np.zeros(diff.shape[:2], bool)
    inside[y1:y2, x1:x2] = True
    assert diff[inside].max() > 100  # lit by the IR lamp
    assert np.abs(diff[~inside]).max() == 0  # nothing outside its corner
    assert (diff[inside] >= 0).all()  # silk only adds light
    days = [t for t in np.arange(web.built_s, web.gone_s, 600.0) if not is_ir(t)]
    if days:  # still up by day: a faint grey
        d = b.frame_at(days[0], people=False).astype(np.int16) - a.frame_at(days[0], people=False).astype(np.int16)
        assert 5 < d[inside].max() <= 40


def test_the_web_is_built_in_steps_radials_first() -> None:
    from detector.data.sim.photowall import render_web

    web = plan_web(3, SIZE)
    assert web is not None
    silk = [float(render_web(web, p).sum()) for p in (0.0, 0.2, 0.5, 1.0)]
    assert silk[0] > 0 and silk == sorted(silk) and silk[3] > 1.5 * silk[1]


def test_a_swaying_web_moves_without_wrapping_round() -> None:
    from detector.data.sim.photowall import _shifted

    m = np.zeros((5, 5), np.float32)
    m[0, 0], m[4, 4] = 1.0, 2.0
    assert _shifted(m, 1, 1)[1, 1] == 1.0 and _shifted(m, 1, 1).sum() == 1.0  # the far corner moved out
    assert _shifted(m, -1, -1)[3, 3] == 2.0 and _shifted(m, -1, -1).sum() == 2.0
    assert np.array_equal(_shifted(m, 0, 0), m)
