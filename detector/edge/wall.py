"""The wall model: what a fixed camera's wall looks like now, whatever passes in front of it.

A fixed camera must answer "what is new on this wall, and has it stayed?", not "does this frame look
like graffiti?". So every sample (scaled once to model scale) feeds a per-pixel estimate of the wall:

- samples are gathered into *slots* of ``slot_s`` seconds; a pixel that moved at any sample of a slot
  (frame differencing, dilated so a swaying person is covered whole) votes for the current wall in
  that slot, a pixel that stayed still votes for what it showed;
- the wall estimate is the per-pixel median of the last ``slots`` slots. Something that stays for less
  than about half that horizon (a passer-by, a group, a headlight sweep, a loiterer who moves now and
  then, a cleaning crew at work) never enters it; paint, which stays and does not move, does after
  ``slots // 2 + 1`` slots;
- colour and IR (greyscale) views are different walls: a lasting switch resets the ring, and the
  estimate is rebuilt in the new mode before any decision is taken on it.

Memory is bounded (``slots`` uint8 frames at model scale) and the median is recomputed once per
slot, not per sample. :func:`structural_change` compares two wall pictures block by block with a
zero-mean normalised correlation (robust to lighting gain and offset, camera noise and colour
balance), which is how a tile's change against its commissioned baseline is judged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COLOUR, GREY = "colour", "grey"


@dataclass(frozen=True)
class WallParams:
    slot_s: float = 20.0  # one ring slot per this much source time
    slots: int = 9  # ring length; a lasting change enters after slots // 2 + 1 slots
    mode_samples: int = 6  # consecutive samples in the other colour mode before the wall is rebuilt
    grey_chroma: float = 2.0  # a pixel whose channels differ by at most this is grey
    grey_share: float = 0.97  # this share of grey pixels → a greyscale (IR) view
    colour_share: float = 0.75  # an IR view turns colour again when fewer pixels than this are grey
    motion_width_px: int = 160  # motion is judged on a grey copy this wide
    pixel_delta: float = 25.0  # grey-level change between samples (after matching brightness) = moving
    global_change: float = 0.5  # more of the view than this changed at once: the whole sample moves
    motion_dilate_px: int = 2  # moving-mask dilation (motion-copy pixels)
    foreground_delta: float = 20.0  # grey levels a pixel differs from the wall by to be foreground
    person_px: int = 8  # foreground this close to a moving pixel moves with it (motion-copy pixels)
    expand_s: float = 600.0  # ... while it has been foreground for less than this

    @property
    def enter_s(self) -> float:
        """How long a change must stay (still) before it is part of the wall."""
        return (self.slots // 2 + 1) * self.slot_s


def neutral_share(frame_bgr: np.ndarray, grey_chroma: float = 2.0) -> float:
    """Share of (sparsely sampled) pixels whose colour channels differ by at most ``grey_chroma``."""
    sub = frame_bgr[::8, ::8].astype(np.int16)
    spread = sub.max(axis=2) - sub.min(axis=2)
    return float((spread <= grey_chroma).mean())


def frame_mode(frame_bgr: np.ndarray, grey_chroma: float = 2.0, grey_share: float = 0.97,
               colour_share: float = 0.75, current: str | None = None) -> str:
    """COLOUR or GREY (an IR view), with hysteresis.

    An IR camera sends a mono picture: every pixel neutral, people and paint included. A colour camera
    on a plain grey wall can look neutral too, and then a colourful passer-by or fresh paint must not
    read as a switch: so entering GREY needs nearly every pixel neutral (``grey_share``), and leaving
    it needs a large part of the view coloured (neutral share below ``colour_share``), as when the IR
    filter really switches off.
    """
    share = neutral_share(frame_bgr, grey_chroma)
    if current == GREY:
        return GREY if share >= colour_share else COLOUR
    return GREY if share >= grey_share else COLOUR


MEDIAN_BAND_ROWS = 48  # rows of the stack sorted at a time: the network's copies stay ~1 MB, not the stack's size


def median_of(stack: np.ndarray) -> np.ndarray:
    """Per-pixel (lower) median over axis 0 of a small uint8 stack: a partial min/max sorting network.

    Exact, and several times faster than ``np.median``/``np.partition`` on uint8 frames. A stack of
    frames is sorted in bands of ``MEDIAN_BAND_ROWS`` rows, so the transient copies are a band's
    (about 1 MB at model scale), not a whole second stack (12 MB, once per slot on the edge).
    """
    if stack.ndim >= 3 and stack.shape[1] > MEDIAN_BAND_ROWS:
        out = np.empty(stack.shape[1:], dtype=stack.dtype)
        for r in range(0, stack.shape[1], MEDIAN_BAND_ROWS):
            out[r:r + MEDIAN_BAND_ROWS] = _median_network(stack[:, r:r + MEDIAN_BAND_ROWS])
        return out
    return _median_network(stack)


def _median_network(stack: np.ndarray) -> np.ndarray:
    items = [stack[i].copy() for i in range(stack.shape[0])]
    n = len(items)
    mid = (n - 1) // 2
    for i in range(mid + 1):  # bubble the i-th smallest into place; stop once the median is fixed
        for j in range(n - 1, i, -1):
            lo = np.minimum(items[j - 1], items[j])
            np.maximum(items[j - 1], items[j], out=items[j])
            items[j - 1] = lo
    return items[mid]


class WallEstimate:
    """Per-camera wall estimate at model scale (H×W×3 uint8)."""

    def __init__(self, params: WallParams, size_hw: tuple[int, int]) -> None:
        self.params = params
        h, w = size_hw
        self.size_hw = (h, w)
        self.ring = np.zeros((params.slots, h, w, 3), dtype=np.uint8)
        self.filled = 0
        self._next = 0
        self._acc: np.ndarray | None = None
        self._moved = np.zeros((h, w), dtype=bool)
        self._slot_start: float | None = None
        self.estimate: np.ndarray | None = None
        self.version = 0  # bumped whenever the estimate is recomputed
        self.mode: str | None = None
        self.mode_version = 0  # bumped when the wall is rebuilt for another colour mode
        self._candidate: str | None = None
        self._candidate_n = 0
        self._est_small: tuple[tuple[int, int, int], np.ndarray] | None = None
        self._grey: tuple[int, np.ndarray] | None = None
        self._prev_small: np.ndarray | None = None
        self._fore_since: np.ndarray | None = None

    @property
    def valid(self) -> bool:
        return self.estimate is not None

    def grey(self) -> np.ndarray:
        """The estimate in grey, computed once per estimate version (the baseline and change map use it)."""
        assert self.estimate is not None
        if self._grey is None or self._grey[0] != self.version:
            self._grey = (self.version, to_grey(self.estimate))
        return self._grey[1]

    def reset(self, mode: str | None) -> None:
        self.filled = 0
        self._next = 0
        self._acc = None
        self._slot_start = None
        self.estimate = None
        self.mode = mode
        self.mode_version += 1
        self.version += 1

    def add(self, t_s: float, frame: np.ndarray) -> bool:
        """Feed one sample (model-scale BGR). Returns True when the estimate was recomputed (a slot ended)."""
        if frame.shape[:2] != self.size_hw:
            raise ValueError(f"wall sample is {frame.shape[1]}x{frame.shape[0]}, expected "
                             f"{self.size_hw[1]}x{self.size_hw[0]}")
        p = self.params
        mode = frame_mode(frame, p.grey_chroma, p.grey_share, p.colour_share, self.mode)
        if self.mode is None:
            self.mode = mode
        if mode != self.mode:
            self._candidate_n = self._candidate_n + 1 if self._candidate == mode else 1
            self._candidate = mode
            if self._candidate_n < p.mode_samples:
                self._prev_small = None
                return False  # a brief switch (a headlight, a flicker) is not a new mode
            self.reset(mode)
        self._candidate, self._candidate_n = None, 0
        moving = self.moving(t_s, frame)
        if self._acc is None or self._slot_start is None:
            base = self.estimate if self.estimate is not None else frame
            self._acc = base.copy()
            self._moved[:] = False
            self._slot_start = t_s
        if moving is None:
            self._acc[...] = frame
        else:
            import cv2

            cv2.copyTo(frame, (~moving).view(np.uint8), self._acc)
            self._moved |= moving
        if t_s - self._slot_start < p.slot_s:
            return False
        self._push()
        return True

    def _push(self) -> None:
        assert self._acc is not None
        slot = self._acc
        if self.estimate is not None and self._moved.any():
            np.copyto(slot, self.estimate, where=self._moved[..., None])  # movement in this slot votes for the status quo
        self.ring[self._next] = slot
        self._next = (self._next + 1) % self.params.slots
        self.filled = min(self.params.slots, self.filled + 1)
        self._acc = None
        self._slot_start = None
        if self.filled >= self.params.slots // 2 + 1:
            self.estimate = median_of(self.ring[: self.filled] if self.filled < self.params.slots else self.ring)
            self.version += 1

    def moving(self, t_s: float, frame: np.ndarray) -> np.ndarray | None:
        """Pixels (at wall resolution) that belong to something moving in this sample, or None (still).

        - Frame differencing on a small grey copy after matching overall brightness, so a lamp
          dimming, the sun or a camera's gain step is no motion; a change over most of the view
          that survives that (a flicker, a flash) makes the whole sample count as moving.
        - Frame differencing marks only the edges of a person who shifts their weight, not the inside
          of a plain jacket. So foreground (where the sample differs from the wall) within
          ``person_px`` of a moving pixel moves with it, as long as that foreground is younger than
          ``expand_s``: a person who arrived; never a region that has differed from the estimate for
          long (fresh paint or a cleaned wall waiting to enter it), which passers-by would otherwise
          keep out of the wall for as long as people walk by.
        """
        import cv2

        p = self.params
        h, w = self.size_hw
        sw = max(8, min(w, p.motion_width_px))
        sh = max(4, int(round(h * sw / w)))
        cur = cv2.GaussianBlur(cv2.resize(to_grey(frame), (sw, sh), interpolation=cv2.INTER_AREA), (3, 3), 0)
        cur = cur.astype(np.float32)
        prev, self._prev_small = self._prev_small, cur
        if prev is None or prev.shape != cur.shape:
            return None
        cur_n = cur * (max(float(np.median(prev)), 1.0) / max(float(np.median(cur)), 1.0))
        changed = np.abs(cur_n - prev) >= p.pixel_delta
        if float(changed.mean()) > p.global_change:
            return np.ones((h, w), dtype=bool)  # the whole view changed at once: nothing can be trusted
        m = changed.astype(np.uint8)
        if self.estimate is not None and p.person_px > 0:
            if self._est_small is None or self._est_small[0] != (self.version, sh, sw):
                eg = cv2.GaussianBlur(cv2.resize(self.grey(), (sw, sh), interpolation=cv2.INTER_AREA),
                                      (3, 3), 0).astype(np.float32)
                self._est_small = ((self.version, sh, sw), eg)
            eg = self._est_small[1]
            fore = np.abs(cur * (max(float(np.median(eg)), 1.0) / max(float(np.median(cur)), 1.0)) - eg) \
                >= p.foreground_delta
            if self._fore_since is None or self._fore_since.shape != fore.shape:
                self._fore_since = np.full(fore.shape, np.nan, dtype=np.float64)
            since = self._fore_since
            since[~fore] = np.nan
            since[fore & np.isnan(since)] = t_s
            if m.any():
                young = fore & (t_s - since < p.expand_s)
                k = 2 * p.person_px + 1
                near = cv2.dilate(m, np.ones((k, k), np.uint8)) > 0
                m = (changed | (near & young)).astype(np.uint8)
        if not m.any():
            return None
        k = 2 * p.motion_dilate_px + 1
        if k > 1:
            m = np.asarray(cv2.dilate(m, np.ones((k, k), np.uint8)))
        return cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST) > 0

    def lasting_foreground(self, t_s: float, min_s: float) -> np.ndarray | None:
        """Where the last sample has differed from the wall estimate for at least ``min_s`` (people standing in
        front of it for minutes, a crew at work, a wall changing under them that has not entered the estimate
        yet), at the motion copy's resolution; None when not known (no estimate, no sample compared yet)."""
        if self._fore_since is None:
            return None
        since = self._fore_since
        with np.errstate(invalid="ignore"):
            return ~np.isnan(since) & (t_s - since >= min_s)

    # ------------------------------------------------------------ state (kept across restarts)
    def export_state(self) -> dict[str, object]:
        """The estimate, its ring and the slot being accumulated (times on the source clock)."""
        return {"ring": self.ring, "filled": self.filled, "next": self._next, "mode": self.mode,
                "estimate": self.estimate, "version": self.version, "mode_version": self.mode_version,
                "slot_start": self._slot_start, "acc": self._acc, "moved": self._moved.copy()}

    def restore_state(self, state: dict[str, object], shift_s: float = 0.0) -> bool:
        """Put a saved state back (``shift_s`` added to its times); False (nothing changed) when it does not fit."""
        ring = state.get("ring")
        if not isinstance(ring, np.ndarray) or ring.shape != self.ring.shape or ring.dtype != np.uint8:
            return False
        self.ring[...] = ring
        self.filled = int(state.get("filled", 0))  # type: ignore[call-overload]
        self._next = int(state.get("next", 0)) % self.params.slots  # type: ignore[call-overload]
        mode = state.get("mode")
        self.mode = mode if mode in (COLOUR, GREY) else None  # type: ignore[assignment]
        est = state.get("estimate")
        self.estimate = est if isinstance(est, np.ndarray) and est.shape == self.ring.shape[1:] else None
        self.version += 1
        if "version" in state:
            self.version = int(state["version"])  # type: ignore[call-overload]
        self.mode_version = int(state.get("mode_version", 0))  # type: ignore[call-overload]
        acc = state.get("acc")
        self._acc = acc.copy() if isinstance(acc, np.ndarray) and acc.shape == self.ring.shape[1:] else None
        start = state.get("slot_start")
        self._slot_start = float(start) + shift_s if self._acc is not None and start is not None else None  # type: ignore[arg-type]
        moved = state.get("moved")
        if isinstance(moved, np.ndarray) and moved.shape == self._moved.shape:
            self._moved[...] = moved
        return True


# ---------------------------------------------------------------- structural change
@dataclass(frozen=True)
class ChangeParams:
    block_px: int = 16  # comparison blocks, model-scale pixels
    min_std: float = 8.0  # grey std for a block to count as textured
    min_ncc: float = 0.5  # two textured blocks correlating less than this differ
    std_ratio: float = 2.5  # one block this much more textured than the other → changed
    mean_delta: float = 0.3  # gain-normalised change of a block's mean level → changed


def to_grey(img_bgr: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(img_bgr, cv2.COLOR_BGR2GRAY)


def _block_view(grey: np.ndarray, b: int) -> np.ndarray:
    h, w = grey.shape
    hb, wb = h // b, w // b
    return grey[: hb * b, : wb * b].astype(np.float32).reshape(hb, b, wb, b)


def structural_change(cur_grey: np.ndarray, base_grey: np.ndarray, p: ChangeParams) -> np.ndarray:
    """Bool map of blocks (H//block × W//block) whose structure differs between two wall pictures.

    Lighting gain/offset and camera noise do not count: textured blocks are compared by zero-mean
    normalised correlation, flat blocks by their mean level after dividing by each picture's median.
    """
    b = p.block_px
    c, r = _block_view(cur_grey, b), _block_view(base_grey, b)
    mc, mr = c.mean(axis=(1, 3)), r.mean(axis=(1, 3))
    dc, dr = c - mc[:, None, :, None], r - mr[:, None, :, None]
    sc, sr = np.sqrt((dc * dc).mean(axis=(1, 3))), np.sqrt((dr * dr).mean(axis=(1, 3)))
    ncc = (dc * dr).mean(axis=(1, 3)) / np.maximum(sc * sr, 1e-6)
    textured_c, textured_r = sc >= p.min_std, sr >= p.min_std
    both = textured_c & textured_r
    changed = both & (ncc < p.min_ncc)
    lo, hi = np.minimum(sc, sr), np.maximum(sc, sr)
    changed |= (textured_c | textured_r) & (hi > p.std_ratio * np.maximum(lo, 1.0))
    gc = max(float(np.median(cur_grey[::4, ::4])), 8.0)
    gr = max(float(np.median(base_grey[::4, ::4])), 8.0)
    rel_c, rel_r = mc / gc, mr / gr
    changed |= ~both & (np.abs(rel_c - rel_r) > p.mean_delta * np.maximum(np.maximum(rel_c, rel_r), 0.25))
    return changed


def tile_blocks(xyxy_scaled: tuple[int, int, int, int], grid_hw: tuple[int, int], b: int) -> np.ndarray:
    """Flat indices of the blocks whose centre lies in a tile (model-scale box)."""
    hb, wb = grid_hw
    x1, y1, x2, y2 = xyxy_scaled
    cols = [j for j in range(wb) if x1 <= j * b + b / 2 < x2]
    rows = [i for i in range(hb) if y1 <= i * b + b / 2 < y2]
    return np.asarray([i * wb + j for i in rows for j in cols], dtype=np.int64)
