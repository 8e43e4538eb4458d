"""Clean images flagged per kind (the hard-negatives table of ``graffiti eval``), on a hand-made
score table: photo scores and the tile scores of each photo shown as a camera view."""

from __future__ import annotations

import numpy as np

from detector.data.sample import Sample
from detector.train import metrics as m
from detector.train.kindfp import false_positives_by_kind, kind_lines
from detector.train.viewlevel import ViewScores, view_breakdown

THRESHOLD = 0.5
# (label, kind, photo score, tile scores of the view)
TABLE = [
    (0, "bike", 0.54, [0.2, 0.6, 0.1]),  # flagged both ways
    (0, "bike", 0.50, [0.1, 0.3, 0.2]),  # exactly at the threshold: flagged as a photo, not as a view
    (0, "bike", 0.10, [0.1, 0.1, 0.7]),  # one hot tile: flagged as a view only
    (0, "bike", 0.20, [0.2, 0.2, 0.2]),
    (0, "pipe", 0.30, [0.4, 0.45, 0.1]),
    (0, "pipe", 0.05, [0.1, 0.1, 0.1]),
    (0, "ir", 0.70, [0.8, 0.1, 0.1]),
    (1, "tag", 0.90, [0.9, 0.2, 0.1]),  # graffiti: no row in the clean table
]


def _table():
    samples = [Sample(path=f"p{i}.jpg", label=lab, group=str(i), source="synth-negatives", kind=kind)
               for i, (lab, kind, _, _) in enumerate(TABLE)]
    labels = [r[0] for r in TABLE]
    photo = m.breakdown(labels, [r[2] for r in TABLE], [s.kind for s in samples], THRESHOLD)
    views = ViewScores(samples=samples, tile_scores=[np.asarray(r[3]) for r in TABLE])
    return {k: v.to_dict() for k, v in photo.items()}, view_breakdown(views, THRESHOLD, "kind")


def test_counts_clean_images_at_or_over_the_threshold_per_kind() -> None:
    photo, view = _table()
    rows = {r.kind: r for r in false_positives_by_kind(photo, view)}
    assert set(rows) == {"bike", "pipe", "ir"}  # graffiti kinds have no clean images
    assert (rows["bike"].clean, rows["bike"].photo_flagged, rows["bike"].views, rows["bike"].view_flagged) == (4, 2, 4, 2)
    assert rows["bike"].photo_share == 0.5 and rows["bike"].view_share == 0.5
    assert (rows["pipe"].photo_flagged, rows["pipe"].view_flagged) == (0, 0)
    assert (rows["ir"].photo_share, rows["ir"].view_share) == (1.0, 1.0)


def test_most_flagged_kind_comes_first_and_views_are_optional() -> None:
    photo, _ = _table()
    rows = false_positives_by_kind(photo)
    assert [r.kind for r in rows] == ["ir", "bike", "pipe"]
    assert rows[0].views is None and rows[0].view_share is None
    text = kind_lines([r.to_dict() for r in rows], THRESHOLD)
    assert "bike" in text and "2/4 (50.0 %)" in text and "1/1 (100.0 %)" in text
