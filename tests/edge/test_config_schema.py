"""The edge config's JSON Schema: generated from the same definitions the loader checks, so both agree."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from detector.config import read_config_file, to_mapping
from detector.edge import config as edge_config
from detector.edge.config import DeliveryConfig, edge_config_schema, parse_edge_config
from detector.errors import ConfigError

from .test_config import BASE, REPO, with_change

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is in the [dev] extra")


def schema_errors(data: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(edge_config_schema())
    return [e.message for e in validator.iter_errors(data)]


def test_the_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(edge_config_schema())


def test_configs_the_loader_accepts_pass_the_schema(tmp_path: Path) -> None:
    example = read_config_file(REPO / "scripts" / "edge.example.toml")
    parse_edge_config(example, REPO / "scripts")
    assert schema_errors(example) == []
    parse_edge_config(BASE, tmp_path)
    assert schema_errors(BASE) == []
    topics = with_change("delivery.mqtt", {"host": "b", "topic_prefix": "city/tunnels", "qos": 2})
    parse_edge_config(topics, tmp_path)
    assert schema_errors(topics) == []


# Rules the schema language states; rules across keys (clean_threshold <= threshold, a token or a
# token_file) stay with the loader and appear in the schema as x-… annotations only.
BOTH_REJECT = [
    ("cameras.north.decision.threshold", "high"),
    ("cameras.north.decision.threshold", 1.5),
    ("cameras.north.decision.windw", 5),
    ("cameras.north.tiling.overlap", 0.95),
    ("cameras.bad name", {"source": "0"}),
    ("defaults.interval_s", -1),
    ("defaults.motion.pixel_delta", 0),
    ("defaults.motion.pixel_delta", 2.5),
    ("device.name", "tunnel 7"),
    ("device", None),
    ("model.threads", 0),
    ("model.thread", 2),
    ("heartbeat_interval_s", 60),
    ("delivery.max_disk_mb", 0),
    ("delivery.mqtt", {"host": "b", "qos": 0}),
    ("delivery.mqtt", {"host": "b", "topic_prefix": "a/#"}),
    ("delivery.mqtt", {"host": "b", "topic_prefix": "a/"}),
    ("delivery.http", {"url": "http://r:8000", "token": "Bearer x"}),
    ("delivery.local", {"max_disk_mb": 5}),
]


@pytest.mark.parametrize(("path", "value"), BOTH_REJECT, ids=[f"{p}={v!r}"[:60] for p, v in BOTH_REJECT])
def test_the_schema_and_the_loader_reject_the_same_values(tmp_path: Path, path: str, value: Any) -> None:
    data = with_change(path, value)
    with pytest.raises(ConfigError):
        parse_edge_config(data, tmp_path)
    assert schema_errors(data), f"the schema accepts {path}={value!r}"


def _config_classes() -> list[type]:
    modules = (edge_config, sys.modules[DeliveryConfig.__module__])  # the delivery config's module, wherever it lives
    return [c for m in modules for c in vars(m).values()
            if isinstance(c, type) and dataclasses.is_dataclass(c) and c.__module__ == m.__name__]


def test_schema_defaults_and_descriptions_come_from_the_classes() -> None:
    defs = edge_config_schema()["$defs"]
    checked = 0
    for cls in _config_classes():
        if cls.__name__ not in defs:
            continue
        props = defs[cls.__name__]["properties"]
        assert list(props) == [f.name for f in dataclasses.fields(cls)]
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                assert props[f.name]["default"] == to_mapping(f.default), f"{cls.__name__}.{f.name}"
                checked += 1
            if f.metadata.get("doc"):
                assert props[f.name]["description"] == f.metadata["doc"]
    assert checked > 50
    wall = defs["WallConfig"]["properties"]
    assert (wall["slots"]["minimum"], wall["slots"]["maximum"], wall["slots"]["default"]) == (3, 99, 9)
    assert defs["DeliveryConfig"]["properties"]["retry_max_s"]["x-minimum-field"] == "retry_initial_s"


def cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "detector", "edge", *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd)


def test_config_schema_command_prints_and_writes_the_schema(tmp_path: Path) -> None:
    res = cli("config-schema")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == edge_config_schema()
    res = cli("config-schema", "--out", str(tmp_path / "edge.schema.json"))
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "edge.schema.json").read_text(encoding="utf-8")) == edge_config_schema()
    res = cli("config-schema", "--out", str(tmp_path / "missing" / "x.json"))
    assert res.returncode == 2 and res.stderr.startswith("error: --out: cannot write") and "Traceback" not in res.stderr
