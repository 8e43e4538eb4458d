"""Generated reference pages of the documentation site: the edge config keys and the event schema.

Read from the code, never copied: the config tables come from the JSON Schema of the config
classes (``detector.edge.config.edge_config_schema``: field names, types, defaults, bounds,
patterns and descriptions declared once with ``setting()`` in ``detector/edge/config.py`` and
``detector/edge/delivery/config.py``, the class docstrings); the event schema from the dataclasses
and constants of ``detector/events.py``. A key added there shows up in the site at the next build.

Used two ways:

- as an mkdocs hook (``hooks:`` in ``mkdocs.yml``): a page line ``<!-- generated:edge-config -->``,
  ``<!-- generated:train-config -->`` or ``<!-- generated:event-schema -->`` is replaced by the
  generated Markdown, and the site gets
  ``edge-config.schema.json``;
- as a script: ``python scripts/docs_reference.py edge-config`` prints the Markdown.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import json
import sys
import tokenize
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # document this checkout's code, whatever is installed
    sys.path.insert(0, str(REPO))


# ---------------------------------------------------------------- reading the source


def _comments(module: types.ModuleType) -> dict[int, str]:
    """Line number → the text of the ``#`` comment on that line (whole-line or trailing)."""
    out: dict[int, str] = {}
    src = inspect.getsource(module)
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string.lstrip("#").strip()
    return out


def _class_node(cls: type) -> tuple[ast.ClassDef, dict[int, str], list[str]]:
    module = sys.modules[cls.__module__]
    src = inspect.getsource(module)
    tree = ast.parse(src)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
            return node, _comments(module), src.splitlines()
    raise LookupError(f"class {cls.__name__} not found in {module.__name__}")


def _field_notes(cls: type) -> dict[str, str]:
    """Field name → its comment: whole-line comments right above it, then the one at its end."""
    node, comments, src_lines = _class_node(cls)
    notes: dict[str, str] = {}
    for stmt in node.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        above: list[str] = []
        line = stmt.lineno - 1
        while line in comments and src_lines[line - 1].lstrip().startswith("#"):
            above.insert(0, comments[line])
            line -= 1
        trailing = [comments[n] for n in range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1) if n in comments]
        notes[stmt.target.id] = " ".join(above + trailing)
    return notes


# ---------------------------------------------------------------- rendering values and types


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(args) < len(get_args(tp)):
            return args[0], True
    return tp, False


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if value is None:
        return "none"
    if isinstance(value, Path | str):
        return f'`"{value}"`' if str(value) else '`""`'
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, list | tuple | dict) and not value:
        return "`[]`" if not isinstance(value, dict) else "`{}`"
    if isinstance(value, list | tuple):
        return f"`{json.dumps(list(value))}`"
    return f"`{value!r}`"


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        return _toml(f.default)
    if f.default_factory is not dataclasses.MISSING:
        return _toml(f.default_factory())
    return "**required**"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _first_paragraph(cls: type) -> str:
    doc = cls.__dict__.get("__doc__")
    if not doc or doc.startswith(cls.__name__ + "("):  # dataclass's generated signature, not a docstring
        return ""
    return " ".join(inspect.cleandoc(doc).split("\n\n")[0].split()).replace("``", "`")


# ---------------------------------------------------------------- the edge config


def _ref_name(schema: dict[str, Any]) -> str:
    return str(schema["$ref"]).rsplit("/", 1)[-1]


def _value_branch(schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """``X or null`` → (X, True); anything else → (itself, False)."""
    branches = schema.get("anyOf")
    if branches and {"type": "null"} in branches:
        rest = [b for b in branches if b != {"type": "null"}]
        if len(rest) == 1:
            return rest[0], True
    return schema, False


def _table_ref(schema: dict[str, Any]) -> tuple[str, bool, bool] | None:
    """A property holding tables: (its class's name in $defs, optional, one table per NAME) or None."""
    value, optional = _value_branch(schema)
    if "$ref" in value:
        return _ref_name(value), optional, False
    extra = value.get("additionalProperties")
    if value.get("type") == "object" and isinstance(extra, dict) and "$ref" in extra:
        return _ref_name(extra), optional, True
    return None


def _type_words(schema: dict[str, Any]) -> str:
    """A JSON Schema type in the words of the config errors (``a number``, ``true or false`` …)."""
    if "anyOf" in schema:
        return " or ".join(_type_words(b) for b in schema["anyOf"])
    if "enum" in schema:
        return "one of " + ", ".join(repr(v) for v in schema["enum"])
    if "$ref" in schema:
        return "a table/mapping"
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items")
        if "prefixItems" in schema:
            return f"a list of {len(schema['prefixItems'])} values"
        if isinstance(items, dict) and items.get("type") == "array" and len(
                (items.get("items") or {}).get("prefixItems", [])) == 2:
            return "a list of polygons `[[x, y], …]`"
        plural = {"string": "strings", "number": "numbers", "integer": "integers"}
        if isinstance(items, dict) and items.get("type") in plural and len(items) == 1:
            return f"a list of {plural[items['type']]}"
        return f"a list of {_type_words(items)}" if isinstance(items, dict) and items else "a list"
    if kind == "string" and schema.get("format") == "path":
        return "a path string"
    return {"integer": "an integer", "number": "a number", "string": "a string", "boolean": "true or false",
            "null": "nothing", "object": "a table/mapping"}.get(str(kind), "any value")


def _number(value: Any) -> str:
    if isinstance(value, str):  # another key of the same table
        return value
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.0f}"


def _allowed(schema: dict[str, Any]) -> str:
    """The rule a key must meet: its bounds, or the words of the rule the loader checks."""
    if "x-expected" in schema:
        return str(schema["x-expected"])
    value, _ = _value_branch(schema)
    bounds = _bounds(value)
    if "multipleOf" in value:
        return ", ".join(t for t in (bounds, f"a multiple of {value['multipleOf']}") if t)
    return bounds


def _bounds(value: dict[str, Any]) -> str:
    lo = next(((k, value[k]) for k in ("minimum", "x-minimum-field", "exclusiveMinimum") if k in value), None)
    hi = next(((k, value[k]) for k in ("maximum", "x-maximum-field", "exclusiveMaximum") if k in value), None)
    lo_text = "" if lo is None else ("> " if lo[0] == "exclusiveMinimum" else "") + _number(lo[1])
    hi_text = "" if hi is None else ("< " if hi[0] == "exclusiveMaximum" else "") + _number(hi[1])
    if lo is not None and hi is not None:
        if lo[0] == "exclusiveMinimum" or hi[0] == "exclusiveMaximum":
            return f"{lo_text if lo_text.startswith('>') else '≥ ' + lo_text}, {hi_text if hi_text.startswith('<') else '≤ ' + hi_text}"
        return f"{lo_text} … {hi_text}"
    if lo is not None:
        return lo_text if lo_text.startswith(">") else f"≥ {lo_text}"
    if hi is not None:
        return hi_text if hi_text.startswith("<") else f"≤ {hi_text}"
    return ""


def _default_cell(name: str, schema: dict[str, Any], required: list[str]) -> str:
    if name in required:
        return "**required**"
    return _toml(schema.get("default"))


def edge_config_markdown() -> str:
    """Every key of ``edge.toml``, table by table, from the JSON schema of the config classes."""
    from detector.edge.config import edge_config_schema

    return config_markdown(edge_config_schema(), lambda path: f"### `[{path}]`")


def train_config_markdown() -> str:
    """Every key of a training config file (YAML), from the JSON schema of ``TrainConfig``."""
    from detector.train.config import train_config_schema

    return config_markdown(train_config_schema(), lambda path: f"### `{path}:`" if path else "### Top level")


def config_markdown(schema: dict[str, Any], heading: Callable[[str], str]) -> str:
    """A config's keys as Markdown tables, one per table of the file (``heading(path)`` titles each)."""
    defs: dict[str, dict[str, Any]] = schema.get("$defs", {})
    documented = _table_paths(schema, defs)
    sections: list[str] = []

    def walk(table: dict[str, Any], path: str, optional: bool, intro: list[str]) -> None:
        props: dict[str, Any] = table["properties"]
        # A table that takes every key of an already documented one (cameras.NAME ⊃ defaults) lists only its own.
        inherited = next((name for name in documented if len(defs[name]["properties"]) >= 3
                          and set(defs[name]["properties"]) < set(props)), None)
        own = [k for k in props if inherited is None or k not in defs[inherited]["properties"]]
        rows: list[str] = []
        nested: list[tuple[dict[str, Any], str, bool, list[str]]] = []
        for key in own:
            prop = props[key]
            ref = _table_ref(prop)
            if ref is not None:
                name, opt, named = ref
                sub_intro = []
                if named and "x-keys-expected" in prop:
                    sub_intro.append(f"`NAME`: {prop['x-keys-expected']}.")
                sub_path = f"{path}.{key}" if path else key
                nested.append((defs[name], f"{sub_path}.NAME" if named else sub_path, opt, [t for t in sub_intro if t]))
                continue
            rows.append(f"| `{key}` | {_cell(_type_words(prop_type(prop)))} | "
                        f"{_default_cell(key, prop, table.get('required', []))} | {_cell(_allowed(prop))} | "
                        f"{_cell(prop.get('description', ''))} |")
        if path or rows:
            lines = [heading(path), ""]
            doc = table.get("description", "").replace("``", "`")
            if doc and path:
                lines += [doc, ""]
            notes = list(intro)
            if optional:
                notes.append("Optional table: leave it out and this part is off.")
            if inherited is not None:
                notes.append(f"Also takes every key of `[{documented[inherited]}]` (and its tables), overriding "
                             "them for this one camera, key by key.")
            if notes:
                lines += [" ".join(notes), ""]
            if rows:
                lines += _table_head() + rows + [""]
            sections.extend(lines)
        for sub, sub_path, sub_opt, sub_intro in nested:
            walk(sub, sub_path, sub_opt, sub_intro)

    def prop_type(prop: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in prop.items() if k in ("type", "anyOf", "enum", "$ref", "items", "prefixItems", "format")}

    walk(schema, "", False, [])  # the top level holds only tables, in the order of the dataclass
    return "\n".join(sections).rstrip() + "\n"


def _table_paths(schema: dict[str, Any], defs: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Each config class (by $defs name) → the first plain table path it appears at (where its keys are listed)."""
    paths: dict[str, str] = {}

    def visit(table: dict[str, Any], path: str) -> None:
        for key, prop in table["properties"].items():
            ref = _table_ref(prop)
            if ref is None or ref[2]:
                continue  # plain keys, and tables of named sections (documented after the plain tables)
            sub = f"{path}.{key}" if path else key
            if ref[0] not in paths:
                paths[ref[0]] = sub
                visit(defs[ref[0]], sub)

    visit(schema, "")
    return paths


def _table_head() -> list[str]:
    return ["| key | type | default | allowed | meaning |", "| --- | --- | --- | --- | --- |"]


def edge_config_keys() -> list[str]:
    """Every dotted key the reference documents (``cameras.NAME.decision.floor`` …), for tests."""
    keys: list[str] = []
    table = ""
    for line in edge_config_markdown().splitlines():
        if line.startswith("### `["):
            table = line[len("### `["):-2]
        elif line.startswith("| `"):
            keys.append(f"{table}.{line.split('`')[1]}")
    return keys


# ---------------------------------------------------------------- the event schema


def _json_type(tp: Any) -> str:
    tp, opt = _unwrap_optional(tp)
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        text = f"object ([`{tp.__name__}`](#{tp.__name__.lower()}))"
    elif origin is tuple:
        args = get_args(tp)
        text = f"array of {len(args)} numbers" if args and args[-1] is not Ellipsis else "array"
        if args and all(get_origin(a) is None and a in (float, int) for a in args) and len(args) == 2 and tp is not None:
            text = "array of 2 numbers"
    elif origin is list:
        (item,) = get_args(tp)
        text = f"array of {_json_type(item)}"
    elif origin is dict:
        key_tp, val_tp = get_args(tp)
        text = "object" if val_tp is Any else f"object: string → {_json_type(val_tp)}"
    else:
        text = {str: "string", float: "number", int: "integer", bool: "boolean", Any: "any"}.get(tp, str(tp))
    return text + (" or null" if opt else "")


def _schema_table(cls: type) -> list[str]:
    hints = get_type_hints(cls)
    notes = _field_notes(cls)
    rows = ["| field | JSON type | when absent on the wire / default | meaning |", "| --- | --- | --- | --- |"]
    for f in dataclasses.fields(cls):
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            default = "**required**"
        elif f.name in ("id", "time"):
            default = "set by the sender (" + ("a new UUID" if f.name == "id" else "now, UTC") + ")"
        else:
            default = _default(f)
        rows.append(f"| `{f.name}` | {_cell(_json_type(hints[f.name]))} | {default} | {_cell(notes.get(f.name, ''))} |")
    return rows


def _tuple_notes(module: types.ModuleType, name: str) -> list[tuple[str, str]]:
    """The string items of a module-level tuple constant with their trailing comments."""
    src = inspect.getsource(module)
    comments = _comments(module)
    for node in ast.parse(src).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            assert isinstance(node.value, ast.Tuple)
            return [(typing.cast(ast.Constant, e).value, comments.get(e.lineno, "")) for e in node.value.elts]
    raise LookupError(name)


def event_schema_markdown() -> str:
    from detector import events

    out = [f"Event schema id: `{events.EVENT_SCHEMA}`; heartbeat schema id: `{events.HEARTBEAT_SCHEMA}`.", ""]
    out += ["### Event types", "", "| `type` | meaning |", "| --- | --- |"]
    out += [f"| `{t}` | {_cell(note)} |" for t, note in _tuple_notes(events, "EVENT_TYPES")]
    out += ["", "### Event", ""]
    doc = _first_paragraph(events.Event)
    out += ([doc, ""] if doc else []) + _schema_table(events.Event)
    out += ["", f"Evidence file names (the values of `evidence`) match `{events.EVIDENCE_NAME.pattern}` and contain "
            "no `..`: plain file names, never paths. The files sent beside an event are exactly the ones "
            "`evidence` names, each once.", "",
            f"Device and camera names: {events.NAME_RULE} (the edge config and `graffiti review add-device` "
            "refuse other names).", ""]
    for cls in (events.TileScore, events.ModelRef, events.Heartbeat, events.CameraStats):
        out += [f"### {cls.__name__}", ""]
        doc = _first_paragraph(cls)
        out += ([doc, ""] if doc else []) + _schema_table(cls) + [""]
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------- mkdocs hook and script

GENERATORS = {"edge-config": edge_config_markdown, "train-config": train_config_markdown,
              "event-schema": event_schema_markdown}


def on_page_markdown(markdown: str, **_: Any) -> str:
    """mkdocs hook: replace each line that is exactly ``<!-- generated:NAME -->`` with the generated Markdown."""
    lines = markdown.split("\n")
    for i, line in enumerate(lines):
        name = line.strip().removeprefix("<!-- generated:").removesuffix(" -->")
        if line.strip() != f"<!-- generated:{name} -->":
            continue
        if name not in GENERATORS:
            raise ValueError(f"{line.strip()}: unknown generated page; expected one of {', '.join(GENERATORS)}")
        lines[i] = GENERATORS[name]()
    return "\n".join(lines)


def on_files(files: Any, config: Any, **_: Any) -> Any:
    """mkdocs hook: add the edge config's JSON Schema to the site as ``edge-config.schema.json``."""
    from mkdocs.structure.files import File

    from detector.edge.config import edge_config_schema

    text = json.dumps(edge_config_schema(), indent=2, ensure_ascii=False) + "\n"
    files.append(File.generated(config, "edge-config.schema.json", content=text))
    return files


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in GENERATORS:
        print(f"usage: python scripts/docs_reference.py {{{'|'.join(GENERATORS)}}}", file=sys.stderr)
        return 2
    sys.stdout.write(GENERATORS[argv[0]]())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
