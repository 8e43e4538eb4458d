"""Checking and storing what a device uploads: the event JSON and its evidence pictures.

Files are stored under names the server chooses (``evidence/YYYY/MM/DD/<event id>.<random>/<role>.<ext>``);
the names the device sent are only matched against ``event["evidence"]``, never used as paths.

Order of an upload, so that a 201 means "durable" and a crash leaves nothing half-done behind:
1. everything is checked (schema, files, pictures) before anything is written;
2. the pictures are written into ``evidence/.incoming/<dir>`` and fsync'd (files and folder);
3. the row is committed (SQLite synchronous=FULL; PostgreSQL's default synchronous_commit);
4. the folder is renamed into place and its parent fsync'd; then the 201.
A failure at 3 removes the staged folder. A crash between 3 and 4 leaves a staged folder whose row
exists: the start-up sweep (``sweep_orphans``) finishes the move; staged folders without a row, and
stored folders no row refers to, are removed.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from detector.events import SchemaError, pair_evidence, parse_event_json

log = logging.getLogger("detector.review.ingest")
INCOMING = ".incoming"
IMAGE_EXT = {b"\xff\xd8\xff": ".jpg", b"\x89PNG": ".png", b"RIFF": ".webp", b"BM": ".bmp"}


class IngestError(ValueError):
    """An upload the service refuses; ``status_code`` is the HTTP status, the message names the field."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class EvidenceFile:
    role: str
    name: str  # as the device named it
    data: bytes
    width: int
    height: int


def parse_event(text: str | None) -> dict[str, Any]:
    """The ``event`` form field → validated event dict (id normalised to the canonical UUID form)."""
    if text is None:
        raise IngestError(422, "event: form field missing (expected the event JSON)")
    try:
        return parse_event_json(text, now=datetime.now(timezone.utc))
    except SchemaError as exc:
        raise IngestError(422, str(exc)) from None


def check_image(name: str, data: bytes) -> tuple[int, int]:
    """(width, height) of an evidence picture, or IngestError when it does not decode."""
    import cv2
    import numpy as np

    try:
        img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR) if data else None
    except cv2.error:  # e.g. a header claiming more pixels than OPENCV_IO_MAX_IMAGE_PIXELS (set by the app)
        raise IngestError(422, f"files[{name}]: not a decodable image (or more than 40 megapixels)") from None
    if img is None:
        raise IngestError(422, f"files[{name}]: not a decodable image")
    return int(img.shape[1]), int(img.shape[0])


def match_files(event: dict[str, Any], files: list[tuple[str, bytes]], max_file_bytes: int) -> list[EvidenceFile]:
    """Pair uploaded parts with the roles in ``event["evidence"]`` (``events.pair_evidence``: every part
    listed there once, every listed name uploaded); every part must also be a real picture within size."""
    try:
        by_name = pair_evidence(event.get("evidence", {}), [name for name, _ in files])
    except SchemaError as exc:
        raise IngestError(422, str(exc)) from None
    for name, data in files:
        if len(data) > max_file_bytes:
            raise IngestError(413, f"files[{name}]: {len(data)} bytes, limit {max_file_bytes}")
    out = []
    for name, data in files:
        w, h = check_image(name, data)
        out.append(EvidenceFile(role=by_name[name], name=name, data=data, width=w, height=h))
    return out


def _ext(data: bytes) -> str:
    for magic, ext in IMAGE_EXT.items():
        if data.startswith(magic):
            return ext
    return ".img"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Staged:
    """Pictures written and fsync'd under ``.incoming``, not yet in place; ``meta`` already names
    the final paths (what the row stores)."""

    tmp: Path
    final: Path
    meta: dict[str, dict[str, Any]]


def stage_evidence(evidence_dir: Path, event: dict[str, Any], files: list[EvidenceFile],
                   durable: bool = True) -> Staged:
    """Write the pictures into ``.incoming/<event id>.<random>`` and fsync them and the folder."""
    day = event["time"][:10].replace("-", "/") if re.match(r"^\d{4}-\d{2}-\d{2}", event["time"]) else "undated"
    # A per-upload suffix: two racing uploads of one id never touch each other's files.
    rel_dir = Path(day) / f"{event['id']}.{uuid.uuid4().hex[:8]}"
    tmp = evidence_dir / INCOMING / rel_dir.name
    tmp.mkdir(parents=True, exist_ok=True)
    meta: dict[str, dict[str, Any]] = {}
    try:
        for f in files:
            fname = f.role + _ext(f.data)
            with open(tmp / fname, "wb") as fh:
                fh.write(f.data)
                if durable:
                    fh.flush()
                    os.fsync(fh.fileno())
            meta[f.role] = {"path": str(rel_dir / fname), "name": f.name, "width": f.width, "height": f.height,
                            "bytes": len(f.data)}
        if durable:
            _fsync_dir(tmp)
            _fsync_dir(tmp.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Staged(tmp, evidence_dir / rel_dir, meta)


def publish_evidence(staged: Staged, durable: bool = True) -> None:
    """Move a staged folder into place (after its row is committed) and fsync the folders that got a
    new entry (the day folder, and any of its parents this upload created)."""
    created = [d for d in (staged.final.parent.parent.parent, staged.final.parent.parent, staged.final.parent)
               if not d.exists()]
    staged.final.parent.mkdir(parents=True, exist_ok=True)
    try:
        staged.tmp.rename(staged.final)
    except FileNotFoundError:
        if not staged.final.is_dir():  # not moved by a concurrent sweep either: the pictures are lost
            raise
    if durable:
        for d in [staged.final.parent, *(c.parent for c in created)]:
            _fsync_dir(d)


def discard_staged(staged: Staged) -> None:
    shutil.rmtree(staged.tmp, ignore_errors=True)


def write_evidence(evidence_dir: Path, event: dict[str, Any], files: list[EvidenceFile]) -> dict[str, dict[str, Any]]:
    """Stage and publish in one go (for tools and tests that store evidence without a row)."""
    staged = stage_evidence(evidence_dir, event, files)
    publish_evidence(staged)
    return staged.meta


def remove_evidence(evidence_dir: Path, meta: dict[str, dict[str, Any]]) -> None:
    dirs = {(evidence_dir / m["path"]).parent for m in meta.values()}
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


@dataclass(frozen=True)
class SweepReport:
    completed: int  # staged folders whose row exists: moved into place
    removed: int  # staged or stored folders that no row refers to


def sweep_orphans(evidence_dir: Path, referenced_dirs: set[str], min_age_s: float = 120.0) -> SweepReport:
    """Clean up after a crash: ``referenced_dirs`` are the evidence folders (relative, e.g.
    ``2026/11/29/<id>.<rand>``) that stored rows point to. Only folders older than ``min_age_s`` are
    touched, so uploads in flight in another worker are left alone."""
    now = time.time()
    by_name = {Path(d).name: d for d in referenced_dirs}
    completed = removed = 0
    incoming = evidence_dir / INCOMING
    if incoming.is_dir():
        for tmp in incoming.iterdir():
            try:
                if now - tmp.stat().st_mtime < min_age_s:
                    continue
            except FileNotFoundError:
                continue
            rel = by_name.get(tmp.name)
            if rel is not None and not (evidence_dir / rel).exists():
                publish_evidence(Staged(tmp, evidence_dir / rel, {}))
                completed += 1
            else:
                shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
                removed += 1
    for day in evidence_dir.glob("[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]"):
        for d in day.iterdir():
            rel = str(d.relative_to(evidence_dir))
            try:
                old = now - d.stat().st_mtime >= min_age_s
            except FileNotFoundError:
                continue
            if old and d.is_dir() and rel not in referenced_dirs:
                shutil.rmtree(d, ignore_errors=True)
                removed += 1
    if completed or removed:
        log.warning("evidence sweep: finished %d interrupted uploads, removed %d folders without an event row",
                    completed, removed)
    return SweepReport(completed, removed)


def evidence_path(evidence_dir: Path, meta: dict[str, Any] | None) -> Path | None:
    """Absolute path of a stored picture, only if it resolves inside the evidence folder."""
    if not meta or "path" not in meta:
        return None
    root = evidence_dir.resolve()
    path = (root / meta["path"]).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None
