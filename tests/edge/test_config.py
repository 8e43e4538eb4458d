"""Edge config: defaults merged into cameras, errors naming the key path, check-config one-liners."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from detector.edge.config import load_edge_config, parse_edge_config
from detector.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]

BASE: dict[str, Any] = {
    "device": {"name": "tunnel-7"},
    "model": {"path": "models/m.onnx", "threads": 2},
    "defaults": {"interval_s": 5, "decision": {"confirm_s": 45, "window": 8}, "tiling": {"tile_px": 256}},
    "cameras": {
        "north": {"source": "rtsp://cam-north/stream", "decision": {"threshold": 0.7}},
        "south": {"source": "frames/south", "interval_s": 2, "watch": [[[0, 0], [100, 0], [100, 80]]]},
    },
    "delivery": {"local": {"dir": "events"}},
}


def with_change(path: str, value: Any) -> dict[str, Any]:
    """BASE with one key set (dotted path; missing tables are created; value None deletes the key)."""
    data = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value
    return data


def test_camera_sections_override_defaults_key_by_key(tmp_path: Path) -> None:
    cfg = parse_edge_config(BASE, tmp_path)
    north, south = cfg.cameras["north"], cfg.cameras["south"]
    assert north.decision.threshold == 0.7 and north.decision.confirm_s == 45 and north.decision.window == 8
    assert south.decision.threshold is None and south.decision.confirm_s == 45
    assert north.interval_s == 5 and south.interval_s == 2
    assert north.tiling.tile_px == 256 and north.tiling.overlap == 0.25
    assert north.motion.enabled and north.health.confirm_s == 60.0


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    cfg = parse_edge_config(BASE, tmp_path)
    assert cfg.model.path == tmp_path / "models/m.onnx"
    assert cfg.cameras["south"].source == str(tmp_path / "frames/south")
    assert cfg.cameras["north"].source == "rtsp://cam-north/stream"
    assert cfg.delivery.outbox_path == tmp_path / "outbox/outbox.sqlite3"
    assert cfg.delivery.local is not None and cfg.delivery.local.dir == tmp_path / "events"


def test_defaults_apply_when_sections_are_absent(tmp_path: Path) -> None:
    cfg = parse_edge_config({"device": {"name": "d1"}, "cameras": {"a": {"source": "0"}}}, tmp_path)
    cam = cfg.cameras["a"]
    assert (cam.interval_s, cam.tiling.tile_px, cam.tiling.overlap, cam.decision.window) == (5.0, None, 0.25, 10)
    # unset tile_px: tiles sized to the frame, a ninth of its area
    assert [cam.tiling.tile_for(s) for s in ((1280, 720), (1920, 1080), (640, 480), (3840, 2160))] == [320, 480, 185, 960]
    # No models/ beside the config: the bundled model is used.
    assert cfg.model.threads == 4 and cfg.model.path.name == "graffiti-effnetlite0.onnx" and cfg.model.path.is_file()
    assert cfg.device.heartbeat_interval_s == 60.0 and cfg.review.accepted_regions_poll_s == 300.0


ERRORS = [
    ("cameras.north.decision.threshold", "high", r"cameras\.north\.decision\.threshold: expected"),
    ("cameras.north.decision.threshold", 1.5, r"cameras\.north\.decision\.threshold: expected a number in \[0, 1\], found 1\.5"),
    ("cameras.north.decision.clean_threshold", 0.9, r"cameras\.north\.decision\.clean_threshold: expected a value <= threshold"),
    ("cameras.north.decision.windw", 5, r"cameras\.north\.decision\.windw: unknown key"),
    ("cameras.north.tiling.overlap", 0.95, r"cameras\.north\.tiling\.overlap"),
    ("cameras.north.source", None, r"cameras\.north\.source: expected a camera URL"),
    ("cameras.south.watch", [[[0, 0], [10, 0]]], r"cameras\.south\.watch\[0\]: expected a polygon of at least 3"),
    ("cameras.south.ignore", [[[0, 0], [10, -1], [5, 5]]], r"cameras\.south\.ignore\[0\]\[1\]: expected frame pixels"),
    ("cameras.bad name", {"source": "0"}, r"cameras\.bad name: expected a camera name"),
    ("cameras", {}, r"cameras: expected at least one"),
    ("defaults.interval_s", -1, r"defaults\.interval_s: expected a number in \[0, 3600\], found -1"),
    ("defaults.decision.confirm_s", "long", r"defaults\.decision\.confirm_s: expected a number"),
    ("defaults.motion.pixel_delta", 0, r"defaults\.motion\.pixel_delta"),
    ("defaults.health.shift_px", 0, r"defaults\.health\.shift_px"),
    ("device.name", "tunnel 7", r"device\.name: expected letters"),
    ("device", None, r"device: required key is missing"),
    ("model.threads", 0, r"model\.threads: expected an integer in \[1, 64\], found 0"),
    ("model.thread", 2, r"model\.thread: unknown key"),
    ("review.url", "ftp://x", r"review\.url: expected an http"),
    ("delivery.http", {"url": "http://review:8000"}, r"delivery\.http\.token: expected the device token"),
    ("delivery.max_disk_mb", 0, r"delivery\.max_disk_mb"),
    ("heartbeat_interval_s", 60, r"heartbeat_interval_s: unknown key"),
]


@pytest.mark.parametrize(("path", "value", "match"), ERRORS, ids=[f"{p}={v!r}"[:60] for p, v, _ in ERRORS])
def test_bad_config_names_the_key_path(tmp_path: Path, path: str, value: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_edge_config(with_change(path, value), tmp_path)


def test_yaml_config_loads_like_toml(tmp_path: Path) -> None:
    p = tmp_path / "edge.yaml"
    p.write_text("device: {name: d1}\ncameras:\n  a: {source: '0', decision: {threshold: 0.6}}\n")
    assert load_edge_config(p).cameras["a"].decision.threshold == 0.6


def test_the_committed_example_config_is_valid() -> None:
    cfg = load_edge_config(REPO / "scripts" / "edge.example.toml")
    assert cfg.cameras and cfg.device.name


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "detector", "edge", *args], capture_output=True, text=True,
                          timeout=60, cwd=REPO)


CLI_ERRORS = [
    ("missing_file", None, "config file not found"),
    ("bad_toml", "device = {name = \n", "invalid TOML"),
    ("bad_value", "[device]\nname = 'd'\n[cameras.north]\nsource = '0'\n[cameras.north.decision]\nthreshold = 'x'\n",
     "cameras.north.decision.threshold: expected"),
    ("unknown_key", "[device]\nname = 'd'\ncolour = 'red'\n[cameras.a]\nsource = '0'\n", "device.colour: unknown key"),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CLI_ERRORS], ids=[c[0] for c in CLI_ERRORS])
def test_check_config_prints_one_line_errors(tmp_path: Path, text: str | None, expected: str) -> None:
    p = tmp_path / "edge.toml"
    if text is not None:
        p.write_text(text)
    res = cli("check-config", str(p))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], res.stderr
    assert "Traceback" not in res.stderr


def test_check_config_summarises_a_good_file(tmp_path: Path) -> None:
    p = tmp_path / "edge.toml"
    p.write_text("[device]\nname = 'd'\n[cameras.north]\nsource = 'rtsp://x/y'\n[delivery.local]\ndir = 'ev'\n")
    res = cli("check-config", str(p))
    assert res.returncode == 0, res.stderr
    assert "OK" in res.stdout and "north: rtsp://x/y" in res.stdout and "sinks: local" in res.stdout
