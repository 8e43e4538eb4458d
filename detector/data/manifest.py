"""The manifest CSV: the project's own dataset format (splits, review exports, synthetic sets).

Header ``path,label,group,split,source,kind,regions``; only ``path`` and ``label`` are required.
Paths are relative to the manifest's folder so a dataset folder can be moved as a whole. Every
problem is reported as a DatasetError naming the file and the line, because a manifest is usually
written by a program and the line is the quickest way to find the bug in that program.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path

from detector.data.names import SPLIT_NAMES, absolute, default_group, parse_label, read_text
from detector.data.sample import LABELS, Region, Sample
from detector.errors import DatasetError

COLUMNS = ("path", "label", "group", "split", "source", "kind", "regions")
# Read and ignored: ``sha256`` (file hashes in a model's committed split manifests, see detector/leakguard.py).
IGNORED_COLUMNS = ("sha256",)
REQUIRED = ("path", "label")


def _parse_regions(text: str, where: str) -> tuple[Region, ...]:
    """The ``regions`` cell: a JSON list of {"kind", "xyxy": [x1,y1,x2,y2] pixels, "label": 0|1}."""
    if not text.strip():
        return ()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{where}: column 'regions' is not valid JSON ({exc.msg})") from None
    if not isinstance(data, list):
        raise DatasetError(f"{where}: column 'regions' must be a JSON list, found {type(data).__name__}")
    regions = []
    for i, item in enumerate(data):
        field = f"{where}: regions[{i}]"
        if not isinstance(item, dict):
            raise DatasetError(f"{field} must be an object with kind, xyxy, label")
        unknown = set(item) - {"kind", "xyxy", "label"}
        if unknown:
            raise DatasetError(f"{field} has unknown key(s) {sorted(unknown)}; expected kind, xyxy, label")
        kind = item.get("kind")
        if not isinstance(kind, str) or not kind:
            raise DatasetError(f"{field}.kind must be a non-empty string, found {kind!r}")
        xyxy = item.get("xyxy")
        if (not isinstance(xyxy, list) or len(xyxy) != 4
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xyxy)):
            raise DatasetError(f"{field}.xyxy must be 4 numbers [x1, y1, x2, y2] in pixels, found {xyxy!r}")
        x1, y1, x2, y2 = (float(v) for v in xyxy)
        if x2 < x1 or y2 < y1:
            raise DatasetError(f"{field}.xyxy must have x2 >= x1 and y2 >= y1, found {xyxy!r}")
        label = item.get("label")
        if label not in (0, 1) or isinstance(label, bool):
            raise DatasetError(f"{field}.label must be 0 or 1, found {label!r}")
        regions.append(Region(kind=kind, xyxy=(x1, y1, x2, y2), label=int(label)))
    return tuple(regions)


def read_manifest(path: str | Path, *, source: str | None = None, check_files: bool = True) -> list[Sample]:
    """Read a manifest CSV into samples with absolute paths.

    ``source`` is used where the ``source`` column is absent or empty (default: the manifest's
    folder name). With ``check_files`` a referenced image that does not exist is an error naming
    the line; the images are not decoded here (``graffiti data inspect`` does that).
    """
    path = Path(path)
    root = absolute(path.parent)
    default_source = source or root.name or "manifest"
    text = read_text(path, "manifest")
    samples: list[Sample] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise DatasetError(f"{path}:1: malformed CSV ({exc})") from None
    if header is None:
        raise DatasetError(f"{path}: empty manifest; expected a header line {','.join(COLUMNS)}")
    names = [h.strip() for h in header]
    unknown = [n for n in names if n not in COLUMNS and n not in IGNORED_COLUMNS]
    if unknown:
        raise DatasetError(
            f"{path}:1: unknown column(s) {unknown}; expected some of {','.join(COLUMNS)}"
        )
    missing = [n for n in REQUIRED if n not in names]
    if missing:
        raise DatasetError(f"{path}:1: missing required column(s) {missing}; header must include path,label")
    if len(set(names)) != len(names):
        raise DatasetError(f"{path}:1: a column name appears twice in the header {names}")
    index = {n: i for i, n in enumerate(names)}
    line = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DatasetError(f"{path}:{reader.line_num}: malformed CSV ({exc})") from None
        line = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        where = f"{path}:{line}"
        if len(row) != len(names):
            raise DatasetError(
                f"{where}: expected {len(names)} fields ({','.join(names)}), found {len(row)}"
                " (quote cells that contain commas, e.g. regions)"
            )

        def cell(name: str, row: list[str] = row) -> str:
            return row[index[name]].strip() if name in index else ""

        rel = cell("path")
        if not rel:
            raise DatasetError(f"{where}: column 'path' is empty")
        label = parse_label(cell("label"))
        if label is None:
            raise DatasetError(
                f"{where}: unknown label {cell('label')!r}; expected one of {', '.join(LABELS)}, 0, 1"
            )
        split_text = cell("split")
        split = None
        if split_text:
            split = SPLIT_NAMES.get(split_text.lower())
            if split is None:
                raise DatasetError(f"{where}: unknown split {split_text!r}; expected train, val or test")
        image = absolute(root / rel)
        if check_files and not image.is_file():
            raise DatasetError(f"{where}: image file not found: {image}")
        samples.append(Sample(
            path=image,
            label=label,
            group=cell("group") or default_group(image),
            source=cell("source") or default_source,
            split=split,
            kind=cell("kind") or None,
            regions=_parse_regions(cell("regions"), where),
        ))
    return samples


def _regions_json(regions: tuple[Region, ...]) -> str:
    if not regions:
        return ""
    return json.dumps(
        [{"kind": r.kind, "xyxy": [round(v, 2) for v in r.xyxy], "label": r.label} for r in regions],
        separators=(",", ":"),
    )


def write_manifest(samples: Iterable[Sample], path: str | Path) -> Path:
    """Write samples as a manifest CSV, paths relative to the manifest's folder (POSIX separators).

    Every column is written, so a manifest read back gives the same samples. Returns the path.
    """
    path = Path(path)
    root = absolute(path.parent)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for s in samples:
        rel = Path(os.path.relpath(absolute(Path(s.path)), root)).as_posix()
        writer.writerow([
            rel, LABELS[s.label], s.group, s.split or "", s.source, s.kind or "", _regions_json(s.regions),
        ])
    try:
        root.mkdir(parents=True, exist_ok=True)
        path.write_text(buf.getvalue(), encoding="utf-8", newline="")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot write manifest ({exc.strerror})") from None
    return path
