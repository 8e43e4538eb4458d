"""Generated reference pages of the documentation site: the edge config keys and the event schema.

Read from the code, never copied: the config tables come from the dataclasses of
``detector/edge/config.py`` and ``detector/edge/delivery_config.py`` (field names, types, defaults,
the comment on or above each field, the class docstring, the ``check_range`` bounds of ``validate``);
the event schema from the dataclasses and constants of ``detector/events.py``. A key added there
shows up in the site at the next build.

Used two ways:

- as an mkdocs hook (``hooks:`` in ``mkdocs.yml``): a page line ``<!-- generated:edge-config -->``
  or ``<!-- generated:event-schema -->`` is replaced by the generated Markdown;
- as a script: ``python scripts/docs_reference.py edge-config`` prints the Markdown.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import sys
import tokenize
import types
import typing
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


def _bound(expr: ast.expr) -> str:
    try:  # constant arithmetic such as 30 * 86400.0
        value = eval(compile(ast.Expression(expr), "<bound>", "eval"), {"__builtins__": {}}, {})
    except Exception:
        text = ast.unparse(expr)
        return text.removeprefix("self.")
    if value is None:
        return ""
    if isinstance(value, float | int):
        return f"{value:g}" if abs(value) < 1e6 else f"{value:.0f}"
    return repr(value)


def _ranges(cls: type) -> dict[str, str]:
    """Field name → allowed range, from ``check_range(self.FIELD, key, lo, hi)`` calls in ``validate``."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass) or "validate" not in klass.__dict__:
            continue
        node, _, _ = _class_node(klass)
        for call in ast.walk(node):
            if not (isinstance(call, ast.Call) and getattr(call.func, "id", None) == "check_range"):
                continue
            if not call.args or not isinstance(call.args[0], ast.Attribute):
                continue
            args = list(call.args[2:4])
            while len(args) < 2:
                args.append(ast.Constant(None))
            lo, hi = (_bound(a) for a in args)
            if lo and hi:
                out[call.args[0].attr] = f"{lo} … {hi}"
            elif lo:
                out[call.args[0].attr] = f"≥ {lo}"
            elif hi:
                out[call.args[0].attr] = f"≤ {hi}"
    return out


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
    return f"`{value!r}`"


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        return _toml(f.default)
    if f.default_factory is not dataclasses.MISSING:
        return _toml(f.default_factory())
    return "**required**"


def _config_type(tp: Any) -> str:
    from detector.config import _type_name  # the words the config errors use

    if tp == list[list[tuple[float, float]]]:
        return "a list of polygons `[[x, y], …]`"
    return _type_name(tp)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _first_paragraph(cls: type) -> str:
    doc = cls.__dict__.get("__doc__")
    if not doc or doc.startswith(cls.__name__ + "("):  # dataclass's generated signature, not a docstring
        return ""
    return " ".join(inspect.cleandoc(doc).split("\n\n")[0].split()).replace("``", "`")


# ---------------------------------------------------------------- the edge config


def edge_config_markdown() -> str:
    """Every key of ``edge.toml``, table by table, in the order of the dataclasses."""
    from detector.edge.config import EdgeConfig

    sections: list[tuple[str, type, list[str]]] = []  # (table path, class, rows)
    documented: dict[type, str] = _table_paths(EdgeConfig)

    def walk(cls: type, path: str, optional: bool) -> None:
        hints = get_type_hints(cls)
        notes: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            if dataclasses.is_dataclass(klass):
                notes.update(_field_notes(klass))
        ranges = _ranges(cls)
        checks = _checks(cls)
        inherited = next((b for b in cls.__mro__[1:] if b in documented), None)
        own = set(cls.__dict__.get("__annotations__", {}))
        rows: list[str] = []
        nested: list[tuple[type, str, bool]] = []
        for f in dataclasses.fields(cls):
            if not f.init or (inherited is not None and f.name not in own):
                continue
            tp, opt = _unwrap_optional(hints[f.name])
            if dataclasses.is_dataclass(tp):
                nested.append((typing.cast(type, tp), f"{path}.{f.name}" if path else f.name, opt))
                continue
            if get_origin(tp) is dict and dataclasses.is_dataclass(get_args(tp)[1]):
                nested.append((get_args(tp)[1], f"{path}.{f.name}.NAME" if path else f"{f.name}.NAME", False))
                continue
            rows.append(
                f"| `{f.name}` | {_cell(_config_type(hints[f.name]))} | {_default(f)} | "
                f"{_cell(ranges.get(f.name) or checks.get(f.name, ''))} | {_cell(notes.get(f.name, ''))} |"
            )
        intro = []
        if optional:
            intro.append("Optional table: leave it out and this part is off.")
        if inherited is not None:
            intro.append(f"Also takes every key of `[{documented[inherited]}]` (and its tables), overriding them "
                         "for this one camera, key by key.")
        if path:
            body = [" ".join(intro)] if intro else []
            if rows:
                body += ([""] if body else []) + _table_head() + rows
            sections.append((path, cls, body))
        for sub, sub_path, sub_opt in nested:
            walk(sub, sub_path, sub_opt)

    # The top level holds only tables; the order in the file is the order of the dataclass.
    walk(EdgeConfig, "", False)
    out: list[str] = []
    for path, cls, body in sections:
        out.append(f"### `[{path}]`")
        out.append("")
        doc = _first_paragraph(cls)
        if doc:
            out.append(doc)
            out.append("")
        out.extend(body)
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _table_paths(root: type) -> dict[type, str]:
    """Each config dataclass → the first table path it appears at (where its keys are listed)."""
    paths: dict[type, str] = {}

    def visit(cls: type, path: str) -> None:
        if path and cls not in paths:
            paths[cls] = path
        hints = get_type_hints(cls)
        for f in dataclasses.fields(cls):
            tp, _ = _unwrap_optional(hints[f.name])
            if dataclasses.is_dataclass(tp):
                visit(typing.cast(type, tp), f"{path}.{f.name}" if path else f.name)

    visit(root, "")  # plain tables first: [defaults] is documented before [cameras.NAME] refers to it
    return paths


def _checks(cls: type) -> dict[str, str]:
    """Field name → what ``validate`` expects of it, from its ``ConfigError(f"{prefix}.FIELD: expected …")``."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass) or "validate" not in klass.__dict__:
            continue
        node, _, _ = _class_node(klass)
        for js in ast.walk(node):
            if not isinstance(js, ast.JoinedStr) or not js.values:
                continue
            head, *rest = js.values
            name = None
            if isinstance(head, ast.FormattedValue) and isinstance(head.value, ast.Call) and head.value.args:
                last = head.value.args[-1]  # _dot(prefix, "field")
                name = last.value if isinstance(last, ast.Constant) else None
                text = "".join(v.value if isinstance(v, ast.Constant) else "…" for v in rest)
                text = text.removeprefix(": ")
            elif isinstance(head, ast.FormattedValue) and rest and isinstance(rest[0], ast.Constant):
                first = str(rest[0].value)
                if first.startswith(".") and ": " in first:
                    name, _, tail = first[1:].partition(": ")
                    text = tail + "".join(v.value if isinstance(v, ast.Constant) else "…" for v in rest[1:])
            if not name or not text.startswith("expected ") or name in out:
                continue
            text = text.split(", found")[0].removeprefix("expected ")
            if "…" not in text.split("(")[0]:  # a fixed rule, not one that prints the found value
                out[name] = text
    return out


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
            "no `..`: plain file names, never paths.", ""]
    for cls in (events.TileScore, events.ModelRef, events.Heartbeat, events.CameraStats):
        out += [f"### {cls.__name__}", ""]
        doc = _first_paragraph(cls)
        out += ([doc, ""] if doc else []) + _schema_table(cls) + [""]
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------- mkdocs hook and script

GENERATORS = {"edge-config": edge_config_markdown, "event-schema": event_schema_markdown}


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


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in GENERATORS:
        print(f"usage: python scripts/docs_reference.py {{{'|'.join(GENERATORS)}}}", file=sys.stderr)
        return 2
    sys.stdout.write(GENERATORS[argv[0]]())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
