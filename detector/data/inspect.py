"""``graffiti data inspect``: what is really in a dataset before anyone trains on it.

Decodes every image (unreadable and truncated files are listed, never fatal), counts labels, kinds,
sources, splits and groups, summarises image sizes, finds exact (sha256) and near (pHash) duplicates
and flags those that cross a split or a group (leaks that inflate validation scores), and draws a
contact sheet per label so a person can eyeball the labels.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from detector.data.sample import LABELS, Sample
from detector.errors import DatasetError

DEFAULT_PHASH_DISTANCE = 6  # bits of 64; measured on street-graffiti, see docs/data.md, "graffiti data inspect"
SHEET_COLS = 8
SHEET_CELL_PX = 160


@dataclass(frozen=True)
class DuplicatePair:
    """Two files with the same bytes (distance_bits 0, exact) or a near-identical picture."""

    a: str
    b: str
    exact: bool
    distance_bits: int
    cross_split: bool
    cross_group: bool
    cross_label: bool = False  # one labelled clean, the other graffiti: for an exact pair, one label is wrong


@dataclass
class InspectReport:
    """Everything ``inspect`` found; written as report.json next to the contact sheets."""

    dataset: str
    images: int
    readable: int
    labels: dict[str, int]
    kinds: dict[str, int]  # "label/kind" -> count
    sources: dict[str, int]
    splits: dict[str, int]
    groups: int
    groups_per_label: dict[str, int]
    region_kinds: dict[str, int]
    width_px: dict[str, float]  # min / median / max over readable images
    height_px: dict[str, float]
    common_sizes: list[tuple[str, int]]  # "WxH" -> count, most common first
    unreadable: list[str]
    exact_duplicates: list[DuplicatePair]
    near_duplicates: list[DuplicatePair]
    phash_max_distance_bits: int
    duplicates_crossing_splits: int
    duplicates_crossing_groups: int
    duplicates_crossing_labels: int = 0
    contact_sheets: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def _display_root(samples: Sequence[Sample]) -> str:
    parents = {os.path.dirname(str(s.path)) for s in samples}
    return os.path.commonpath(sorted(parents)) if parents else ""


def _pick_for_sheet(samples: Sequence[Sample], label: int, limit: int) -> list[int]:
    """Up to ``limit`` indices of a label, spread evenly over the (path-sorted) dataset; 0 = all."""
    idx = [i for i, s in enumerate(samples) if s.label == label]
    if limit <= 0 or len(idx) <= limit:
        return idx
    picks = np.linspace(0, len(idx) - 1, limit).round().astype(int)
    return [idx[p] for p in sorted(set(picks.tolist()))]


def _caption(s: Sample) -> str:
    """Kind first: the file stem is long and gets cut, the kind is what a person checks."""
    return f"{s.kind} {s.path.stem}" if s.kind else s.path.stem


def _stats(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    arr = np.asarray(values)
    return {"min": float(arr.min()), "median": float(np.median(arr)), "max": float(arr.max())}


def inspect_dataset(samples: Sequence[Sample], *, name: str, out_dir: Path | None,
                    phash_max_distance_bits: int = DEFAULT_PHASH_DISTANCE, sheet_max: int = 48,
                    show_progress: bool = True) -> InspectReport:
    """Decode and hash every image, then count, compare and draw. ``out_dir`` None writes nothing.

    ``sheet_max`` caps the thumbnails per label in the contact sheets (0 = every image, several
    sheets of 10 rows each); thumbnails are kept small so memory does not grow with image size.
    """
    import cv2

    from detector.data.contact import contact_sheet, write_png
    from detector.data.phash import phash
    from detector.preprocess import read_image

    if out_dir is not None:  # fail before decoding every image, not after
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatasetError(f"{out_dir}: cannot create the report folder --out ({exc.strerror})") from None
    root = _display_root(samples)

    def show(s: Sample) -> str:
        return os.path.relpath(str(s.path), root) if root else str(s.path)

    wanted = {i: lab for lab in range(len(LABELS)) for i in _pick_for_sheet(samples, lab, sheet_max)}
    thumbs: dict[int, np.ndarray] = {}
    sha: list[str] = [""] * len(samples)
    hashes = np.zeros(len(samples), dtype=np.uint64)
    readable = np.zeros(len(samples), dtype=bool)
    sizes: list[tuple[int, int]] = []
    unreadable: list[str] = []

    indices: Iterable[int] = range(len(samples))
    if show_progress:
        from rich.progress import track

        indices = track(indices, description=f"decoding {len(samples)} images", transient=True)
    for i in indices:
        s = samples[i]
        try:
            sha[i] = hashlib.sha256(Path(s.path).read_bytes()).hexdigest()
        except OSError:
            sha[i] = ""
        img = read_image(str(s.path))
        if img is None:
            unreadable.append(show(s))
            continue
        readable[i] = True
        sizes.append((int(img.shape[1]), int(img.shape[0])))
        hashes[i] = phash(img)
        if i in wanted:
            scale = SHEET_CELL_PX / max(img.shape[:2])
            thumbs[i] = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else img

    exact, near = _duplicates(samples, sha, hashes, readable, phash_max_distance_bits, show)
    all_pairs = exact + near
    labels = Counter(s.label_name for s in samples)
    group_labels: dict[str, set[str]] = defaultdict(set)
    for s in samples:
        group_labels[s.group].add(s.label_name)
    report = InspectReport(
        dataset=name,
        images=len(samples),
        readable=int(readable.sum()),
        labels={lab: labels.get(lab, 0) for lab in LABELS},
        kinds=dict(sorted(Counter(f"{s.label_name}/{s.kind or '-'}" for s in samples).items())),
        sources=dict(sorted(Counter(s.source for s in samples).items())),
        splits=dict(sorted(Counter(s.split or "unsplit" for s in samples).items())),
        groups=len(group_labels),
        groups_per_label={lab: sum(1 for v in group_labels.values() if lab in v) for lab in LABELS},
        region_kinds=dict(sorted(Counter(r.kind for s in samples for r in s.regions).items())),
        width_px=_stats([w for w, _ in sizes]),
        height_px=_stats([h for _, h in sizes]),
        common_sizes=[(f"{w}x{h}", n) for (w, h), n in Counter(sizes).most_common(5)],
        unreadable=unreadable,
        exact_duplicates=exact,
        near_duplicates=near,
        phash_max_distance_bits=phash_max_distance_bits,
        duplicates_crossing_splits=sum(p.cross_split for p in all_pairs),
        duplicates_crossing_groups=sum(p.cross_group for p in all_pairs),
        duplicates_crossing_labels=sum(p.cross_label for p in all_pairs),
    )
    if out_dir is not None:
        per_sheet = sheet_max if sheet_max > 0 else SHEET_COLS * 10
        for lab, lab_name in enumerate(LABELS):
            picked = [i for i in wanted if wanted[i] == lab and i in thumbs]
            for page, start in enumerate(range(0, len(picked), per_sheet)):
                chunk = picked[start:start + per_sheet]
                items = [(thumbs[i], _caption(samples[i])) for i in chunk]
                suffix = f"-{page + 1}" if len(picked) > per_sheet else ""
                sheet = write_png(out_dir / f"contact-{lab_name}{suffix}.png",
                                  contact_sheet(items, cols=SHEET_COLS, cell_px=SHEET_CELL_PX))
                report.contact_sheets.append(str(sheet))
        leaks = [p for p in all_pairs if p.cross_group or p.cross_split or p.cross_label][:32]
        if leaks:
            by_name = {show(s): s for s in samples}
            items = []
            for p in leaks:
                for n in (p.a, p.b):
                    img = read_image(str(by_name[n].path))
                    if img is not None:
                        items.append((img, f"{'=' if p.exact else p.distance_bits} {Path(n).stem[:26]}"))
            if items:
                sheet = write_png(out_dir / "duplicates.png", contact_sheet(items, cols=8, cell_px=SHEET_CELL_PX))
                report.contact_sheets.append(str(sheet))
        (out_dir / "report.json").write_text(report.to_json(), encoding="utf-8")
    return report


def _duplicates(samples: Sequence[Sample], sha: list[str], hashes: np.ndarray, readable: np.ndarray,
                max_bits: int, show: Callable[[Sample], str]) -> tuple[list[DuplicatePair], list[DuplicatePair]]:
    """Exact pairs (same sha256) and near pairs (pHash within ``max_bits``, different bytes)."""
    from detector.data.phash import hamming_pairs

    def pair(i: int, j: int, exact: bool, bits: int) -> DuplicatePair:
        a, b = samples[i], samples[j]
        return DuplicatePair(
            a=show(a), b=show(b), exact=exact, distance_bits=bits,
            cross_split=bool(a.split and b.split and a.split != b.split),
            cross_group=a.group != b.group,
            cross_label=a.label != b.label,
        )

    by_sha: dict[str, list[int]] = defaultdict(list)
    for i, digest in enumerate(sha):
        if digest:
            by_sha[digest].append(i)
    exact = [pair(ids[x], ids[y], True, 0) for ids in by_sha.values() if len(ids) > 1
             for x in range(len(ids)) for y in range(x + 1, len(ids))]
    idx = np.nonzero(readable)[0]
    near = [pair(int(idx[a]), int(idx[b]), False, d) for a, b, d in hamming_pairs(hashes[idx], max_bits)
            if sha[int(idx[a])] != sha[int(idx[b])]]
    return exact, near


def print_report(report: InspectReport) -> None:
    """The terminal view of a report: one summary table and one table of label/kind counts."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    summary = Table(title=f"dataset {report.dataset}", show_header=False)
    summary.add_column("what")
    summary.add_column("value", justify="right")
    total = max(report.images, 1)
    rows = [
        ("images", f"{report.images:,}"),
        ("readable", f"{report.readable:,}"),
        *((f"label {k}", f"{v:,} ({v / total:.1%})") for k, v in report.labels.items()),
        ("groups (distinct)", f"{report.groups:,}"),
        *((f"groups with {k}", f"{v:,}") for k, v in report.groups_per_label.items()),
        *((f"source {k}", f"{v:,}") for k, v in report.sources.items()),
        *((f"split {k}", f"{v:,}") for k, v in report.splits.items()),
        ("width px min/median/max", "/".join(f"{v:g}" for v in report.width_px.values()) or "-"),
        ("height px min/median/max", "/".join(f"{v:g}" for v in report.height_px.values()) or "-"),
        ("most common sizes", ", ".join(f"{s} ×{n}" for s, n in report.common_sizes) or "-"),
        ("unreadable / truncated", str(len(report.unreadable))),
        ("exact duplicate pairs", str(len(report.exact_duplicates))),
        (f"near-duplicate pairs (pHash ≤ {report.phash_max_distance_bits} bits)", str(len(report.near_duplicates))),
        ("duplicate pairs crossing groups", str(report.duplicates_crossing_groups)),
        ("duplicate pairs crossing splits", str(report.duplicates_crossing_splits)),
        ("duplicate pairs with different labels", str(report.duplicates_crossing_labels)),
    ]
    for what, value in rows:
        summary.add_row(what, value)
    console.print(summary)
    kinds = Table(title="kinds")
    kinds.add_column("label/kind")
    kinds.add_column("images", justify="right")
    for k, v in report.kinds.items():
        kinds.add_row(k, f"{v:,}")
    for k, v in report.region_kinds.items():
        kinds.add_row(f"region {k}", f"{v:,}")
    console.print(kinds)
    for path in report.unreadable[:20]:
        console.print(f"unreadable: {path}", markup=False)
    if len(report.unreadable) > 20:
        console.print(f"... and {len(report.unreadable) - 20} more in report.json")
    # Same bytes under two labels: one of them is wrong, and training would learn both. Listed first.
    for p in [p for p in report.exact_duplicates if p.cross_label][:20]:
        console.print(f"same image labelled clean and graffiti: {p.a} ~ {p.b}", markup=False)
    leaks = [p for p in report.exact_duplicates + report.near_duplicates
             if (p.cross_group or p.cross_split) and not (p.exact and p.cross_label)]
    for p in leaks[:20]:
        where = "split" if p.cross_split else "group"
        console.print(f"duplicate across {where} ({'exact' if p.exact else f'{p.distance_bits} bits'}): "
                      f"{p.a} ~ {p.b}", markup=False)
    for sheet in report.contact_sheets:
        console.print(f"contact sheet: {sheet}", markup=False)
