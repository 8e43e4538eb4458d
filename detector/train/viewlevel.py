"""View-level scoring: a photo shown to the model the way the edge shows it a camera view.

The edge alerts when *any tile of a view* stays hot, so a model is judged (and thresholded) on
the hottest tile of each view, not on the whole photo squeezed to one input. Here a photo is
stretched to the edge's reference frame (1280×720), cut with :func:`detector.tiling.plan_tiles`
at the edge's default ``tile_px``/``overlap`` (``detector.tiling.DEFAULT_TILE_PX``/``DEFAULT_OVERLAP``, which the edge config defaults to,
never copied), each tile goes through the edge's numpy preprocessing, and the view score is the
maximum tile score. numpy/cv2 only: ``graffiti eval`` on an ONNX file stays torch-free, and MIL
training cuts its bags with the same function.

* view-level false-positive rate: the share of clean photos with any tile at or above the threshold;
* view-level recall: the share of graffiti photos with any tile at or above it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detector.data.sample import Sample
from detector.preprocess import preprocess_batch, read_image

VIEW_SIZE = (1280, 720)  # (width, height): the edge's reference camera frame
DEFAULT_MIN_SIDE_PX = 360  # export: smaller validation images (320-px synthetic scenes) are one tile, not a view


def edge_tiling() -> tuple[int, float]:
    """The edge's default (tile_px, overlap): the constants its config defaults to, so the two never drift apart."""
    from detector.tiling import DEFAULT_OVERLAP, DEFAULT_TILE_PX

    return int(DEFAULT_TILE_PX), float(DEFAULT_OVERLAP)


@dataclass(frozen=True)
class ViewSpec:
    """How a photo becomes a camera view and its tiles."""

    width: int = VIEW_SIZE[0]
    height: int = VIEW_SIZE[1]
    tile_px: int = 0  # 0 = the edge's default
    overlap: float = -1.0  # < 0 = the edge's default
    min_side_px: int = 0  # photos with a shorter side below this are skipped (a 320-px scene is one tile, not a view)

    def resolved(self) -> ViewSpec:
        from detector.tiling import tile_px_for

        _, overlap = edge_tiling()
        return ViewSpec(self.width, self.height, tile_px_for((self.width, self.height), self.tile_px or None),
                        overlap if self.overlap < 0 else self.overlap, self.min_side_px)

    def to_dict(self) -> dict[str, Any]:
        r = self.resolved()
        return {"view_px": [r.width, r.height], "tile_px": r.tile_px, "overlap": r.overlap,
                "min_side_px": r.min_side_px}


def as_view(image_bgr: np.ndarray, spec: ViewSpec) -> np.ndarray:
    """Stretch a photo to the view size (area resize when shrinking, linear when enlarging)."""
    from detector.tiling import stretch_to_view

    return stretch_to_view(image_bgr, (spec.width, spec.height))


def view_tiles(image_bgr: np.ndarray, spec: ViewSpec | None = None) -> list[np.ndarray]:
    """The edge's tiles of the photo shown as a camera view (frame pixels, not yet model-sized)."""
    from detector.tiling import cut_tiles, plan_tiles

    r = (spec or ViewSpec()).resolved()
    view = as_view(image_bgr, r)
    plan = plan_tiles((r.width, r.height), r.tile_px, r.overlap)
    return cut_tiles(view, plan)


@dataclass
class ViewScores:
    """Per photo: its tile scores; the view score is their maximum."""

    samples: list[Sample]
    tile_scores: list[np.ndarray]
    unreadable: list[Path] = field(default_factory=list)
    skipped_small: int = 0  # photos under ViewSpec.min_side_px

    @property
    def labels(self) -> np.ndarray:
        return np.asarray([s.label for s in self.samples], dtype=np.int64)

    @property
    def scores(self) -> np.ndarray:
        """View score = the hottest tile (what the edge alerts on)."""
        return np.asarray([float(t.max()) if t.size else 0.0 for t in self.tile_scores], dtype=np.float64)


def for_each_view(samples: Sequence[Sample], spec: ViewSpec | None, visit: Callable[[Sample, list[np.ndarray]], None],
                  *, description: str, progress: bool = True) -> tuple[list[Path], int]:
    """Decode each photo once, cut it into the edge's tiles of a camera view and hand them to ``visit``, with a
    progress bar; returns the unreadable photos (skipped; the caller reports them) and how many were smaller than
    ``spec.min_side_px`` (not shown as views)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from detector.train.scorers import progress_console

    min_side = (spec or ViewSpec()).min_side_px
    bad: list[Path] = []
    small = 0
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress, transient=True, console=progress_console()) as bar:
        task = bar.add_task(description, total=len(samples))
        for s in samples:
            img = read_image(str(s.path))
            if img is None:
                bad.append(Path(s.path))
            elif min(img.shape[:2]) < min_side:
                small += 1
            else:
                visit(s, view_tiles(img, spec))
            bar.advance(task)
    return bad, small


def score_views(samples: Sequence[Sample], scorers: Sequence[Any], spec: ViewSpec | None = None, *,
                batch_tiles: int = 60, description: str = "scoring views", progress: bool = True) -> list[ViewScores]:
    """Score every photo as a camera view with each scorer (images decoded and cut once)."""
    if not scorers:
        return []
    pre = scorers[0].preprocess
    kept: list[Sample] = []
    per: list[list[np.ndarray]] = [[] for _ in scorers]
    pending: list[np.ndarray] = []
    counts: list[int] = []

    def flush() -> None:
        if not pending:
            return
        batch = preprocess_batch(pending, pre)
        for i, scorer in enumerate(scorers):
            flat = scorer.score_batch(batch)
            start = 0
            for n in counts:
                per[i].append(np.asarray(flat[start:start + n], dtype=np.float64))
                start += n
        pending.clear()
        counts.clear()

    def visit(s: Sample, tiles: list[np.ndarray]) -> None:
        kept.append(s)
        pending.extend(tiles)
        counts.append(len(tiles))
        if len(pending) >= batch_tiles:
            flush()

    bad, small = for_each_view(samples, spec, visit, description=description, progress=progress)
    flush()
    return [ViewScores(samples=list(kept), tile_scores=p, unreadable=list(bad), skipped_small=small) for p in per]


@dataclass(frozen=True)
class ViewMetrics:
    """View-level figures at one threshold; rates are None when the class is absent."""

    threshold: float
    n_clean: int
    n_graffiti: int
    false_positives: int  # clean views with a tile >= threshold
    detected: int  # graffiti views with a tile >= threshold
    fpr: float | None
    recall: float | None
    auroc: float | None  # of the view score (max tile)
    tiles_per_view: float

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def view_metrics(labels: Sequence[int] | np.ndarray, view_scores: Sequence[float] | np.ndarray, threshold: float,
                 tiles_per_view: float = 0.0) -> ViewMetrics:
    """FPR/recall of 'any tile >= threshold' per view (``view_scores`` are the max tile scores)."""
    from detector.train.metrics import auroc

    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    s = np.asarray(view_scores, dtype=np.float64).reshape(-1)
    if y.shape != s.shape:
        raise ValueError(f"labels ({y.size}) and view scores ({s.size}) differ in length")
    flagged = s >= threshold
    n_clean, n_graffiti = int((y == 0).sum()), int((y == 1).sum())
    fp, tp = int((flagged & (y == 0)).sum()), int((flagged & (y == 1)).sum())
    return ViewMetrics(
        threshold=float(threshold), n_clean=n_clean, n_graffiti=n_graffiti, false_positives=fp, detected=tp,
        fpr=fp / n_clean if n_clean else None, recall=tp / n_graffiti if n_graffiti else None,
        auroc=auroc(y, s) if n_clean and n_graffiti else None, tiles_per_view=float(tiles_per_view),
    )


def view_breakdown(scored: ViewScores, threshold: float, key: str = "source") -> dict[str, dict[str, Any]]:
    """View-level metrics per source or per kind (``key``) for the eval report."""
    out: dict[str, dict[str, Any]] = {}
    y, s = scored.labels, scored.scores
    sources = np.asarray([getattr(x, key) or "(none)" for x in scored.samples])
    for name in sorted(set(sources.tolist())):
        mask = sources == name
        out[name] = view_metrics(y[mask], s[mask], threshold).to_dict()
    return out


def hottest_clean_views(scored: ViewScores, n: int, threshold: float) -> list[dict[str, Any]]:
    """The clean photos whose hottest tile scores highest (which tile, and whether it alerts)."""
    rows = [(float(t.max()), i, int(t.argmax())) for i, (smp, t) in enumerate(zip(scored.samples, scored.tile_scores,
                                                                                   strict=True))
            if smp.label == 0 and t.size]
    rows.sort(reverse=True)
    return [{"path": str(scored.samples[i].path), "score": sc, "tile": k, "flagged": sc >= threshold,
             "source": scored.samples[i].source} for sc, i, k in rows[:n]]


def view_summary(scored: ViewScores, threshold: float, spec: ViewSpec | None = None) -> dict[str, Any]:
    """What the eval report and the model metadata say about the view level at ``threshold``."""
    tiles = float(np.mean([t.size for t in scored.tile_scores])) if scored.tile_scores else 0.0
    return {
        "view": (spec or ViewSpec()).to_dict(),
        **view_metrics(scored.labels, scored.scores, threshold, tiles).to_dict(),
        "by_source": view_breakdown(scored, threshold),
        "photos": len(scored.samples),
        "skipped_small": scored.skipped_small,
        "unreadable": len(scored.unreadable),
    }
