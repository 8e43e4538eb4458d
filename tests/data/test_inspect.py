"""inspect_dataset: unreadable files are listed not fatal; duplicates and leaks across splits/groups."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector.data.contact import contact_sheet, write_png
from detector.data.formats import load_dataset
from detector.data.inspect import InspectReport, inspect_dataset
from detector.data.phash import hamming_pairs, phash
from tests.data.helpers import write_jpeg


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[InspectReport, Path]:
    root = tmp_path_factory.mktemp("insp")
    for i in range(6):
        write_jpeg(root / f"img{i}.jpg", seed=i, size_px=(64, 64))
    shutil.copy(root / "img0.jpg", root / "copy_of_0.jpg")  # exact duplicate, other group, other split
    img = cv2.imdecode(np.frombuffer((root / "img1.jpg").read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    ok, buf = cv2.imencode(".jpg", cv2.resize(img, (48, 48), interpolation=cv2.INTER_AREA), [cv2.IMWRITE_JPEG_QUALITY, 60])
    (root / "small_1.jpg").write_bytes(buf.tobytes())  # near duplicate: resized and re-encoded
    data = (root / "img5.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (root / "manifest.csv").write_text(
        "path,label,group,split\n"
        "img0.jpg,graffiti,g0,train\nimg1.jpg,graffiti,g1,train\nimg2.jpg,clean,g2,train\n"
        "img3.jpg,clean,g3,val\nimg4.jpg,clean,g4,val\nimg5.jpg,graffiti,g5,val\n"
        "copy_of_0.jpg,graffiti,g6,val\nsmall_1.jpg,graffiti,g1,train\ntruncated.jpg,clean,g7,train\n"
    )
    out = root / "out"
    return inspect_dataset(load_dataset(root), name="toy", out_dir=out, show_progress=False), out


def test_truncated_jpeg_is_reported_not_fatal(report: tuple[InspectReport, Path]) -> None:
    r, _ = report
    assert r.unreadable == ["truncated.jpg"]
    assert (r.images, r.readable) == (9, 8)


def test_exact_duplicate_across_splits_and_groups_is_flagged(report: tuple[InspectReport, Path]) -> None:
    r, _ = report
    assert [(p.a, p.b, p.cross_split, p.cross_group) for p in r.exact_duplicates] == [
        ("img0.jpg", "copy_of_0.jpg", True, True)
    ]
    assert r.duplicates_crossing_splits == 1


def test_resized_reencoded_copy_is_a_near_duplicate_within_its_group(report: tuple[InspectReport, Path]) -> None:
    r, _ = report
    assert [(p.a, p.b, p.cross_split, p.cross_group) for p in r.near_duplicates] == [
        ("img1.jpg", "small_1.jpg", False, False)
    ]
    assert r.duplicates_crossing_groups == 1  # only the exact copy


def test_counts_and_files_written(report: tuple[InspectReport, Path]) -> None:
    r, out = report
    assert r.labels == {"clean": 4, "graffiti": 5}
    assert r.splits == {"train": 5, "val": 4}
    assert r.groups == 8
    saved = json.loads((out / "report.json").read_text())
    assert saved["exact_duplicates"][0]["a"] == "img0.jpg"
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == ["contact-clean.png", "contact-graffiti.png", "duplicates.png"]
    sheet = cv2.imread(str(out / "contact-graffiti.png"))
    assert sheet is not None and sheet.shape[0] > 100


def test_the_same_image_under_two_labels_is_counted_and_listed_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from detector.data.inspect import print_report

    for i in range(3):
        write_jpeg(tmp_path / f"img{i}.jpg", seed=i, size_px=(64, 64))
    shutil.copy(tmp_path / "img0.jpg", tmp_path / "twin.jpg")  # same bytes, labelled the other way
    shutil.copy(tmp_path / "img1.jpg", tmp_path / "again.jpg")  # same bytes, same label: a duplicate, no conflict
    (tmp_path / "manifest.csv").write_text(
        "path,label,group\nimg0.jpg,graffiti,g0\ntwin.jpg,clean,g1\nimg1.jpg,clean,g2\nagain.jpg,clean,g3\n"
        "img2.jpg,graffiti,g4\n")
    r = inspect_dataset(load_dataset(tmp_path), name="twins", out_dir=None, show_progress=False)
    assert sorted((p.a, p.b, p.cross_label) for p in r.exact_duplicates) == [
        ("img0.jpg", "twin.jpg", True), ("img1.jpg", "again.jpg", False)]
    assert r.duplicates_crossing_labels == 1
    print_report(r)
    out = capsys.readouterr().out
    assert "same image labelled clean and graffiti: img0.jpg ~ twin.jpg" in out
    assert "duplicate across group (exact): img1.jpg ~ again.jpg" in out
    assert "img0.jpg ~ twin.jpg" not in out.split("same image labelled")[1].split("\n", 1)[1]  # listed once


def test_hamming_pairs_match_brute_force() -> None:
    rng = np.random.default_rng(0)
    hashes = rng.integers(0, 2**63, size=300, dtype=np.uint64)
    hashes[7] = hashes[3] ^ np.uint64(0b1011)  # 3 bits apart
    want = sorted((i, j, bin(int(hashes[i]) ^ int(hashes[j])).count("1")) for i in range(300)
                  for j in range(i + 1, 300) if bin(int(hashes[i]) ^ int(hashes[j])).count("1") <= 20)
    assert sorted(hamming_pairs(hashes, 20, block_rows=64)) == want
    assert (3, 7, 3) in want


def test_phash_ignores_brightness_but_not_content() -> None:
    base = cv2.resize(np.random.default_rng(1).integers(0, 200, (8, 8, 3), dtype=np.uint8), (64, 64))
    other = cv2.resize(np.random.default_rng(2).integers(0, 200, (8, 8, 3), dtype=np.uint8), (64, 64))
    dist = lambda a, b: bin(int(phash(a)) ^ int(phash(b))).count("1")  # noqa: E731
    assert dist(base, cv2.add(base, 30)) <= 2
    assert dist(base, other) > 12


@pytest.mark.parametrize(("n", "cols", "shape"), [(5, 3, (2, 3)), (0, 4, (1, 1)), (2, 8, (1, 2))],
                         ids=["two-rows", "empty", "fewer-than-cols"])
def test_contact_sheet_grid_shape(tmp_path: Path, n: int, cols: int, shape: tuple[int, int]) -> None:
    items = [(np.full((30, 50, 3), 200, np.uint8), f"item {i}") for i in range(n)]
    sheet = contact_sheet(items, cols=cols, cell_px=40)
    cell_h, cell_w = 40 + 12 + 2, 40 + 2
    assert sheet.shape == (shape[0] * cell_h, shape[1] * cell_w, 3) and sheet.dtype == np.uint8
    if n:
        assert (sheet[:40, :40] == 200).any()  # the image is drawn
        assert (sheet[40:52, :40] > 200).any()  # the caption text is drawn
    path = write_png(tmp_path / "sub" / "s.png", sheet)
    assert cv2.imread(str(path)).shape == sheet.shape
