"""Table tests of the pure decision logic (scores and times in, decisions out)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from detector.edge.decision import Closed, Decision, DecisionEngine, DecisionParams, Grown, Opened, WallPaint

# Four tiles: 0-1-2 in a row (neighbours), 3 far away. Samples every 5 s.
NEIGHBOURS = [frozenset({1}), frozenset({0, 2}), frozenset({1}), frozenset()]
PARAMS = DecisionParams(threshold=0.5, clean_threshold=0.2, floor=0.2, window=5, confirm_s=20.0, clean_s=60.0)
STEP_S = 5.0

Series = list[list[float]]  # one list of 4 tile scores per sample


def constant(n: int, scores: list[float]) -> Series:
    return [list(scores) for _ in range(n)]


def run(series: Series, accepted: tuple[int, ...] = (), params: DecisionParams = PARAMS) -> list[tuple[float, Decision]]:
    engine = DecisionEngine(params, NEIGHBOURS, accepted)
    out = []
    for i, scores in enumerate(series):
        t = i * STEP_S
        out.extend((t, d) for d in engine.update(t, scores))
    return out


def count(decisions: list[tuple[float, Decision]], kind: type) -> int:
    return sum(isinstance(d, kind) for _, d in decisions)


Z = [0.0, 0.0, 0.0, 0.0]
G0 = [0.9, 0.0, 0.0, 0.0]  # graffiti on tile 0


def flapping_after_detection() -> Series:
    # Detected, then the score swings between clean and hot every sample (shadows, headlights).
    return constant(10, G0) + [[0.9 if i % 2 else 0.1, 0, 0, 0] for i in range(60)]


def flapping_around_threshold() -> Series:
    return [[0.55 if i % 2 else 0.45, 0, 0, 0] for i in range(80)]


def persistent_then_dips() -> Series:
    # Persistent graffiti whose score dips below threshold (but not to clean) for a minute at a time.
    return constant(10, G0) + (constant(12, [0.35, 0, 0, 0]) + constant(12, G0)) * 3


CASES: list[tuple[str, Callable[[], Series], tuple[int, ...], tuple[int, int, int]]] = [
    # id, series, accepted tiles, expected (opened, grown, closed)
    ("empty_wall_opens_nothing", lambda: constant(40, Z), (), (0, 0, 0)),
    ("passerby_spike_opens_no_event", lambda: constant(5, Z) + constant(2, [0.95, 0.95, 0, 0]) + constant(30, Z), (), (0, 0, 0)),
    ("loiterer_for_20_s_opens_no_event", lambda: constant(5, Z) + constant(4, G0) + constant(30, Z), (), (0, 0, 0)),
    ("persistent_graffiti_opens_exactly_one", lambda: constant(60, G0), (), (1, 0, 0)),
    ("flapping_after_detection_opens_no_duplicate", flapping_after_detection, (), (1, 0, 0)),
    ("flapping_around_threshold_opens_at_most_nothing", flapping_around_threshold, (), (0, 0, 0)),
    ("dips_below_threshold_open_no_duplicate", persistent_then_dips, (), (1, 0, 0)),
    ("cleaning_closes_the_event", lambda: constant(10, G0) + constant(30, Z), (), (1, 0, 1)),
    ("repainted_after_cleaning_opens_a_new_event", lambda: constant(10, G0) + constant(30, Z) + constant(10, G0), (), (2, 0, 1)),
    ("accepted_region_never_alerts", lambda: constant(60, G0), (0,), (0, 0, 0)),
    ("neighbouring_tiles_join_one_event", lambda: constant(60, [0.9, 0.8, 0, 0]), (), (1, 0, 0)),
    ("neighbour_turning_hot_later_grows_the_event", lambda: constant(10, G0) + constant(20, [0.9, 0.9, 0.9, 0]), (), (1, 1, 0)),
    # join_s (300 s): a tile turning hot beside an event opened 6 min earlier is new graffiti, not the old paint spreading.
    ("new_graffiti_beside_an_old_event_opens_its_own", lambda: constant(80, G0) + constant(20, [0.9, 0.9, 0, 0]), (), (2, 0, 0)),
    ("cleaning_the_old_graffiti_leaves_the_new_one_open",
     lambda: constant(80, G0) + constant(20, [0.9, 0.9, 0, 0]) + constant(30, [0, 0.9, 0, 0]), (), (2, 0, 1)),
    ("separate_graffiti_opens_separate_events", lambda: constant(30, [0.9, 0, 0, 0.9]), (), (2, 0, 0)),
    ("scores_under_floor_count_as_zero", lambda: constant(40, [0.19, 0, 0, 0]),  (), (0, 0, 0)),
]


@pytest.mark.parametrize(("series", "accepted", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decision_table(series: Callable[[], Series], accepted: tuple[int, ...], expected: tuple[int, int, int]) -> None:
    decisions = run(series(), accepted)
    assert (count(decisions, Opened), count(decisions, Grown), count(decisions, Closed)) == expected


def test_event_opens_after_median_majority_plus_confirm_s() -> None:
    # window 5 → the median needs 3 hot samples (t=0,5,10 → hot at 10), then confirm_s 20 → opens at 30.
    decisions = run(constant(20, G0))
    (t, opened), = [(t, d) for t, d in decisions if isinstance(d, Opened)]
    assert t == 30.0
    assert isinstance(opened, Opened) and opened.hot_since_s == 10.0
    assert opened.tile_scores == {0: pytest.approx(0.9)}


def test_cleaned_event_closes_clean_s_after_the_median_falls() -> None:
    # Graffiti t=0..45; zeros from t=50: the median (window 5) is below 0.2 from the 3rd zero, t=60.
    decisions = run(constant(10, G0) + constant(30, Z))
    (t, closed), = [(t, d) for t, d in decisions if isinstance(d, Closed)]
    assert t == 60.0 + PARAMS.clean_s
    assert isinstance(closed, Closed) and closed.opened_t_s == 30.0


def test_neighbouring_tiles_are_one_event_with_both_tiles() -> None:
    decisions = run(constant(10, [0.9, 0.7, 0.0, 0.0]))
    opened = [d for _, d in decisions if isinstance(d, Opened)]
    assert len(opened) == 1 and set(opened[0].tile_scores) == {0, 1}
    assert opened[0].score == pytest.approx(0.9)


def test_accepting_a_tile_removes_it_from_an_open_event_silently() -> None:
    engine = DecisionEngine(PARAMS, NEIGHBOURS)
    for i in range(10):
        engine.update(i * STEP_S, G0)
    assert len(engine.open_keys) == 1
    engine.set_accepted({0})
    later = [d for i in range(10, 60) for d in engine.update(i * STEP_S, G0)]
    assert engine.open_keys == [] and later == []


def test_score_history_lists_recent_samples_of_the_event_tiles() -> None:
    decisions = run(constant(3, Z) + constant(10, [0.9, 0.6, 0, 0]))
    opened = next(d for _, d in decisions if isinstance(d, Opened))
    assert opened.score_history[-1] == (opened.t_s, pytest.approx(0.9))
    assert opened.score_history[0] == (0.0, 0.0)


def test_clock_stepping_back_does_not_reset_persistence() -> None:
    engine = DecisionEngine(PARAMS, NEIGHBOURS)
    times = [0, 5, 10, 15, 3, 25, 30, 35]  # one sample with a stale timestamp
    opened = [d for t in times for d in engine.update(float(t), G0) if isinstance(d, Opened)]
    assert len(opened) == 1 and opened[0].t_s == 30.0


def test_wrong_number_of_scores_is_rejected() -> None:
    with pytest.raises(ValueError, match="expected 4 tile scores"):
        DecisionEngine(PARAMS, NEIGHBOURS).update(0.0, [0.1])


@pytest.mark.parametrize(("present_s", "opens"), [(20, False), (35, False), (40, True), (600, True)],
                         ids=["20s", "35s", "40s", "10min"])
def test_with_default_settings_only_things_staying_over_35_s_open_an_event(present_s: int, opens: bool) -> None:
    # Defaults (as documented): 5 s samples, window 10, confirm_s 30.
    params = DecisionParams(threshold=0.5, clean_threshold=0.3)
    engine = DecisionEngine(params, [frozenset()])
    n = present_s // 5
    opened = [t for i in range(200) for t in [i * 5.0]
              for d in engine.update(t, [0.95 if 20 <= i < 20 + n else 0.0]) if isinstance(d, Opened)]
    assert opened == ([100.0 + 55.0] if opens else [])


def test_view_is_clean_only_without_fresh_paint_or_open_events() -> None:
    engine = DecisionEngine(PARAMS, NEIGHBOURS)
    assert not engine.is_clean()  # nothing seen yet
    engine.update(0.0, Z)
    assert engine.is_clean()
    engine.update(5.0, G0)  # fresh paint: the median is still low, but the latest score is high
    assert not engine.is_clean()
    for i in range(2, 12):
        engine.update(i * 5.0, G0)
    assert engine.open_keys and not engine.is_clean()


# Change information: two tiles side by side on a wall-block grid 12 blocks wide; tile 0 covers
# columns 0-6, tile 1 columns 5-11 (they overlap, as the edge's tiles do).
GRID_W = 12
TILE_CELLS = [frozenset(r * GRID_W + q for r in range(4) for q in range(0, 7)),
              frozenset(r * GRID_W + q for r in range(4) for q in range(5, 12))]


def _blocks(cols: range) -> frozenset[int]:
    return frozenset(r * GRID_W + q for r in (1, 2) for q in cols)


@pytest.mark.parametrize(("gap", "events"), [(0, 1), (1, 1), (2, 1), (3, 2), (4, 2)])
def test_a_change_a_block_or_two_from_an_open_event_is_the_same_piece(gap: int, events: int) -> None:
    """A piece enters the wall estimate patchily: a gap of up to join_gap_blocks (2) between its
    changed blocks and the open event's is the same paint; further away it is a new piece."""
    engine = DecisionEngine(PARAMS, [frozenset({1}), frozenset({0})], grid_width=GRID_W, tile_cells=TILE_CELLS)
    first, second = _blocks(range(0, 4)), _blocks(range(4 + gap, 4 + gap + 4))
    opened = 0
    for i in range(40):  # the first piece alone: tile 0 hot, its blocks changed
        opened += sum(isinstance(d, Opened) for d in engine.update(i * STEP_S, [0.9, 0.0], [first, frozenset()]))
    assert opened == 1
    for i in range(40, 80):  # then tile 1 turns hot with changed blocks `gap` columns to the right
        decisions = engine.update(i * STEP_S, [0.9, 0.9], [first, second])
        opened += sum(isinstance(d, Opened) for d in decisions)
    assert opened == events


# Settled tiles: with the wall model on, a tile whose wall is back to its commissioned baseline closes
# its event after settled_s (the wall estimate already waited for the change to stay), not clean_s.
SETTLED = DecisionParams(threshold=0.5, clean_threshold=0.2, floor=0.2, window=5, confirm_s=20.0, clean_s=60.0,
                         settled_s=15.0)


def _run_settled(samples: list[tuple[list[float], list[bool]]], params: DecisionParams = SETTLED,
                 engine: DecisionEngine | None = None, t0: int = 0) -> tuple[DecisionEngine, list[tuple[float, Decision]]]:
    engine = engine or DecisionEngine(params, NEIGHBOURS)
    out = []
    for i, (scores, settled) in enumerate(samples, start=t0):
        out.extend((i * STEP_S, d) for d in engine.update(i * STEP_S, scores, None, settled))
    return engine, out


NOT = [False] * 4
ALL = [True] * 4


@pytest.mark.parametrize(("after", "closes_at", "by_baseline"), [
    # the wall is back to its baseline from t=50 (the judge gates it to 0 then): closed settled_s after
    # that, once the median is below the clean threshold too (t=60)
    ([(Z, ALL)] * 30, 65.0, True),
    # scores clean but the wall still differs from its baseline (a ghost the model reads clean): clean_s
    ([(Z, NOT)] * 30, 60.0 + 60.0, False),
    # settled at t=50, 55; not at t=60 (a change in the estimate); settled again from t=65: closed at 80
    ([(Z, ALL)] * 2 + [(Z, NOT)] + [(Z, ALL)] * 30, 65.0 + 15.0, True),
])
def test_a_settled_event_closes_after_settled_s(after: list[tuple[list[float], list[bool]]], closes_at: float,
                                                by_baseline: bool) -> None:
    _, decisions = _run_settled([(G0, NOT)] * 10 + after)
    (t, closed), = [(t, d) for t, d in decisions if isinstance(d, Closed)]
    assert t == closes_at
    assert isinstance(closed, Closed) and closed.settled is by_baseline


def test_an_event_closes_settled_only_when_each_tile_is_settled_or_clean_for_clean_s() -> None:
    # tiles 0 and 1 form one event; from t=50 tile 0's wall is back to its baseline, tile 1 reads clean
    # but its wall still differs (a ghost): the event waits for tile 1's clean_s.
    both = [0.9, 0.9, 0.0, 0.0]
    _, decisions = _run_settled([(both, NOT)] * 10 + [(Z, [True, False, False, False])] * 30)
    assert [t for t, d in decisions if isinstance(d, Closed)] == [60.0 + 60.0]


def test_settled_time_is_kept_across_a_restart() -> None:
    engine, _ = _run_settled([(G0, NOT)] * 10 + [(Z, ALL)] * 2)  # settled since t=50, last sample t=55
    state = engine.export_state()
    fresh = DecisionEngine(SETTLED, NEIGHBOURS)
    assert fresh.restore_state(state, shift_s=0.0)
    _, decisions = _run_settled([(Z, ALL)] * 10, engine=fresh, t0=12)
    assert [t for t, d in decisions if isinstance(d, Closed)] == [65.0]


def test_without_settled_s_settled_flags_change_nothing() -> None:
    _, decisions = _run_settled([(G0, NOT)] * 10 + [(Z, ALL)] * 30, params=PARAMS)
    assert [t for t, d in decisions if isinstance(d, Closed)] == [60.0 + 60.0]


def test_wrong_number_of_settled_flags_is_rejected() -> None:
    with pytest.raises(ValueError, match="expected 4 settled flags"):
        DecisionEngine(SETTLED, NEIGHBOURS).update(0.0, Z, None, [True])


@pytest.mark.parametrize(("later_s", "view_switch", "still", "events"), [
    (200.0, False, True, 1),  # the event is young: a change a block from it is the same piece entering the wall
    (3600.0, False, True, 2),  # an hour later, nobody cleaned, the tag as painted: new paint beside it, its own event
    (3600.0, True, True, 1),  # an hour later, but just after a colour/IR switch: the same paint seen anew
    (3600.0, False, False, 1),  # an hour later, but the tag's blocks changed in the last minutes too (a crew in
    # front of it, a cleaning under way): the change around it is taken to be that work, not new paint
])
def test_a_change_beside_an_old_undisturbed_event_is_new_paint(
        later_s: float, view_switch: bool, still: bool, events: int) -> None:
    engine = DecisionEngine(SETTLED, [frozenset({1}), frozenset({0})], grid_width=GRID_W, tile_cells=TILE_CELLS)
    first, second = _blocks(range(0, 4)), _blocks(range(5, 9))  # one block apart
    alone = WallPaint(now=first, moved=frozenset())
    opened = 0
    t = 0.0
    while t < later_s:  # the first piece alone
        opened += sum(isinstance(d, Opened) for d in engine.update(t, [0.9, 0.0], [first, frozenset()], None, "grey",
                                                                     alone))
        t += STEP_S
    assert opened == 1
    view = "colour" if view_switch else "grey"
    both = WallPaint(now=first | second, moved=frozenset(second) if still else first | second)
    for _ in range(40):  # tile 1 turns hot with changed blocks beside the event's
        opened += sum(isinstance(d, Opened) for d in engine.update(t, [0.9, 0.9], [first, second], None, view, both))
        t += STEP_S
    assert opened == events


def test_a_tile_of_the_same_piece_read_hot_an_hour_later_joins_its_event() -> None:
    """One piece over tiles 0 and 1 (its changed blocks run unbroken from one into the other); the model
    reads only tile 0 hot at first. An hour later, nobody near it, tile 1 reads hot too (another light): its
    change is the piece's own, taken into the event while it was young, so it joins — no second alert.
    (Found on the real-walls benchmark, wall 45, 2026-12-01.)"""
    engine = DecisionEngine(SETTLED, [frozenset({1}), frozenset({0})], grid_width=GRID_W, tile_cells=TILE_CELLS)
    piece = _blocks(range(2, 10))  # cols 2-9: tile 0 holds 0-6, tile 1 holds 5-11
    cells = [piece & TILE_CELLS[0], piece & TILE_CELLS[1]]
    paint = WallPaint(now=piece, moved=frozenset())
    decisions: list[Decision] = []
    t = 0.0
    while t < 3600.0:
        decisions += engine.update(t, [0.9, 0.3], cells, None, "grey", paint)
        t += STEP_S
    for _ in range(40):
        decisions += engine.update(t, [0.9, 0.9], cells, None, "grey", paint)
        t += STEP_S
    assert sum(isinstance(d, Opened) for d in decisions) == 1
    assert any(isinstance(d, Grown) for d in decisions)


def test_without_knowing_what_changed_lately_a_change_beside_an_old_event_joins_it() -> None:
    """Not known what changed lately (just after a restart, or no wall model details): the safe side, one alert."""
    engine = DecisionEngine(SETTLED, [frozenset({1}), frozenset({0})], grid_width=GRID_W, tile_cells=TILE_CELLS)
    first, second = _blocks(range(0, 4)), _blocks(range(5, 9))
    decisions: list[Decision] = []
    t = 0.0
    while t < 3600.0:
        decisions += engine.update(t, [0.9, 0.0], [first, frozenset()], None, "grey")
        t += STEP_S
    for _ in range(40):
        decisions += engine.update(t, [0.9, 0.9], [first, second], None, "grey")
        t += STEP_S
    assert sum(isinstance(d, Opened) for d in decisions) == 1
    assert any(isinstance(d, Grown) for d in decisions)


def test_an_event_closes_when_its_own_paint_leaves_a_tile_another_open_event_keeps_hot() -> None:
    """A tag (tiles 0-1) and, beside it, a throw-up (its own event, tiles 1-2 share tile 1): the tag is
    cleaned, the throw-up stays. Tile 1 stays hot with the throw-up's paint, yet the tag event closes once
    its own blocks are back to the wall; the throw-up event stays open."""
    grid_w = 18
    tile_cells = [frozenset(r * grid_w + q for r in range(4) for q in range(a, a + 7)) for a in (0, 5, 10)]
    engine = DecisionEngine(SETTLED, [frozenset({1}), frozenset({0, 2}), frozenset({1})], grid_width=grid_w,
                            tile_cells=tile_cells)
    tag = frozenset(r * grid_w + q for r in (1, 2) for q in range(1, 6))  # tiles 0-1 (cols 5 in tile 1)
    throw = frozenset(r * grid_w + q for r in (1, 2) for q in range(9, 15))  # tiles 1-2
    decisions: list[Decision] = []

    def run(t0: float, t1: float, scores: list[float], now: frozenset[int]) -> float:
        t = t0
        cells = [now & c for c in tile_cells]
        paint = WallPaint(now=now, moved=frozenset())
        settled = [not c for c in cells]
        while t < t1:
            decisions.extend(engine.update(t, scores, cells, settled, "grey", paint))
            t += STEP_S
        return t

    t = run(0.0, 3600.0, [0.9, 0.9, 0.0], tag)
    t = run(t, 7200.0, [0.9, 0.9, 0.9], tag | throw)
    opened = [d for d in decisions if isinstance(d, Opened)]
    assert [sorted(d.tile_scores) for d in opened] == [[0, 1], [2]]
    cleaned_at = t
    t = run(t, t + 600.0, [0.1, 0.9, 0.9], throw)  # the tag is cleaned; tile 1 keeps the throw-up's paint
    closed = [d for d in decisions if isinstance(d, Closed)]
    assert [d.key for d in closed] == [opened[0].key]
    assert closed[0].settled
    assert closed[0].t_s - cleaned_at <= SETTLED.settled_s + 3 * STEP_S
    assert engine.open_keys == [opened[1].key]


def test_a_hot_tile_joins_the_event_it_borders_not_one_its_group_reaches_through_another() -> None:
    """Tiles 0-1-2-3 in a row. A tag (event A, tiles 0-1) and a throw-up (event B, tile 2) are open; B's paint
    reaches into tile 3, which turns hot later (seen anew after a lighting change). All four tiles are one hot
    group, but tile 3 borders only B: it joins B — not A, which came first and was being cleaned."""
    grid_w = 20
    tile_cells = [frozenset(r * grid_w + q for r in range(4) for q in range(a, a + 7)) for a in (0, 4, 8, 12)]
    neighbours = [frozenset({1}), frozenset({0, 2}), frozenset({1, 3}), frozenset({2})]
    engine = DecisionEngine(SETTLED, neighbours, grid_width=grid_w, tile_cells=tile_cells)
    tag = frozenset(r * grid_w + q for r in (1, 2) for q in range(1, 5))
    throw = frozenset(r * grid_w + q for r in (1, 2) for q in range(12, 15))  # tiles 2 and 3 overlap here
    decisions: list[Decision] = []

    def run(t0: float, t1: float, scores: list[float], now: frozenset[int], moved: frozenset[int]) -> float:
        t, cells = t0, [now & c for c in tile_cells]
        while t < t1:
            decisions.extend(engine.update(t, scores, cells, None, "grey", WallPaint(now, moved)))
            t += STEP_S
        return t

    t = run(0.0, 3600.0, [0.9, 0.9, 0.0, 0.0], tag, frozenset())
    t = run(t, 7200.0, [0.9, 0.9, 0.9, 0.0], tag | throw, frozenset())
    opened = [d for d in decisions if isinstance(d, Opened)]
    assert [sorted(d.tile_scores) for d in opened] == [[0, 1], [2]]
    run(t, t + 300.0, [0.9, 0.9, 0.9, 0.9], tag | throw, tag)  # the tag is being cleaned (disturbed)
    grown = [d for d in decisions if isinstance(d, Grown)]
    assert [(d.key, sorted(d.added)) for d in grown] == [(opened[1].key, [3])]
    assert sum(isinstance(d, Opened) for d in decisions) == 2


@pytest.mark.parametrize(("bridge", "events"), [(True, 1), (False, 2)])
def test_one_piece_across_tiles_that_are_not_neighbours_is_one_event(bridge: bool, events: int) -> None:
    """Tiles 0-1-2 in a row; 0 and 2 do not touch. A writer paints from tile 0 to tile 2 standing in front of it:
    tile 0's event opens while painting; tile 2 turns hot while tile 1, between them, has not been read hot yet
    (its median still filling). When the changed blocks run unbroken from the event's into tile 2 it is the same
    piece (one alert, real walls: wall 23); with clean wall between them it is a piece of its own."""
    grid_w = 20
    tile_cells = [frozenset(r * grid_w + q for r in range(4) for q in range(a, a + 7)) for a in (0, 6, 12)]
    engine = DecisionEngine(SETTLED, [frozenset({1}), frozenset({0, 2}), frozenset({1})], grid_width=grid_w,
                            tile_cells=tile_cells)
    left = frozenset(r * grid_w + q for r in (1, 2) for q in range(1, 6))
    middle = frozenset(r * grid_w + q for r in (1, 2) for q in range(6, 13))
    right = frozenset(r * grid_w + q for r in (1, 2) for q in range(13, 18))
    decisions: list[Decision] = []

    def run(t0: float, t1: float, scores: list[float], now: frozenset[int]) -> float:
        t, cells = t0, [now & c for c in tile_cells]
        while t < t1:  # the writer in front: the painted blocks changed lately
            decisions.extend(engine.update(t, scores, cells, None, "grey", WallPaint(now, now)))
            t += STEP_S
        return t

    t = run(0.0, 320.0, [0.9, 0.0, 0.0], left)
    t = run(t, t + 60.0, [0.9, 0.0, 0.9], left | right | (middle if bridge else frozenset()))
    assert sum(isinstance(d, Opened) for d in decisions) == events
    if bridge:
        assert [sorted(d.added) for d in decisions if isinstance(d, Grown)] == [[2]]


def test_a_tile_the_events_paint_left_keeps_counting_across_a_restart() -> None:
    """The tag's paint left the shared tile 10 s before a restart: the restored engine closes the event at
    the same source time as one that never stopped (``cleared_since`` is part of the saved state)."""
    grid_w = 18
    tile_cells = [frozenset(r * grid_w + q for r in range(4) for q in range(a, a + 7)) for a in (0, 5, 10)]
    neighbours = [frozenset({1}), frozenset({0, 2}), frozenset({1})]
    tag = frozenset(r * grid_w + q for r in (1, 2) for q in range(1, 6))
    throw = frozenset(r * grid_w + q for r in (1, 2) for q in range(9, 15))

    def feed(engine: DecisionEngine, t0: float, t1: float, scores: list[float], now: frozenset[int]) -> list[Decision]:
        cells = [now & c for c in tile_cells]
        out: list[Decision] = []
        t = t0
        while t < t1:
            out += engine.update(t, scores, cells, [not c for c in cells], "grey", WallPaint(now, frozenset()))
            t += STEP_S
        return out

    def make() -> DecisionEngine:
        return DecisionEngine(SETTLED, neighbours, grid_width=grid_w, tile_cells=tile_cells)

    steady, restarted = make(), make()
    for engine in (steady, restarted):
        feed(engine, 0.0, 3600.0, [0.9, 0.9, 0.0], tag)
        feed(engine, 3600.0, 7200.0, [0.9, 0.9, 0.9], tag | throw)
        feed(engine, 7200.0, 7210.0, [0.1, 0.9, 0.9], throw)
    fresh = make()
    assert fresh.restore_state(json.loads(json.dumps(restarted.export_state())))
    closed = {name: [d.t_s for d in feed(e, 7210.0, 7600.0, [0.1, 0.9, 0.9], throw) if isinstance(d, Closed)]
              for name, e in (("steady", steady), ("restored", fresh))}
    assert closed["steady"] and closed["steady"] == closed["restored"]


def test_an_event_does_not_close_on_a_tile_its_own_paint_left_when_nothing_else_explains_the_heat() -> None:
    """The event's remembered blocks are gone from tile 1, but tile 1 holds a change no other event owns:
    the event stays open (its paint may have moved in the wall estimate, or be more than it remembered)."""
    grid_w = 18
    tile_cells = [frozenset(r * grid_w + q for r in range(4) for q in range(a, a + 7)) for a in (0, 5)]
    engine = DecisionEngine(SETTLED, [frozenset({1}), frozenset({0})], grid_width=grid_w, tile_cells=tile_cells)
    tag = frozenset(r * grid_w + q for r in (1, 2) for q in range(1, 7))
    other = frozenset(r * grid_w + q for r in (1, 2) for q in range(9, 12))
    t = 0.0
    decisions: list[Decision] = []
    for now, scores, until in ((tag, [0.9, 0.9], 3600.0), (other, [0.1, 0.9], 4800.0)):
        cells = [now & c for c in tile_cells]
        while t < until:
            decisions += engine.update(t, scores, cells, [not c for c in cells], "grey", WallPaint(now, frozenset()))
            t += STEP_S
    assert sum(isinstance(d, Opened) for d in decisions) == 1
    assert not any(isinstance(d, Closed) for d in decisions)


def test_the_view_and_its_start_are_kept_across_a_restart() -> None:
    engine = DecisionEngine(SETTLED, NEIGHBOURS)
    engine.update(0.0, Z, None, None, "grey")
    engine.update(5.0, Z, None, None, "colour")
    fresh = DecisionEngine(SETTLED, NEIGHBOURS)
    assert fresh.restore_state(engine.export_state(), shift_s=100.0)
    assert (fresh._view, fresh._view_since) == ("colour", 105.0)
