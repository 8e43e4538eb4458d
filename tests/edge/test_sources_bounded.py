"""Bounded over months: the watched-folder source forgets the files that are gone, so a camera that
drops one image a second does not grow its memory by ~20 MB a day (the probe: 20,000 images → 4.7 MB)."""

from __future__ import annotations

import os
from pathlib import Path

from detector.edge.sources import FolderSource
from tests.edge.edge_models import wall


def test_watched_folder_remembers_only_what_it_still_needs_over_many_files(tmp_path: Path) -> None:
    import cv2

    folder = tmp_path / "incoming"
    folder.mkdir()
    blob = cv2.imencode(".png", wall(32, 24))[1].tobytes()
    src = FolderSource("cam", folder, watch=True)
    src.start()
    t0 = 1_700_000_000.0
    seen = []
    remembered = []
    for i in range(2000):  # a camera uploading images, a cleaner deleting old ones
        p = folder / f"img_{i:06d}.png"
        p.write_bytes(blob)
        os.utime(p, (t0 + i, t0 + i))
        if i >= 5:
            (folder / f"img_{i - 5:06d}.png").unlink()
        frame = src.next_sample(None)
        assert frame is not None
        seen.append(frame.label)
        remembered.append(len(src._done))
    assert seen == [f"img_{i:06d}.png" for i in range(2000)]  # every new image once, in order
    assert max(remembered) <= 6  # not 2000: the names of deleted and older files are forgotten
    assert src.next_sample(None) is None  # nothing new: nothing returned twice


def test_folder_processed_once_still_reads_every_image_in_order(tmp_path: Path) -> None:
    import cv2

    folder = tmp_path / "frames"
    folder.mkdir()
    blob = cv2.imencode(".png", wall(32, 24))[1].tobytes()
    for i in range(50):
        p = folder / f"f{i:03d}.png"
        p.write_bytes(blob)
        os.utime(p, (1000.0 + i, 1000.0 + i))
    src = FolderSource("cam", folder, watch=False)
    src.start()
    labels = []
    while (frame := src.next_sample(None)) is not None:
        labels.append(frame.label)
    assert labels == [f"f{i:03d}.png" for i in range(50)] and src.finished
