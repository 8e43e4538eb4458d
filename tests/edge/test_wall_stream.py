"""The edge's camera loop with the wall model on, end to end, on a photo-wall stream built at test time.

A fixed camera on a textured wall for 50 minutes: a person in a red jacket stands in front of the wall
for 6 minutes (shifting their weight), passers-by in red walk through, a red tag is painted and later
cleaned by a crew. The tiny "redness" ONNX model (tests/edge/edge_models.py) scores red as graffiti,
so the loiterer and the passers-by score like paint: only the wall model tells them apart. Runs the
real ``CameraWorker`` (motion, wall model, gating, decision, evidence) with a real ONNX Runtime session.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detector.data.sim.photowall import Paint, Person, PhotoWallStream, WallDay
from detector.demo.inproc import run_camera
from detector.edge.camera import CameraWorker, commission_request_path
from detector.edge.config import parse_edge_config
from detector.edge.model_holder import ModelHolder
from detector.preprocess import read_image
from tests.edge.edge_models import redness_model

SIZE = (640, 360)
RED = (0.05, 0.05, 0.9)  # BGR
PAINT = Paint(start_s=1500.0, finished_s=1560.0, box=(200, 80, 420, 230), source=0, crew_start_s=2100.0,
              cleaned_s=2400.0)
SETTINGS: dict[str, Any] = {
    "interval_s": 5,
    "tiling": {"tile_px": 128, "overlap": 0.25},
    "decision": {"threshold": 0.15, "clean_threshold": 0.05},
}


def wall_photo(seed: int = 3) -> np.ndarray:
    """A grey-brown textured wall, as a colour camera sees one (a stand-in for a real photo)."""
    import cv2

    rng = np.random.default_rng(seed)
    base = rng.normal(0, 1, (36, 64, 3)).astype(np.float32)
    img = cv2.resize(base, SIZE, interpolation=cv2.INTER_CUBIC)
    grey = 120 + 35 * img.mean(axis=2, keepdims=True)
    tint = np.array([0.95, 1.0, 1.08], np.float32)  # slightly warm concrete
    return np.clip(grey * tint + rng.normal(0, 3, (SIZE[1], SIZE[0], 3)), 0, 255).astype(np.uint8)


def tag_photo() -> np.ndarray:
    """A 'graffiti photo': red strokes on white."""
    import cv2

    img = np.full((200, 300, 3), 235, np.uint8)
    for k in range(7):
        cv2.line(img, (20 + 40 * k, 30), (40 + 40 * k, 170), (20, 20, 230), 14)
    cv2.line(img, (10, 100), (290, 90), (20, 20, 230), 16)
    return img


def day() -> WallDay:
    people = [Person(600.0, 960.0, 480.0, 480.0, 300.0, 11, standing=True, kind="loiterer", jacket=RED)]
    for k, t in enumerate(range(300, 3000, 150)):  # passers-by in red every 2.5 minutes
        people.append(Person(float(t), float(t) + 12.0, -60.0, 700.0, 280.0, 100 + k, jacket=RED))
    people.append(Person(1480.0, 1575.0, 310.0, 310.0, 290.0, 12, standing=True, kind="writer"))
    people.append(Person(2070.0, 2420.0, 300.0, 300.0, 290.0, 13, standing=True, kind="crew"))
    people.sort(key=lambda p: p.start_s)
    return WallDay(people=people, paint=[PAINT])


def stream(duration_s: float = 3000.0) -> PhotoWallStream:
    return PhotoWallStream(wall_photo(), [tag_photo()], [], seed=5, duration_s=duration_s, size=SIZE, fps=0.2,
                           day=day(), clock0_s=10 * 3600.0)  # from 10:00, in daylight


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return redness_model(tmp_path_factory.mktemp("m") / "redness.onnx", input_size=(64, 64))


def boxes_overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_loiterer_and_passers_by_never_alert_paint_alerts_once_and_cleaning_is_noticed(model: Path) -> None:
    run = run_camera(stream(), model, SETTINGS)
    detected = [e for e in run.events if e.type == "graffiti_detected"]
    cleaned = [e for e in run.events if e.type == "graffiti_cleaned"]
    assert len(detected) == 1, [(e.t_s, e.bbox) for e in detected]
    det = detected[0]
    assert det.bbox is not None and boxes_overlap(det.bbox, PAINT.box)
    assert 0 < det.t_s - PAINT.finished_s <= 300, det.t_s  # within 5 minutes of being finished
    assert len(cleaned) == 1 and cleaned[0].related_event == det.id
    assert 0 < cleaned[0].t_s - PAINT.cleaned_s <= 600, cleaned[0].t_s  # within 10 minutes of the crew
    assert not [e for e in run.events if e.type == "commissioning_report"]


def test_model_run_settings_reach_the_model_and_leave_the_decisions_alone(model: Path) -> None:
    """``model.max_batch`` / ``model.threads`` (benchmarks' --set) run the model otherwise, to the same events."""
    from detector.demo.inproc import model_run_settings
    from detector.errors import ConfigError

    assert model_run_settings({}, 1) == (1, None, 0)
    assert model_run_settings({"max_batch": 2, "threads": 3}, 1) == (3, None, 2)
    with pytest.raises(ConfigError, match=r"model\.max_batch: expected an integer in \[0, 1024\], found -1"):
        model_run_settings({"max_batch": -1}, 1)
    with pytest.raises(ConfigError, match=r"model\.path"):
        model_run_settings({"path": "other.onnx"}, 1)
    one = run_camera(stream(1400.0), model, SETTINGS)
    runs_of_two = run_camera(stream(1400.0), model, {**SETTINGS, "model": {"max_batch": 2}})
    assert [(e.type, e.t_s) for e in runs_of_two.events] == [(e.type, e.t_s) for e in one.events]
    assert runs_of_two.model_runs == one.model_runs > 0  # tiles scored, in other batches


def test_the_same_stream_without_the_wall_model_alerts_on_the_loiterer(model: Path) -> None:
    """The control: per-frame scoring calls the red jacket graffiti (what the wall model fixes)."""
    settings = {**SETTINGS, "wall": {"enabled": False}}
    run = run_camera(stream(1400.0), model, settings)  # before the paint
    assert [e for e in run.events if e.type == "graffiti_detected"], "the loiterer should alert without the wall model"


def run_uncleaned_tag(model: Path, duration_s: float, at_t_s: float,
                      action: Callable[[CameraWorker, list[Any]], None]) -> tuple[CameraWorker, list[Any]]:
    """The tag stays (nobody cleans it); ``action(worker, events)`` runs once, as the sample at
    ``at_t_s`` is taken. The real camera loop; returns the worker and the events it emitted."""
    from detector.data.sim.source import SimSource
    from detector.demo.inproc import EPOCH0_S

    d = day()
    d.paint[0] = Paint(1500.0, 1560.0, PAINT.box, 0, 9000.0, 9300.0)
    d.people = [p for p in d.people if p.kind != "crew"]
    st = PhotoWallStream(wall_photo(), [tag_photo()], [], seed=5, duration_s=duration_s, size=SIZE, fps=0.2, day=d,
                         clock0_s=10 * 3600.0)
    cfg = parse_edge_config({"device": {"name": "d"}, "cameras": {"c": {"source": "sim://0", **SETTINGS}}}).cameras["c"]
    events: list[Any] = []
    source = SimSource("c", st, 0.0, duration_s, epoch0_s=EPOCH0_S)
    worker = CameraWorker("c", cfg, "d", ModelHolder(model, 1), lambda e, f: events.append(e), False,
                          threading.Event(), source=source)
    orig = source.next_sample

    def next_sample(due: float | None) -> Any:
        frame = orig(due)
        if frame is not None and abs(frame.t_s - at_t_s) < 1e-6:
            action(worker, events)
        return frame

    source.next_sample = next_sample  # type: ignore[method-assign]
    worker.run()
    return worker, events


def test_commission_request_retakes_the_baseline_without_a_second_alert(model: Path, tmp_path: Path) -> None:
    """`graffiti edge commission` while the tag's alert is open: the baseline is retaken from the current
    wall, the open alert is carried (no report for it, no second alert), and the request file is taken."""
    request = commission_request_path(tmp_path, "c")

    def install(worker: CameraWorker, events: list[Any]) -> None:
        worker.commission_request = request
        request.write_text("retake")  # an installer runs `graffiti edge commission` at 33:20

    worker, events = run_uncleaned_tag(model, 2700.0, 2000.0, install)
    types = [e.type for e in events]
    assert types.count("graffiti_detected") == 1, types  # the tag, before the request
    assert not request.exists()  # the request was taken
    assert worker.judge is not None and worker.judge.baseline is not None
    assert worker.judge.baseline.started_s >= 2000.0 and worker.judge.baseline.done
    assert "commissioning_report" not in types  # the only mark is the open alert: carried, not reported
    assert "graffiti_cleaned" not in types


def test_an_operator_rejection_re_baselines_the_tiles_quiet_until_they_change(model: Path) -> None:
    """The review service serves the rejected alert's box: its event is dropped without a 'cleaned', and
    the mark, still on the wall, never alerts again."""

    def reject(worker: CameraWorker, events: list[Any]) -> None:
        det = [e for e in events if e.type == "graffiti_detected"]
        assert len(det) == 1 and det[0].bbox is not None
        x1, y1, x2, y2 = det[0].bbox
        worker.set_remote_rejected([(det[0].id, [(x1, y1), (x2, y1), (x2, y2), (x1, y2)])])

    _, events = run_uncleaned_tag(model, 3600.0, 2100.0, reject)
    types = [e.type for e in events]
    assert types == ["graffiti_detected"], types  # no 'cleaned' for the rejected alert, no second alert


@pytest.mark.shared
def test_real_photo_wall_with_real_paint_and_the_bundled_model() -> None:
    """A real clean facade photo as the wall, a real graffiti photo as the paint (held-out sources)."""
    shared = Path(__file__).resolve().parents[3] / "shared" / "datasets"
    facades = sorted((shared / "facades-spb" / "images").glob("img_1*.jpg"))
    graffiti = sorted((shared / "street-graffiti" / "train").glob("*tags*.jpg")) or sorted(
        (shared / "street-graffiti" / "train").glob("*.jpg"))
    if not facades or not graffiti:
        pytest.skip(f"needs ../shared/datasets (looked in {shared})")
    repo = Path(__file__).resolve().parents[2]
    bundled = repo / "models" / "graffiti-effnetlite0.onnx"
    wall_img, paint_img = read_image(str(facades[0])), read_image(str(graffiti[0]))
    assert wall_img is not None and paint_img is not None
    paint = Paint(1500.0, 1560.0, (300, 120, 800, 420), 0, 2100.0, 2400.0)
    d = WallDay(people=[Person(600.0, 960.0, 900.0, 900.0, 600.0, 11, standing=True, kind="loiterer")],
                paint=[paint])
    st = PhotoWallStream(wall_img, [paint_img], [], seed=7, duration_s=3000.0, fps=0.2, day=d, clock0_s=10 * 3600.0)
    run = run_camera(st, bundled, {"interval_s": 5})
    detected = [e for e in run.events if e.type == "graffiti_detected"]
    assert all(e.bbox is not None and boxes_overlap(e.bbox, paint.box) for e in detected), detected
    assert len(detected) <= 1
