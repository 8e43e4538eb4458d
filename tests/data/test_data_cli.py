"""``graffiti data inspect`` / ``split`` as a user runs them: output, files, one-line errors (exit 2)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.data.helpers import rf_name, write_jpeg, write_roboflow


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "detector", "data", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def rf_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = [(rf_name(f"P{p}", c), (0, 1, 0, 0) if p % 2 else (0, 0, 1, 0)) for p in range(12) for c in range(2)]
    return write_roboflow(tmp_path_factory.mktemp("cli") / "walls" / "train", rows).parent


def test_inspect_prints_counts_and_writes_report(rf_root: Path, tmp_path: Path) -> None:
    out = _run("inspect", str(rf_root), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "24" in out.stdout and "graffiti/tags" in out.stdout and "groups (distinct)" in out.stdout
    assert (tmp_path / "inspect-walls" / "report.json").is_file()
    assert (tmp_path / "inspect-walls" / "contact-clean.png").is_file()


def test_split_writes_a_manifest_with_no_group_on_two_sides(rf_root: Path, tmp_path: Path) -> None:
    out = _run("split", str(rf_root), "--val", "0.25", "--seed", "3", "--out", "s/split.csv", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "groups on more than one side: 0" in out.stdout
    with open(tmp_path / "s" / "split.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 24
    sides: dict[str, set[str]] = {}
    for row in rows:
        sides.setdefault(row["group"], set()).add(row["split"])
        assert (tmp_path / "s" / row["path"]).is_file()
    assert all(len(v) == 1 for v in sides.values())
    assert {r["split"] for r in rows} == {"train", "val"}


@pytest.mark.parametrize(("args", "match"), [
    (["inspect", "{root}/nowhere"], "nowhere: no such file or folder"),
    (["inspect", "{root}/plain"], "say which with --label"),
    (["inspect", "{root}/plain", "--label", "dirty"], "label must be graffiti or clean"),
    (["inspect", "{root}/bad/m.csv"], "m.csv:2: unknown label 'maybe'"),
    (["split", "{root}/plain", "--label", "clean", "--val", "1.5", "--out", "x.csv"], "split.val_fraction"),
    (["inspect", "{root}/plain::color=red"], "unknown key 'color'"),
    (["inspect", "{root}/plain", "--label", "clean", "--out", "{root}/bad/m.csv"],
     "m.csv: cannot create the report folder --out"),
    (["inspect", "{root}/empty.csv"], "empty.csv: the dataset has no samples"),
    (["split", "{root}/empty.csv", "--out", "x.csv"], "empty.csv: the dataset has no samples"),
    (["inspect", "{root}/nothing"], "nothing: the folder is empty; expected images"),
    (["inspect", "{root}/plain", "--label", "clean", "--out", "{root}/plain/report"],
     "plain/report: is inside the dataset folder"),
    (["inspect", ".", "--label", "clean"], "is inside the dataset folder ., so its contact sheets would be read"),
    (["inspect", "{root}/texts"], "texts: no images, class folders, manifest.csv or Roboflow _classes.csv here"),
], ids=["missing-path", "unlabelled-folder", "bad-label", "bad-manifest", "bad-fraction", "bad-spec-key",
        "report-folder-is-a-file", "inspect-header-only-manifest", "split-header-only-manifest",
        "empty-folder", "folder-of-non-images", "report-inside-the-images", "default-report-inside-the-images"])
def test_user_mistakes_are_one_line_errors(tmp_path: Path, args: list[str], match: str) -> None:
    write_jpeg(tmp_path / "plain" / "a.jpg", 1)
    write_jpeg(tmp_path / "bad" / "a.jpg", 1)
    (tmp_path / "bad" / "m.csv").write_text("path,label\na.jpg,maybe\n")
    (tmp_path / "empty.csv").write_text("path,label,group,split,source,kind,regions\n")
    (tmp_path / "nothing").mkdir()
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "notes.txt").write_text("not an image")
    out = _run(*(a.format(root=tmp_path) for a in args), cwd=tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    assert match in lines[0]


@pytest.mark.parametrize(("n_images", "args", "side"), [
    (4, ["--val", "0.95"], "train"),
    (2, ["--val", "0.2"], "val"),
    (4, ["--val", "0.2", "--test", "0.05"], "test"),
], ids=["no-train-left", "too-few-for-val", "too-few-for-test"])
def test_split_warns_when_a_requested_side_gets_no_images(tmp_path: Path, n_images: int, args: list[str],
                                                          side: str) -> None:
    lines = ["path,label"]
    for i in range(n_images):
        write_jpeg(tmp_path / f"im{i}.jpg", i)
        lines.append(f"im{i}.jpg,{'graffiti' if i % 2 else 'clean'}")
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    out = _run("split", str(tmp_path / "m.csv"), *args, "--out", "s.csv", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"warning: the {side} split is empty" in out.stderr


def test_split_does_not_warn_when_every_side_has_images(rf_root: Path, tmp_path: Path) -> None:
    out = _run("split", str(rf_root), "--val", "0.25", "--out", "s.csv", cwd=tmp_path)
    assert out.returncode == 0 and "warning" not in out.stderr, out.stderr
