"""Who may import whom inside ``detector`` (docs/architecture.md), and no import cycles.

Read from the source with ``ast``, lazy imports inside functions included: a cycle through a lazy
import is still two modules that need each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "detector"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_pkg else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{a.name}" for a in node.names] + [base]
            for t in targets:
                while t and t not in modules:  # "from detector.x import func" → detector.x
                    t = t.rpartition(".")[0]
                if t and t != name and t.startswith("detector") and t != "detector":
                    deps.add(t)
        graph[name] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_cycle_finder_sees_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


NEVER = {
    "detector.data": ("detector.train", "detector.edge", "detector.review", "detector.demo"),
    "detector.train": ("detector.edge", "detector.review", "detector.demo"),
    # The simulator is handed to the edge as a source (detector/frames.py), never imported by it.
    "detector.edge": ("detector.train", "detector.review", "detector.demo", "detector.data.sim"),
    "detector.review": ("detector.train", "detector.edge", "detector.demo"),
}


@pytest.mark.parametrize("package", sorted(NEVER))
def test_package_imports_only_what_the_architecture_allows(package: str) -> None:
    graph = _graph()
    bad = sorted(f"{m} → {d}" for m, deps in graph.items() if m == package or m.startswith(package + ".")
                 for d in deps if any(d == f or d.startswith(f + ".") for f in NEVER[package]))
    assert not bad, f"{package} must not import: {bad}"
