"""Deciding that there is graffiti: pure logic over per-tile score histories (no I/O, no clocks).

Graffiti stays; people, bikes, headlights and shadows pass. So one high score is not an event:
- per tile, scores under ``floor`` count as zero and the median over the last ``window`` samples
  must reach ``threshold`` ("hot"), continuously for ``confirm_s`` ("confirmed");
- hot tiles that touch form one group (connected components), so a piece spanning several tiles is
  one event. With change information (the wall model on), an event's changed area is what its tiles
  show changed while it is *young* — and the change connected to it block to block in its tiles'
  neighbours (the rest of the piece, where a tile has not read hot yet): within ``join_s`` of its
  opening, or of the first sample of another colour view (IR/colour, passed in as ``view``), where the
  same paint looks different. Blocks
  another open event holds are never taken. A hot group touching an open event — by tile, or through changed
  blocks that run unbroken from the event's into it (one piece over tiles that are not neighbours) — joins it (never
  reported again) when its changed area is the event's own, or adds only a few blocks
  (``min_new_cells``) where it overlaps the event's, or — while the event is young, or *disturbed*
  (``moved_share`` of its blocks changed in the last minutes or had something standing in front of
  them: a crew at work, people standing, a cleaning under way; see :class:`WallPaint`) — overlaps or
  nearly touches it or the change connected to it (a gap of up to ``join_gap_blocks`` blocks: a fresh piece enters the wall estimate
  patchily). A new change further away, or one beside an old piece nobody has touched lately (new
  paint next to a piece nobody has cleaned yet), opens an event of its own. Without change information the rule is by time: within
  ``join_s`` of the event opening;
- an open event closes ("cleaned") once all its tiles' medians stay below ``clean_threshold`` for
  ``clean_s`` — the gap between the two thresholds is the hysteresis that stops flapping. With the
  wall model on, a tile whose wall is structurally back to its commissioned baseline ("settled") counts
  after ``settled_s`` instead: the wall estimate only shows a change that has stayed for its entry time
  (100 s by default), so that persistence is already behind it. A tile another open event's paint
  keeps hot counts for this event once its own blocks have left it ("cleared", also after
  ``settled_s``; at least one tile must be clean or settled on its own);
- tiles mostly inside accepted regions never alert.

Times are floats on the source's clock, passed in, so a video processed at full speed yields the
same decisions as the live camera it was recorded from.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple


class WallPaint(NamedTuple):
    """The paint at block level (wall model on), as ids on the change-block grid, for one sample."""

    now: frozenset[int]  # blocks showing paint or another change now (against the clean wall)
    moved: frozenset[int] | None  # blocks changed lately or stood in front of for minutes (None: not known yet)


@dataclass(frozen=True)
class DecisionParams:
    threshold: float
    clean_threshold: float
    floor: float = 0.2
    window: int = 10
    confirm_s: float = 30.0
    clean_s: float = 300.0
    join_s: float = 300.0
    settled_s: float | None = None  # a settled tile (wall back to its baseline) is clean after this; None: clean_s

    @property
    def min_samples(self) -> int:
        """A median needs a majority of the window before it can make a tile hot."""
        return (self.window + 1) // 2


@dataclass(frozen=True)
class Opened:
    """A new graffiti event: tiles (index → median score) and the evidence score (max median)."""

    key: int
    t_s: float
    tile_scores: dict[int, float]
    score: float
    hot_since_s: float  # when the earliest of its tiles became hot (graffiti was there since)
    score_history: list[tuple[float, float]]  # (t_s, max raw score over the tiles), oldest first


@dataclass(frozen=True)
class Grown:
    """Tiles joined an already open event (not reported again; kept for the cleaned event's box)."""

    key: int
    t_s: float
    added: frozenset[int]


@dataclass(frozen=True)
class Closed:
    """An open event whose tiles stayed below the clean threshold for clean_s."""

    key: int
    t_s: float
    opened_t_s: float
    tile_scores: dict[int, float]
    score: float  # max median over its tiles now
    score_history: list[tuple[float, float]]
    settled: bool = False  # closed because its wall is back to the baseline (settled_s), not by clean_s alone


Decision = Opened | Grown | Closed


@dataclass
class _Tile:
    samples: deque[float]
    median: float = 0.0
    hot_since: float | None = None
    cold_since: float | None = None
    settled_since: float | None = None  # since when the tile's wall is back to its baseline (wall model on)


@dataclass
class _Open:
    key: int
    opened_t_s: float
    tiles: set[int] = field(default_factory=set)
    cells: set[int] = field(default_factory=set)  # changed wall blocks (ids on the wall model's grid)
    cleared_since: dict[int, float] = field(default_factory=dict)  # tile → since when this event's paint left it


def _median(values: Iterable[float]) -> float:
    s = sorted(values)
    n = len(s)
    if n == 0:
        return 0.0
    mid = n // 2
    return s[mid] if n % 2 else 0.5 * (s[mid - 1] + s[mid])


class DecisionEngine:
    """Feeds per-tile scores of successive samples; returns the decisions each sample causes."""

    def __init__(
        self,
        params: DecisionParams,
        neighbours: Sequence[frozenset[int]],
        accepted: Iterable[int] = (),
        history_len: int = 30,
        grid_width: int = 0,
        tile_cells: Sequence[frozenset[int]] | None = None,
        min_new_cells: int = 6,
        join_gap_blocks: int = 2,
        moved_share: float = 0.25,
        stray_fraction: float = 0.02,
    ) -> None:
        self.params = params
        self.neighbours = list(neighbours)
        self.accepted: frozenset[int] = frozenset(accepted)
        self._tiles = [_Tile(deque(maxlen=params.window)) for _ in self.neighbours]
        self._open: dict[int, _Open] = {}
        self._next_key = 1
        self._history: deque[tuple[float, list[float]]] = deque(maxlen=history_len)
        self.last_t_s: float | None = None
        self.grid_width = grid_width  # width of the change-block grid, to find neighbouring blocks
        self.tile_cells = list(tile_cells) if tile_cells is not None else None  # the blocks each tile covers
        self.min_new_cells = min_new_cells  # fewer new changed blocks than this beside an open event: the same change
        # A change this many blocks (or fewer) from an event's changed area is the same piece: the wall
        # estimate takes in fresh paint patchily, so one piece's strokes can show a block of gap for minutes.
        self.join_gap_blocks = join_gap_blocks
        self._cells: list[frozenset[int]] | None = None
        # An old event with at least this share of its blocks changed in the last minutes is disturbed (a
        # crew at work, people in front of it long enough to enter the wall estimate): a change beside it
        # is taken to be that, not new paint. Less: the piece is as it was, a change beside it is new paint.
        self.moved_share = moved_share
        # A tile's paint counts as gone when at most this share of its blocks still show it (IR and colour
        # render a few blocks differently for good).
        self.stray_fraction = stray_fraction
        self._paint: WallPaint | None = None
        self._reach_cache: dict[int, set[int]] = {}  # per open event, this sample: see _reach
        self._view: str | None = None  # the colour view the change information is about
        self._view_since: float | None = None  # ... since this source time

    @property
    def open_keys(self) -> list[int]:
        return sorted(self._open)

    def all_open_tiles(self) -> set[int]:
        return set().union(*(ev.tiles for ev in self._open.values())) if self._open else set()

    def forget(self, tiles: Iterable[int]) -> list[int]:
        """Drop open events holding any of ``tiles`` silently (an operator rejected them); their keys."""
        drop = set(tiles)
        keys = [k for k, ev in self._open.items() if ev.tiles & drop]
        for k in keys:
            for i in self._open.pop(k).tiles:
                self._tiles[i].hot_since = None
        return keys

    def medians(self) -> list[float]:
        return [t.median for t in self._tiles]

    # ---------------------------------------------------------------- across restarts
    def export_state(self) -> dict[str, Any]:
        """Everything that decides the next samples, as JSON values (times on the source clock)."""
        return {
            "tiles": [{"samples": list(t.samples), "median": t.median, "hot_since": t.hot_since,
                       "cold_since": t.cold_since, "settled_since": t.settled_since} for t in self._tiles],
            "open": [{"key": ev.key, "opened_t_s": ev.opened_t_s, "tiles": sorted(ev.tiles), "cells": sorted(ev.cells),
                      "cleared_since": {str(i): t for i, t in ev.cleared_since.items()}}
                     for ev in self._open.values()],
            "next_key": self._next_key,
            "history": [[t, list(s)] for t, s in self._history],
            "last_t_s": self.last_t_s,
            "view": self._view,
            "view_since": self._view_since,
        }

    def restore_state(self, state: dict[str, Any], shift_s: float = 0.0, closed: Iterable[int] = ()) -> bool:
        """Put a saved state back (``shift_s`` added to its times; the events ``closed`` meanwhile are not
        carried on); False (nothing changed) when it does not fit this tile plan."""
        tiles = state.get("tiles")
        if not isinstance(tiles, list) or len(tiles) != len(self._tiles):
            return False

        def t_(v: float | None) -> float | None:
            return None if v is None else float(v) + shift_s

        window = self.params.window
        self._tiles = [_Tile(deque((float(v) for v in t["samples"]), maxlen=window), float(t["median"]),
                             t_(t["hot_since"]), t_(t["cold_since"]), t_(t.get("settled_since"))) for t in tiles]
        self._open = {int(ev["key"]): _Open(int(ev["key"]), float(ev["opened_t_s"]) + shift_s,
                                            {int(i) for i in ev["tiles"]}, {int(c) for c in ev.get("cells", [])},
                                            {int(i): float(t) + shift_s for i, t in ev.get("cleared_since", {}).items()})
                      for ev in state.get("open", [])}
        self._next_key = max([int(state.get("next_key", 1)), *(k + 1 for k in self._open)])
        drop = set(closed)
        self._open = {k: ev for k, ev in self._open.items() if k not in drop}
        self._history = deque(((float(t) + shift_s, [float(v) for v in sc]) for t, sc in state.get("history", [])),
                              maxlen=self._history.maxlen)
        self.last_t_s = t_(state.get("last_t_s"))
        view = state.get("view")
        self._view = view if isinstance(view, str) else None
        self._view_since = t_(state.get("view_since"))
        return True

    def is_clean(self) -> bool:
        """No open event, every median below the clean threshold and no tile scoring high right now.

        The runner keeps such a frame as the camera's clean reference picture; checking the latest
        raw scores too keeps fresh paint (whose median has not risen yet) out of it.
        """
        if self._open or not self._history:
            return False
        latest = self._history[-1][1]
        return all(t.median < self.params.clean_threshold for t in self._tiles) and all(
            s < self.params.threshold for i, s in enumerate(latest) if i not in self.accepted
        )

    def set_accepted(self, accepted: Iterable[int]) -> None:
        """Replace the accepted tiles; they leave open events silently (an operator accepted them)."""
        self.accepted = frozenset(accepted)
        for key in list(self._open):
            self._open[key].tiles -= self.accepted
            if not self._open[key].tiles:
                del self._open[key]
        for i in self.accepted:
            self._tiles[i].hot_since = None

    def update(self, t_s: float, scores: Sequence[float],
               cells: Sequence[frozenset[int]] | None = None,
               settled: Sequence[bool] | None = None, view: str | None = None,
               paint: WallPaint | None = None) -> list[Decision]:
        """Add one sample (a score per tile, taken at source time ``t_s``); return what it decided.

        ``cells``: per tile, the wall blocks that changed against the baseline (wall model on), which
        decides whether a hot group beside an open event is the same change. ``settled``: per tile,
        whether its wall is structurally back to its baseline (see ``DecisionParams.settled_s``).
        ``view``: the colour view (e.g. "colour" or "grey") the change information is about. ``paint``: the
        paint at block level, which tells an undisturbed old piece (new paint beside it is its own event) and
        an event whose own paint has left a tile that other paint keeps hot.
        """
        p = self.params
        if len(scores) != len(self._tiles):
            raise ValueError(f"expected {len(self._tiles)} tile scores, got {len(scores)}")
        if cells is not None and len(cells) != len(self._tiles):
            raise ValueError(f"expected {len(self._tiles)} tile cell sets, got {len(cells)}")
        if settled is not None and len(settled) != len(self._tiles):
            raise ValueError(f"expected {len(self._tiles)} settled flags, got {len(settled)}")
        self._cells = list(cells) if cells is not None else None
        self._paint = paint if cells is not None else None
        self._reach_cache = {}
        if self.last_t_s is not None and t_s < self.last_t_s:
            t_s = self.last_t_s  # a clock that steps back must not undo persistence
        self.last_t_s = t_s
        if view != self._view:
            self._view, self._view_since = view, t_s
        self._history.append((t_s, [float(s) for s in scores]))
        hot: set[int] = set()
        for i, (tile, raw) in enumerate(zip(self._tiles, scores, strict=True)):
            s = float(raw)
            tile.samples.append(s if s >= p.floor else 0.0)
            tile.median = _median(tile.samples)
            is_hot = i not in self.accepted and len(tile.samples) >= p.min_samples and tile.median >= p.threshold
            if is_hot:
                hot.add(i)
                if tile.hot_since is None:
                    tile.hot_since = t_s
            else:
                tile.hot_since = None
            if tile.median < p.clean_threshold:
                if tile.cold_since is None:
                    tile.cold_since = t_s
            else:
                tile.cold_since = None
            if settled is not None and settled[i]:
                if tile.settled_since is None:
                    tile.settled_since = t_s
            else:
                tile.settled_since = None
        out: list[Decision] = []
        out.extend(self._grow_or_open(t_s, hot))
        out.extend(self._close(t_s))
        return out

    def _components(self, nodes: set[int]) -> list[set[int]]:
        seen: set[int] = set()
        comps = []
        for start in sorted(nodes):
            if start in seen:
                continue
            comp, stack = set(), [start]
            seen.add(start)
            while stack:
                n = stack.pop()
                comp.add(n)
                for m in self.neighbours[n]:
                    if m in nodes and m not in seen:
                        seen.add(m)
                        stack.append(m)
            comps.append(comp)
        return comps

    def _grow_or_open(self, t_s: float, hot: set[int]) -> list[Decision]:
        out: list[Decision] = []
        if self._cells is not None:  # a young event's change is what its tiles show changed now, too
            for ev in self._open.values():
                if self._young(t_s, ev):
                    ev.cells |= self._comp_cells(ev.tiles) - self._others_cells(ev)
                    ev.cells |= self._young_reach(ev)
        claimed = set().union(*(ev.tiles for ev in self._open.values())) if self._open else set()
        for comp in self._components(hot):
            # An event's own hot tiles: a change there beside its paint joins its area when it is the same
            # change (see _same_change).
            for ev in self._open.values():
                own = comp & ev.tiles
                if own and self._cells is not None and self._same_change(t_s, ev, own):
                    ev.cells |= self._comp_cells(own) - self._others_cells(ev)
            # Hot tiles no event holds, group by group: a group beside an open event grows that event when it
            # is the same change (or, without change information, while the event is young); only the events
            # the group itself touches are asked — a hot group bridging two events belongs to its neighbour.
            for part in self._components(comp - claimed):
                owner = next(
                    (ev for ev in self._open.values()
                     if (any(self.neighbours[m] & part for m in ev.tiles) or self._change_reaches(ev, part))
                     and self._same_change(t_s, ev, part)),
                    None,
                )
                if owner is not None:
                    owner.cells |= self._comp_cells(part) - self._others_cells(owner)
                    owner.tiles |= part
                    claimed |= part
                    out.append(Grown(owner.key, t_s, frozenset(part)))
                    continue
                # its paint may reach into tiles an older event holds: the new change there is its own
                shared = {i for i in comp - part if any(self.neighbours[i] & part)}
                opened = self._open_if_confirmed(t_s, part, self._comp_cells(part | shared) - self._others_cells(None))
                if opened is not None:
                    claimed |= part
                    out.append(opened)
        return out

    def _young_reach(self, ev: _Open) -> set[int]:
        """The change connected block to block to a young event's, in its tiles and their neighbours: the
        rest of the same piece where it reaches into a tile the model has not read hot yet. Taken while the
        event is young, so that tile turning hot later (in another light, an hour on) joins the event instead
        of being new paint beside an old piece; paint that appears later beside the piece is still new."""
        if self._paint is None or self.tile_cells is None or not ev.cells:
            return set()
        near: set[int] = set()
        for i in ev.tiles:
            for j in self.neighbours[i] | {i}:
                near |= self.tile_cells[j]
        reach = self._reach(ev) & near
        self._reach_cache.pop(ev.key, None)  # the event's area grows now: its reach is recomputed when asked
        return reach

    def _comp_cells(self, comp: Iterable[int]) -> set[int]:
        if self._cells is None:
            return set()
        return set().union(*(self._cells[i] for i in comp))

    def _others_cells(self, ev: _Open | None) -> set[int]:
        """The changed blocks held by the open events other than ``ev`` (all of them for None)."""
        return set().union(*(o.cells for o in self._open.values() if o is not ev))

    def _same_change(self, t_s: float, ev: _Open, comp: set[int]) -> bool:
        if self._cells is None or self.grid_width <= 0:
            return t_s - ev.opened_t_s <= self.params.join_s
        new = self._comp_cells(comp) - ev.cells - self._others_cells(ev)
        if not ev.cells:  # no change information for the event: its own tiles, or by time
            return bool(comp & ev.tiles) or self._young(t_s, ev)
        if not new:
            return True  # nothing but the event's own change (e.g. seen anew after a lighting switch)
        if self.tile_cells is not None and len(new) < self.min_new_cells and any(
                self.tile_cells[i] & ev.cells for i in comp):
            return True  # hot because it overlaps the event's paint; its own new change is too small to be a piece
        if not self._young(t_s, ev) and not self._disturbed(ev):
            # the event's paint settled long ago in this view and nobody has touched it lately: a change
            # beside it is new paint
            return False
        return bool(new & self._grown(self._reach(ev), self.join_gap_blocks + 1))

    def _reach(self, ev: _Open) -> set[int]:
        """The event's changed area and every block of change connected to it now, block to block (one piece
        spanning tiles that are not neighbours: the tile between them may not have been scored hot yet). Not
        through another open event's blocks. Without the paint now, the event's own area."""
        if self._paint is None or not ev.cells:
            return ev.cells
        cached = self._reach_cache.get(ev.key)
        if cached is not None:
            return cached
        w = self.grid_width
        free = set(self._paint.now) - self._others_cells(ev)
        reach = set(ev.cells)
        stack = list(ev.cells)
        while stack:
            r, q = divmod(stack.pop(), w)
            for dr in (-1, 0, 1):
                for dq in (-1, 0, 1):
                    if 0 <= q + dq < w:
                        c = (r + dr) * w + q + dq
                        if c in free and c not in reach:
                            reach.add(c)
                            stack.append(c)
        self._reach_cache[ev.key] = reach
        return reach

    def _change_reaches(self, ev: _Open, part: set[int]) -> bool:
        """Whether the change of tiles ``part`` is connected to the event's changed area now (see _reach)."""
        if self._cells is None or self.grid_width <= 0 or self._paint is None or not ev.cells:
            return False
        return bool(self._comp_cells(part) & self._grown(self._reach(ev), self.join_gap_blocks))

    def _grown(self, cells: Iterable[int], by: int) -> set[int]:
        """Blocks within ``by`` blocks of ``cells`` in every direction."""
        w = self.grid_width
        grown = set()
        for c in cells:
            r, q = divmod(c, w)
            for dr in range(-by, by + 1):
                for dq in range(-by, by + 1):
                    if 0 <= q + dq < w and r + dr >= 0:
                        grown.add((r + dr) * w + q + dq)
        return grown

    def _disturbed(self, ev: _Open) -> bool:
        """Whether a real part of the event's blocks changed in the last minutes or had something standing in
        front of them: a crew at work, people standing, a cleaning under way. True when that is not known."""
        if self._paint is None or self._paint.moved is None:
            return True
        return len(ev.cells & self._paint.moved) >= self.moved_share * len(ev.cells)

    def _young(self, t_s: float, ev: _Open) -> bool:
        """Within ``join_s`` of the event opening or of the first sample of this colour view: its paint may
        still be entering the wall estimate, or be seen anew in another light."""
        since = ev.opened_t_s if self._view_since is None else max(ev.opened_t_s, self._view_since)
        return t_s - since <= self.params.join_s

    def _open_if_confirmed(self, t_s: float, comp: set[int], cells: set[int]) -> Opened | None:
        """Open an event for a group of hot tiles no open event owns, once one has been hot ``confirm_s``."""
        p = self.params
        hot_since = [self._tiles[i].hot_since for i in comp]
        confirmed = [h for h in hot_since if h is not None and t_s - h >= p.confirm_s]
        if not confirmed:
            return None
        ev = _Open(self._next_key, t_s, set(comp), cells)
        self._next_key += 1
        self._open[ev.key] = ev
        tile_scores = {i: self._tiles[i].median for i in sorted(comp)}
        return Opened(
            key=ev.key,
            t_s=t_s,
            tile_scores=tile_scores,
            score=max(tile_scores.values()),
            hot_since_s=min(h for h in hot_since if h is not None),
            score_history=self._score_history(comp),
        )

    def _close(self, t_s: float) -> list[Decision]:
        out: list[Decision] = []
        for key in sorted(self._open):
            ev = self._open[key]
            self._track_cleared(t_s, ev)
            clean_for_s = [self._clean_by(t_s, self._tiles[i]) or self._cleared(t_s, ev, i) for i in ev.tiles]
            if all(clean_for_s) and any(c != "cleared" for c in clean_for_s):
                del self._open[key]
                tile_scores = {i: self._tiles[i].median for i in sorted(ev.tiles)}
                out.append(
                    Closed(
                        key=key,
                        t_s=t_s,
                        opened_t_s=ev.opened_t_s,
                        tile_scores=tile_scores,
                        score=max(tile_scores.values()),
                        score_history=self._score_history(ev.tiles),
                        settled="settled" in clean_for_s or "cleared" in clean_for_s,
                    )
                )
        return out

    def _clean_by(self, t_s: float, tile: _Tile) -> str:
        """Why the tile counts as cleaned now: "cold" (below the clean threshold for clean_s), "settled" (its
        wall back to the baseline for settled_s, and its median below the clean threshold), or "" (not)."""
        p = self.params
        if tile.cold_since is not None and t_s - tile.cold_since >= p.clean_s:
            return "cold"
        if (p.settled_s is not None and tile.settled_since is not None and tile.median < p.clean_threshold
                and t_s - tile.settled_since >= p.settled_s):
            return "settled"
        return ""

    def _track_cleared(self, t_s: float, ev: _Open) -> None:
        """Per tile of the event: since when its own paint has left the tile while what is left there belongs
        to another open event (a tag cleaned beside a throw-up that stays, sharing a tile)."""
        if self._paint is None or self.tile_cells is None or not ev.cells:
            ev.cleared_since.clear()
            return
        now = self._paint.now
        others: set[int] | None = None
        for i in ev.tiles:
            blocks = self.tile_cells[i]
            stray = max(1, int(self.stray_fraction * len(blocks)))
            mine = ev.cells & blocks & now
            cleared = len(mine) <= stray
            if cleared:
                if others is None:
                    others = self._grown(self._others_cells(ev), self.join_gap_blocks)
                cleared = len((now & blocks) - ev.cells - others) <= stray and bool(others & blocks)
            if cleared:
                ev.cleared_since.setdefault(i, t_s)
            else:
                ev.cleared_since.pop(i, None)

    def _cleared(self, t_s: float, ev: _Open, i: int) -> str:
        """"cleared" when the event's own paint has left tile ``i`` for ``settled_s`` (what keeps the tile hot
        is another open event's paint), else ""."""
        p = self.params
        since = ev.cleared_since.get(i)
        if p.settled_s is None or since is None or t_s - since < p.settled_s:
            return ""
        return "cleared"

    def _score_history(self, tiles: Iterable[int]) -> list[tuple[float, float]]:
        idx = sorted(tiles)
        return [(t, max(scores[i] for i in idx)) for t, scores in self._history]
