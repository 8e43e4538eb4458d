"""The strict config loader: unknown keys and bad values name the key path."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from detector.config import check_range, from_mapping, read_config_file, to_mapping
from detector.errors import ConfigError


@dataclass
class Decision:
    threshold: float = 0.5
    window: int = 5

    def validate(self, prefix: str) -> None:
        check_range(self.threshold, f"{prefix}.threshold", 0.0, 1.0)


@dataclass
class Camera:
    source: str
    decision: Decision = field(default_factory=Decision)
    tags: list[str] = field(default_factory=list)
    mode: str | None = None


@dataclass
class Root:
    cameras: dict[str, Camera] = field(default_factory=dict)
    data_dir: Path = Path("data")


def test_valid_mapping_builds_typed_objects() -> None:
    cfg = from_mapping(Root, {"cameras": {"north": {"source": "a.mp4", "decision": {"threshold": 1}}}})
    assert cfg.cameras["north"].decision.threshold == 1.0
    assert isinstance(cfg.cameras["north"].decision.threshold, float)
    assert cfg.data_dir == Path("data")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"cameras": {"north": {"source": "a", "decision": {"threshold": "high"}}}},
         r"cameras\.north\.decision\.threshold: expected a number, found 'high'"),
        ({"cameras": {"north": {"source": "a", "decision": {"threshold": 1.5}}}},
         r"cameras\.north\.decision\.threshold: expected a value in \[0, 1\], found 1\.5"),
        ({"cameras": {"north": {"source": "a", "decison": {}}}}, r"cameras\.north\.decison: unknown key"),
        ({"cameras": {"north": {}}}, r"cameras\.north\.source: required key is missing"),
        ({"cameras": {"north": {"source": "a", "decision": {"window": True}}}},
         r"cameras\.north\.decision\.window: expected an integer, found True"),
        ({"cameras": {"north": {"source": "a", "tags": ["x", 3]}}}, r"cameras\.north\.tags\[1\]: expected a string"),
        ({"cameras": ["north"]}, r"cameras: expected a table/mapping"),
        ({"cameras": {"north": {"source": "a", "decision": {"threshold": float("nan")}}}},
         r"cameras\.north\.decision\.threshold: expected a value in \[0, 1\], found nan"),
    ],
    ids=["wrong-type", "out-of-range", "unknown-key", "missing-required", "bool-is-not-int", "list-item", "not-a-table",
         "nan-is-out-of-range"],
)
def test_bad_values_name_the_key_path(data: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        from_mapping(Root, data)


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("bad.toml", "cameras = [", r"bad\.toml: invalid TOML"),
        ("bad.yaml", "cameras: [\n", r"bad\.yaml: invalid YAML"),
        ("list.yaml", "- a\n- b\n", r"list\.yaml: expected a mapping at the top level"),
        ("conf.ini", "[a]", r"conf\.ini: expected a \.toml, \.yaml or \.yml"),
    ],
    ids=["toml-syntax", "yaml-syntax", "yaml-not-mapping", "unknown-suffix"],
)
def test_unreadable_config_files_are_one_line_errors(tmp_path: Path, name: str, text: str, match: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as info:
        read_config_file(path)
    assert "\n" not in str(info.value)


def test_missing_config_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.toml: config file not found"):
        read_config_file(tmp_path / "nope.toml")


def test_toml_and_yaml_give_the_same_config(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('[cameras.north]\nsource = "x"\n[cameras.north.decision]\nwindow = 7\n')
    (tmp_path / "a.yaml").write_text("cameras:\n  north:\n    source: x\n    decision: {window: 7}\n")
    a = from_mapping(Root, read_config_file(tmp_path / "a.toml"))
    b = from_mapping(Root, read_config_file(tmp_path / "a.yaml"))
    assert a == b
    assert to_mapping(a)["cameras"]["north"]["decision"]["window"] == 7
