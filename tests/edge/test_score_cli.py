"""`graffiti edge score`: per-image max score and verdict, heat-map PNGs, clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
from typer.testing import CliRunner

from detector.cli import app
from tests.edge.edge_models import paint, redness_model, wall

REPO = Path(__file__).resolve().parents[2]


def test_score_prints_verdicts_and_writes_heat_maps(tmp_path: Path) -> None:
    model = redness_model(tmp_path / "m.onnx", threshold=0.5)
    clean, tagged = tmp_path / "clean.png", tmp_path / "tagged.png"
    cv2.imwrite(str(clean), wall(320, 240))
    cv2.imwrite(str(tagged), paint(wall(320, 240), (0, 0, 100, 100)))
    out = tmp_path / "heat"
    res = CliRunner().invoke(app, ["edge", "score", str(clean), str(tagged), "--model", str(model), "--out", str(out),
                                   "--tile-px", "100", "--threads", "1"])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert "clean.png" in lines[0] and "→ clean" in lines[0]
    assert "tagged.png" in lines[1] and "→ graffiti" in lines[1] and "max 1.000" in lines[1]
    # the whole image as one input: the small patch is diluted under the threshold (why the edge scores tiles)
    whole = {ln.split(":")[0].rsplit("/", 1)[-1]: float(ln.split("whole image ")[1].split()[0]) for ln in lines[:2]}
    assert whole["clean.png"] < 0.05 and 0.05 < whole["tagged.png"] < 0.5
    heat = cv2.imread(str(out / "tagged.heat.png"))
    assert heat is not None and heat.shape[:2] == (240, 320 + 56)  # the image, then its colour bar
    bar = heat[:, 320:]
    top, bottom = 240 // 20, 240 - 240 // 20
    # the bar runs from JET's dark red (score 1) at the top to its dark blue (score 0) at the bottom
    assert bar[top + 2, 10, 2] > 100 and bar[top + 2, 10, 0] < 60
    assert bar[bottom - 2, 10, 0] > 100 and bar[bottom - 2, 10, 2] < 60
    # The hot tile is boxed in red; the cold far corner is tinted blue (JET at 0), the paint dark red.
    original = cv2.imread(str(tagged))
    assert tuple(heat[0, 50]) == (0, 0, 255)
    assert heat[230, 300, 2] < original[230, 300, 2] - 30 and heat[230, 300, 0] > heat[230, 300, 2] + 30
    assert heat[50, 50, 2] < original[50, 50, 2] - 30 and heat[50, 50, 0] < 10
    assert (out / "clean.heat.png").is_file()


def test_unreadable_image_is_reported_and_the_rest_scored(tmp_path: Path) -> None:
    model = redness_model(tmp_path / "m.onnx")
    good, bad = tmp_path / "good.png", tmp_path / "bad.jpg"
    cv2.imwrite(str(good), wall(64, 64))
    bad.write_bytes(b"\xff\xd8 truncated")
    res = CliRunner().invoke(app, ["edge", "score", str(bad), str(good), "--model", str(model), "--threads", "1"])
    assert res.exit_code == 1
    assert "good.png: max" in res.output and "bad.jpg: unreadable or truncated image" in res.output


def test_a_missing_image_is_reported_as_not_found(tmp_path: Path) -> None:
    model = redness_model(tmp_path / "m.onnx")
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), wall(64, 64))
    res = CliRunner().invoke(app, ["edge", "score", str(tmp_path / "missing.jpg"), str(good), "--model", str(model),
                                   "--threads", "1"])
    assert res.exit_code == 1
    assert "missing.jpg: not found, skipped" in res.output and "unreadable" not in res.output
    assert "good.png: max" in res.output


def test_score_with_a_model_without_contract_is_a_one_line_error(tmp_path: Path) -> None:
    model = redness_model(tmp_path / "m.onnx", with_meta=False)
    img = tmp_path / "a.png"
    cv2.imwrite(str(img), wall(64, 64))
    res = subprocess.run([sys.executable, "-m", "detector", "edge", "score", str(img), "--model", str(model)],
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "no graffiti metadata contract" in res.stderr


def test_a_folder_is_scored_recursively_with_its_heat_maps_and_a_csv_row_per_image(tmp_path: Path) -> None:
    model = redness_model(tmp_path / "m.onnx", threshold=0.5)
    photos = tmp_path / "photos"
    (photos / "north").mkdir(parents=True)
    (photos / "south").mkdir()
    cv2.imwrite(str(photos / "north" / "wall.png"), paint(wall(200, 100), (0, 0, 100, 100)))
    cv2.imwrite(str(photos / "south" / "wall.png"), wall(200, 100))  # the same name in another sub-folder
    (photos / "south" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    (photos / "notes.txt").write_text("not an image")
    (tmp_path / "empty").mkdir()
    out, table = tmp_path / "heat", tmp_path / "scores.csv"
    res = CliRunner().invoke(app, ["edge", "score", str(photos), str(tmp_path / "empty"), "--model", str(model),
                                   "--out", str(out), "--csv", str(table), "--tile-px", "100", "--threads", "1"])
    assert res.exit_code == 1, res.output  # something was skipped, and said so
    assert "empty: no image files in this folder" in res.output and "broken.jpg: unreadable" in res.output
    assert "2 image(s) scored: 1 graffiti, 1 clean; 2 skipped or failed" in res.output
    assert (out / "north" / "wall.heat.png").is_file() and (out / "south" / "wall.heat.png").is_file()
    import csv
    rows = {Path(r["path"]).relative_to(tmp_path).as_posix(): r for r in csv.DictReader(table.open())}
    assert set(rows) == {"photos/north/wall.png", "photos/south/wall.png", "photos/south/broken.jpg", "empty"}
    north, south = rows["photos/north/wall.png"], rows["photos/south/wall.png"]
    assert north["verdict"] == "graffiti" and north["hot_tiles"] == "1" and north["hottest_tile_xyxy"] == "0 0 100 100"
    assert float(north["whole_image_score"]) < float(north["max_score"])  # half the image painted, diluted
    assert south["verdict"] == "clean" and float(south["max_score"]) < 0.5 and south["error"] == ""
    assert Path(north["heat_map"]) == out / "north" / "wall.heat.png"
    assert rows["photos/south/broken.jpg"]["error"].startswith("unreadable") and not rows["empty"]["verdict"]


def test_two_files_with_one_name_get_two_heat_maps(tmp_path: Path) -> None:
    model = redness_model(tmp_path / "m.onnx")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for d in ("a", "b"):
        cv2.imwrite(str(tmp_path / d / "x.png"), wall(64, 64))
    res = CliRunner().invoke(app, ["edge", "score", str(tmp_path / "a" / "x.png"), str(tmp_path / "b" / "x.png"),
                                   "--model", str(model), "--out", str(tmp_path / "heat"), "--threads", "1"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "heat").iterdir()) == ["x-2.heat.png", "x.heat.png"]


def test_a_folder_says_which_files_it_passed_over_and_reports_broken_links(tmp_path: Path) -> None:
    model = redness_model(tmp_path / "m.onnx")
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "wall.png"), wall(64, 64))
    (photos / "notes.txt").write_text("not an image")
    (photos / "clip.gif").write_bytes(b"GIF89a")
    (photos / "raw.gif").write_bytes(b"GIF89a")
    (photos / ".DS_Store").write_bytes(b"\0")  # hidden: nobody's photo, not even worth a note
    (photos / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (tmp_path / "link.png").symlink_to(tmp_path / "nowhere.png")
    table = tmp_path / "scores.csv"
    res = CliRunner().invoke(app, ["edge", "score", str(photos), str(tmp_path / "link.png"), "--model", str(model),
                                   "--csv", str(table), "--threads", "1"])
    assert res.exit_code == 1, res.output
    assert (f"note: {photos}: 3 other file(s) not scored, not an image type (.gif ×2, .txt ×1)" in res.output)
    assert f"gone.jpg: broken link (to {tmp_path / 'nowhere.jpg'}), skipped" in res.output
    assert f"link.png: broken link (to {tmp_path / 'nowhere.png'}), skipped" in res.output
    assert "1 image(s) scored: 0 graffiti, 1 clean; 2 skipped or failed" in res.output
    import csv
    rows = {Path(r["path"]).name: r for r in csv.DictReader(table.open())}
    assert set(rows) == {"wall.png", "gone.jpg", "link.png"}
    assert rows["gone.jpg"]["error"].startswith("broken link")


def test_a_video_is_pointed_to_the_edge_run_not_decoded_as_an_image(tmp_path: Path) -> None:
    model = redness_model(tmp_path / "m.onnx")
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\0\0\0\x18ftypmp42")
    res = CliRunner().invoke(app, ["edge", "score", str(clip), "--model", str(model), "--threads", "1"])
    assert res.exit_code == 1
    assert f"clip.mp4: a video, not an image, skipped: for a recording run the edge on it ('graffiti edge run " \
           f"--source {clip} --fast')" in res.output
