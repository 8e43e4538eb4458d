"""Operator decisions → a training dataset (images + ``manifest.csv`` in the shared manifest format).

Confirmed (or cleaned) alerts give crops of their flagged tiles labelled graffiti; rejected alerts
give the same crops labelled clean (hard negatives: what fooled the model), with the reject reason as
``kind``; accepted regions give clean ``mural`` crops. ``group`` is the camera, so a group-aware split
never puts one camera's frames on both sides. ``provenance.csv`` says which event and decision each
crop came from.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from detector.data.manifest import write_manifest  # the one manifest writer
from detector.data.sample import LABELS, Sample
from detector.errors import ConfigError
from detector.events import ALERT_TYPES
from detector.review.db import EventRow
from detector.review.ingest import evidence_path
from detector.review.store import parse_time

PROVENANCE_FIELDS = ["path", "event_id", "camera", "device", "event_time_utc", "status", "decided_by",
                     "decided_utc", "reason", "note", "frame_xyxy", "tile_score", "model"]
MIN_CROP_PX = 16


@dataclass(frozen=True)
class ExportResult:
    manifest: Path
    graffiti: int
    clean: int
    events: int
    cameras: int
    skipped: int


def _prepare_out(out: Path) -> None:
    """Refuse to mix with unrelated files; replace an earlier export in place."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder; expected a folder for the export")
    if out.exists() and any(out.iterdir()):
        if not (out / "manifest.csv").is_file():
            raise ConfigError(f"--out {out}: folder exists and is not an earlier review export (no manifest.csv)")
        shutil.rmtree(out / "images", ignore_errors=True)
        for name in ("manifest.csv", "provenance.csv"):
            (out / name).unlink(missing_ok=True)
    try:
        (out / "images").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot create the export folder ({exc.strerror})") from None


def crop_boxes(payload: dict[str, Any], img_w: int, img_h: int) -> list[tuple[tuple[int, int, int, int], float | None]]:
    """Boxes (image pixels) to cut from an alert's frame: the tiles at or above the event threshold,
    else all its tiles, else its bbox, else the whole frame; tile coordinates are scaled when the
    stored frame is smaller than the frame the device scored."""
    fw, fh = payload.get("frame_size") or (img_w, img_h)
    sx, sy = img_w / float(fw or img_w), img_h / float(fh or img_h)
    tiles = payload.get("tiles") or []
    thr = payload.get("threshold")
    chosen = [t for t in tiles if thr is not None and t["score"] >= thr] or tiles
    raw: list[tuple[list[float], float | None]] = [(t["xyxy"], float(t["score"])) for t in chosen]
    if not raw and payload.get("bbox"):
        raw = [(payload["bbox"], payload.get("score"))]
    if not raw:
        raw = [([0, 0, fw, fh], payload.get("score"))]
    out = []
    for (x1, y1, x2, y2), score in raw:
        box = (max(0, int(round(x1 * sx))), max(0, int(round(y1 * sy))),
               min(img_w, int(round(x2 * sx))), min(img_h, int(round(y2 * sy))))
        if box[2] - box[0] >= MIN_CROP_PX and box[3] - box[1] >= MIN_CROP_PX:
            out.append((box, score))
    return out


def _label_kind(row: EventRow) -> tuple[str, str] | None:
    if row.verdict == "graffiti":
        return "graffiti", "confirmed"
    if row.verdict == "clean":
        return "clean", ("mural" if row.status == "accepted" else (row.reason or "rejected"))
    return None


def _iso(dt: datetime | None) -> str:
    return dt.isoformat() + "Z" if dt else ""


def export_dataset(sm: sessionmaker, evidence_dir: Path, out: Path, since: str | None = None, *,
                   show_progress: bool = False) -> ExportResult:
    """Write the export under ``out`` and return counts (``show_progress``: a bar over the alerts)."""
    import cv2

    from detector.preprocess import read_image

    since_dt = None
    if since:
        try:
            since_dt = parse_time(since)
        except ValueError:
            raise ConfigError(f"--since: expected an ISO 8601 time, found {since!r}") from None
    with sm() as s:
        q = select(EventRow).where(EventRow.type.in_(ALERT_TYPES), EventRow.verdict.is_not(None))
        if since_dt is not None:
            q = q.where(EventRow.decided_utc >= since_dt)
        rows = list(s.scalars(q.order_by(EventRow.camera, EventRow.time_utc)))
    _prepare_out(out)
    counts = {"graffiti": 0, "clean": 0}
    cameras: set[str] = set()
    used_events = skipped = 0
    samples: list[Sample] = []
    with (out / "provenance.csv").open("w", newline="") as pf:
        provenance = csv.DictWriter(pf, PROVENANCE_FIELDS)
        provenance.writeheader()
        todo: Iterable[EventRow] = rows
        if show_progress:
            from rich.console import Console
            from rich.progress import track

            todo = track(rows, description="export", transient=True, console=Console(stderr=True))
        for row in todo:
            lk = _label_kind(row)
            path = evidence_path(evidence_dir, (row.evidence or {}).get("frame"))
            img = read_image(str(path)) if path is not None else None
            if lk is None or img is None:
                skipped += 1
                continue
            label, kind = lk
            cam_dir = out / "images" / _safe(row.camera)
            cam_dir.mkdir(parents=True, exist_ok=True)
            h, w = img.shape[:2]
            wrote = False
            for i, (box, score) in enumerate(crop_boxes(row.payload, w, h)):
                x1, y1, x2, y2 = box
                rel = f"images/{_safe(row.camera)}/{row.id[:8]}-{label}-t{i}.jpg"
                if not cv2.imwrite(str(out / rel), img[y1:y2, x1:x2], [cv2.IMWRITE_JPEG_QUALITY, 92]):
                    raise ConfigError(f"--out {out}: cannot write {rel} (disk full or not writable?)")
                samples.append(Sample(path=out / rel, label=LABELS.index(label), group=row.camera,
                                      source=f"review:{row.camera}", kind=kind))
                model = row.payload.get("model") or {}
                provenance.writerow({
                    "path": rel, "event_id": row.id, "camera": row.camera, "device": row.device,
                    "event_time_utc": _iso(row.time_utc), "status": row.status, "decided_by": row.decided_by or "",
                    "decided_utc": _iso(row.decided_utc), "reason": row.reason or "", "note": row.note or "",
                    "frame_xyxy": json.dumps(list(box)), "tile_score": "" if score is None else f"{score:.4f}",
                    "model": f"{model.get('name', '')} {model.get('version', '')}".strip(),
                })
                counts[label] += 1
                wrote = True
            if wrote:
                used_events += 1
                cameras.add(row.camera)
            else:
                skipped += 1
    manifest = write_manifest(samples, out / "manifest.csv")
    return ExportResult(manifest, counts["graffiti"], counts["clean"], used_events, len(cameras), skipped)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_.-" else "_" for c in name).lstrip(".") or "camera"
