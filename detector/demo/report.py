"""What the demo prints: one line per event as it happens, then the summary against the ground truth."""

from __future__ import annotations

from typing import Any

from detector.demo.truth import CLEAN_GOAL_S, DETECT_GOAL_S, TimedEvent, TruthReport


def fmt_t(t_s: float) -> str:
    """Stream time as m:ss."""
    if t_s != t_s:  # NaN: not known
        return "  ?  "
    m, s = divmod(int(round(t_s)), 60)
    return f"{m}:{s:02d}"


def _t(t_s: float | None) -> str:
    return "  -  " if t_s is None else fmt_t(t_s)


def _delay(d: float | None, what: str) -> str:
    if d is None:
        return "-"
    return f"{d:.0f} s after {what}" if d >= 0 else f"{-d:.0f} s before {what}"


def event_line(ev: TimedEvent) -> str:
    """``  2:41  graffiti_detected  tunnel-1  score 0.93  box (254,270)-(560,560)``."""
    score = "-" if ev.score is None else f"{ev.score:.2f}"
    box = "" if ev.bbox is None else " box ({:.0f},{:.0f})-({:.0f},{:.0f})".format(*ev.bbox)
    colour = {"graffiti_detected": "bold red", "graffiti_cleaned": "bold green"}.get(ev.type, "yellow")
    return f"  [{colour}]{_t(ev.t_s):>6}  {ev.type:<18}[/] camera {ev.camera}  score {score}{box}"


def summary_lines(report: TruthReport, timeline: Any) -> list[str]:
    """The comparison with the ground truth, as lines of rich markup."""
    ok, bad = "[green]✓[/]", "[red]✗[/]"
    lines = ["", "[bold]Summary against the stream's ground truth[/]"]
    for a, b, what in getattr(timeline, "quiet", []):
        n = sum(1 for fa in report.false_alarms if a <= fa.event.t_s < b)
        lines.append(f"  {ok if n == 0 else bad} {_t(a)}–{_t(b)} {what}: {n} alert(s)")
    for r in report.incidents:
        det = r.detected_t_s is not None and (r.detect_delay_s or 0.0) <= DETECT_GOAL_S
        lines.append(f"  {ok if det else bad} paint {r.incident_id} ({r.kind}) painted {_t(r.start_s)}–{_t(r.finished_s)}: "
                     + (f"detected at {_t(r.detected_t_s)}, {_delay(r.detect_delay_s, 'it was finished')}"
                        if r.detected_t_s is not None else "not detected"))
        if r.cleaned_s is not None and r.detected_t_s is not None:
            cleaned = r.cleaned_t_s is not None and (r.clean_delay_s or 0.0) <= CLEAN_GOAL_S
            lines.append(f"  {ok if cleaned else bad} cleaned by the crew at {_t(r.cleaned_s)}: "
                         + (f"graffiti_cleaned at {_t(r.cleaned_t_s)}, {_delay(r.clean_delay_s, 'the crew finished')}"
                            if r.cleaned_t_s is not None else "not noticed before the stream ended"))
    others = [i for i in timeline.incidents if i.label == 0]
    if others:
        names = ", ".join(f"{i.type} at {_t(i.start_s)}" for i in others)
        lines.append(f"  {ok if not report.false_alarms else bad} not graffiti ({names}): "
                     f"{len(report.false_alarms)} false alarm(s) in the whole stream")
    for fa in report.false_alarms:
        lines.append(f"  {bad} false alarm at {_t(fa.event.t_s)} score {fa.event.score}: {fa.cause}")
    for ev in report.early_cleans:
        lines.append(f"  {bad} graffiti_cleaned at {_t(ev.t_s)} while the paint was still there")
    return lines
