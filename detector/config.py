"""Strict, typed config loading shared by every subsystem.

Configs are dataclasses whose fields are declared with ``setting()``: the default, a description
and the rules a value must meet (``ge``/``le``/``gt``/``lt`` bounds, a ``pattern``, ``choices``,
a ``keys`` pattern for tables of named sections, an ``expect`` text for rules checked in code).
``from_mapping`` builds one from a parsed TOML/YAML mapping and enforces those rules, rejecting
unknown keys, wrong types and values out of range with a ``ConfigError`` that names the key path,
the expected and the found value (e.g. ``cameras.north.decision.threshold: expected a number in
[0, 1], found 'high'``). A dataclass's ``validate(prefix)`` adds rules that span several fields.
``json_schema`` turns the same definitions into a JSON Schema (the generated config reference and
``graffiti edge config-schema`` read it), so the rules have one home. Loading does no I/O beyond
reading the one file.

Plain dataclasses and this small validator instead of pydantic: the edge runs on a Raspberry Pi
with a memory goal, and importing pydantic with the edge config's models costs about 10 MB RSS on
top of a loaded edge (19 MB on its own), more than the whole loader needs.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
import types
import typing
from collections.abc import Callable
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


def setting(
    default: Any = dataclasses.MISSING,
    *,
    factory: Callable[[], Any] | None = None,
    doc: str = "",
    ge: float | str | None = None,
    le: float | None = None,
    gt: float | None = None,
    lt: float | None = None,
    multiple_of: int | None = None,
    pattern: str | None = None,
    choices: tuple[Any, ...] | None = None,
    keys: tuple[str, str] | None = None,
    expect: str = "",
    secret: bool = False,
) -> Any:
    """A config dataclass field: its default (or ``factory``), description and rules, kept in its metadata.

    ``ge``/``le``/``gt``/``lt`` bound a number; ``ge`` may name another field of the same table
    (``ge="retry_initial_s"``), whose value is then the bound; ``multiple_of`` asks for a multiple
    of that number. ``pattern`` is a regular expression the whole string must match and needs
    ``expect``, the words of the error (``expect`` alone documents a rule that ``validate``
    checks). ``choices`` lists the allowed values. ``keys`` is ``(pattern, words)`` for each key of
    a table of named sections. ``secret`` keeps the value out of error messages. Without a default
    (or factory) the key is required.
    """
    if (pattern is not None or choices is not None) and not expect:
        raise TypeError("setting(pattern=…/choices=…) needs expect=, the words of the error")
    meta: dict[str, Any] = {"doc": doc}
    for name, value in (("ge", ge), ("le", le), ("gt", gt), ("lt", lt), ("multiple_of", multiple_of),
                        ("pattern", pattern), ("choices", choices), ("keys", keys)):
        if value is not None:
            meta[name] = value
    if expect:
        meta["expect"] = expect
    if secret:
        meta["secret"] = True
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def _bound_text(bound: float | str, values: dict[str, Any] | None) -> str:
    if isinstance(bound, str):  # another field of the table
        found = None if values is None else values.get(bound)
        return bound if found is None else f"{bound} ({_num(found)})"
    return _num(bound)


def range_text(meta: Any, values: dict[str, Any] | None = None) -> str:
    """The bounds of a ``setting`` as words: ``in [0, 0.9]``, ``>= 1``, ``in (0, 1]`` or ''."""
    lo_op = "ge" if "ge" in meta else "gt" if "gt" in meta else None
    hi_op = "le" if "le" in meta else "lt" if "lt" in meta else None
    if lo_op and hi_op:
        return (f"in {'[' if lo_op == 'ge' else '('}{_bound_text(meta[lo_op], values)}, "
                f"{_bound_text(meta[hi_op], values)}{']' if hi_op == 'le' else ')'}")
    if lo_op:
        return f"{'>=' if lo_op == 'ge' else '>'} {_bound_text(meta[lo_op], values)}"
    if hi_op:
        return f"{'<=' if hi_op == 'le' else '<'} {_bound_text(meta[hi_op], values)}"
    return ""


def _without_none(tp: Any) -> Any:
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def expected_text(tp: Any, meta: Any, values: dict[str, Any] | None = None) -> str:
    """What a field takes, in the words of its errors: ``a number in [0, 0.9]``, or its ``expect``."""
    if meta.get("expect"):
        return str(meta["expect"])
    rng = range_text(meta, values)
    name = _type_name(_without_none(tp))
    return f"{name} {rng}" if rng else name


def _found(value: Any, meta: Any) -> str:
    return "" if meta.get("secret") else f", found {_describe(value)}"


def _check_rules(cls: type, hints: dict[str, Any], obj: Any, prefix: str) -> None:
    """Enforce the ``setting`` rules of each field of a built config object (bounds, pattern, choices, keys)."""
    fields = [f for f in dataclasses.fields(cls) if f.init and f.metadata]
    values = {f.name: getattr(obj, f.name) for f in dataclasses.fields(cls)}
    dotted = (prefix + ".") if prefix else ""
    for f in fields:
        meta, value, key = f.metadata, values[f.name], f"{dotted}{f.name}"
        if value is None:
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            bad = value != value  # NaN is in no range
            for op in ("ge", "gt", "le", "lt"):
                bound = meta.get(op)
                if isinstance(bound, str):
                    bound = values.get(bound)
                if bound is None:
                    continue
                bad = bad or {"ge": value < bound, "gt": value <= bound, "le": value > bound, "lt": value >= bound}[op]
            if bad:
                raise ConfigError(f"{key}: expected {expected_text(hints[f.name], meta, values)}{_found(value, meta)}")
            if "multiple_of" in meta and value % meta["multiple_of"]:
                raise ConfigError(f"{key}: expected a multiple of {meta['multiple_of']}{_found(value, meta)}")
        if "pattern" in meta and isinstance(value, str) and not re.fullmatch(meta["pattern"], value):
            raise ConfigError(f"{key}: expected {meta['expect']}{_found(value, meta)}")
        if "choices" in meta and value not in meta["choices"]:
            raise ConfigError(f"{key}: expected {meta['expect']}{_found(value, meta)}")
        if "keys" in meta and isinstance(value, dict):
            key_pattern, words = meta["keys"]
            for name in value:
                if not re.fullmatch(key_pattern, name):
                    raise ConfigError(f"{key}.{name}: expected {words}")


def rule_error(obj: Any, name: str, prefix: str, found: Any = dataclasses.MISSING) -> ConfigError:
    """The error for field ``name`` of ``obj`` breaking the rule its ``setting(expect=…)`` describes."""
    field = next(f for f in dataclasses.fields(obj) if f.name == name)
    dotted = (prefix + ".") if prefix else ""
    tail = "" if found is dataclasses.MISSING else f", found {found}"
    return ConfigError(f"{dotted}{name}: expected {field.metadata['expect']}{tail}")


def from_mapping(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``: unknown keys, wrong types and broken rules raise ConfigError.

    The rules of each ``setting`` are checked first; then ``validate(self, prefix: str) -> None``,
    if the dataclass defines it, checks what spans fields and should raise ConfigError naming
    ``f"{prefix}.field"``.
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
            try:
                kwargs[name] = _convert(hints[name], data[name], key)
            except ConfigError as exc:
                if not field.metadata or not str(exc).startswith(f"{key}: expected "):
                    raise  # an error deeper down names its own key
                raise ConfigError(
                    f"{key}: expected {expected_text(hints[name], field.metadata)}{_found(data[name], field.metadata)}"
                ) from None
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{key}: required key is missing (expected {expected_text(hints[name], field.metadata)})")
    obj = cls(**kwargs)
    _check_rules(cls, hints, obj, prefix)
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


# ---------------------------------------------------------------- JSON Schema of a config dataclass

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def class_doc(cls: type) -> str:
    """The first paragraph of a config class's docstring, on one line ('' for dataclass's generated one)."""
    doc = cls.__dict__.get("__doc__")
    if not doc or doc.startswith(cls.__name__ + "("):
        return ""
    return " ".join(inspect.cleandoc(doc).split("\n\n")[0].split()).replace("``", "`")


def _rules_schema(meta: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for op, word in (("ge", "minimum"), ("gt", "exclusiveMinimum"), ("le", "maximum"), ("lt", "exclusiveMaximum")):
        bound = meta.get(op)
        if isinstance(bound, str):
            out[f"x-{word}-field"] = bound  # another key of the same table: not expressible in JSON Schema
        elif bound is not None:
            out[word] = bound
    if "multiple_of" in meta:
        out["multipleOf"] = meta["multiple_of"]
    if "pattern" in meta:  # the loader matches the whole string; a JSON Schema pattern matches anywhere
        out["pattern"] = f"^(?:{meta['pattern']})$"
    if "choices" in meta:
        out["enum"] = list(meta["choices"])
    if "keys" in meta:
        out["propertyNames"] = {"pattern": f"^(?:{meta['keys'][0]})$"}
        out["x-keys-expected"] = meta["keys"][1]
    if meta.get("secret"):
        out["writeOnly"] = True
    return out


def json_schema(root: type, title: str = "") -> dict[str, Any]:
    """A JSON Schema (2020-12) of config dataclass ``root``: types, defaults, descriptions and rules.

    Each nested config class is one entry of ``$defs`` (inherited fields flattened in). Rules the
    schema language cannot state (a bound that is another key, rules checked in ``validate``) are
    kept as ``x-…`` annotations and in ``x-expected``, the words the loader's error uses.
    """
    defs: dict[str, dict[str, Any]] = {}

    def of_type(tp: Any) -> dict[str, Any]:
        origin = get_origin(tp)
        if tp is Any:
            return {}
        if origin in (Union, types.UnionType):
            return {"anyOf": [of_type(a) for a in get_args(tp)]}
        if tp is type(None):
            return {"type": "null"}
        if origin is typing.Literal:
            return {"enum": list(get_args(tp))}
        if dataclasses.is_dataclass(tp):
            cls = typing.cast(type, tp)
            if cls.__name__ not in defs:
                defs[cls.__name__] = {}  # placeholder against recursion
                defs[cls.__name__] = of_class(cls)
            return {"$ref": f"#/$defs/{cls.__name__}"}
        if origin is list or tp is list:
            (item,) = get_args(tp) or (Any,)
            return {"type": "array", "items": of_type(item)}
        if origin is tuple:
            args = get_args(tp)
            if len(args) == 2 and args[1] is Ellipsis:
                return {"type": "array", "items": of_type(args[0])}
            return {"type": "array", "prefixItems": [of_type(a) for a in args], "items": False,
                    "minItems": len(args), "maxItems": len(args)}
        if origin is dict or tp is dict:
            args = get_args(tp)
            return {"type": "object", "additionalProperties": of_type(args[1]) if args else {}}
        simple = {bool: {"type": "boolean"}, int: {"type": "integer"}, float: {"type": "number"},
                  str: {"type": "string"}, Path: {"type": "string", "format": "path"}}
        return dict(simple.get(tp, {}))

    def of_field(tp: Any, field: dataclasses.Field) -> dict[str, Any]:
        inner = _without_none(tp)
        schema = of_type(inner)
        rules = _rules_schema(field.metadata)
        if rules:
            schema = {**schema, **rules} if "$ref" not in schema else {"allOf": [schema], **rules}
        if inner is not tp:
            schema = {"anyOf": [schema, {"type": "null"}]}
        if field.metadata.get("doc"):
            schema["description"] = field.metadata["doc"]
        if field.metadata.get("expect"):
            schema["x-expected"] = field.metadata["expect"]
        if field.default is not dataclasses.MISSING:
            schema["default"] = to_mapping(field.default)
        elif field.default_factory is not dataclasses.MISSING:
            schema["default"] = to_mapping(field.default_factory())
        return schema

    def of_class(cls: type) -> dict[str, Any]:
        hints = get_type_hints(cls)
        props: dict[str, Any] = {}
        required: list[str] = []
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            props[f.name] = of_field(hints[f.name], f)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                required.append(f.name)
        out: dict[str, Any] = {"title": cls.__name__, "type": "object"}
        if class_doc(cls):
            out["description"] = class_doc(cls)
        out["properties"] = props
        if required:
            out["required"] = required
        out["additionalProperties"] = False
        return out

    body = of_class(root)
    schema: dict[str, Any] = {"$schema": JSON_SCHEMA_DIALECT, **body}
    if title:
        schema["title"] = title
    if defs:
        schema["$defs"] = defs
    return schema
