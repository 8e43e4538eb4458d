"""The local-only sink: complete event folders appear atomically, once per id, within a size cap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detector.config import from_mapping
from detector.edge.delivery.config import DeliveryConfig, LocalSinkConfig
from detector.edge.delivery.sender import Delivery, open_outbox
from detector.edge.delivery.sinks import LocalSink, TransientSinkError
from detector.events import Heartbeat
from tests.edge.conftest import make_event


def on_disk(tmp_path: Path, files: dict[str, bytes]) -> dict[str, Path]:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    for name, blob in files.items():
        (src / name).write_bytes(blob)
    return {name: src / name for name in files}


def event_dirs(root: Path) -> list[Path]:
    return sorted(p for p in (root / "events").glob("*/*") if p.is_dir())


def test_event_folder_holds_json_and_evidence(tmp_path: Path) -> None:
    sink = LocalSink(LocalSinkConfig(dir=tmp_path / "out"))
    ev, files = make_event(camera="north")
    sink.send_event(ev.to_dict(), on_disk(tmp_path, files))
    (folder,) = event_dirs(tmp_path / "out")
    assert folder.name.endswith(f"_north_graffiti_detected_{ev.id}")
    assert folder.parent.name == ev.time[:10]
    assert json.loads((folder / "event.json").read_text())["id"] == ev.id
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "event.json"} == files
    assert not list((tmp_path / "out" / ".staging").iterdir())  # nothing half-written left behind


def test_a_failed_write_leaves_only_complete_event_folders_under_events(tmp_path: Path) -> None:
    # a reader polls events/*/*/event.json while the edge writes: the folder being assembled (here one
    # whose copy fails half way) must never sit under events/, where it could vanish mid-walk
    sink = LocalSink(LocalSinkConfig(dir=tmp_path / "out"))
    done, done_files = make_event()
    sink.send_event(done.to_dict(), on_disk(tmp_path, done_files))
    ev, files = make_event()
    paths = on_disk(tmp_path, files)
    paths["crop.jpg"].unlink()
    paths["crop.jpg"].mkdir()  # copying a folder as a file fails after the event's folder was started
    with pytest.raises(TransientSinkError):
        sink.send_event(ev.to_dict(), paths)
    events = tmp_path / "out" / "events"
    days = [p for p in events.iterdir()]
    assert [p.name for p in days] == [done.time[:10]]  # nothing but day folders under events/
    assert [p.name for p in event_dirs(tmp_path / "out")] == [p.name for p in days[0].iterdir()]
    assert all((p / "event.json").is_file() for p in event_dirs(tmp_path / "out"))
    assert [p.name for p in (tmp_path / "out" / ".staging").iterdir()] == [ev.id]  # the half-made one, aside


def test_resending_an_event_does_not_duplicate_it(tmp_path: Path) -> None:
    sink = LocalSink(LocalSinkConfig(dir=tmp_path / "out"))
    ev, files = make_event()
    paths = on_disk(tmp_path, files)
    sink.send_event(ev.to_dict(), paths)
    sink.send_event(ev.to_dict(), paths)
    assert len(event_dirs(tmp_path / "out")) == 1


def test_half_written_temp_folder_from_a_crash_is_replaced(tmp_path: Path) -> None:
    sink = LocalSink(LocalSinkConfig(dir=tmp_path / "out"))
    ev, files = make_event()
    stale = tmp_path / "out" / ".staging" / ev.id
    stale.mkdir(parents=True)
    (stale / "frame.jpg").write_bytes(b"trunc")
    sink.send_event(ev.to_dict(), on_disk(tmp_path, files))
    (folder,) = event_dirs(tmp_path / "out")
    assert (folder / "frame.jpg").read_bytes() == files["frame.jpg"]
    assert not stale.exists()


def test_size_cap_removes_the_oldest_event_folders(tmp_path: Path) -> None:
    sink = LocalSink(LocalSinkConfig(dir=tmp_path / "out", max_disk_mb=50_000 / 1048576))
    ids = []
    for _ in range(5):
        ev, files = make_event(frame_bytes=20_000)
        sink.send_event(ev.to_dict(), on_disk(tmp_path, files))
        ids.append(ev.id)
    kept = [p.name.rsplit("_", 1)[1] for p in event_dirs(tmp_path / "out")]
    assert ids[-1] in kept and ids[0] not in kept
    assert sum(f.stat().st_size for p in event_dirs(tmp_path / "out") for f in p.iterdir()) <= 50_000


def test_heartbeat_replaces_heartbeat_json(tmp_path: Path) -> None:
    sink = LocalSink(LocalSinkConfig(dir=tmp_path / "out"))
    sink.send_heartbeat(Heartbeat(device="d", outbox_depth=1).to_dict())
    sink.send_heartbeat(Heartbeat(device="d", outbox_depth=2).to_dict())
    assert json.loads((tmp_path / "out" / "heartbeat.json").read_text())["outbox_depth"] == 2


def test_local_only_config_delivers_through_the_outbox(tmp_path: Path) -> None:
    cfg = from_mapping(DeliveryConfig, {"local": {"dir": "events"}}, "delivery").resolved(tmp_path)
    outbox = open_outbox(cfg)
    delivery = Delivery(cfg, outbox, "tunnel-7")
    delivery.start()
    ev, files = make_event()
    outbox.put_event(ev, files)
    assert delivery.flush(5.0)
    delivery.stop(2.0)
    (folder,) = event_dirs(tmp_path / "events")
    assert (folder / "crop.jpg").read_bytes() == files["crop.jpg"]


def test_local_dir_that_is_a_file_is_a_config_error_at_start(tmp_path: Path) -> None:
    from detector.errors import ConfigError

    (tmp_path / "events").write_text("not a folder")
    with pytest.raises(ConfigError, match=r"delivery\.local\.dir: .*events is a file; expected a folder"):
        LocalSink(LocalSinkConfig(dir=tmp_path / "events"))


def test_local_sink_has_a_default_size_cap_and_prunes_the_oldest_first(tmp_path: Path) -> None:
    from detector.config import from_mapping

    cfg = from_mapping(LocalSinkConfig, {"dir": str(tmp_path / "out")}, "delivery.local")
    assert cfg.max_disk_mb == 1024.0  # bounded by default: a device runs for months
    small = LocalSinkConfig(dir=tmp_path / "out", max_disk_mb=100_000 / 1048576)
    sink = LocalSink(small)
    ids = []
    for _ in range(12):
        ev, files = make_event(frame_bytes=20_000)
        sink.send_event(ev.to_dict(), on_disk(tmp_path, files))
        ids.append(ev.id)
    kept = sorted((p.name.rsplit("_", 1)[1] for p in event_dirs(tmp_path / "out")), key=ids.index)
    assert kept == ids[-len(kept):] and 2 <= len(kept) < 12  # a contiguous run of the newest
    assert sum(f.stat().st_size for p in event_dirs(tmp_path / "out") for f in p.iterdir()) <= 100_000
    sink2 = LocalSink(small)  # a restart lists the folders again and keeps pruning in order
    ev, files = make_event(frame_bytes=20_000)
    sink2.send_event(ev.to_dict(), on_disk(tmp_path, files))
    kept2 = [p.name.rsplit("_", 1)[1] for p in event_dirs(tmp_path / "out")]
    assert ev.id in kept2 and kept[0] not in kept2
