"""A camera's per-sample pipeline on its own (``SamplePipeline``): observe → apply_requests → decide, with
a real ONNX Runtime session (the redness model) and the real wall model; nothing is emitted here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detector.edge.config import CameraConfig, DecisionConfig, HealthConfig, TilingConfig, WallConfig
from detector.edge.decision import Closed, Opened
from detector.edge.model_holder import ModelHolder
from detector.edge.pipeline import Sample, SamplePipeline
from detector.edge.sources import Frame
from tests.edge.edge_models import paint, redness_model, wall
from tests.edge.test_runner import PATCH

PATCH_POLYGON = [(100.0, 100.0), (180.0, 100.0), (180.0, 160.0), (100.0, 160.0)]


@pytest.fixture(scope="module")
def holder(tmp_path_factory: pytest.TempPathFactory) -> ModelHolder:
    return ModelHolder(redness_model(tmp_path_factory.mktemp("model") / "m.onnx"), threads=1)


def pipeline(holder: ModelHolder, wall_model: bool, **settings: object) -> SamplePipeline:
    cfg = CameraConfig(source="rec", interval_s=5, tiling=TilingConfig(tile_px=64),
                       decision=DecisionConfig(window=3, confirm_s=10, clean_s=20),
                       wall=WallConfig(enabled=wall_model, slot_s=5, slots=3, commission_s=10), **settings)  # type: ignore[arg-type]
    return SamplePipeline("north", cfg, holder)


def step(p: SamplePipeline, img: np.ndarray, i: int) -> tuple[Sample, list[int]]:
    sample = p.observe(Frame(img, i * 5.0, 1.7e9 + i * 5.0, i))
    assert sample is not None
    forgotten = p.apply_requests()
    p.decide(sample)
    return sample, forgotten


def run(p: SamplePipeline, views: list[np.ndarray], start: int = 0) -> list[Sample]:
    return [step(p, img, i)[0] for i, img in enumerate(views, start=start)]


def kinds(samples: list[Sample]) -> list[str]:
    return [type(d).__name__ for s in samples for d in s.decisions]


@pytest.mark.parametrize("wall_model", [False, True], ids=["live-tiles", "wall-model"])
def test_paint_that_stays_opens_one_detection_and_its_removal_closes_it(holder: ModelHolder, wall_model: bool) -> None:
    p = pipeline(holder, wall_model)
    clean, painted = wall(320, 240), paint(wall(320, 240), PATCH)
    samples = run(p, [clean] * 6 + [painted] * 12 + [clean] * 20)
    assert kinds(samples) == ["Opened", "Closed"]
    opened = next(d for s in samples for d in s.decisions if isinstance(d, Opened))
    closed = next(d for s in samples for d in s.decisions if isinstance(d, Closed))
    assert opened.key == closed.key and opened.tile_scores
    assert p.frames_seen == 38 and len(p.infer_ms) > 0
    assert samples[5].clean_view and not samples[20].clean_view  # the clean wall only while nothing is open
    if wall_model:
        assert p.judge is not None and p.judge.model_runs_saved > 0  # unchanged tiles were not scored again


def test_a_frame_that_is_not_a_bgr_image_is_skipped(holder: ModelHolder) -> None:
    p = pipeline(holder, False)
    assert p.observe(Frame(np.zeros((240, 320), np.uint8), 0.0, 1.7e9, 0)) is None
    assert p.plan is None and p.frames_seen == 0


def test_paint_there_at_commissioning_is_reported_once_and_never_opens(holder: ModelHolder) -> None:
    p = pipeline(holder, True)
    samples = run(p, [paint(wall(320, 240), PATCH)] * 20)
    reports = [s.commission for s in samples if s.commission is not None]
    assert len(reports) == 1 and reports[0].tile_scores
    assert kinds(samples) == []


def test_a_rejected_detection_is_forgotten_and_its_tiles_stay_quiet(holder: ModelHolder) -> None:
    p = pipeline(holder, True)
    clean, painted = wall(320, 240), paint(wall(320, 240), PATCH)
    samples = run(p, [clean] * 6 + [painted] * 12)
    (key,) = [d.key for s in samples for d in s.decisions if isinstance(d, Opened)]
    p.set_remote_rejected([("ev-1", PATCH_POLYGON)])
    _, forgotten = step(p, painted, 18)
    assert forgotten == [key] and p.engine is not None and p.engine.open_keys == []
    assert "ev-1" in p.rejected_seen
    later = run(p, [painted] * 15, start=19)
    assert kinds(later) == []  # the paint is the baseline now: no second detection, no cleaning
    p.set_remote_rejected([("ev-1", PATCH_POLYGON)])  # served again by the review service: already done
    assert step(p, painted, 34)[1] == []


def test_a_commission_request_file_is_taken_and_the_baseline_retaken(holder: ModelHolder, tmp_path: Path) -> None:
    p = pipeline(holder, True)
    run(p, [wall(320, 240)] * 6)
    assert p.judge is not None and p.judge.baseline is not None and p.judge.baseline.done
    p.commission_request = tmp_path / "commission-north.request"
    p.commission_request.write_text("retake")
    step(p, wall(320, 240), 6)
    assert not p.commission_request.exists()
    assert p.judge.baseline is not None and p.judge.baseline.started_s >= 30.0  # started again at this sample


def test_a_covered_lens_is_one_tamper_report(holder: ModelHolder) -> None:
    p = pipeline(holder, False, health=HealthConfig(confirm_s=10))
    dark = np.full((240, 320, 3), 3, np.uint8)
    samples = run(p, [wall(320, 240)] * 3 + [dark] * 8)
    reports = [s.tamper for s in samples if s.tamper is not None]
    assert len(reports) == 1 and "dark" in reports[0].reasons
    assert p.health.tampered and not samples[-1].clean_view


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080), (640, 480)])
def test_without_tile_px_the_tiles_are_sized_to_the_frame(holder: ModelHolder, size: tuple[int, int],
                                                           caplog: pytest.LogCaptureFixture) -> None:
    # the model's operating point was measured on 1280x720 views in 320-px tiles: a 1080p camera gets the same
    # cut of its wall (480-px tiles, the same 5 x 3 grid), not 40 smaller tiles
    cfg = CameraConfig(source="rec", interval_s=5, wall=WallConfig(enabled=True, slot_s=5, slots=3, commission_s=10))
    p = SamplePipeline("north", cfg, holder)
    w, h = size
    for i in range(3):
        step(p, wall(w, h), i)
    assert p.plan is not None
    sizes = {(t.xyxy[2] - t.xyxy[0], t.xyxy[3] - t.xyxy[1]) for t in p.plan.tiles}
    expected = {(1280, 720): 320, (1920, 1080): 480, (640, 480): 185}[size]
    assert sizes == {(expected, expected)} and p.tile_px == expected
    if size != (640, 480):
        assert len(p.plan.tiles) == 15
    assert p.judge is not None and p._scale == pytest.approx(holder.current.spec.input_size[1] / expected)
    # a camera under 1280x720 is told once that small pieces read weaker there; 720p and up are not
    small = [r.getMessage() for r in caplog.records if "smaller than the 1280x720" in r.getMessage()]
    assert small == (["camera north: 640x480 frames are smaller than the 1280x720 the model's operating point was "
                      "measured on; small pieces read weaker (at 640x360, 2 of 24 real-wall pieces in IR read under "
                      "the threshold): use a camera mode of at least 1280x720"] if size == (640, 480) else [])


def test_an_explicit_tile_px_wins_over_the_frame_size(holder: ModelHolder) -> None:
    p = SamplePipeline("north", CameraConfig(source="rec", interval_s=5, tiling=TilingConfig(tile_px=320)), holder)
    step(p, wall(1920, 1080), 0)
    assert p.plan is not None and {t.xyxy[2] - t.xyxy[0] for t in p.plan.tiles} == {320} and len(p.plan.tiles) == 40
