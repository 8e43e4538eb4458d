"""View-level figures (a photo shown as an edge camera view, flagged when any tile is hot) and the
threshold choice on them, on hand-made score tables; tiling follows the edge's own defaults."""

from __future__ import annotations

import numpy as np
import pytest

from detector.data.sample import Sample
from detector.train.thresholds import choose_thresholds
from detector.train.viewlevel import ViewScores, ViewSpec, hottest_clean_views, view_metrics, view_tiles


def test_a_photo_becomes_the_edges_tiles_of_a_1280x720_view():
    from detector.edge.config import TilingConfig
    from detector.tiling import plan_tiles

    cfg = TilingConfig()
    expected = plan_tiles((1280, 720), cfg.tile_for((1280, 720)), cfg.overlap).tiles
    photo = np.zeros((400, 400, 3), dtype=np.uint8)
    photo[:, :200] = 255  # left half white: the first tile column is white after the stretch
    tiles = view_tiles(photo)
    assert len(tiles) == len(expected) == 15  # 5 columns x 3 rows of 320 px at overlap 0.25
    assert all(t.shape == (320, 320, 3) for t in tiles)
    assert tiles[0].min() == 255 and tiles[4].max() == 0  # top-left tile white, top-right tile black


def test_the_view_spec_follows_the_edge_tiling_defaults():
    from detector.edge.config import TilingConfig

    d = ViewSpec().to_dict()
    assert d["view_px"] == [1280, 720]
    assert (d["tile_px"], d["overlap"]) == (TilingConfig().tile_for((1280, 720)), TilingConfig().overlap)
    # another view size is cut as the edge cuts a frame of that size (tiles sized to it)
    assert ViewSpec(1920, 1080).to_dict()["tile_px"] == TilingConfig().tile_for((1920, 1080)) == 480


# Each row: tile scores of one photo's view. The photo-level score (whole photo) is not used here.
TABLE = [
    (0, [0.1, 0.2, 0.1]),  # clean, cold everywhere
    (0, [0.1, 0.7, 0.1]),  # clean, one warm tile (a pipe): a false alarm at 0.6, not at 0.8
    (0, [0.05, 0.05, 0.3]),
    (0, [0.2, 0.2, 0.2]),
    (1, [0.1, 0.9, 0.2]),  # graffiti in one tile
    (1, [0.65, 0.1, 0.1]),
    (1, [0.3, 0.3, 0.3]),  # faint: missed at 0.6
]


def _scored(table):
    samples = [Sample(path=f"p{i}.jpg", label=lab, group=str(i), source="s") for i, (lab, _) in enumerate(table)]
    return ViewScores(samples=samples, tile_scores=[np.asarray(t, dtype=np.float64) for _, t in table])


@pytest.mark.parametrize(
    ("threshold", "fp", "tp"),
    [pytest.param(0.6, 1, 2, id="0.6-warm-pipe-tile-alerts"),
     pytest.param(0.8, 0, 1, id="0.8-only-the-clear-piece"),
     pytest.param(0.3, 2, 3, id="0.3-a-tile-at-the-threshold-counts")],
)
def test_view_metrics_count_any_tile_at_or_over_the_threshold(threshold, fp, tp):
    scored = _scored(TABLE)
    m = view_metrics(scored.labels, scored.scores, threshold)
    assert (m.false_positives, m.detected) == (fp, tp)
    assert m.fpr == pytest.approx(fp / 4) and m.recall == pytest.approx(tp / 3)


def test_threshold_on_view_scores_keeps_the_view_false_positive_rate_under_the_budget():
    scored = _scored(TABLE)
    choice = choose_thresholds(scored.labels, scored.scores, max_fpr=0.0)
    # the hottest clean tile anywhere is 0.7: the threshold must be above it and at or below 0.9
    assert 0.7 < choice.threshold <= 0.9
    m = view_metrics(scored.labels, scored.scores, choice.threshold)
    assert m.false_positives == 0 and m.detected == 1
    # on the mean tile score (a whole-photo stand-in) the same policy would have let the pipe view alert
    mean_scores = np.asarray([np.mean(t) for _, t in TABLE])
    loose = choose_thresholds(scored.labels, mean_scores, max_fpr=0.0).threshold
    assert view_metrics(scored.labels, scored.scores, loose).false_positives >= 1


def test_hottest_clean_views_name_the_tile_that_alerts():
    rows = hottest_clean_views(_scored(TABLE), 2, 0.6)
    assert [(r["path"], r["tile"], r["flagged"]) for r in rows] == [("p1.jpg", 1, True), ("p2.jpg", 2, False)]
