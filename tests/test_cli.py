"""The CLI shell: help for every group, user errors as one line with exit status 2."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "detector", *args], capture_output=True, text=True, timeout=120)


def test_top_level_help_lists_groups_with_an_example() -> None:
    out = _run("--help")
    assert out.returncode == 0
    assert "Example:" in out.stdout and "data" in out.stdout


def _subcommands() -> list[list[str]]:
    import typer.main

    from detector.cli import app

    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(cmd: object, path: list[str]) -> None:
        paths.append(path)
        # typer vendors its own click, so test for sub-commands structurally.
        commands = getattr(cmd, "commands", None)
        if isinstance(commands, dict):
            for name, sub in commands.items():
                walk(sub, [*path, name])

    walk(root, [])
    return paths[1:]


@pytest.mark.parametrize("path", _subcommands(), ids=lambda p: " ".join(p))
def test_every_command_help_has_an_example(path: list[str]) -> None:
    from typer.testing import CliRunner

    from detector.cli import app

    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "Example" in result.output or "example" in result.output


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["data", "inspect"], "data inspect: Missing argument"),
        (["data", "inspect", "--bogus", "x"], "No such option: --bogus"),
        (["data", "split", "x", "--val", "abc"], "Invalid value for '--val'"),
        (["data", "nope"], "No such command 'nope'"),
    ],
    ids=["missing-argument", "unknown-option", "bad-number", "unknown-command"],
)
def test_usage_mistakes_are_one_line_errors(args: list[str], match: str) -> None:
    out = _run(*args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and match in lines[0], out.stderr
