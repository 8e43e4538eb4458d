"""False positives per kind of clean image: which hard negatives (bikes, people in lettered shirts,
pipes, IR views...) the model flags, on whole photos and as edge camera views.

``graffiti eval`` already breaks every metric down by sample kind; this is the one table a retrain is
judged on for a hard-negatives set (``graffiti data synth --only-negatives``): per kind, how many
clean images score at or above the threshold. torch-free (numbers in, numbers out).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class KindFalsePositives:
    """One kind's clean images: flagged as whole photos, and as camera views (None: not shown as views)."""

    kind: str
    clean: int
    photo_flagged: int
    views: int | None = None
    view_flagged: int | None = None

    @property
    def photo_share(self) -> float | None:
        return self.photo_flagged / self.clean if self.clean else None

    @property
    def view_share(self) -> float | None:
        return self.view_flagged / self.views if self.views and self.view_flagged is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "photo_share": self.photo_share, "view_share": self.view_share}


def false_positives_by_kind(photo_by_kind: dict[str, dict[str, Any]],
                            view_by_kind: dict[str, dict[str, Any]] | None = None) -> list[KindFalsePositives]:
    """Combine the eval report's per-kind photo metrics (``by_kind``: ``n_clean``, ``fp``) and view
    metrics (``view_level.by_kind``: ``n_clean``, ``false_positives``) into one row per kind with clean
    images; the most-flagged kinds first."""
    rows = []
    for kind, d in photo_by_kind.items():
        if not d.get("n_clean"):
            continue
        v = (view_by_kind or {}).get(kind)
        views = int(v["n_clean"]) if v is not None else None
        rows.append(KindFalsePositives(kind, int(d["n_clean"]), int(d["fp"]), views,
                                       int(v["false_positives"]) if v is not None else None))
    rows.sort(key=lambda r: (-(r.photo_share or 0.0), -(r.view_share or 0.0), r.kind))
    return rows


def kind_lines(rows: list[dict[str, Any]], threshold: float) -> str:
    """The table as text lines for the terminal (rows as written into report.json)."""
    def pct(k: int | None, n: int | None) -> str:
        return f"{k}/{n} ({100 * k / n:.1f} %)" if n and k is not None else "-"

    out = [f"clean images flagged per kind (score >= {threshold:.4f}): kind | photo level | view level"]
    for r in rows:
        out.append(f"  {r['kind']:<16} {pct(r['photo_flagged'], r['clean']):>18} {pct(r['view_flagged'], r['views']):>18}")
    return "\n".join(out)
