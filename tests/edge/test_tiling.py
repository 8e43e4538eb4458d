"""Tiling: every watched pixel is in a tile, ignored areas are painted grey, neighbours are found."""

from __future__ import annotations

import numpy as np
import pytest

from detector.errors import ConfigError
from detector.tiling import MASK_GREY, cut_tiles, masked_frame, parse_frame_size, plan_tiles, tiles_in_regions

Box = tuple[int, int, int, int]


def covered(plan_tiles_: list, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    cov = np.zeros((h, w), dtype=bool)
    for t in plan_tiles_:
        x1, y1, x2, y2 = t.xyxy
        cov[y1:y2, x1:x2] = True
    return cov


@pytest.mark.parametrize(
    ("size", "tile_px", "overlap"),
    [((1280, 720), 320, 0.25), ((640, 480), 320, 0.0), ((333, 211), 64, 0.5), ((200, 100), 320, 0.25)],
    ids=["hd_default", "vga_no_overlap", "odd_size_half_overlap", "frame_smaller_than_tile"],
)
def test_tiles_cover_the_whole_frame_and_stay_inside_it(size: tuple[int, int], tile_px: int, overlap: float) -> None:
    plan = plan_tiles(size, tile_px, overlap)
    w, h = size
    assert covered(plan.tiles, size).all()
    for t in plan.tiles:
        x1, y1, x2, y2 = t.xyxy
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        assert x2 - x1 == min(tile_px, w) and y2 - y1 == min(tile_px, h)
    assert [t.index for t in plan.tiles] == list(range(len(plan.tiles)))


def test_default_tiling_of_a_720p_frame_overlaps_by_a_quarter() -> None:
    plan = plan_tiles((1280, 720), 320, 0.25)
    xs = sorted({t.xyxy[0] for t in plan.tiles})
    ys = sorted({t.xyxy[1] for t in plan.tiles})
    assert xs == [0, 240, 480, 720, 960] and ys == [0, 240, 400]  # the last row is flush with the bottom


def test_watch_polygon_limits_tiles_and_every_watched_pixel_is_covered() -> None:
    size = (1280, 720)
    watch = [[(100, 400), (700, 400), (700, 700), (100, 700)]]
    plan = plan_tiles(size, 320, 0.25, watch=watch)
    full = plan_tiles(size, 320, 0.25)
    assert 0 < len(plan.tiles) < len(full.tiles)
    cov = covered(plan.tiles, size)
    assert cov[plan.mask > 0].all()
    assert plan.mask[500, 400] == 255 and plan.mask[100, 1000] == 0


def test_ignored_area_is_painted_grey_before_scoring_and_the_input_is_untouched() -> None:
    size = (320, 240)
    frame = np.full((240, 320, 3), 200, dtype=np.uint8)
    ignore = [[(0, 0), (100, 0), (100, 100), (0, 100)]]
    plan = plan_tiles(size, 64, 0.25, ignore=ignore)
    out = masked_frame(frame, plan)
    assert (out[10, 10] == MASK_GREY).all() and (out[200, 300] == 200).all()
    assert (frame == 200).all()
    # Tiles entirely inside the ignored area are not scored at all.
    assert all(not (t.xyxy[2] <= 100 and t.xyxy[3] <= 100) for t in plan.tiles)
    tiles = cut_tiles(out, plan)
    assert len(tiles) == len(plan.tiles) and tiles[0].shape == (64, 64, 3)


def test_nothing_watched_gives_no_tiles() -> None:
    plan = plan_tiles((320, 240), 64, 0.25, ignore=[[(0, 0), (320, 0), (320, 240), (0, 240)]])
    assert plan.tiles == [] and cut_tiles(np.zeros((240, 320, 3), np.uint8), plan) == []


def test_neighbours_are_tiles_that_overlap_or_touch() -> None:
    plan = plan_tiles((960, 320), 320, 0.5)  # x starts 0, 160, 320, 480, 640; one row
    assert [t.xyxy[0] for t in plan.tiles] == [0, 160, 320, 480, 640]
    assert plan.neighbours[0] == {1, 2}  # tile 2 starts where tile 0 ends: touching counts
    assert plan.neighbours[2] == {0, 1, 3, 4}
    assert 0 not in plan.neighbours[3]


@pytest.mark.parametrize(
    ("fraction", "expected"),
    [(0.5, {0}), (0.2, {0, 1}), (1.0, set())],
    ids=["mostly_inside", "low_bar_takes_partly_covered", "full_cover_required"],
)
def test_tiles_mostly_inside_accepted_regions(fraction: float, expected: set[int]) -> None:
    plan = plan_tiles((200, 100), 100, 0.0)  # two tiles: x 0-100 and 100-200
    accepted = [[(0, 0), (125, 0), (125, 90), (0, 90)]]  # 90% of tile 0, 22.5% of tile 1
    assert tiles_in_regions(plan, accepted, fraction) == expected


def test_one_resize_of_the_frame_scores_like_resizing_each_tile() -> None:
    """scaled_tiles (one area resize of the frame, then slices) against today's per-tile resize, with
    the bundled model on a textured wall with paint: the scores agree within 0.03."""
    import cv2

    from detector.bundled import find_bundled_model
    from detector.onnxmodel import ModelSession
    from detector.tiling import cut_tiles, plan_tiles, scaled_frame, scaled_tiles

    rng = np.random.default_rng(3)
    base = cv2.resize(rng.normal(128, 45, (45, 80, 3)).clip(0, 255).astype(np.uint8), (1280, 720),
                      interpolation=cv2.INTER_CUBIC)
    frame = np.clip(base.astype(np.int16) + rng.integers(-6, 7, base.shape), 0, 255).astype(np.uint8)
    for k in range(9):  # a tag across two tiles
        cv2.line(frame, (300 + 40 * k, 200), (330 + 40 * k, 330), (30, 30, 220), 9)
    cv2.putText(frame, "KREW", (620, 520), cv2.FONT_HERSHEY_DUPLEX, 3.0, (200, 40, 200), 12)
    sess = ModelSession(find_bundled_model(), threads=1)
    plan = plan_tiles((1280, 720), 320, 0.25)
    scaled = scaled_tiles(frame, plan, sess.spec.input_size)
    assert all(t.shape[:2] == sess.spec.input_size for t in scaled)
    per_tile = sess.score(cut_tiles(frame, plan))
    one_resize = sess.score(scaled)
    assert np.abs(per_tile - one_resize).max() <= 0.03, (per_tile, one_resize)
    assert (per_tile >= sess.meta.threshold).tolist() == (one_resize >= sess.meta.threshold).tolist()
    # what the edge runs: the scaled frame normalised once and its windows gathered — the same scores
    small, corners = scaled_frame(frame, plan, sess.spec.input_size)
    assert np.abs(sess.score_windows(small, corners) - one_resize).max() <= 1e-4


def test_scaled_tiles_fall_back_to_frame_scale_for_tiles_of_several_sizes() -> None:
    from detector.tiling import Tile, TilePlan, scaled_tiles

    frame = np.zeros((100, 200, 3), np.uint8)
    plan = TilePlan((200, 100), [Tile(0, (0, 0, 100, 100)), Tile(1, (100, 0, 200, 60))], np.full((100, 200), 255, np.uint8))
    tiles = scaled_tiles(frame, plan, (50, 50))
    assert [t.shape[:2] for t in tiles] == [(100, 100), (60, 100)]


@pytest.mark.parametrize(("text", "size"), [("1280x720", (1280, 720)), ("1920X1080", (1920, 1080)),
                                            ("640×360", (640, 360)), (" 160x120 ", (160, 120))])
def test_frame_sizes_are_read_in_every_spelling_a_user_types(text: str, size: tuple[int, int]) -> None:
    assert parse_frame_size(text) == size


@pytest.mark.parametrize(("text", "words"), [("1920", "expected WIDTHxHEIGHT"), ("axb", "expected WIDTHxHEIGHT"),
                                             ("1280x720x3", "expected WIDTHxHEIGHT"), ("-5x100", "expected WIDTHxHEIGHT"),
                                             ("100x100", "between 160x120 and 8192x8192"),
                                             ("9000x720", "between 160x120 and 8192x8192")])
def test_a_malformed_frame_size_is_one_error_naming_the_option(text: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_frame_size(text, "--view-size")
    message = str(info.value)
    assert message.startswith(f"--view-size {text}: ") and words in message and "\n" not in message
