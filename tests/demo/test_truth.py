"""Events against a stream's ground truth (detector.demo.truth): what counts as a detection, a false
alarm, a duplicate, a cleaning and its delay. Timelines are small hand-made ones."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from detector.data.sim.script import Incident, LightStretch
from detector.demo.truth import TimedEvent, compare, percentile

PAINT = Incident("i1", "paint", "tag", 1, start_s=100.0, finished_s=160.0, cleaned_s=400.0, clean_start_s=380.0,
                 bbox=(100.0, 100.0, 300.0, 200.0))
POSTER = Incident("i2", "poster", "poster", 0, start_s=200.0, finished_s=203.0, bbox=(600.0, 100.0, 650.0, 180.0))
ON_PAINT = (80.0, 80.0, 400.0, 400.0)
ON_POSTER = (560.0, 80.0, 880.0, 400.0)


@dataclass
class Line:  # the attributes of detector.data.sim Timeline that compare() reads
    incidents: list = field(default_factory=lambda: [PAINT, POSTER])  # type: ignore[type-arg]
    duration_s: float = 600.0
    lighting: list = field(default_factory=lambda: [LightStretch(0.0, 600.0, "strip")])  # type: ignore[type-arg]
    quiet: list = field(default_factory=lambda: [(0.0, 60.0, "passers-by only")])  # type: ignore[type-arg]

    def light_at(self, t_s: float) -> LightStretch:
        return self.lighting[0]


def det(t_s: float, bbox: tuple[float, float, float, float] = ON_PAINT, id: str = "d1") -> TimedEvent:
    return TimedEvent(id, "graffiti_detected", "cam", t_s, 0.9, bbox)


def cleaned(t_s: float, related: str = "d1") -> TimedEvent:
    return TimedEvent("c-" + related, "graffiti_cleaned", "cam", t_s, 0.1, ON_PAINT, related)


@pytest.mark.parametrize(
    ("events", "detect_delay_s", "clean_delay_s", "false_causes", "early"),
    [
        ([det(190.0), cleaned(450.0)], 30.0, 50.0, [], 0),
        ([det(150.0)], -10.0, None, [], 0),
        ([det(190.0), det(250.0, id="d2")], 30.0, None, ["duplicate of i1"], 0),
        ([det(30.0)], None, None, ["before paint i1 started"], 0),
        ([det(250.0, ON_POSTER)], None, None, ["poster i2"], 0),
        ([det(500.0)], None, None, ["after paint i1 was cleaned"], 0),
        ([det(190.0), cleaned(300.0)], 30.0, None, [], 1),
        ([det(190.0, (900.0, 500.0, 1000.0, 600.0))], None, None, ["lighting: strip"], 0),
    ],
    ids=["detected-then-cleaned", "detected-while-painting", "duplicate-is-false-alarm", "before-paint",
         "poster", "after-cleaning", "cleaned-too-early", "elsewhere"],
)
def test_events_are_matched_with_the_ground_truth(events: list[TimedEvent], detect_delay_s: float | None,
                                                  clean_delay_s: float | None, false_causes: list[str],
                                                  early: int) -> None:
    report = compare(Line(), events)
    (paint,) = report.incidents
    assert paint.detect_delay_s == detect_delay_s
    assert paint.clean_delay_s == clean_delay_s
    assert [fa.cause for fa in report.false_alarms] == false_causes
    assert len(report.early_cleans) == early


def test_false_alarm_in_a_quiet_stretch_is_counted_there() -> None:
    report = compare(Line(), [det(30.0)])
    assert report.quiet_alarms == {"passers-by only (0-60 s)": 1}


@pytest.mark.parametrize(
    ("events", "end_s", "missed"),
    [([], 600.0, ["i1"]), ([], 250.0, []), ([det(460.0)], 600.0, ["i1"]), ([det(290.0)], 600.0, ["i1"]),
     ([det(270.0)], 600.0, [])],
    ids=["never", "window-ends-before-the-goal", "late-detection-after-cleaning", "late", "in-time"],
)
def test_missed_means_not_detected_within_the_goal(events: list[TimedEvent], end_s: float, missed: list[str]) -> None:
    report = compare(Line(), events, end_s=end_s)
    assert [r.incident_id for r in report.missed(detect_goal_s=120.0)] == missed


def test_paint_finished_before_the_window_is_not_in_the_delays_but_its_cleaning_is() -> None:
    report = compare(Line(), [det(200.0), cleaned(420.0)], start_s=180.0)
    (paint,) = report.incidents
    assert paint.present_at_start
    assert report.detect_delays_s() == [] and report.clean_delays_s() == [20.0]
    assert report.missed() == []


def test_cleaning_not_noticed_within_the_goal_is_a_clean_miss() -> None:
    report = compare(Line(duration_s=2000.0), [det(190.0)], end_s=2000.0)
    assert [r.incident_id for r in report.clean_misses(clean_goal_s=600.0)] == ["i1"]
    assert compare(Line(), [det(190.0)], end_s=600.0).clean_misses(600.0) == []  # too early to judge


@pytest.mark.parametrize(("values", "q", "expected"), [([], 50, None), ([3.0, 1.0, 2.0], 50, 2.0),
                                                       ([1.0, 9.0], 100, 9.0)], ids=["empty", "median", "max"])
def test_percentile(values: list[float], q: float, expected: float | None) -> None:
    assert percentile(values, q) == expected


THROWUP = Incident("i3", "paint", "throwup", 1, start_s=120.0, finished_s=170.0, bbox=(320.0, 100.0, 500.0, 200.0))


def test_one_event_over_neighbouring_paint_detects_both_and_stays_open_for_the_one_left() -> None:
    both = (80.0, 80.0, 560.0, 400.0)
    line = Line(incidents=[PAINT, THROWUP, POSTER], duration_s=2000.0)
    report = compare(line, [det(200.0, both)], end_s=2000.0)
    assert [r.detected_t_s for r in report.incidents] == [200.0, 200.0]
    assert report.false_alarms == []
    # The crew cleaned the tag but the throw-up stays: the alert rightly stays open.
    assert report.clean_misses(clean_goal_s=600.0) == []
    assert compare(line, [det(200.0, both), det(300.0, both, id="d2")], end_s=2000.0).false_alarms[0].cause == \
        "duplicate of i1"
