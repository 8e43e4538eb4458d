"""The strict config loader: unknown keys and bad values name the key path."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from detector.config import check_range, from_mapping, json_schema, read_config_file, setting, to_mapping
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


@dataclass
class Sink:
    """A sink with every kind of declared rule."""

    host: str = setting(expect="a host name", doc="where to")
    first_s: float = setting(1.0, ge=0.01, le=60.0)
    most_s: float = setting(10.0, ge="first_s", le=3600.0)
    share: float = setting(1.0, gt=0.0, le=1.0)
    qos: int = setting(1, choices=(1, 2), expect="1 or 2")
    token: str = setting("", pattern="[a-z]*", expect="lower-case letters", secret=True)
    limit: float | None = setting(None, ge=1)
    tables: dict[str, Decision] = setting(factory=dict, keys=("[a-z]+", "a lower-case name"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"first_s": 0}, "sink.first_s: expected a number in [0.01, 60], found 0.0"),
        ({"first_s": "soon"}, "sink.first_s: expected a number in [0.01, 60], found 'soon'"),
        ({"first_s": 5, "most_s": 2}, "sink.most_s: expected a number in [first_s (5), 3600], found 2.0"),
        ({"share": 0}, "sink.share: expected a number in (0, 1], found 0.0"),
        ({"qos": 0}, "sink.qos: expected 1 or 2, found 0"),
        ({"token": "Secret1"}, "sink.token: expected lower-case letters"),
        ({"limit": 0.5}, "sink.limit: expected a number >= 1, found 0.5"),
        ({"limit": "x"}, "sink.limit: expected a number >= 1, found 'x'"),
        ({"tables": {"North": {}}}, "sink.tables.North: expected a lower-case name"),
        ({"tables": {"n": {"threshold": 2}}}, "sink.tables.n.threshold: expected a value in [0, 1], found 2.0"),
    ],
    ids=["below", "wrong-type-names-the-range", "bound-is-another-key", "open-interval", "choices",
         "secret-is-not-echoed", "optional-bound", "optional-wrong-type", "table-names", "nested-validate"],
)
def test_declared_rules_give_one_line_errors_with_the_key_path(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        from_mapping(Sink, {"host": "h", **data}, "sink")
    assert str(info.value) == message


def test_a_required_setting_names_what_it_expects() -> None:
    with pytest.raises(ConfigError, match=r"^sink\.host: required key is missing \(expected a host name\)$"):
        from_mapping(Sink, {}, "sink")
    ok = from_mapping(Sink, {"host": "h", "first_s": 5, "most_s": 5, "limit": None, "tables": {"n": {}}}, "sink")
    assert (ok.most_s, ok.limit, ok.tables["n"].threshold) == (5.0, None, 0.5)


def test_json_schema_states_the_declared_rules() -> None:
    schema = json_schema(Sink)
    props = schema["properties"]
    assert schema["required"] == ["host"] and schema["additionalProperties"] is False
    assert schema["description"] == "A sink with every kind of declared rule."
    assert props["first_s"] == {"type": "number", "minimum": 0.01, "maximum": 60.0, "default": 1.0}
    assert props["most_s"]["x-minimum-field"] == "first_s" and "minimum" not in props["most_s"]
    assert props["share"]["exclusiveMinimum"] == 0.0
    assert props["qos"]["enum"] == [1, 2] and props["token"]["pattern"] == "^(?:[a-z]*)$"
    assert props["limit"] == {"anyOf": [{"type": "number", "minimum": 1}, {"type": "null"}], "default": None}
    assert props["tables"]["propertyNames"] == {"pattern": "^(?:[a-z]+)$"}
    assert props["tables"]["additionalProperties"] == {"$ref": "#/$defs/Decision"}
    assert schema["$defs"]["Decision"]["properties"]["window"] == {"type": "integer", "default": 5}
    assert props["host"]["description"] == "where to" and props["host"]["x-expected"] == "a host name"
