"""``graffiti review export``: decisions become a manifest dataset that the data loader and
``graffiti train`` read directly."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from detector.review import ingest, store, workflow
from detector.review.db import make_engine, make_sessionmaker
from tests.review.conftest import TEST_DB, make_site, site_db_url
from tests.review.helpers import REPO, detection

# camera → (device, [(action, reason)]) : every camera gets both labels, so any group split can train.
PLAN = {
    "north": ("pi-1", [("confirm", ""), ("reject", "poster"), ("cleaned", "")]),
    "south": ("pi-1", [("confirm", ""), ("reject", "shadow"), ("accept_region", "")]),
    "east": ("pi-2", [("confirm", ""), ("reject", "person"), (None, "")]),  # None: left open → not exported
}


def _decided_site(tmp_path: Path) -> Path:
    site = make_site(tmp_path / "data")
    sm = make_sessionmaker(make_engine(site_db_url(site.data)))
    seed = 0
    for camera, (device, actions) in PLAN.items():
        for action, reason in actions:
            ev, files = detection(device=device, camera=camera, seed=seed)
            seed += 1
            event = ingest.parse_event(json.dumps(ev))
            meta = ingest.write_evidence(site.data / "evidence", event, ingest.match_files(event, files, 10**7))
            assert store.insert_event(sm, event, meta)
            if action:
                workflow.decide(sm, event["id"], action, "alice", reason=reason)
    return site.data


def _export(data: Path, out: Path) -> subprocess.CompletedProcess[str]:
    db = ["--db", TEST_DB] if TEST_DB else []
    return subprocess.run([sys.executable, "-m", "detector", "review", "export", "--data", str(data), "--out", str(out), *db],
                          capture_output=True, text=True, cwd=REPO, timeout=120)


def test_export_writes_a_manifest_the_dataset_loader_reads_grouped_by_camera(tmp_path: Path) -> None:
    from detector.data.formats import load_dataset

    data = _decided_site(tmp_path)
    out = tmp_path / "export"
    r = _export(data, out)
    assert r.returncode == 0, r.stderr
    samples = load_dataset(str(out))
    assert {s.group for s in samples} == {"north", "south", "east"}
    assert all(s.source == f"review:{s.group}" for s in samples)
    by_kind: dict[tuple[int, str | None], int] = {}
    for s in samples:
        by_kind[(s.label, s.kind)] = by_kind.get((s.label, s.kind), 0) + 1
    # confirmed + cleaned alerts are graffiti; rejected ones keep their reason; the accepted one is a mural.
    assert {k for k in by_kind} == {(1, "confirmed"), (0, "poster"), (0, "shadow"), (0, "person"), (0, "mural")}
    flagged_per_alert = len([t for t in detection()[0]["tiles"] if t["score"] >= 0.6])
    assert by_kind[(1, "confirmed")] == 4 * flagged_per_alert
    assert sum(by_kind.values()) == 8 * flagged_per_alert  # the open alert is not exported
    import cv2

    first = cv2.imread(str(samples[0].path))
    assert first is not None and first.shape[:2] == (160, 160)  # one tile of the frame
    with (out / "provenance.csv").open() as fh:
        prov = {row["path"]: row for row in csv.DictReader(fh)}
    assert len(prov) == len(samples)
    some = prov[samples[0].path.relative_to(out).as_posix()]
    assert some["decided_by"] == "alice" and len(some["event_id"]) == 36


def test_export_refuses_to_write_into_an_unrelated_folder(tmp_path: Path) -> None:
    data = _decided_site(tmp_path)
    out = tmp_path / "somewhere"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    r = _export(data, out)
    assert r.returncode == 2 and "not an earlier review export" in r.stderr
    assert (out / "precious.txt").exists()


@pytest.mark.train
def test_graffiti_train_runs_on_the_export(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    data = _decided_site(tmp_path)
    out = tmp_path / "export"
    assert _export(data, out).returncode == 0
    run = tmp_path / "run"
    r = subprocess.run(
        [sys.executable, "-m", "detector", "train", "--data", str(out), "--arch", "mobilenet_v3_small",
         "--weights", "none", "--epochs", "1", "--batch-size", "8", "--input-px", "64", "--threads", "1",
         "--val-fraction", "0.34", "--out", str(run)],
        capture_output=True, text=True, cwd=REPO, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert (run / "best.pt").is_file() or (run / "last.pt").is_file()
    manifest = (run / "data_manifest.csv").read_text()
    assert "review:north" in manifest
