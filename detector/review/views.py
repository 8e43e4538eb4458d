"""Pure helpers that turn stored events into what the templates draw: heat-map tiles, the score
sparkline, readable times. Kept out of the templates so they can be tested and stay small."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from detector.review.db import utcnow

# Rows stored before the wire format was checked (or written by hand) may hold anything JSON can:
# every helper here turns what it cannot use into "nothing to draw" instead of an error.


def json_safe(value: Any, depth: int = 0) -> Any:
    """``value`` with non-finite numbers as None and text made valid Unicode without NUL, so it can
    always be sent as JSON and put in a page."""
    if isinstance(value, str):
        if value.isascii() and "\x00" not in value:
            return value
        return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**63 else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth > 20:
        return None
    if isinstance(value, dict):
        return {json_safe(str(k)): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, depth + 1) for v in value]
    return json_safe(str(value))


def num(value: Any) -> float | None:
    """A finite float from a stored value, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        f = float(value)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def iso_utc(dt: datetime | None) -> str | None:
    """Naive UTC datetime → ``2026-11-29T10:02:03Z`` (what the API and the pages' <time> carry)."""
    return dt.isoformat(timespec="seconds") + "Z" if dt else None


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
    f = num(score)
    s = min(max(f, 0.0), 1.0) if f is not None else 0.0
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


def _box4(value: Any) -> tuple[float, float, float, float] | None:
    if not isinstance(value, list | tuple) or len(value) != 4:
        return None
    vals = [num(v) for v in value]
    if any(v is None for v in vals):
        return None
    x1, y1, x2, y2 = (float(v) for v in vals)  # type: ignore[arg-type]
    return (x1, y1, x2, y2) if x2 >= x1 and y2 >= y1 else None


def heat_tiles(payload: Any) -> list[HeatTile]:
    """The event's tiles as SVG rectangles in frame pixels; flagged = at or above the threshold.
    Tiles that are not a box with a finite score are left out."""
    payload = payload if isinstance(payload, dict) else {}
    thr = num(payload.get("threshold"))
    tiles = payload.get("tiles")
    out = []
    for t in tiles if isinstance(tiles, list) else []:
        box = _box4(t.get("xyxy")) if isinstance(t, dict) else None
        score = num(t.get("score")) if isinstance(t, dict) else None
        if box is None or score is None:
            continue
        x1, y1, x2, y2 = box
        flagged = thr is not None and score >= thr
        out.append(HeatTile(x1, y1, x2 - x1, y2 - y1, score, score_color(score),
                            round(0.04 + 0.24 * min(max(score, 0.0), 1.0) ** 2, 3), flagged))
    return sorted(out, key=lambda h: h.score)  # hottest drawn last, on top


def frame_size(payload: Any, evidence: Any) -> tuple[int, int]:
    """(width, height) of the frame the tile coordinates refer to (the picture's own size when the
    event's is missing or unusable)."""
    fs = payload.get("frame_size") if isinstance(payload, dict) else None
    if isinstance(fs, list | tuple) and len(fs) == 2:
        w, h = num(fs[0]), num(fs[1])
        if w and h and 0 < w <= 100_000 and 0 < h <= 100_000:
            return int(w), int(h)
    meta = evidence.get("frame") if isinstance(evidence, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    w, h = num(meta.get("width")), num(meta.get("height"))
    if w and h and 0 < w <= 100_000 and 0 < h <= 100_000:
        return int(w), int(h)
    return 640, 480


def event_box(payload: Any) -> tuple[float, float, float, float] | None:
    """The event's box (bbox, else the union of its tiles), finite, or None."""
    payload = payload if isinstance(payload, dict) else {}
    box = _box4(payload.get("bbox"))
    if box is None:
        tiles = [b for t in heat_tiles(payload) if (b := (t.x, t.y, t.x + t.w, t.y + t.h))]
        if tiles:
            box = (min(b[0] for b in tiles), min(b[1] for b in tiles), max(b[2] for b in tiles), max(b[3] for b in tiles))
    return box


def detail_items(value: Any) -> list[tuple[str, str]]:
    """``detail`` as (key, text) pairs for the page, whatever shape was stored."""
    import json

    if not isinstance(value, dict):
        return [] if value in (None, "", [], {}) else [("detail", json.dumps(json_safe(value))[:500])]
    out = []
    for k, v in value.items():
        text = v if isinstance(v, str) else json.dumps(json_safe(v))
        out.append((str(json_safe(str(k)))[:64], str(json_safe(text))[:500]))
    return out


@dataclass(frozen=True)
class Sparkline:
    points: str  # SVG polyline points
    threshold_y: float | None
    width: int
    height: int
    span_s: float
    last_score: float | None
    dots: list[tuple[float, float]]


def sparkline(payload: Any, width: int = 320, height: int = 64) -> Sparkline | None:
    """Score history (seconds before the event, score) as a polyline; x runs from oldest to the event.
    Entries that are not a pair of finite numbers are left out."""
    raw = payload.get("score_history") if isinstance(payload, dict) else None
    hist = []
    for pair in raw if isinstance(raw, list) else []:
        if isinstance(pair, list | tuple) and len(pair) == 2:
            a, b = num(pair[0]), num(pair[1])
            if a is not None and b is not None and abs(a) < 1e9:
                hist.append((a, b))
    if not hist:
        return None
    span = max(max(a for a, _ in hist), 1.0)
    pad = 4.0

    def xy(before_s: float, score: float) -> tuple[float, float]:
        x = pad + (1 - before_s / span) * (width - 2 * pad)
        y = pad + (1 - min(max(score, 0.0), 1.0)) * (height - 2 * pad)
        return round(x, 1), round(y, 1)

    pts = [xy(a, b) for a, b in sorted(hist, key=lambda p: -p[0])]
    thr = num(payload.get("threshold"))
    ty = xy(0, thr)[1] if thr is not None else None
    return Sparkline(" ".join(f"{x},{y}" for x, y in pts), ty, width, height, span,
                     hist[-1][1] if hist else None, pts)


STATUS_LABEL = {
    "open": "open", "confirmed": "crew sent", "rejected": "false alarm", "cleaned": "cleaned",
    "accepted": "accepted region", "cleaned_by_device": "cleaned (device)",
}
STATE_LABEL = {"online": "online", "stale": "no heartbeat", "offline": "offline", "tamper": "tamper",
               "starting": "starting", "no_heartbeat": "no heartbeat yet", "unknown": "never seen"}

TEMPLATE_GLOBALS: dict[str, Any] = {"STATUS_LABEL": STATUS_LABEL, "STATE_LABEL": STATE_LABEL}
def time_tag(dt: datetime | None) -> Any:
    """A <time> element: UTC in the text and the title; review.js rewrites the text into the
    operator's local time zone (the title keeps UTC, shown on hover)."""
    from markupsafe import Markup, escape

    if dt is None:
        return Markup("—")
    return Markup('<time datetime="{iso}" title="{utc}" data-local>{utc}</time>').format(
        iso=escape(iso_utc(dt) or ""), utc=escape(fmt_time(dt)))


def tile_count(payload: Any) -> int:
    tiles = payload.get("tiles") if isinstance(payload, dict) else None
    return len(tiles) if isinstance(tiles, list) else 0


TEMPLATE_FILTERS: dict[str, Any] = {"fmt_time": fmt_time, "ago": ago, "score_color": score_color, "iso_utc": iso_utc,
                                    "safe": json_safe, "num": num, "tile_count": tile_count,
                                    "detail_items": detail_items, "time_tag": time_tag}


def wants_html(request: Any) -> bool:
    """A browser page request (not the device API, and the client asked for HTML)."""
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")
