"""Strict, typed config loading shared by every subsystem.

Configs are dataclasses. ``from_mapping`` builds one from a parsed TOML/YAML mapping, rejecting
unknown keys and wrong types with a ``ConfigError`` that names the key path, the expected and the
found value (e.g. ``cameras.north.decision.threshold: expected a number in [0, 1], found 'high'``).
Loading does no I/O beyond reading the one file.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from detector.errors import ConfigError

T = TypeVar("T")


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a TOML (``.toml``) or YAML (``.yaml``/``.yml``) file into a mapping."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc})") from None
    suffix = path.suffix.lower()
    if suffix == ".toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10 on older Pi OS images
            import tomli as tomllib
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    elif suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{path}: invalid YAML{where}: {getattr(exc, 'problem', exc)}") from None
        if data is None:
            data = {}
    else:
        raise ConfigError(f"{path}: expected a .toml, .yaml or .yml config file, found '{suffix or 'no suffix'}'")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, found {type(data).__name__}")
    return data


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (list, tuple):
        args = get_args(tp)
        return f"a list of {_type_name(args[0])}" if args else "a list"
    if origin is dict:
        return "a table/mapping"
    if dataclasses.is_dataclass(tp):
        return "a table/mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false",
            type(None): "nothing", Path: "a path string"}.get(tp, getattr(tp, "__name__", str(tp)))


def _convert(tp: Any, value: Any, key: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, key)
            except ConfigError as exc:
                errors.append(exc)
        if len(errors) == 1:  # ``X | None``: the inner error names the nested key path (e.g. delivery.http.url)
            raise errors[0]
        raise ConfigError(f"{key}: expected {_type_name(tp)}, found {_describe(value)}")
    if origin is typing.Literal:
        if value in get_args(tp):
            return value
        raise ConfigError(f"{key}: expected {_type_name(tp)}, found {_describe(value)}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table/mapping, found {_describe(value)}")
        return from_mapping(tp, value, key)  # type: ignore[type-var,arg-type]
    if origin is list or tp is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected {_type_name(tp)}, found {_describe(value)}")
        (item_tp,) = get_args(tp) or (Any,)
        return [_convert(item_tp, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is tuple or tp is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected {_type_name(tp)}, found {_describe(value)}")
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
        if args and len(args) != len(value):
            raise ConfigError(f"{key}: expected a list of {len(args)} values, found {len(value)} values")
        return tuple(_convert(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=False)))
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table/mapping, found {_describe(value)}")
        args = get_args(tp)
        val_tp = args[1] if args else Any
        return {str(k): _convert(val_tp, v, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, found {_describe(value)}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, found {_describe(value)}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected a number, found {_describe(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, found {_describe(value)}")
    if tp is Path:
        if isinstance(value, str) and value:
            return Path(value)
        raise ConfigError(f"{key}: expected a path string, found {_describe(value)}")
    return value


def from_mapping(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``: unknown keys and wrong types raise ConfigError.

    A dataclass may define ``validate(self, prefix: str) -> None`` for range checks; it is called
    after construction and should raise ConfigError naming ``f"{prefix}.field"``.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    dotted = (prefix + ".") if prefix else ""
    unknown = sorted(set(data) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields))
        raise ConfigError(f"{dotted}{unknown[0]}: unknown key (expected one of: {known})")
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        key = f"{dotted}{name}"
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], key)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{key}: required key is missing (expected {_type_name(hints[name])})")
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate(prefix)
    return obj


def check_range(value: float, key: str, lo: float | None = None, hi: float | None = None) -> None:
    """Raise ConfigError unless ``lo <= value <= hi`` (either bound may be None; NaN never passes)."""
    if value != value or (lo is not None and value < lo) or (hi is not None and value > hi):
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        raise ConfigError(f"{key}: expected a value in [{lo_s}, {hi_s}], found {_describe(value)}")


def to_mapping(obj: Any) -> Any:
    """The inverse of from_mapping: dataclasses → plain dicts/lists, Paths → strings (for YAML/JSON dumps)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_mapping(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_mapping(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_mapping(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj
