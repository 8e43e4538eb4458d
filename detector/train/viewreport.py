"""The view-level part of ``graffiti eval``: figures at the model's threshold, what view-level
thresholding would choose on this data, and a per-photo CSV of view scores and the hottest tile."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from detector.data.sample import Sample
from detector.train.thresholds import suggest_thresholds
from detector.train.viewlevel import (
    ViewScores,
    ViewSpec,
    hottest_clean_views,
    score_views,
    view_breakdown,
    view_summary,
)

HOTTEST_N = 18



def write_view_csv(scored: ViewScores, threshold: float, path: Path) -> Path:
    """One row per photo shown as a camera view: its hottest tile's exact score (every digit, as in scores.csv)
    and whether the view is flagged at ``threshold``."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["path", "label", "view_score", "flagged", "hottest_tile", "tiles", "source", "kind", "split"])
        for sample, tiles in zip(scored.samples, scored.tile_scores, strict=True):
            hottest = float(tiles.max())
            w.writerow([sample.path, sample.label_name, repr(hottest), int(hottest >= threshold), int(tiles.argmax()),
                        tiles.size, sample.source, sample.kind or "", sample.split or ""])
    return path


def view_report(scorer: Any, samples: Sequence[Sample], threshold: float, target_precision: float | None,
                max_fpr: float | None, out_dir: Path, progress: bool = True,
                spec: ViewSpec | None = None) -> tuple[dict[str, Any], Path]:
    """Score ``samples`` as camera views (``spec``: the view size and tiles, default the edge's 1280x720 view);
    the report section and the written views.csv."""
    scored = score_views(samples, [scorer], spec, description="scoring camera views", progress=progress)[0]
    section = view_summary(scored, threshold, spec)
    section["by_kind"] = view_breakdown(scored, threshold, "kind")  # eval only: the model metadata stays short
    section["hottest_clean_views"] = hottest_clean_views(scored, HOTTEST_N, threshold)
    section["suggested_thresholds"] = suggest_thresholds(scored.labels, scored.scores, target_precision, max_fpr)
    return section, write_view_csv(scored, threshold, out_dir / "views.csv")
