"""Manifest CSV: round trip with relative paths, and every error names the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.data.formats import load_dataset, read_manifest, write_manifest
from detector.data.sample import CLEAN, GRAFFITI, Region, Sample
from detector.errors import DatasetError
from tests.data.helpers import write_jpeg


def _samples(root: Path) -> list[Sample]:
    a = write_jpeg(root / "img" / "a.jpg", 1)
    b = write_jpeg(root / "img" / "b.jpg", 2)
    return [
        Sample(path=a, label=GRAFFITI, group="cam1", source="review:tunnel-3", split="train", kind="tag",
               regions=(Region(kind="tag", xyxy=(1.0, 2.0, 10.5, 20.0), label=1),)),
        Sample(path=b, label=CLEAN, group="b", source="synthetic", split=None, kind=None),
    ]


def test_manifest_round_trip_keeps_every_field_and_writes_relative_paths(tmp_path: Path) -> None:
    samples = _samples(tmp_path / "data")
    out = write_manifest(samples, tmp_path / "sets" / "m.csv")
    text = out.read_text()
    assert text.splitlines()[0] == "path,label,group,split,source,kind,regions"
    assert "../data/img/a.jpg,graffiti,cam1,train,review:tunnel-3,tag," in text
    assert read_manifest(out) == samples
    assert load_dataset(out) == samples


def test_manifest_with_only_required_columns_fills_defaults(tmp_path: Path) -> None:
    write_jpeg(tmp_path / "x.rf.abc123.jpg", 1)
    (tmp_path / "manifest.csv").write_text("path,label\nx.rf.abc123.jpg,1\n")
    [s] = load_dataset(tmp_path)
    assert (s.label, s.group, s.source, s.split, s.kind) == (GRAFFITI, "x", tmp_path.name, None, None)


def test_spec_name_wins_over_the_manifest_source_column_so_two_synth_sets_mix(tmp_path: Path) -> None:
    from detector.train.data import load_mix

    for name in ("a", "b"):  # two manifests written by one tool: both say source 'synth'
        write_jpeg(tmp_path / name / "x.jpg", 1)
        write_jpeg(tmp_path / name / "y.jpg", 2)
        (tmp_path / name / "manifest.csv").write_text("path,label,source\nx.jpg,clean,synth\ny.jpg,graffiti,synth\n")
    assert {s.source for s in load_dataset(f"{tmp_path / 'b'}::name=hard")} == {"hard"}
    assert {s.source for s in load_dataset(tmp_path / "b")} == {"synth"}
    with pytest.raises(DatasetError, match="source name 'synth' is used twice"):
        load_mix([str(tmp_path / "a"), str(tmp_path / "b")], 0.0, 0.0, 0)
    mix = load_mix([str(tmp_path / "a"), f"{tmp_path / 'b'}::name=hard"], 0.0, 0.0, 0)
    assert sorted(mix.sources) == ["hard", "synth"]


HEADER = "path,label,group,split,source,kind,regions\n"


@pytest.mark.parametrize(("body", "match"), [
    ("a.jpg,graffiti,g,,s,,\nb.jpg,clean,g\n", r"m.csv:3: expected 7 fields"),
    ("a.jpg,graffiti,g,,s,,\na.jpg,dirty,g,,s,,\n", r"m.csv:3: unknown label 'dirty'"),
    ("a.jpg,graffiti,g,,s,,\nmissing.jpg,clean,g,,s,,\n", r"m.csv:3: image file not found: .*missing.jpg"),
    ("a.jpg,graffiti,g,,s,,[{\n", r"m.csv:2: column 'regions' is not valid JSON"),
    ('a.jpg,graffiti,g,,s,,"[{""kind"":""tag"",""xyxy"":[1,2,3],""label"":1}]"\n', r"m.csv:2: regions\[0\].xyxy must be 4 numbers"),
    ('a.jpg,graffiti,g,,s,,"[{""kind"":""tag"",""xyxy"":[1,2,3,4],""label"":7}]"\n', r"m.csv:2: regions\[0\].label must be 0 or 1"),
    ('a.jpg,graffiti,g,,s,,"{}"\n', r"m.csv:2: column 'regions' must be a JSON list"),
    ("a.jpg,graffiti,g,holdout,s,,\n", r"m.csv:2: unknown split 'holdout'"),
    (',graffiti,g,,s,,\n', r"m.csv:2: column 'path' is empty"),
    ('a.jpg,graffiti,"g\n', r"m.csv:2: .*malformed CSV|m.csv:2: expected 7 fields"),
], ids=["field-count", "unknown-label", "missing-file", "regions-json", "regions-xyxy", "regions-label",
        "regions-not-list", "unknown-split", "empty-path", "unterminated-quote"])
def test_manifest_errors_name_file_and_line(tmp_path: Path, body: str, match: str) -> None:
    write_jpeg(tmp_path / "a.jpg", 1)
    (tmp_path / "m.csv").write_text(HEADER + body)
    with pytest.raises(DatasetError, match=match):
        read_manifest(tmp_path / "m.csv")


@pytest.mark.parametrize(("header", "match"), [
    ("path,label,colour\n", r"m.csv:1: unknown column\(s\) \['colour'\]"),
    ("path,group\n", r"m.csv:1: missing required column\(s\) \['label'\]"),
    ("path,label,path\n", r"m.csv:1: a column name appears twice"),
    ("", r"m.csv: empty manifest"),
], ids=["unknown-column", "missing-label", "duplicate-column", "empty"])
def test_manifest_header_errors(tmp_path: Path, header: str, match: str) -> None:
    (tmp_path / "m.csv").write_text(header)
    with pytest.raises(DatasetError, match=match):
        read_manifest(tmp_path / "m.csv")
