"""The README is a start page whose links and commands work; the generated reference pages cover the code.

The site itself is checked by ``mkdocs build --strict`` in scripts/test (broken links, missing pages,
missing anchors); these tests cover what that build cannot see: the README (outside the site), the
CLI it names, and that the generators miss no key.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_CODE = re.compile(r"`(graffiti [^`]+)`")


def _docs_reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_reference", REPO / "scripts" / "docs_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("docs_reference", module)
    spec.loader.exec_module(module)
    return module


def _relative_links(text: str) -> list[str]:
    return [t for t in _LINK.findall(text) if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def test_readme_is_a_short_start_page() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; move reference material to docs/"


def test_readme_relative_links_resolve() -> None:
    links = _relative_links(README.read_text(encoding="utf-8"))
    assert links, "the README links to the documentation"
    missing = [t for t in links if not (README.parent / t.split("#")[0]).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_readme_does_not_link_outside_the_repository() -> None:
    outside = [t for t in _relative_links(README.read_text(encoding="utf-8"))
               if not (README.parent / t.split("#")[0]).resolve().is_relative_to(REPO)]
    assert not outside, f"a clone does not have {outside}"


def _command_path(words: list[str], root: Any) -> tuple[list[str], str | None]:
    """The longest run of sub-command names in ``words``; an error when a group is given an unknown name."""
    path: list[str] = []
    cmd = root
    for word in words:
        commands = getattr(cmd, "commands", None)  # typer vendors its own click: test for a group structurally
        if not isinstance(commands, dict) or word.startswith("-") or word in ("…", "..."):
            break
        sub = commands.get(word)
        if sub is None:
            return path, f"{' '.join(['graffiti', *path])} has no command {word!r}"
        path.append(word)
        cmd = sub
    return path, None


def test_every_graffiti_command_in_the_readme_exists_and_has_help() -> None:
    import typer.main
    from typer.testing import CliRunner

    from detector.cli import app

    root = typer.main.get_command(app)
    spans = _CODE.findall(README.read_text(encoding="utf-8"))
    assert len(spans) >= 10, "the README's command table names the commands"
    paths: set[tuple[str, ...]] = set()
    for span in spans:
        path, error = _command_path(span.split()[1:], root)
        assert error is None, f"README.md names `{span}`: {error}"
        assert path or span.split()[1].startswith("-"), f"README.md names `{span}`, which is no command"
        paths.add(tuple(path))
    runner = CliRunner()
    for path in sorted(paths):
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, f"graffiti {' '.join(path)} --help: {result.output}"
        assert "Usage" in result.output


def test_readme_command_check_catches_a_wrong_name() -> None:
    import typer.main

    from detector.cli import app

    root = typer.main.get_command(app)
    assert _command_path(["review", "add-users", "alice"], root)[1] is not None
    assert _command_path(["review", "add-user", "alice"], root) == (["review", "add-user"], None)


def _flat_keys(table: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in table.items():
        path = f"{prefix}.{key}" if prefix else key
        keys.extend(_flat_keys(value, path) if isinstance(value, dict) else [path])
    return keys


def test_config_reference_documents_every_key_of_the_example_config() -> None:
    from detector.config import read_config_file

    documented = set(_docs_reference().edge_config_keys())
    example = read_config_file(REPO / "scripts" / "edge.example.toml")
    missing = []
    for key in _flat_keys(example):
        parts = key.split(".")
        if parts[0] == "cameras":  # [cameras.north.decision] confirm_s → a camera key, or one of [defaults]
            generic = ".".join(["cameras", "NAME", *parts[2:]])
            if generic not in documented and ".".join(["defaults", *parts[2:]]) not in documented:
                missing.append(key)
        elif key not in documented:
            missing.append(key)
    assert not missing, f"keys of scripts/edge.example.toml missing from the generated reference: {missing}"


def test_config_reference_shows_defaults_and_bounds_from_the_code() -> None:
    from detector.edge.config import DecisionConfig

    md = _docs_reference().edge_config_markdown()
    row = next(line for line in md.splitlines() if line.startswith("| `confirm_s` | a number | `30`"))
    assert "0 … 86400" in row  # check_range(self.confirm_s, ..., 0.0, 86400.0) in DecisionConfig.validate
    assert f"`{DecisionConfig().floor:g}`" in next(line for line in md.splitlines() if line.startswith("| `floor`"))


def test_train_config_reference_lists_every_key_with_its_bounds() -> None:
    import dataclasses

    from detector.train.config import AugmentConfig, MilConfig, TrainConfig

    md = _docs_reference().train_config_markdown()
    sections = md.split("\n### ")
    for cls, heading in ((TrainConfig, "Top level"), (AugmentConfig, "`augment:`"), (MilConfig, "`mil:`")):
        section = next(part for part in sections if part.lstrip("# ").startswith(heading))
        plain = [f.name for f in dataclasses.fields(cls) if f.name not in ("augment", "mil")]
        missing = [name for name in plain if f"| `{name}` |" not in section]
        assert not missing, f"{heading} misses {missing}"
    row = next(line for line in md.splitlines() if line.startswith("| `input_px` |"))
    assert f"`{TrainConfig().input_px}`" in row and "32 … 4096, a multiple of 32" in row


def test_event_schema_page_lists_every_field_on_the_wire() -> None:
    from detector.events import CameraStats, Event, Heartbeat, ModelRef, TileScore

    md = _docs_reference().event_schema_markdown()
    wire = Event(device="d", camera="c", type="graffiti_detected", tiles=[TileScore((0, 0, 1, 1), 0.5)],
                 model=ModelRef("m", "1", "0" * 64)).to_dict()
    heartbeat = Heartbeat(device="d", cameras={"c": CameraStats()}).to_dict()
    fields = [*wire, *wire["tiles"][0], *wire["model"], *heartbeat, *heartbeat["cameras"]["c"]]
    missing = [f for f in fields if f"| `{f}` |" not in md]
    assert not missing, f"event schema page misses {missing}"


@pytest.mark.parametrize("name", ["edge-config", "train-config", "event-schema"])
def test_generated_pages_have_a_marker_in_the_site(name: str) -> None:
    marker = f"<!-- generated:{name} -->"
    pages = [p.name for p in (REPO / "docs").glob("*.md") if marker in p.read_text(encoding="utf-8").splitlines()]
    assert len(pages) == 1, f"exactly one page of docs/ should hold {marker}, found {pages}"
