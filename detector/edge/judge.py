"""Judging the wall, not the frame: commissioned baselines, change gating, scoring in proportion to change.

Per camera, on top of the wall estimate (:mod:`detector.edge.wall`):

- **Commissioning.** Once the wall estimate exists in a colour mode (colour or IR), each tile's
  baseline is taken from it for ``commission_s``: its appearance and its score (the highest seen).
  No detection runs on a mode before it is commissioned. Tiles that already score at or above the
  threshold are not alarms: they go once to the operator as a commissioning report.
- **Gating.** After that a tile counts as graffiti evidence only when its score is at or above the
  threshold, clearly above its own baseline score (``score_margin``), *and* its appearance changed
  structurally from the baseline (``change_fraction`` of its blocks). A pipe that was always there
  never alerts; paint on a warm tile does. The baseline score is the highest the tile read while it
  looked as commissioned — in any light of the day, over the threshold too when not a block of it had
  changed — so a clean tile the model reads hot at noon does not alert when a few blocks of it change
  later (a cleaning's faint ghost, a small sticker); paint there alerts where it reads clearly above that,
  or through the neighbouring tiles. The gated score (the score, or 0) is what the decision
  engine's median/persistence/hysteresis rules see, so cleaning means "back to the baseline, or
  scoring clean".
- **Compute in proportion to change.** A tile is scored again only when its wall estimate changed
  since it was last scored, every ``refresh_s``, and after a model swap or a colour-mode switch.
- **Open pieces hold while they look as painted.** When an open event's tile has evidence, the judge
  keeps that picture of it (per colour mode) and which blocks were paint; if the model later reads the
  piece lower (finished, in another light) but not clean, its score goes through to the engine — whose
  hysteresis then keeps the event open — as long as ``paint_hold`` of those blocks still look as
  painted and unlike the baseline. Cleaning, a ghost, or a clean reading closes it as before.
- **Settled tiles.** A tile whose wall is structurally back to its baseline (for a piece carried
  through a commissioning: back to the other colour mode's clean picture, or its paint blocks no
  longer look as painted and the model does not read graffiti) is reported as settled; the
  decision engine may close an event of settled tiles sooner than ``clean_s`` (``settled_s``).
- **The paint block by block** (:class:`~detector.edge.decision.WallPaint`), for the engine to tell
  which event owns what: the blocks that show paint or another change now (against the clean wall), and
  the blocks disturbed lately — changed against the wall's picture from 10–20 minutes ago
  (``moved_s``), or behind something standing in front of the wall for ``standing_s`` (a crew, not a
  passer-by). Those pictures are not part of the saved state: after a restart (or a colour-mode
  switch) "disturbed" is not known for ``moved_s``, and the engine takes the safe side.
- **Operator rejections** re-baseline the rejected tiles on the current wall: quiet until they change.

Pure numpy; the model is called by the camera through the tile indices this returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from detector.edge.decision import WallPaint
from detector.edge.wall import (
    ChangeParams,
    WallEstimate,
    WallParams,
    structural_change,
    tile_blocks,
)


@dataclass(frozen=True)
class JudgeParams:
    commission_s: float = 300.0  # baseline period once the wall estimate exists (per colour mode)
    refresh_s: float = 600.0  # score an unchanged tile again at least this often
    rescore_delta: float = 2.0  # mean grey change of a tile (model scale) since it was scored → score again
    rescore_local_delta: float = 8.0  # ... or this much in one 1/16 × 1/16 patch of it
    score_margin: float = 0.15  # evidence needs score >= baseline score + this
    change_fraction: float = 0.02  # evidence needs this share of a tile's blocks changed
    refine_s: float = 3600.0  # a changed tile that stays below the gate this long becomes its new baseline
    paint_hold: float = 0.25  # an open piece holds while this share of its paint blocks still looks as painted
    moved_s: float = 600.0  # "changed lately" compares the wall with its picture from moved_s to 2 x moved_s ago
    standing_s: float = 120.0  # something in front of the wall this long (not a passer-by) disturbs what it covers


@dataclass
class Baseline:
    """One colour mode's commissioned baseline."""

    grey: np.ndarray  # model-scale grey wall picture
    scores: np.ndarray  # per tile: highest score while the tile looked like this
    started_s: float
    done: bool = False
    carried: set[int] = field(default_factory=set)  # tiles of events open at commissioning: judged by score
    # blocks that differed from the other colour mode's baseline when this one was commissioned (the
    # paint of the carried tiles, as the other mode knows the wall clean); None when it had none
    paint: np.ndarray | None = None


@dataclass(frozen=True)
class CommissionReport:
    """Tiles that already look like graffiti when a mode is commissioned (index → baseline score)."""

    mode: str
    t_s: float
    tile_scores: dict[int, float]


@dataclass(frozen=True)
class CarriedRefs:
    """Per tile, for pieces carried through a commissioning, measured against the other mode's clean wall."""

    clean: np.ndarray  # share of blocks that differ from the other mode's clean picture now
    still: np.ndarray  # share of blocks that are paint and still look as painted
    paint: np.ndarray  # share of blocks that are paint at all
    other_carried: set[int]  # tiles carried in the other mode too (no clean picture there)


class Judgement(NamedTuple):
    """What the judge tells the decision engine for one sample, per tile."""

    gated: list[float]  # the score where the tile has evidence (or holds as painted), else 0
    cells: list[frozenset[int]]  # the wall blocks that changed against the baseline
    settled: list[bool]  # the wall is back to its baseline (a carried piece: its paint is gone, read clean)
    report: CommissionReport | None  # tiles that looked like graffiti when this mode was commissioned
    paint: WallPaint | None = None  # the paint block by block: what shows now, what was disturbed lately


@dataclass
class JudgeStep:
    """What one sample asks of the camera: tiles to score on the wall estimate (may be empty)."""

    to_score: list[int]


class WallJudge:
    def __init__(self, wall: WallParams, params: JudgeParams, change: ChangeParams,
                 tiles_scaled: list[tuple[int, int, int, int]], size_hw: tuple[int, int]) -> None:
        self.params = params
        self.change = change
        self.tiles = tiles_scaled
        self.wall = WallEstimate(wall, size_hw)
        n = len(tiles_scaled)
        b = change.block_px
        self.grid_hw = (size_hw[0] // b, size_hw[1] // b)
        self.blocks = [tile_blocks(t, self.grid_hw, b) for t in tiles_scaled]
        self._overlapping = [{j for j in range(n) if j != i and np.intersect1d(self.blocks[i], self.blocks[j]).size}
                             for i in range(n)]
        self.scores = np.zeros(n, dtype=np.float32)
        self.scored_at = np.full(n, -np.inf)
        self._scored_thumb: list[np.ndarray | None] = [None] * n
        self.baselines: dict[str, Baseline] = {}
        self.changed_blocks = np.zeros(self.grid_hw, dtype=bool)
        self.tile_change = np.zeros(n, dtype=np.float32)
        self._changed_since = np.full(n, np.nan)
        self._seen_version = -1
        self._mode_version = self.wall.mode_version
        self._hot_modes: dict[int, set[str]] = {}  # open-event tiles: the colour modes they were hot in
        self._pending: dict[str, set[int]] = {}  # per mode: tiles to re-baseline when that mode is next seen
        self._change_key: tuple[int, int, int] = (-1, -1, -1)
        self._rebaselines = 0
        self._grey_taken = -1  # estimate version the commissioning baseline's picture was taken from
        self._carried_key: tuple[int, int, int] = (-1, -1, -1)
        self._changed_for: str | None = None  # the colour mode whose baseline changed_blocks is against
        self._first_grey: dict[str, np.ndarray] = {}  # per mode: the wall when its commissioning began
        self._carried: CarriedRefs | None = None
        # per colour mode: the wall (grey) as it looked when an open event's tiles were last hot there, and
        # the blocks that were paint then (changed from the baseline); see :meth:`_update_painted_still`
        self._painted: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._painted_key: tuple[int, int, int, str] = (-1, -1, -1, "")
        self._painted_version = 0
        self._painted_from: tuple[int, int, str, frozenset[int]] | None = None  # what was last remembered
        self._still_share: np.ndarray | None = None
        self._paint_share: np.ndarray | None = None
        self._carried_now: np.ndarray | None = None  # blocks that differ from the other mode's clean wall now
        # pictures of the wall (source time, grey) taken at least ``moved_s`` apart in this colour mode, to
        # tell which blocks changed in the last minutes (see :meth:`_moved_blocks`)
        self._recent: list[tuple[float, np.ndarray]] = []
        self._recent_mode: str | None = None
        self._moved: tuple[tuple[int, float], frozenset[int] | None] = ((-1, -1.0), None)
        self._now_ids: tuple[tuple[Any, ...], frozenset[int]] | None = None
        self.model_runs_saved = 0
        self.model_runs = 0

    # ---------------------------------------------------------------- per sample
    @property
    def mode(self) -> str | None:
        return self.wall.mode

    @property
    def baseline(self) -> Baseline | None:
        return self.baselines.get(self.wall.mode or "")

    def sample(self, t_s: float, frame_scaled: np.ndarray, open_tiles: set[int]) -> JudgeStep:
        """One sample (the frame at model scale): feed the wall; which tiles to score now."""
        self.wall.add(t_s, frame_scaled)
        if self.wall.mode_version != self._mode_version:  # rebuilt for another colour mode
            self._mode_version = self.wall.mode_version
            self.scored_at[:] = -np.inf
            self._scored_thumb = [None] * len(self.tiles)
        if not self.wall.valid:
            return JudgeStep([])
        to_score: list[int] = []
        if self.wall.version != self._seen_version:
            self._seen_version = self.wall.version
            to_score = self._due(t_s, open_tiles)
            self.model_runs += len(to_score)
            self.model_runs_saved += len(self.tiles) - len(to_score)
        base = self.baseline
        if base is None:
            assert self.wall.mode is not None
            self.baselines[self.wall.mode] = Baseline(self.wall.grey().copy(), np.zeros(len(self.tiles), np.float32), t_s,
                                                      carried=set(open_tiles))
            self._first_grey[self.wall.mode] = self.wall.grey().copy()
            to_score = list(range(len(self.tiles)))  # commissioning scores every tile
        return JudgeStep(to_score)

    def _due(self, t_s: float, open_tiles: set[int]) -> list[int]:
        """Tiles to score on the new estimate: those of open events (their cleaning must not wait), those
        whose picture changed since they were scored (on average, or anywhere by a clear local step),
        and those due for the periodic refresh."""
        est = self.wall.estimate
        assert est is not None
        p = self.params
        out = []
        for i, (x1, y1, x2, y2) in enumerate(self.tiles):
            thumb = _thumb(est[y1:y2, x1:x2])
            prev = self._scored_thumb[i]
            if prev is None or i in open_tiles or t_s - self.scored_at[i] >= p.refresh_s:
                out.append(i)
                continue
            diff = np.abs(thumb - prev)
            if float(diff.mean()) >= p.rescore_delta or float(diff.max()) >= p.rescore_local_delta:
                out.append(i)
        return out

    def crops(self, idx: list[int]) -> list[np.ndarray]:
        est = self.wall.estimate
        assert est is not None
        return [est[y1:y2, x1:x2] for (x1, y1, x2, y2) in (self.tiles[i] for i in idx)]

    def scored(self, t_s: float, idx: list[int], scores: np.ndarray) -> None:
        """Record model scores for tiles of the current estimate (see :meth:`crops`)."""
        est = self.wall.estimate
        assert est is not None
        for i, s in zip(idx, scores, strict=True):
            self.scores[i] = float(s)
            self.scored_at[i] = t_s
            x1, y1, x2, y2 = self.tiles[i]
            self._scored_thumb[i] = _thumb(est[y1:y2, x1:x2])

    def invalidate_scores(self) -> None:
        """After a model swap every tile is scored again at the next estimate."""
        self.scored_at[:] = -np.inf
        self._scored_thumb = [None] * len(self.tiles)
        self._seen_version = -1

    def judge(self, t_s: float, threshold: float, open_tiles: set[int], clean_threshold: float | None = None,
              ) -> Judgement:
        """Gated scores, changed blocks and settled flags per tile for the decision engine; a report when
        commissioning ends.

        ``clean_threshold`` (the decision engine's): an open piece the model now reads between it and
        ``threshold`` keeps its score while the wall still looks as painted (the engine's hysteresis);
        None turns that hold off."""
        base = self.baseline
        n = len(self.tiles)
        if base is None or self.wall.estimate is None:
            return Judgement([0.0] * n, [frozenset()] * n, [False] * n, None)
        report = None
        if not base.done:
            np.maximum(base.scores, self.scores, out=base.scores)
            if self._grey_taken != self.wall.version:  # the newest estimate, once per version
                base.grey = self.wall.grey().copy()  # a copy: re-baselining writes into it
                self._grey_taken = self.wall.version
            if t_s - base.started_s < self.params.commission_s:
                return Judgement([0.0] * n, [frozenset()] * n, [False] * n, None)
            base.done = True
            derived = self._derive_from_other_mode(base, threshold)
            hot = {i: round(float(base.scores[i]), 4) for i in range(n)
                   if base.scores[i] >= threshold and i not in base.carried and i not in derived}
            if hot:
                report = CommissionReport(self.wall.mode or "", t_s, hot)
        pending = self._pending.pop(self.wall.mode or "", None)
        if pending:
            self._rebaseline(sorted(pending), propagate=False)
        key = (self.wall.version, id(base), self._rebaselines)
        if key != self._change_key:
            self._change_key = key
            self._update_change()
        gated: list[float] = []
        cells: list[frozenset[int]] = []
        settled: list[bool] = []
        p = self.params
        refs = self._carried_refs(base)
        self._update_painted_still()
        hot_now: list[int] = []
        for i in range(n):
            s = float(self.scores[i])
            changed = float(self.tile_change[i]) >= p.change_fraction
            blocks = self.blocks[i]
            cells.append(frozenset(int(b) for b in blocks[self.changed_blocks.reshape(-1)[blocks]]) if changed
                         else frozenset())
            settled.append(not changed and i not in base.carried)
            if i in base.carried:
                # Open when this mode was commissioned: its baseline holds the paint. As long as the tile
                # still looks like that, the paint is there (the event stays open, whatever the model
                # reads in this light); once it changed, only a graffiti score keeps it open. Where the
                # other colour mode's baseline shows the clean wall, the paint is told block by block:
                # the blocks that differ between the two baselines. The event holds while a real part of
                # them (``paint_hold``) still looks as painted (a poster over half the piece does not
                # close it; a few blocks of ghost left by the crew do not hold it), and the tile is
                # clean once the wall looks as the other mode showed it clean.
                if refs is not None and i not in refs.other_carried:
                    if float(refs.clean[i]) < p.change_fraction:
                        gated.append(0.0)  # the wall looks as the other mode's baseline showed it clean
                        settled[i] = True
                    elif float(refs.still[i]) >= max(p.change_fraction, p.paint_hold * float(refs.paint[i])):
                        gated.append(max(s, threshold))  # the paint is still there as it was painted
                    else:
                        gated.append(s if s >= threshold else 0.0)  # all of it changed: cleaned or covered
                        # This mode never saw the wall clean, and the other mode renders parts of it
                        # differently, so "back to the baseline" is told by the paint: its blocks no longer
                        # look as painted in the wall estimate, and the model does not read graffiti.
                        settled[i] = s < threshold
                elif changed:
                    gated.append(s if s >= threshold else 0.0)
                else:
                    gated.append(max(s, threshold))
                continue
            if changed and s < threshold and i not in open_tiles and not (self._overlapping[i] & open_tiles):
                # A change that never looks like graffiti (a poster, a parked bike) becomes the wall — but
                # not while it shares blocks with an open event's tiles: a piece the model reads hot in
                # one tile and lukewarm in the next is not taken into the baseline half by half.
                if np.isnan(self._changed_since[i]):
                    self._changed_since[i] = t_s
                elif t_s - self._changed_since[i] >= p.refine_s:
                    self._rebaseline([i], propagate=False)
                    changed = False
            else:
                self._changed_since[i] = np.nan
            if changed and s >= threshold and s >= float(base.scores[i]) + p.score_margin:
                gated.append(s)
                if i in open_tiles:
                    self._hot_modes.setdefault(i, set()).add(self.wall.mode or "")
                    hot_now.append(i)
            elif changed and i in open_tiles and self._hot_modes.get(i) and \
                    (self.wall.mode or "") not in self._hot_modes[i] and self._holds_from_other_mode(i):
                # Paint seen hot in the other colour mode and still there (changed) in this one, where the
                # model reads it lower: the event stays open; only this mode's own evidence may close it.
                # "Still there" means a real part of it (``paint_hold`` of the blocks that were paint when it
                # was hot): a stroke the crew missed as the light changed does not hold the event all night.
                gated.append(threshold)
            elif changed and i in open_tiles and clean_threshold is not None and s >= clean_threshold \
                    and self._holds_as_painted(i):
                # The model reads the piece lower now (finished, in another light), though not clean, and the
                # wall still looks as it did when the tile was last hot: the paint is there. The score goes
                # through, so the engine's hysteresis keeps the event open (between the two thresholds it
                # neither opens nor closes). Cleaning closes it: back to the baseline, a ghost that looks
                # like the wall more than the paint, or one the model reads clean.
                gated.append(s)
            else:
                if not changed and i not in open_tiles and (s < threshold or not self._any_change(i)):
                    # The tile looks as commissioned: what the model reads there now is the wall's own score
                    # (the light of another hour). Over the threshold only when not a block changed — a few
                    # changed blocks under the change gate may be a small tag's first strokes.
                    base.scores[i] = max(float(base.scores[i]), s)
                gated.append(0.0)
            if i not in open_tiles:
                self._hot_modes.pop(i, None)
        if hot_now:
            self._remember_painted(hot_now)
        return Judgement(gated, cells, settled, report, self._wall_paint(t_s, base, refs, bool(open_tiles)))

    def _wall_paint(self, t_s: float, base: Baseline, refs: CarriedRefs | None, anything_open: bool) -> WallPaint:
        """The paint block by block: the blocks changed against the baseline — for tiles carried through a
        commissioning, also the paint blocks that still differ from the other colour mode's clean wall — and
        the blocks disturbed lately: changed in the last minutes, or behind something that has stood in front
        of the wall for ``standing_s`` (not a passer-by). Only the engine's open events ask what was
        disturbed, so with none open that is left out (None) — the pictures it compares with are kept."""
        key = (self._change_key, self._carried_key, refs is None)
        if self._now_ids is None or self._now_ids[0] != key:
            now = self.changed_blocks.copy()
            if refs is not None and base.paint is not None and self._carried_now is not None:
                # the carried tiles' baseline holds their paint: there, a paint block shows paint when it
                # differs from the other mode's clean picture, any other block when it changed from its own
                mask = np.zeros(now.size, dtype=bool)
                for i in base.carried - refs.other_carried:
                    mask[self.blocks[i]] = True
                paint = mask.reshape(now.shape) & base.paint
                now[paint] = self._carried_now[paint]
            self._now_ids = (key, _ids(now))
        moved = self._moved_blocks(t_s, anything_open)
        if moved is None:
            return WallPaint(self._now_ids[1], None)
        fore = self.wall.lasting_foreground(t_s, self.params.standing_s)
        standing: frozenset[int] = frozenset()
        if fore is not None and fore.any():
            import cv2

            gh, gw = self.grid_hw
            standing = _ids(cv2.resize(fore.astype(np.float32), (gw, gh), interpolation=cv2.INTER_AREA) >= 0.2)
        return WallPaint(self._now_ids[1], moved | standing)

    def _any_change(self, i: int) -> bool:
        """Whether any block of tile ``i`` differs from the baseline now."""
        return bool(self.changed_blocks.reshape(-1)[self.blocks[i]].any())

    def _moved_blocks(self, t_s: float, compare: bool = True) -> frozenset[int] | None:
        """Blocks of the wall estimate that changed structurally in the last ``moved_s`` to 2 × ``moved_s``
        (a crew at work, people who stood long enough to enter the estimate, new paint); None until this
        colour mode's estimate has been watched that long, or without ``compare`` (the pictures are still
        taken). Once per estimate."""
        mode, version = self.wall.mode, self.wall.version
        if mode != self._recent_mode:
            self._recent, self._recent_mode = [], mode
        gap = self.params.moved_s
        if not self._recent or t_s - self._recent[-1][0] >= gap:
            self._recent = [*self._recent[-1:], (t_s, self.wall.grey().copy())]
        ref = self._recent[0]
        if not compare:
            return None
        if self._moved[0] == (version, ref[0]):
            return self._moved[1]
        moved = _ids(structural_change(self.wall.grey(), ref[1], self.change)) if t_s - ref[0] >= gap else None
        self._moved = ((version, ref[0]), moved)
        return moved

    # ---------------------------------------------------------------- open pieces: "still as painted?"
    def _remember_painted(self, tiles: list[int]) -> None:
        """Open-event tiles with evidence now: keep how they look (this mode) and which blocks are paint.

        Once per estimate: between two estimates the picture and the change map are the same, so copying
        them again (and recomparing the wall with the copy) would be work for nothing on every sample."""
        mode = self.wall.mode or ""
        source = (self.wall.version, self._rebaselines, mode, frozenset(tiles))
        if source == self._painted_from:
            return
        self._painted_from = source
        grey = self.wall.grey()
        snap = self._painted.get(mode)
        if snap is None or snap[0].shape != grey.shape or snap[1].shape != self.changed_blocks.shape:
            snap = (np.zeros_like(grey), np.zeros(self.changed_blocks.shape, dtype=bool))
            self._painted[mode] = snap
        pic, blocks = snap
        flat, changed = blocks.reshape(-1), self.changed_blocks.reshape(-1)
        for i in tiles:
            x1, y1, x2, y2 = self.tiles[i]
            pic[y1:y2, x1:x2] = grey[y1:y2, x1:x2]
            flat[self.blocks[i]] = changed[self.blocks[i]]
        self._painted_version += 1

    def _forget_painted(self, tiles: set[int] | frozenset[int] | list[int]) -> None:
        self._painted_from = None
        for _pic, blocks in self._painted.values():
            flat = blocks.reshape(-1)
            for i in tiles:
                flat[self.blocks[i]] = False
        self._painted_version += 1

    def _update_painted_still(self) -> None:
        """Per tile (once per estimate): the share of its remembered paint blocks that still look as painted
        — like the remembered picture *and* unlike the baseline (a faint ghost correlates with both and
        counts as cleaned) — and the share of paint blocks at all."""
        mode = self.wall.mode or ""
        snap = self._painted.get(mode)
        key = (self.wall.version, self._painted_version, self._rebaselines, mode)
        if key == self._painted_key:
            return
        self._painted_key = key
        if snap is None or not snap[1].any() or snap[0].shape != self.wall.grey().shape:
            self._still_share = self._paint_share = None
            return
        pic, blocks = snap
        as_painted = ~structural_change(self.wall.grey(), pic, self.change)
        self._still_share = self._tile_fractions(blocks & as_painted & self.changed_blocks)
        self._paint_share = self._tile_fractions(blocks)

    def _holds_from_other_mode(self, i: int) -> bool:
        """Whether tile ``i``'s change now covers ``paint_hold`` of the blocks that were paint when the
        tile was hot in another colour mode (True when that picture is not known, e.g. after a restart)."""
        shares = []
        for mode in self._hot_modes.get(i, ()):
            snap = self._painted.get(mode)
            if snap is not None and snap[1].shape == self.changed_blocks.shape:
                shares.append(float(snap[1].reshape(-1)[self.blocks[i]].mean()) if self.blocks[i].size else 0.0)
        if not shares:
            return True
        p = self.params
        return float(self.tile_change[i]) >= max(p.change_fraction, p.paint_hold * max(shares))

    def _holds_as_painted(self, i: int) -> bool:
        if self._still_share is None or self._paint_share is None:
            return False
        p = self.params
        return float(self._still_share[i]) >= max(p.change_fraction, p.paint_hold * float(self._paint_share[i]))

    def _other_mode(self, base: Baseline) -> tuple[str, Baseline] | None:
        """The other colour mode and its baseline, when it has been commissioned."""
        return next(((m, b) for m, b in self.baselines.items() if b is not base and b.done), None)

    def _tile_fractions(self, changed: np.ndarray) -> np.ndarray:
        flat = changed.reshape(-1)
        return np.asarray([float(flat[b].mean()) if b.size else 0.0 for b in self.blocks], np.float32)

    def _derive_from_other_mode(self, base: Baseline, threshold: float) -> set[int]:
        """A mode commissioned after the other one: tiles that look like graffiti now, changed structurally
        since the other mode's baseline, clearly hotter than they were there, *and* changing while this
        mode was commissioned are new paint (made across the switch, e.g. at the first dawn), not marks
        that were always there. (A mark that IR and colour simply render differently — coloured
        lettering that IR barely shows — differs from the other mode too, but stays as it is here: it is
        reported.) Their baseline becomes the other mode's (picture, where it changed, and score), so the
        gate alerts on them as on any new paint, and they are left out of the commissioning report."""
        found = self._other_mode(base)
        first = self._first_grey.pop(self.wall.mode or "", None)
        if found is None:
            return set()
        other_mode, other = found
        p = self.params
        changed = structural_change(base.grey, other.grey, self.change)
        during = (self._tile_fractions(structural_change(base.grey, first, self.change))
                  if first is not None and first.shape == base.grey.shape else np.zeros(len(self.tiles), np.float32))
        # The carried tiles' paint: blocks that differ between the two baselines and that the other mode
        # saw changed from its own baseline last (some blocks differ between IR and colour anyway).
        base.paint = changed & self.changed_blocks if self._changed_for == other_mode else changed.copy()
        frac = self._tile_fractions(changed)
        b = self.change.block_px
        out: set[int] = set()
        for i in range(len(self.tiles)):
            if i in base.carried or i in other.carried or frac[i] < p.change_fraction or during[i] < p.change_fraction:
                continue
            if base.scores[i] < threshold or base.scores[i] < float(other.scores[i]) + p.score_margin:
                continue
            out.add(i)
            for k in self.blocks[i][changed.reshape(-1)[self.blocks[i]]]:
                r, c = divmod(int(k), self.grid_hw[1])
                base.grey[r * b:(r + 1) * b, c * b:(c + 1) * b] = other.grey[r * b:(r + 1) * b, c * b:(c + 1) * b]
            base.scores[i] = other.scores[i]
        if out:
            self._rebaselines += 1  # the baseline picture changed: recompute the change map
        return out

    def _carried_refs(self, base: Baseline) -> CarriedRefs | None:
        """For the tiles carried through this mode's commissioning (their own baseline holds the paint),
        judged against the other colour mode's clean baseline (once per estimate); None when not needed."""
        if not base.carried or self.wall.estimate is None:
            return None
        found = self._other_mode(base)
        if found is None:
            return None
        other = found[1]
        if base.paint is None or base.paint.shape != self.changed_blocks.shape:  # a state saved without it
            base.paint = structural_change(base.grey, other.grey, self.change)
        key = (self.wall.version, id(other), self._rebaselines)
        if key != self._carried_key:
            self._carried_key = key
            now = structural_change(self.wall.grey(), other.grey, self.change)
            # a paint block is still there when it looks as painted and not as the clean wall (a faint
            # ghost correlates with both: it counts as cleaned)
            still = base.paint & ~self.changed_blocks & now
            self._carried_now = now
            self._carried = CarriedRefs(self._tile_fractions(now), self._tile_fractions(still),
                                        self._tile_fractions(base.paint), set(other.carried))
        return self._carried

    def _update_change(self) -> None:
        base = self.baseline
        est = self.wall.estimate
        if base is None or est is None:
            return
        self.changed_blocks = structural_change(self.wall.grey(), base.grey, self.change)
        self._changed_for = self.wall.mode
        self.tile_change = self._tile_fractions(self.changed_blocks)

    # ---------------------------------------------------------------- operator and events
    def rebaseline(self, tiles: set[int] | frozenset[int]) -> None:
        """Take the current wall as these tiles' baseline (an operator rejected what they showed)."""
        self._rebaseline(sorted(tiles))

    def _rebaseline(self, tiles: list[int], propagate: bool = True) -> None:
        """Take the current wall as these tiles' baseline; with ``propagate`` the other colour mode
        re-takes them too when it is next seen (once: a re-take there does not come back here)."""
        base = self.baseline
        est = self.wall.estimate
        if base is None or est is None or not tiles:
            return
        grey = self.wall.grey()
        for i in tiles:
            x1, y1, x2, y2 = self.tiles[i]
            base.grey[y1:y2, x1:x2] = grey[y1:y2, x1:x2]
            base.scores[i] = self.scores[i]
            base.carried.discard(i)
            self._changed_since[i] = np.nan
        self._forget_painted(tiles)
        self._rebaselines += 1
        if not propagate:
            return
        for mode, other in self.baselines.items():  # the other colour mode re-takes them when next seen
            if other is not base:
                self._pending.setdefault(mode, set()).update(tiles)

    def event_closed(self, tiles: set[int] | frozenset[int]) -> None:
        """Tiles carried through a commissioning are re-baselined once their event has closed (in the
        other colour mode when it is next seen). What the closed tiles looked like painted is forgotten."""
        self._forget_painted(tiles)
        base = self.baseline
        for mode, b in self.baselines.items():
            carried = b.carried & set(tiles)
            if not carried:
                continue
            if b is base:
                self._rebaseline(sorted(carried), propagate=False)
            else:
                self._pending.setdefault(mode, set()).update(carried)

    # ---------------------------------------------------------------- across restarts
    def export_state(self, full: bool) -> dict[str, Any]:
        """The per-tile scores (light); with ``full`` also the wall model, baselines and thumbnails."""
        out: dict[str, Any] = {
            "tiles": len(self.tiles),
            "size_hw": list(self.wall.size_hw),
            "scores": self.scores.copy(),
            "scored_at": self.scored_at.copy(),
            "changed_since": self._changed_since.copy(),
            "hot_modes": {str(i): sorted(m) for i, m in self._hot_modes.items()},
            "pending": {mode: sorted(t) for mode, t in self._pending.items()},
            "model_runs": self.model_runs,
            "model_runs_saved": self.model_runs_saved,
        }
        if full:
            thumbs = self._scored_thumb
            out["thumbs_have"] = np.array([t is not None for t in thumbs], dtype=bool)
            out["thumbs"] = np.stack([t if t is not None else np.zeros((16, 16), np.float32) for t in thumbs]) \
                if thumbs else np.zeros((0, 16, 16), np.float32)
            out["baselines"] = {mode: {"grey": b.grey, "scores": b.scores, "started_s": b.started_s, "done": b.done,
                                       "carried": sorted(b.carried),
                                       **({"paint": b.paint} if b.paint is not None else {})}
                                for mode, b in self.baselines.items()}
            out["painted"] = {mode: {"grey": pic, "blocks": blocks} for mode, (pic, blocks) in self._painted.items()}
            out["wall"] = self.wall.export_state()
        return out

    def restore_state(self, state: dict[str, Any], shift_s: float = 0.0) -> bool:
        """Put a saved state back (its wall model too, when it is a full one); False when it does not fit."""
        n = len(self.tiles)
        if state.get("tiles") != n or list(state.get("size_hw", [])) != list(self.wall.size_hw):
            return False
        w = state.get("wall")
        if isinstance(w, dict):
            if not self.wall.restore_state(w, shift_s):
                return False
            self._mode_version = self.wall.mode_version
            self._seen_version = self.wall.version  # the scores below belong to this estimate
            self.baselines = {mode: Baseline(b["grey"].copy(), b["scores"].astype(np.float32),
                                             float(b["started_s"]) + shift_s, bool(b["done"]),
                                             {int(i) for i in b["carried"]},
                                             b["paint"].astype(bool) if isinstance(b.get("paint"), np.ndarray) else None)
                              for mode, b in state.get("baselines", {}).items()}
            painted = state.get("painted")
            self._painted = {mode: (v["grey"].copy(), v["blocks"].astype(bool))
                             for mode, v in (painted.items() if isinstance(painted, dict) else [])
                             if isinstance(v, dict) and isinstance(v.get("grey"), np.ndarray)
                             and isinstance(v.get("blocks"), np.ndarray) and v["blocks"].shape == self.grid_hw}
            self._painted_version += 1
            self._painted_from = None
            have, thumbs = state.get("thumbs_have"), state.get("thumbs")
            if isinstance(have, np.ndarray) and isinstance(thumbs, np.ndarray) and len(have) == n:
                self._scored_thumb = [thumbs[i].astype(np.float32) if have[i] else None for i in range(n)]
        self.scores[...] = np.asarray(state["scores"], dtype=np.float32)
        self.scored_at[...] = np.asarray(state["scored_at"], dtype=np.float64) + shift_s
        self._changed_since[...] = np.asarray(state["changed_since"], dtype=np.float64) + shift_s
        self._hot_modes = {int(i): set(m) for i, m in state.get("hot_modes", {}).items()}
        self._pending = {mode: {int(i) for i in t} for mode, t in state.get("pending", {}).items()}
        self.model_runs = int(state.get("model_runs", 0))
        self.model_runs_saved = int(state.get("model_runs_saved", 0))
        self._change_key = (-1, -1, -1)  # recompute the structural change against the restored baseline
        self._carried_key = (-1, -1, -1)
        return True


def _ids(mask: np.ndarray) -> frozenset[int]:
    """Block ids (flat indices on the change grid) where ``mask`` is set."""
    return frozenset(int(b) for b in np.flatnonzero(mask))


def _thumb(tile: np.ndarray) -> np.ndarray:
    """A 16×16 grey thumbnail (float32) for 'has this tile changed since it was scored?'."""
    import cv2

    g = cv2.cvtColor(tile, cv2.COLOR_BGR2GRAY) if tile.ndim == 3 else tile
    return cv2.resize(g, (16, 16), interpolation=cv2.INTER_AREA).astype(np.float32)
