#!/usr/bin/env python3
"""How much of a real piece the wall model sees changed in IR against colour, per tile.

The judge holds an open event whose paint was hot in one colour mode while, in the other, the tile's
change covers ``paint_hold`` (a quarter) of the blocks that were paint (``detector/edge/judge.py``). This
checks that rule against the real-walls benchmark's pieces (``scripts/bench_real_walls.py``: the same
held-out walls, pieces, seeds and placement): for every tile over a piece, the share of its blocks changed
a minute after the piece is finished against a minute before it started, in the IR look and in colour,
and prints the lowest IR/colour and colour/IR ratios per wall. A ratio under 0.25 would be a piece the
rule could release while it is still on the wall.

    .venv/bin/python scripts/bench_ir_change.py            # all walls (68 on the shared data)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--walls", type=int, default=1000)
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--data", type=Path, default=REPO / "runs" / "default-data")
    args = p.parse_args(argv)
    import bench_real_walls as brw
    import cv2

    from detector.data.sim.photowall import PhotoWallStream
    from detector.edge.judge import JudgeParams
    from detector.edge.wall import ChangeParams, structural_change, tile_blocks
    from detector.preprocess import read_image
    from detector.tiling import plan_tiles

    if not (brw.SHARED / "street-graffiti").is_dir() or not (brw.SHARED / "facades-spb").is_dir():
        print(f"error: the real photos are not at {brw.SHARED} (street-graffiti, facades-spb)", file=sys.stderr)
        return 2
    cp, hold, frac = ChangeParams(), JudgeParams().paint_hold, JudgeParams().change_fraction
    plan = plan_tiles((1280, 720), 320, 0.25)
    scale = 224 / 320  # the wall model works at the model's scale
    w, h = int(round(1280 * scale)), int(round(720 * scale))
    grid = (h // cp.block_px, w // cp.block_px)
    blocks = [tile_blocks(tuple(int(round(v * scale)) for v in t.xyxy), grid, cp.block_px) for t in plan.tiles]
    walls, paints, posters = brw.pick_sources(args.data)

    def grey(img):  # type: ignore[no-untyped-def]
        return cv2.cvtColor(cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)

    lowest = float("inf")
    for i in range(args.first, min(args.first + args.walls, len(walls))):
        fixtures = [im for im in (read_image(q) for q in brw.wall_posters(posters, i)) if im is not None]
        stream = PhotoWallStream(read_image(walls[i]), [read_image(paints[i % len(paints)])], fixtures,
                                 seed=1000 + i, fps=0.2)
        if not stream.day.paint:
            continue
        truth = stream.day.paint[0]
        x0, y0, x1, y1 = truth.box
        share = {}
        for ir in (False, True):
            changed = structural_change(grey(stream.wall_at(truth.finished_s + 60, ir=ir)),
                                        grey(stream.wall_at(truth.start_s - 60, ir=ir)), cp).reshape(-1)
            share[ir] = [float(changed[b].mean()) if b.size else 0.0 for b in blocks]
        on = [j for j, t in enumerate(plan.tiles) if t.xyxy[0] < x1 and x0 < t.xyxy[2] and t.xyxy[1] < y1 and y0 < t.xyxy[3]]
        ratios = []
        for a, b in ((True, False), (False, True)):
            r = [share[a][j] / share[b][j] for j in on if share[b][j] >= frac]
            ratios.append(min(r) if r else float("nan"))
        lowest = min(lowest, *[r for r in ratios if r == r])
        print(f"wall {i:2d}: lowest IR/colour {ratios[0]:.2f}, colour/IR {ratios[1]:.2f} over {len(on)} tile(s)", flush=True)
    print(f"lowest ratio over all walls: {lowest:.2f} (the hold releases under {hold:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
