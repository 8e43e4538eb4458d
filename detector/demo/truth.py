"""Edge events against a simulated stream's ground truth: detected? how late? cleaned? false alarms?

Pure logic over the timeline (``detector.data.sim``) and events placed on the stream's clock, shared
by the demo, the end-to-end test and the tunnel-day benchmark, so all three count the same way:

- a ``graffiti_detected`` event belongs to the paint incidents whose box it overlaps, that appeared
  before it and were not being cleaned yet (one event may cover neighbouring paint: the edge merges
  touching tiles); the first one is their detection, one that covers only paint already detected is
  a duplicate, which counts as a false alarm;
- every other ``graffiti_detected`` event is a false alarm (its likely cause is named: a poster, a
  wet patch, a shadow, a stretch of lighting);
- a ``graffiti_cleaned`` event belongs to the paint its ``related_event`` detected; one that comes
  before the crew started on all of it is an early close (paint is still there); an alert that also
  covers paint nobody cleans rightly stays open, so its cleaning is not counted as missed;
- delays are measured from when the paint was finished, and from when cleaning was done.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

Box = tuple[float, float, float, float]

DETECT_GOAL_S = 300.0  # every incident detected within 5 minutes of the paint being finished
CLEAN_GOAL_S = 600.0  # cleaning noticed within 10 minutes


@dataclass(frozen=True)
class TimedEvent:
    """An edge event on the stream's clock (``t_s``: seconds from the start of the stream)."""

    id: str
    type: str
    camera: str
    t_s: float
    score: float | None = None
    bbox: Box | None = None
    related_event: str | None = None

    @classmethod
    def from_dict(cls, event: dict[str, Any], t_s: float | None = None) -> TimedEvent:
        """From event JSON (``detector.events`` schema); ``t_s`` defaults to ``detail.t_s``."""
        if t_s is None:
            t_s = float((event.get("detail") or {}).get("t_s", float("nan")))
        bbox = event.get("bbox")
        return cls(id=str(event["id"]), type=str(event["type"]), camera=str(event["camera"]), t_s=float(t_s),
                   score=event.get("score"), bbox=tuple(float(v) for v in bbox) if bbox else None,  # type: ignore[arg-type]
                   related_event=event.get("related_event"))


@dataclass(frozen=True)
class IncidentResult:
    """One paint incident and what the edge made of it."""

    incident_id: str
    kind: str
    start_s: float
    finished_s: float
    cleaned_s: float | None
    present_at_start: bool  # finished before the evaluated window began (not counted in delays)
    detected_t_s: float | None = None
    event_id: str | None = None
    cleaned_t_s: float | None = None
    shares_event_with: tuple[str, ...] = ()  # other paint the same detection covers (neighbouring tiles: one event)

    @property
    def detect_delay_s(self) -> float | None:
        """Seconds from the paint being finished to the detection (negative: while still painting)."""
        return None if self.detected_t_s is None else self.detected_t_s - self.finished_s

    @property
    def clean_delay_s(self) -> float | None:
        if self.cleaned_t_s is None or self.cleaned_s is None:
            return None
        return self.cleaned_t_s - self.cleaned_s


@dataclass(frozen=True)
class FalseAlarm:
    event: TimedEvent
    cause: str  # what was there: "duplicate of i1", "poster i2", "lighting: flicker", ...


@dataclass
class TruthReport:
    """The comparison over one stream window [start_s, end_s)."""

    start_s: float
    end_s: float
    incidents: list[IncidentResult] = field(default_factory=list)
    false_alarms: list[FalseAlarm] = field(default_factory=list)
    early_cleans: list[TimedEvent] = field(default_factory=list)  # closed while the paint was still there
    stray_cleans: list[TimedEvent] = field(default_factory=list)  # cleaned events that close no known detection
    quiet_alarms: dict[str, int] = field(default_factory=dict)  # stretch description → detections in it

    def missed(self, detect_goal_s: float = DETECT_GOAL_S) -> list[IncidentResult]:
        """Paint not detected, or detected later than ``detect_goal_s`` after it was finished
        (paint finished too close to the end of the window to be judged is not counted)."""
        out = []
        for r in self.incidents:
            if r.present_at_start:
                if r.detected_t_s is None and self.end_s - self.start_s >= detect_goal_s:
                    out.append(r)
                continue
            delay = r.detect_delay_s
            if delay is None:
                if r.finished_s + detect_goal_s <= self.end_s:
                    out.append(r)
            elif delay > detect_goal_s:
                out.append(r)
        return out

    def clean_misses(self, clean_goal_s: float = CLEAN_GOAL_S) -> list[IncidentResult]:
        """Detected paint cleaned in the window whose cleaning was not noticed within ``clean_goal_s``."""
        out = []
        by_id = {r.incident_id: r for r in self.incidents}
        for r in self.incidents:
            if r.detected_t_s is None or r.cleaned_s is None:
                continue  # nothing open to close
            others = [by_id[i] for i in r.shares_event_with if i in by_id]
            if any(o.cleaned_s is None or o.cleaned_s + clean_goal_s > self.end_s for o in others):
                continue  # the alert also covers paint that is still there: it rightly stays open
            delay = r.clean_delay_s
            if delay is not None:
                if delay > clean_goal_s:
                    out.append(r)
            elif r.cleaned_s + clean_goal_s <= self.end_s:
                out.append(r)
        return out

    def detect_delays_s(self) -> list[float]:
        return [d for r in self.incidents if not r.present_at_start and (d := r.detect_delay_s) is not None]

    def clean_delays_s(self) -> list[float]:
        return [d for r in self.incidents if (d := r.clean_delay_s) is not None]


def _overlap(a: Box | None, b: Box | None) -> float:
    if a is None or b is None:
        return 0.0
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(w, 0.0) * max(h, 0.0)


def _cause(event: TimedEvent, timeline: Any) -> str:
    """The most likely reason for a false detection: an overlapping non-graffiti incident, else the light."""
    for inc in timeline.incidents:
        if inc.label == 0 and inc.start_s <= event.t_s and _overlap(event.bbox, inc.bbox) > 0:
            return f"{inc.type} {inc.id}"
    for inc in timeline.incidents:
        if inc.label == 1 and _overlap(event.bbox, inc.bbox) > 0:
            if event.t_s < inc.start_s:
                return f"before paint {inc.id} started"
            return f"after paint {inc.id} was cleaned"
    return f"lighting: {timeline.light_at(event.t_s).mode}"


def compare(timeline: Any, events: Iterable[TimedEvent], start_s: float = 0.0, end_s: float | None = None,
            camera: str | None = None) -> TruthReport:
    """Match ``events`` (one camera's, on the stream clock) against ``timeline`` over [start_s, end_s).

    ``timeline`` is a ``detector.data.sim`` Timeline (incidents with frame boxes, lighting, quiet
    stretches); only its attributes are read.
    """
    end = float(timeline.duration_s if end_s is None else end_s)
    evs = sorted((e for e in events if camera is None or e.camera == camera), key=lambda e: e.t_s)
    paints = [i for i in timeline.incidents if i.label == 1 and i.start_s < end and
              (i.clean_start_s is None or i.clean_start_s > start_s)]
    results: dict[str, IncidentResult] = {
        i.id: IncidentResult(i.id, i.kind, i.start_s, i.finished_s, i.cleaned_s, i.finished_s < start_s) for i in paints
    }
    report = TruthReport(start_s=start_s, end_s=end)
    by_event: dict[str, str] = {}  # detection event id → (first) incident id
    by_event_all: dict[str, tuple[str, ...]] = {}  # detection event id → every incident it covers
    for ev in evs:
        if ev.type != "graffiti_detected":
            continue
        owners = [inc for inc in paints if inc.start_s <= ev.t_s < (inc.clean_start_s if inc.clean_start_s is not None
                                                                     else float("inf"))
                  and _overlap(ev.bbox, inc.bbox) > 0]
        if not owners:
            report.false_alarms.append(FalseAlarm(ev, _cause(ev, timeline)))
            continue
        new = [inc for inc in owners if results[inc.id].detected_t_s is None]
        if not new:
            report.false_alarms.append(FalseAlarm(ev, f"duplicate of {owners[0].id}"))
            continue
        ids = tuple(inc.id for inc in new)
        for inc in new:  # one event may rightly cover neighbouring paint (the edge merges touching tiles)
            res = results[inc.id]
            results[inc.id] = IncidentResult(**{**res.__dict__, "detected_t_s": ev.t_s, "event_id": ev.id,
                                                "shares_event_with": tuple(i for i in ids if i != inc.id)})
        by_event[ev.id] = new[0].id
        by_event_all[ev.id] = ids
    for ev in evs:
        if ev.type != "graffiti_cleaned":
            continue
        covered = by_event_all.get(ev.related_event or "")
        if covered is None:
            report.stray_cleans.append(ev)
            continue
        incs = [i for i in paints if i.id in covered]
        if any(i.clean_start_s is None or ev.t_s < i.clean_start_s for i in incs):
            report.early_cleans.append(ev)
            continue
        for inc in incs:
            res = results[inc.id]
            if res.cleaned_t_s is None:
                results[inc.id] = IncidentResult(**{**res.__dict__, "cleaned_t_s": ev.t_s})
    report.incidents = [results[i.id] for i in paints]
    for a, b, what in getattr(timeline, "quiet", []):
        report.quiet_alarms[f"{what} ({a:.0f}-{b:.0f} s)"] = sum(
            1 for fa in report.false_alarms if a <= fa.event.t_s < b)
    return report


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (no numpy needed); None for no values."""
    if not values:
        return None
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(q / 100.0 * (len(s) - 1)))))
    return s[k]
