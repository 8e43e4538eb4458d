"""Deterministic event ids: a replay of the same recording gives the same ids, and the real review
service stores each once (a repeated id is a duplicate), so a replay never reports graffiti twice."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from detector.edge.evidence import event_id
from tests.conftest import REPO
from tests.edge.conftest import free_port, wait_until
from tests.edge.edge_models import redness_model, write_folder
from tests.edge.test_runner import scene

BASE = {"device": "pi-1", "camera": "north", "source": "/rec/a.mp4", "kind": "graffiti_detected",
        "source_time_s": 125.0, "tiles": (3, 4, 9)}


@pytest.mark.parametrize(
    ("change", "same"),
    [
        ({}, True),
        ({"tiles": (9, 4, 3)}, True),  # a group, not a sequence
        ({"source_time_s": 125.0004}, True),  # millisecond resolution
        ({"device": "pi-2"}, False),
        ({"camera": "south"}, False),
        ({"source": "/rec/b.mp4"}, False),
        ({"kind": "graffiti_cleaned"}, False),
        ({"source_time_s": 130.0}, False),
        ({"tiles": (3, 4)}, False),
    ],
    ids=["same", "tile-order", "sub-ms", "device", "camera", "source", "type", "time", "tile-group"],
)
def test_event_id_depends_on_exactly_what_identifies_the_event(change: dict[str, Any], same: bool) -> None:
    a = event_id(**BASE)  # type: ignore[arg-type]
    b = event_id(**{**BASE, **change})  # type: ignore[arg-type]
    assert (a == b) is same
    assert len(a) == 36 and a[14] == "5"  # a version-5 UUID: accepted by the event schema


def edge_toml(run: Path, frames: Path, model: Path, sinks: str) -> Path:
    toml = run / "edge.toml"
    run.mkdir(parents=True, exist_ok=True)
    toml.write_text(
        f"[device]\nname = 'pi-1'\ndata_dir = '{run / 'data'}'\n[model]\npath = '{model}'\nthreads = 1\n"
        f"[cameras.north]\nsource = '{frames}'\n[cameras.north.tiling]\ntile_px = 64\n"
        "[cameras.north.decision]\nwindow = 5\nconfirm_s = 20\nclean_s = 60\n"
        "[cameras.north.wall]\nslot_s = 5\nslots = 3\ncommission_s = 10\n" + sinks)
    return toml


def run_fast(toml: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "detector", "edge", "run", "--config", str(toml), "--fast"],
                         cwd=REPO, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr


def local_events(run: Path) -> list[tuple[str, str]]:
    found = [json.loads(p.read_text()) for p in (run / "data" / "events" / "events").glob("*/*/event.json")]
    return sorted((e["type"], e["id"]) for e in found)


def test_replaying_a_recording_from_scratch_gives_the_same_event_ids(tmp_path: Path) -> None:
    model = redness_model(tmp_path / "model.onnx")
    write_folder(tmp_path / "frames", scene(60, paint_from=10, paint_until=30), interval_s=5)
    runs = []
    for name in ("first", "replay"):
        run = tmp_path / name
        run_fast(edge_toml(run, tmp_path / "frames", model, "[delivery.local]\ndir = 'events'\n"))
        runs.append(local_events(run))
    assert [t for t, _ in runs[0]] == ["graffiti_cleaned", "graffiti_detected"]
    assert runs[0] == runs[1]


@pytest.mark.slow
def test_the_real_review_service_stores_a_replayed_recording_once(tmp_path: Path) -> None:
    pytest.importorskip("fastapi", reason="needs the [review] extra")
    from tests.edge.test_delivery_review import serve
    from tests.review.conftest import make_site

    site = make_site(tmp_path / "review")
    port = free_port()
    proc = serve(site.data, port)
    try:
        assert wait_until(lambda: _up(port), 30.0)
        model = redness_model(tmp_path / "model.onnx")
        write_folder(tmp_path / "frames", scene(60, paint_from=10, paint_until=30), interval_s=5)
        sinks = f"[delivery.http]\nurl = 'http://127.0.0.1:{port}'\ntoken = '{site.token}'\n"
        for name in ("first", "replay"):  # the replay has an empty outbox: nothing remembers the first run
            run_fast(edge_toml(tmp_path / name, tmp_path / "frames", model, sinks))
    finally:
        proc.terminate()
        proc.wait(10)
    with sqlite3.connect(site.data / "review.sqlite3") as conn:
        rows = conn.execute("SELECT type, status FROM events ORDER BY time_utc").fetchall()
    assert [r[0] for r in rows] == ["graffiti_detected", "graffiti_cleaned"], rows


def _up(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False
