"""load_dataset: spec parsing, format detection and the ImageFolder / Roboflow / plain-folder readers."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.data.formats import DatasetSpec, detect_format, load_dataset, parse_dataset_spec
from detector.data.sample import CLEAN, GRAFFITI
from detector.errors import DatasetError
from tests.data.helpers import rf_name, write_jpeg, write_roboflow


@pytest.mark.parametrize(("text", "expected"), [
    ("data/x", DatasetSpec(path=Path("data/x"))),
    ("data/x::label=clean", DatasetSpec(path=Path("data/x"), label="clean")),
    ("d::format=folder,label=graffiti,weight=2.5,name=walls",
     DatasetSpec(path=Path("d"), format="folder", label="graffiti", weight=2.5, name="walls")),
    ("d::classes=a:graffiti;b:clean", DatasetSpec(path=Path("d"), classes="a:graffiti;b:clean")),
    ("d::exclude=x.txt,groups=g.csv", DatasetSpec(path=Path("d"), exclude="x.txt", groups="g.csv")),
], ids=["bare-path", "label", "all-keys", "classes", "exclude-groups"])
def test_dataset_spec_parses_keys(text: str, expected: DatasetSpec) -> None:
    assert parse_dataset_spec(text) == expected


@pytest.mark.parametrize(("text", "match"), [
    ("d::colour=red", "unknown key 'colour'"),
    ("d::weight=-1", "weight must be a positive number"),
    ("d::weight=abc", "weight must be a positive number"),
    ("d::format=coco", "unknown format 'coco'"),
    ("d::label=maybe", "label must be graffiti or clean"),
    ("d::label", "must look like key=value"),
    ("::label=clean", "path before '::' is empty"),
], ids=["unknown-key", "negative-weight", "text-weight", "bad-format", "bad-label", "no-equals", "no-path"])
def test_dataset_spec_rejects_bad_values(text: str, match: str) -> None:
    with pytest.raises(DatasetError, match=match):
        parse_dataset_spec(text)


def test_spec_round_trips_through_str() -> None:
    spec = parse_dataset_spec("d::format=folder,label=clean,weight=0.5,name=n")
    assert parse_dataset_spec(str(spec)) == spec


# ------------------------------------------------------------------ ImageFolder

@pytest.mark.parametrize(("folder", "label", "kind"), [
    ("graffiti", GRAFFITI, None), ("tags", GRAFFITI, "tags"), ("throwup", GRAFFITI, "throwup"),
    ("masterpiece", GRAFFITI, "masterpiece"), ("piece", GRAFFITI, "piece"), ("positive", GRAFFITI, None),
    ("1", GRAFFITI, None), ("clean", CLEAN, None), ("nograffiti", CLEAN, None), ("no_graffiti", CLEAN, None),
    ("negative", CLEAN, None), ("0", CLEAN, None), ("Clean", CLEAN, None),
], ids=lambda v: str(v))
def test_imagefolder_maps_well_known_class_names(tmp_path: Path, folder: str, label: int, kind: str | None) -> None:
    write_jpeg(tmp_path / folder / "a.jpg", 1)
    (tmp_path / folder / "notes.txt").write_text("not an image")
    samples = load_dataset(tmp_path)
    assert [(s.label, s.kind, s.group) for s in samples] == [(label, kind, "a")]


def test_imagefolder_unknown_class_folder_is_named(tmp_path: Path) -> None:
    write_jpeg(tmp_path / "graffiti" / "a.jpg", 1)
    write_jpeg(tmp_path / "bicycles" / "b.jpg", 2)
    with pytest.raises(DatasetError, match=r"bicycles.*unknown class 'bicycles'"):
        load_dataset(tmp_path)


def test_imagefolder_explicit_mapping_from_classes_json_and_spec(tmp_path: Path) -> None:
    write_jpeg(tmp_path / "spray" / "a.jpg", 1)
    write_jpeg(tmp_path / "wall" / "b.jpg", 2)
    (tmp_path / "classes.json").write_text('{"spray": "graffiti"}')
    samples = load_dataset(f"{tmp_path}::classes=wall:clean")
    assert {s.path.name: s.label for s in samples} == {"a.jpg": GRAFFITI, "b.jpg": CLEAN}


def test_imagefolder_split_folders_and_group_file(tmp_path: Path) -> None:
    write_jpeg(tmp_path / "train" / "graffiti" / "a.jpg", 1)
    write_jpeg(tmp_path / "val" / "clean" / "b.jpg", 2)
    groups = tmp_path / "groups.csv"
    groups.write_text("path,group\ntrain/graffiti/a.jpg,cam7\n")
    samples = load_dataset(f"{tmp_path}::groups={groups}")
    assert [(s.split, s.label, s.group) for s in samples] == [("train", GRAFFITI, "cam7"), ("val", CLEAN, "b")]


# ------------------------------------------------------------------ Roboflow CSV

def _roboflow_fixture(root: Path) -> Path:
    return write_roboflow(root / "train", [
        (rf_name("IMG_1", 0), (1, 0, 0, 0)),
        (rf_name("IMG_1", 1), (1, 0, 0, 0)),
        (rf_name("IMG_2", 0), (0, 1, 0, 0)),
        (rf_name("IMG_3", 0), (0, 0, 1, 0)),
        (rf_name("IMG_4", 0), (0, 0, 0, 1)),
        (rf_name("IMG_5", 0), (1, 1, 1, 0)),
    ])


@pytest.mark.parametrize("where", ["root", "train", "csv"])
def test_roboflow_reader_maps_columns_and_groups_rf_copies(tmp_path: Path, where: str) -> None:
    train = _roboflow_fixture(tmp_path / "ds")
    target = {"root": tmp_path / "ds", "train": train, "csv": train / "_classes.csv"}[where]
    samples = load_dataset(target)
    got = sorted((s.group, s.label, s.kind) for s in samples)
    assert got == [
        ("IMG_1_jpg", GRAFFITI, "masterpiece"), ("IMG_1_jpg", GRAFFITI, "masterpiece"),
        ("IMG_2_jpg", CLEAN, "nograffiti"), ("IMG_3_jpg", GRAFFITI, "tags"),
        ("IMG_4_jpg", GRAFFITI, "throwups"), ("IMG_5_jpg", GRAFFITI, "mixed"),
    ]
    assert {s.source for s in samples} == {"ds"}
    assert {s.split for s in samples} == {None}


def test_roboflow_export_with_several_split_folders_keeps_splits(tmp_path: Path) -> None:
    write_roboflow(tmp_path / "train", [(rf_name("A", 0), (1, 0, 0, 0))])
    write_roboflow(tmp_path / "valid", [(rf_name("B", 0), (0, 1, 0, 0))])
    assert sorted(s.split or "" for s in load_dataset(tmp_path)) == ["train", "val"]


@pytest.mark.parametrize(("rows", "columns", "match"), [
    ([("a.jpg", (0, 0))], ("graffiti", "clean"), r"_classes.csv:2: no class ticked"),
    ([("a.jpg", (1, 0))], ("graffiti", "bicycle"), r"_classes.csv:1: column 'bicycle': unknown class"),
    ([("a.jpg", (2, 0))], ("graffiti", "clean"), r"_classes.csv:2: class columns must be 0 or 1"),
], ids=["no-tick", "unknown-column", "not-one-hot"])
def test_roboflow_errors_name_file_and_line(tmp_path: Path, rows: list[tuple[str, tuple[int, ...]]],
                                            columns: tuple[str, ...], match: str) -> None:
    write_roboflow(tmp_path, rows, columns)
    with pytest.raises(DatasetError, match=match):
        load_dataset(tmp_path)


def test_roboflow_missing_image_names_the_line(tmp_path: Path) -> None:
    write_roboflow(tmp_path, [("a.jpg", (1, 0)), ("b.jpg", (0, 1))], ("graffiti", "clean"))
    (tmp_path / "b.jpg").unlink()
    with pytest.raises(DatasetError, match=r"_classes.csv:3: image file not found: .*b.jpg"):
        load_dataset(tmp_path)


# ------------------------------------------------------------------ plain folder + YOLO

def test_plain_folder_takes_the_given_label_and_yolo_boxes_become_pixel_regions(tmp_path: Path) -> None:
    write_jpeg(tmp_path / "images" / "img_1.jpg", 1, size_px=(100, 200))  # h=100, w=200
    write_jpeg(tmp_path / "images" / "img_2.png", 2)
    (tmp_path / "images" / "readme.md").write_text("skip me")
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "img_1.txt").write_text("1 0.5 0.5 0.5 0.2\n0 0.1 0.1 0.2 0.2\n")
    (tmp_path / "labels" / "classes.txt").write_text("window\ntag\n")
    samples = load_dataset(tmp_path, label="clean")
    assert [s.path.name for s in samples] == ["img_1.jpg", "img_2.png"]
    assert {s.label for s in samples} == {CLEAN}
    regions = samples[0].regions
    assert [(r.kind, r.xyxy, r.label) for r in regions] == [
        ("tag", (50.0, 40.0, 150.0, 60.0), 1),
        ("window", (0.0, 0.0, 40.0, 20.0), 0),  # cx 20 ± 20 px, cy 10 ± 10 px
    ]
    assert samples[1].regions == ()


def test_plain_folder_without_label_asks_for_one(tmp_path: Path) -> None:
    write_jpeg(tmp_path / "a.jpg", 1)
    with pytest.raises(DatasetError, match="--label clean"):
        load_dataset(tmp_path)


def test_bad_yolo_line_names_file_and_line(tmp_path: Path) -> None:
    write_jpeg(tmp_path / "images" / "a.jpg", 1)
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n3 0.5 oops\n")
    with pytest.raises(DatasetError, match=r"a.txt:2: expected a YOLO box"):
        load_dataset(f"{tmp_path}::label=clean")


@pytest.mark.parametrize(("layout", "expected"), [
    ("roboflow", "roboflow"), ("manifest", "manifest"), ("imagefolder", "imagefolder"),
], ids=lambda v: str(v))
def test_detect_format(tmp_path: Path, layout: str, expected: str) -> None:
    if layout == "roboflow":
        write_roboflow(tmp_path / "train", [("a.jpg", (1, 0, 0, 0))])
    elif layout == "manifest":
        (tmp_path / "manifest.csv").write_text("path,label\n")
    else:
        write_jpeg(tmp_path / "clean" / "a.jpg", 1)
    assert detect_format(tmp_path) == expected


def test_label_flag_is_rejected_for_a_labelled_format(tmp_path: Path) -> None:
    write_roboflow(tmp_path, [("a.jpg", (1, 0, 0, 0))])
    with pytest.raises(DatasetError, match="only applies to a plain folder"):
        load_dataset(tmp_path, label="clean")


def test_missing_dataset_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="nowhere: no such file or folder"):
        load_dataset(tmp_path / "nowhere")


def test_exclude_list_drops_named_images_and_rejects_stale_entries(tmp_path: Path) -> None:
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        write_jpeg(tmp_path / "ds" / "images" / name, 1)
    keep_out = tmp_path / "out.txt"
    keep_out.write_text("# known tags\nb.jpg   # tag on a door\nimages/c.jpg\n")
    samples = load_dataset(f"{tmp_path / 'ds'}::label=clean,exclude={keep_out}")
    assert [s.path.name for s in samples] == ["a.jpg"]
    keep_out.write_text("b.jpg\nz.jpg\n")
    with pytest.raises(DatasetError, match=r"out.txt:2: 'z.jpg' matches no image"):
        load_dataset(f"{tmp_path / 'ds'}::label=clean,exclude={keep_out}")
