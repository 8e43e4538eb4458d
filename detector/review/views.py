"""Pure helpers that turn stored events into what the templates draw: heat-map tiles, the score
sparkline, readable times. Kept out of the templates so they can be tested and stay small."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from detector.review.db import utcnow


def fmt_time(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC") if dt else "—"


def ago(dt: datetime | None) -> str:
    """'42 s ago', '5 min ago', '3 h ago', '2 d ago' (or 'never')."""
    if dt is None:
        return "never"
    s = (utcnow() - dt).total_seconds()
    if s < 0:
        return "in the future"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{int(s // size)} {unit} ago"
    return f"{int(s)} s ago"


def score_color(score: float) -> str:
    """Yellow (0.5) → red (1.0) for hot tiles, blue-grey below: a ramp readable on a dark frame."""
    s = min(max(score, 0.0), 1.0)
    if s < 0.5:
        return "#6b8bb5"
    t = (s - 0.5) / 0.5
    r, g, b = 255, int(214 - 170 * t), int(60 - 40 * t)
    return f"#{r:02x}{g:02x}{b:02x}"


@dataclass(frozen=True)
class HeatTile:
    x: float
    y: float
    w: float
    h: float
    score: float
    color: str
    opacity: float
    flagged: bool


def heat_tiles(payload: dict[str, Any]) -> list[HeatTile]:
    """The event's tiles as SVG rectangles in frame pixels; flagged = at or above the threshold."""
    thr = payload.get("threshold")
    out = []
    for t in payload.get("tiles") or []:
        x1, y1, x2, y2 = (float(v) for v in t["xyxy"])
        score = float(t["score"])
        flagged = thr is not None and score >= float(thr)
        out.append(HeatTile(x1, y1, x2 - x1, y2 - y1, score, score_color(score),
                            round(0.04 + 0.24 * min(max(score, 0.0), 1.0) ** 2, 3), flagged))
    return sorted(out, key=lambda h: h.score)  # hottest drawn last, on top


def frame_size(payload: dict[str, Any], evidence: dict[str, Any]) -> tuple[int, int]:
    """(width, height) of the frame the tile coordinates refer to."""
    fs = payload.get("frame_size")
    if fs and len(fs) == 2 and fs[0] and fs[1]:
        return int(fs[0]), int(fs[1])
    meta = evidence.get("frame") or {}
    return int(meta.get("width") or 640), int(meta.get("height") or 480)


@dataclass(frozen=True)
class Sparkline:
    points: str  # SVG polyline points
    threshold_y: float | None
    width: int
    height: int
    span_s: float
    last_score: float | None
    dots: list[tuple[float, float]]


def sparkline(payload: dict[str, Any], width: int = 320, height: int = 64) -> Sparkline | None:
    """Score history (seconds before the event, score) as a polyline; x runs from oldest to the event."""
    hist = [(float(a), float(b)) for a, b in (payload.get("score_history") or [])]
    if not hist:
        return None
    span = max(max(a for a, _ in hist), 1.0)
    pad = 4.0

    def xy(before_s: float, score: float) -> tuple[float, float]:
        x = pad + (1 - before_s / span) * (width - 2 * pad)
        y = pad + (1 - min(max(score, 0.0), 1.0)) * (height - 2 * pad)
        return round(x, 1), round(y, 1)

    pts = [xy(a, b) for a, b in sorted(hist, key=lambda p: -p[0])]
    thr = payload.get("threshold")
    ty = xy(0, float(thr))[1] if thr is not None else None
    return Sparkline(" ".join(f"{x},{y}" for x, y in pts), ty, width, height, span,
                     hist[-1][1] if hist else None, pts)


STATUS_LABEL = {
    "open": "open", "confirmed": "crew sent", "rejected": "false alarm", "cleaned": "cleaned",
    "accepted": "accepted region", "cleaned_by_device": "cleaned (device)",
}
STATE_LABEL = {"online": "online", "stale": "no heartbeat", "offline": "offline", "tamper": "tamper",
               "starting": "starting", "no_heartbeat": "no heartbeat yet", "unknown": "never seen"}

TEMPLATE_GLOBALS: dict[str, Any] = {"STATUS_LABEL": STATUS_LABEL, "STATE_LABEL": STATE_LABEL}
TEMPLATE_FILTERS: dict[str, Any] = {"fmt_time": fmt_time, "ago": ago, "score_color": score_color}
