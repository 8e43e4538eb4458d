"""Tiles mined between training rounds: the tiles of camera views a model reads hottest.

A model is judged on what the edge asks — "is any tile of this camera view graffiti?" — so its worst
mistakes on clean walls are single tiles: a busy shop sign, a pipe, a corner of lettering. This
module shows every clean training photo to a model the way the edge shows it a view
(:func:`detector.train.viewlevel.view_tiles`: stretched to 1280×720, cut into the edge's tiles), keeps
the hottest tiles (at most ``per_photo`` from one photo, at least ``min_score``) and writes them as a
dataset of their own: ``clean/*.jpg`` and a ``manifest.csv`` whose rows keep the parent photo's
group and split, so the next round trains on them without crossing a split (only the ``train``
split is mined unless asked otherwise: mining validation or test photos would leak them).

The same on graffiti photos (``label=GRAFFITI``) gives tile-scale positives: a graffiti photo has at
least one tile with paint, and the model's hottest tile is where it sees it (the max-pooling of
multiple-instance learning, done between rounds with the previous model as the tile picker). Hard
negatives alone are all at tile scale while graffiti photos are seen whole; without positives at the
same scale a model learns "a small crop of lettering is clean" and misses pieces cut into tiles.

numpy/cv2 and an ONNX session (or a checkpoint, with torch): ``graffiti data mine``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detector.data.sample import CLEAN, Sample
from detector.errors import DatasetError

MINED_SOURCE = "mined"
MINED_KIND = "mined-tile"
SHEET_MAX = 60  # tiles on the default contact sheet (the hottest)
SHEET_PAGE = 100  # tiles per sheet when every tile is shown (sheet_max=0)


@dataclass(frozen=True)
class MinedTile:
    score: float
    parent: Sample
    tile: int  # index in the view's tiles
    path: Path | None = None  # where it was written


@dataclass
class MineSummary:
    photos: int  # clean photos scored
    tiles: int  # tiles scored
    unreadable: list[Path]
    chosen: list[MinedTile]
    manifest: Path | None = None
    sheets: list[Path] = field(default_factory=list)  # every contact sheet written (see ``sheet_max``)
    score_quantiles: dict[str, float] = field(default_factory=dict)  # of every clean tile scored
    too_small: int = 0  # photos under the view's min_side_px (not camera views)


def choose_hottest(tile_scores: Sequence[np.ndarray], n: int, per_photo: int, min_score: float) -> list[tuple[float, int, int]]:
    """The ``n`` hottest tiles over all photos, at most ``per_photo`` from one photo and none under
    ``min_score``: ``(score, photo index, tile index)``, hottest first (ties: earlier photo, earlier tile)."""
    if n <= 0 or per_photo <= 0:
        return []
    candidates: list[tuple[float, int, int]] = []
    for p, scores in enumerate(tile_scores):
        s = np.asarray(scores, dtype=np.float64).reshape(-1)
        order = np.argsort(-s, kind="stable")[:per_photo]
        candidates += [(float(s[t]), p, int(t)) for t in order if s[t] >= min_score]
    return heapq.nsmallest(n, candidates, key=lambda c: (-c[0], c[1], c[2]))


def mine_tiles(samples: Sequence[Sample], scorer: Any, out_dir: Path, *, n: int, per_photo: int = 3,
               min_score: float = 0.0, splits: Sequence[str] = ("train",), source: str = MINED_SOURCE,
               view_spec: Any = None, progress: bool = True, label: int = CLEAN,
               on_written: Callable[[int], None] | None = None, sheet_max: int = SHEET_MAX) -> MineSummary:
    """Score the photos of ``label`` (clean, or graffiti) in ``splits`` as camera views; write the hottest
    tiles as a dataset of that label.

    Contact sheets: the ``sheet_max`` hottest tiles in ``mined.png``; ``sheet_max=0`` shows every tile,
    ``SHEET_PAGE`` to a sheet (``mined-1.png``, ``mined-2.png``, ...), so all of them can be looked at
    before training: a "clean" photo that shows paint gives its paint as a clean tile."""
    from detector.data.contact import write_jpeg
    from detector.data.manifest import write_manifest
    from detector.preprocess import read_image
    from detector.train.viewlevel import DEFAULT_MIN_SIDE_PX, ViewSpec, score_views, view_tiles

    if view_spec is None:  # a 320-px synthetic scene is one tile, not a camera view: not mined
        view_spec = ViewSpec(min_side_px=DEFAULT_MIN_SIDE_PX)
    word = "clean" if label == CLEAN else "graffiti"
    pool = [s for s in samples if s.label == label and (s.split or "") in set(splits)]
    if not pool:
        have = sorted({s.split or "(none)" for s in samples if s.label == label})
        raise DatasetError(f"no {word} photos in split(s) {', '.join(splits)} to mine (the {word} photos are in: "
                           f"{', '.join(have) or 'none'}); give --split, or split the dataset first")
    scored = score_views(pool, [scorer], view_spec, description=f"mining {word} tiles", progress=progress)[0]
    picked = choose_hottest(scored.tile_scores, n, per_photo, min_score)
    all_scores = np.concatenate(scored.tile_scores) if scored.tile_scores else np.zeros(0)
    quant = {f"p{q}": round(float(np.percentile(all_scores, q)), 4) for q in (50, 90, 99)} if all_scores.size else {}
    summary = MineSummary(photos=len(scored.samples), tiles=int(all_scores.size), unreadable=list(scored.unreadable),
                          chosen=[], score_quantiles=quant, too_small=scored.skipped_small)
    img_dir = out_dir / word
    try:
        img_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"{out_dir}: cannot create the output folder ({exc.strerror})") from None
    by_photo: dict[int, list[tuple[float, int]]] = {}
    for score, p, t in picked:
        by_photo.setdefault(p, []).append((score, t))
    rows: list[Sample] = []
    written: dict[tuple[int, int], MinedTile] = {}
    for p in sorted(by_photo):
        parent = scored.samples[p]
        img = read_image(str(parent.path))
        if img is None:  # it was readable a moment ago; report it and go on
            summary.unreadable.append(Path(parent.path))
            continue
        tiles = view_tiles(img, view_spec)
        for score, t in by_photo[p]:
            name = f"{_safe(parent.source)}-{_safe(Path(parent.path).stem)}-t{t:02d}.jpg"
            path = img_dir / name
            write_jpeg(path, tiles[t])
            rows.append(Sample(path=path, label=label, group=f"{parent.source}:{parent.group}", source=source,
                               split=parent.split, kind=MINED_KIND))
            written[(p, t)] = MinedTile(score, parent, t, path)
            if on_written is not None:
                on_written(len(written))
    summary.chosen = [written[(p, t)] for _s, p, t in picked if (p, t) in written]
    summary.manifest = write_manifest(rows, out_dir / "manifest.csv")
    summary.sheets = _sheets(summary.chosen, out_dir, sheet_max)
    return summary


def _safe(text: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "_" for c in text)
    return keep[:60] or "x"


def _sheets(chosen: Sequence[MinedTile], out_dir: Path, sheet_max: int) -> list[Path]:
    """Contact sheets of the mined tiles, hottest first, each captioned with its score and photo: the
    ``sheet_max`` hottest in ``mined.png``, or (``sheet_max=0``) every tile over numbered sheets."""
    from detector.data.contact import contact_sheet, write_png
    from detector.preprocess import read_image

    shown = list(chosen if sheet_max == 0 else chosen[:sheet_max])
    page = SHEET_PAGE if sheet_max == 0 else max(1, sheet_max)
    pages = [shown[i:i + page] for i in range(0, len(shown), page)]
    written = []
    for k, tiles in enumerate(pages, start=1):
        items = []
        for m in tiles:
            img = read_image(str(m.path)) if m.path is not None else None
            if img is not None:
                items.append((img, f"{m.score:.2f} {Path(m.parent.path).stem}"))
        if items:
            name = "mined.png" if len(pages) == 1 else f"mined-{k}.png"
            written.append(write_png(out_dir / name, contact_sheet(items, cols=10, cell_px=128)))
    return written
