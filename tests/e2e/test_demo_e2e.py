"""End to end, as ``graffiti demo`` runs it: simulated tunnel video → edge runner (fast mode, durable
outbox, HTTP sink) → review service in a child process (SQLite) → operator page and API.

One module-scoped run of a 12-minute stream (passers-by only, lighting change only, someone paints,
poster / wet patch / shadow, a crew cleans) sampled every 5 s; the tests read what it produced.
The bundled model is used when it is in models/; without it, a stand-in contract model (chroma
share, tests/e2e/standin.py) keeps the pipeline covered and the test id says so.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from detector.demo.people import check_evidence, person_pixels
from detector.demo.run import CAMERA, Demo, DemoOptions, DemoResult
from detector.demo.truth import CLEAN_GOAL_S, DETECT_GOAL_S
from tests.e2e.standin import colourfulness_model
from tests.review.helpers import sign_in

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "models" / "graffiti-effnetlite0.onnx"
SEED = 4
MINUTES = 12.0
INTERVAL_S = 5.0
PERSON_PIXELS_MAX = 50  # at 1280×720 a walker's head alone is a few hundred pixels


@dataclass
class Run:
    demo: Demo
    result: DemoResult
    model: str


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("e2e")
    model = BUNDLED if BUNDLED.is_file() else colourfulness_model(tmp / "standin.onnx")
    from rich.console import Console

    # fps = 1 / interval: the edge samples every 5 s anyway, so render only those frames (CI time).
    opts = DemoOptions(data=tmp / "demo", minutes=MINUTES, seed=SEED, fps=1.0 / INTERVAL_S, serve=False, model=model,
                       interval_s=INTERVAL_S)
    demo = Demo(opts, console=Console(file=io.StringIO(), width=120))
    try:
        demo.render()
        demo.start_service()
        demo.write_config()
        result = demo.run_edge()
        yield Run(demo, result, model.name)
    finally:
        demo.stop()


def _detections(run: Run) -> list:  # type: ignore[type-arg]
    return [e for e in run.result.events if e.event.type == "graffiti_detected"]


def test_paint_is_reported_exactly_once_within_the_allowed_delay(run: Run) -> None:
    report = run.result.report
    assert len(report.incidents) == 1, "the default script paints once"
    paint = report.incidents[0]
    dets = _detections(run)
    assert len(dets) == 1, f"{run.model}: expected one graffiti_detected, got {[(e.timed.t_s, e.timed.bbox) for e in dets]}"
    assert paint.detected_t_s is not None, f"{run.model}: the detection does not overlap the paint {paint}"
    assert paint.start_s <= paint.detected_t_s <= paint.finished_s + DETECT_GOAL_S


def test_no_alert_during_passerby_only_and_lighting_only_stretches(run: Run) -> None:
    report = run.result.report
    quiet = run.demo.stream.stream.timeline.quiet  # type: ignore[union-attr]
    assert [w for _, _, w in quiet] == ["passers-by only, steady light", "lighting changes only, nobody"]
    assert all(n == 0 for n in report.quiet_alarms.values()), report.quiet_alarms
    assert report.false_alarms == [], f"{run.model}: {report.false_alarms}"
    first_paint = report.incidents[0].start_s
    assert not [e for e in run.result.events if e.timed.t_s < first_paint and e.event.type.startswith("graffiti")]


def test_crew_cleaning_closes_the_detection_once(run: Run) -> None:
    report = run.result.report
    paint = report.incidents[0]
    cleaned = [e for e in run.result.events if e.event.type == "graffiti_cleaned"]
    assert len(cleaned) == 1, f"{run.model}: cleaned events {[e.timed.t_s for e in cleaned]}"
    assert cleaned[0].event.related_event == _detections(run)[0].event.id
    assert report.early_cleans == []
    assert paint.clean_delay_s is not None and 0 <= paint.clean_delay_s <= CLEAN_GOAL_S


def test_evidence_frame_shows_the_wall_without_a_person_in_front(run: Run) -> None:
    stream = run.demo.stream.stream  # type: ignore[union-attr]
    det = _detections(run)[0]
    box = det.event.bbox
    # The evidence is the decision's sample or one of the few after it (the edge waits for a still frame).
    check = check_evidence(stream, det.files[det.event.evidence["frame"]], box,
                           [det.timed.t_s + k * INTERVAL_S for k in range(-1, 6)])
    assert check.match_grey < 4.0, f"the evidence picture matches no sample near the decision: {check}"
    assert check.person_px <= PERSON_PIXELS_MAX, f"{run.model}: a person covers the event box: {check}"
    # The check can fail: while the writer paints, they stand in front of the same wall.
    paint = run.result.report.incidents[0]
    assert person_pixels(stream, (paint.start_s + paint.finished_s) / 2, box) > 10 * PERSON_PIXELS_MAX


def test_events_are_on_the_review_page_and_api(run: Run) -> None:
    demo = run.demo
    assert demo.service is not None and demo.accounts is not None
    assert run.result.delivered == len(run.result.events)
    det = _detections(run)[0]
    with httpx.Client(base_url=demo.service.url, timeout=10) as op:
        assert sign_in(op, demo.accounts.user, demo.accounts.password).status_code == 303
        page = op.get(f"/events/{det.event.id}")
        assert page.status_code == 200 and f"/evidence/{det.event.id}/frame" in page.text
        assert op.get(f"/evidence/{det.event.id}/frame").content[:3] == b"\xff\xd8\xff"
        listed = op.get("/api/v1/events", params={"camera": CAMERA}).json()
        assert sorted(e["type"] for e in listed if e["type"].startswith("graffiti")) == [
            "graffiti_cleaned", "graffiti_detected"]
        got = op.get(f"/api/v1/events/{det.event.id}").json()
        assert got["status"] == "cleaned_by_device"  # the device's cleaned event closed the alert
