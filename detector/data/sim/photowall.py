"""A fixed camera on a real wall for a day: a stream composed from photographs, fast to render.

Our own simulated tunnel is drawn by the same generator as part of the training data, so a benchmark
on it proves little. This stream takes a **real clean photograph** as the camera's view (stretched to
the frame, as a camera sees a wall), and paints a **real graffiti photograph** (a soft-edged crop of
it) onto it progressively, as a writer would, to be cleaned hours later by a crew (leaving a faint
ghost). Around that, a day happens: passers-by and groups in lettered and printed clothes, loiterers
standing 1-10 minutes who shift their weight now and then, parked bikes, headlight sweeps, an IR
(greyscale) night, daylight that changes, a legal poster (another real photo in a frame) and a
printed notice put up for good, and sensor noise. On request (``web=True``) a spider's web across a corner of the
lens one night, lit by the camera's IR lamp (:func:`plan_web`).

``frame_at(t_s)`` renders one sample on demand; what the wall shows is cached and only people,
lights and noise are drawn per sample, so a camera-day sampled every 5 s costs seconds to render.
The schedule (the ground truth) is in :attr:`PhotoWallStream.day`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from detector.data.synth.camera import burn_and_compress
from detector.data.synth.osd import Osd, osd_text

DAY_S = 86400.0
IR_FROM_H, IR_TO_H = 20.0, 6.0  # the camera switches to IR (greyscale) at night


@dataclass(frozen=True)
class Person:
    start_s: float
    end_s: float
    x0: float  # centre x at start (frame px)
    x1: float  # centre x at end (equal to x0 for someone standing)
    height_px: float
    look_seed: int
    standing: bool = False
    kind: str = "walker"  # walker | cyclist | loiterer | writer | crew | bike
    jacket: tuple[float, float, float] | None = None  # BGR in [0, 1]; None = a random one


@dataclass(frozen=True)
class Paint:
    start_s: float
    finished_s: float
    box: tuple[int, int, int, int]  # frame px
    source: int  # index into the paint photos
    crew_start_s: float
    cleaned_s: float  # the crew is done


@dataclass(frozen=True)
class Fixture:
    """Something put up for good: a legal poster (a framed photo) or a printed notice."""

    t_s: float
    box: tuple[int, int, int, int]
    kind: str  # poster | notice
    source: int


@dataclass(frozen=True)
class Sweep:
    start_s: float
    end_s: float
    y: float
    direction: int


@dataclass(frozen=True)
class Web:
    """A spider's web spun across a corner of the camera's housing, in front of the lens: out of focus, faint by
    day, lit bright by the camera's own IR lamp at night, swaying in the draught. Built over ``start_s`` to
    ``built_s``, torn away at ``gone_s``."""

    start_s: float
    built_s: float
    gone_s: float
    corner: int  # 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right
    radius_px: float
    seed: int

    def box(self, size: tuple[int, int]) -> tuple[int, int, int, int]:
        """The frame box the web covers (sway included)."""
        w, h = size
        r = int(self.radius_px) + 8
        x1, y1 = (0 if self.corner in (0, 2) else w - r), (0 if self.corner in (0, 1) else h - r)
        return (x1, y1, x1 + r, y1 + r)


@dataclass
class WallDay:
    people: list[Person] = field(default_factory=list)
    paint: list[Paint] = field(default_factory=list)
    fixtures: list[Fixture] = field(default_factory=list)
    sweeps: list[Sweep] = field(default_factory=list)
    webs: list[Web] = field(default_factory=list)


def is_ir(t_s: float) -> bool:
    h = (t_s % DAY_S) / 3600.0
    return h >= IR_FROM_H or h < IR_TO_H


def daylight_gain(t_s: float) -> float:
    """Scene brightness: dim at dawn and dusk, full by day; the IR lamp is steady."""
    h = (t_s % DAY_S) / 3600.0
    if is_ir(t_s):
        return 0.9
    rise = np.clip((h - IR_TO_H) / 2.0, 0.0, 1.0)
    fall = np.clip((IR_FROM_H - h) / 2.0, 0.0, 1.0)
    return float(0.6 + 0.45 * min(rise, fall) + 0.05 * np.sin(h * 1.7))


def plan_day(rng: np.random.Generator, size: tuple[int, int], n_paint_sources: int, n_fixture_sources: int,
             duration_s: float = DAY_S, busy: float = 1.0, clock0_s: float = 0.0) -> WallDay:
    """A random day on one wall (times in [0, duration_s); ``clock0_s`` the time of day at 0)."""
    w, h = size
    day = WallDay()

    def upto(end: float) -> float:
        return float(rng.uniform(0, max(1.0, end)))

    def x_any() -> float:
        return float(rng.uniform(0.1 * w, 0.9 * w))

    def height() -> float:
        return float(rng.uniform(0.55, 0.95) * h)

    # Passers-by: busy by day, few at night; a fifth walk in groups, a quarter ride bikes.
    t = float(rng.uniform(0, 120))
    while t < duration_s:
        night = is_ir(clock0_s + t)
        rate_per_h = (6.0 if night else 45.0) * busy
        cyclist = bool(rng.random() < 0.25)
        cross_s = float(rng.uniform(3, 7) if cyclist else rng.uniform(8, 20))
        left = bool(rng.random() < 0.5)
        xa, xb = (-0.1 * w, 1.1 * w) if left else (1.1 * w, -0.1 * w)
        group = 1 if rng.random() > 0.2 else int(rng.integers(2, 5))
        for k in range(group):
            dt = k * float(rng.uniform(0.5, 2.0))
            day.people.append(Person(t + dt, t + dt + cross_s, xa, xb, height(), int(rng.integers(1 << 30)),
                                     kind="cyclist" if cyclist else "walker"))
        t += float(rng.exponential(3600.0 / rate_per_h))
    # Loiterers: standing 1-10 minutes in lettered clothes, shifting now and then.
    for _ in range(max(1, int(round(5 * busy)))):
        s = upto(duration_s - 600)
        x = x_any()
        day.people.append(Person(s, s + float(rng.uniform(60, 600)), x, x, height(), int(rng.integers(1 << 30)),
                                 standing=True, kind="loiterer"))
    # Parked bikes, 10-60 minutes.
    for _ in range(2):
        s = upto(duration_s - 3600)
        x = x_any()
        day.people.append(Person(s, s + float(rng.uniform(600, 3600)), x, x, 0.45 * h, int(rng.integers(1 << 30)),
                                 standing=True, kind="bike"))
    # Headlight sweeps, mostly at night.
    for _ in range(int(25 * busy)):
        s = upto(duration_s - 30)
        if not is_ir(clock0_s + s) and rng.random() < 0.7:
            continue
        day.sweeps.append(Sweep(s, s + float(rng.uniform(8, 20)), float(rng.uniform(0.3, 0.8) * h),
                                1 if rng.random() < 0.5 else -1))
    # A legal poster and a printed notice, put up for good during the day.
    for kind in ("poster", "notice"):
        s = float(rng.uniform(0.3, 0.75) * duration_s)
        bw = int(rng.uniform(0.12, 0.2) * w) if kind == "poster" else int(rng.uniform(0.06, 0.1) * w)
        bh = int(bw * (1.4 if kind == "poster" else 1.35))
        x1 = int(rng.uniform(0.05 * w, w - bw - 0.05 * w))
        y1 = int(rng.uniform(0.1 * h, h - bh - 0.1 * h))
        day.fixtures.append(Fixture(s, (x1, y1, x1 + bw, y1 + bh), kind, int(rng.integers(max(1, n_fixture_sources)))))
    # One piece of graffiti: mostly at night, painted in 1-10 minutes, cleaned 2-8 hours later.
    if n_paint_sources:
        s = float(rng.uniform(0.03, 0.55) * duration_s)
        paint_s = float(rng.uniform(60, 600))
        pw = int(rng.uniform(0.18, 0.4) * w)
        ph = int(pw * rng.uniform(0.45, 0.8))
        x1 = int(rng.uniform(0.03 * w, w - pw - 0.03 * w))
        y1 = int(rng.uniform(0.12 * h, h - ph - 0.08 * h))
        fin = s + paint_s
        crew = min(fin + float(rng.uniform(2, 8)) * 3600.0, duration_s - 1800.0)
        crew = max(crew, fin + 1800.0)
        done = crew + float(rng.uniform(600, 1200))
        day.paint.append(Paint(s, fin, (x1, y1, x1 + pw, y1 + ph), int(rng.integers(n_paint_sources)), crew, done))
        cx = (x1 + x1 + pw) / 2
        day.people.append(Person(s - 20, fin + 15, cx, cx, height(), int(rng.integers(1 << 30)), standing=True,
                                 kind="writer"))
        for k in range(2):
            day.people.append(Person(crew - 30, done + 20, cx + (k - 0.5) * pw * 0.5, cx + (k - 0.5) * pw * 0.5,
                                     height(), int(rng.integers(1 << 30)), standing=True, kind="crew"))
    day.people.sort(key=lambda p: p.start_s)
    return day


def plan_web(seed: int, size: tuple[int, int], duration_s: float = DAY_S, clock0_s: float = 0.0) -> Web | None:
    """A web spun one night of the day (an rng of its own, so the rest of the day is the same with or without
    it); None when the stream holds no night hour."""
    rng = np.random.default_rng([seed, 9797])
    nights = [t for t in np.arange(0.0, max(duration_s - 3 * 3600.0, 0.0), 600.0) if is_ir(clock0_s + t)]
    if not nights:
        return None
    start = float(rng.choice(nights)) + float(rng.uniform(0, 600))
    built = start + float(rng.uniform(20, 60)) * 60.0
    gone = min(duration_s, built + float(rng.uniform(6, 30)) * 3600.0)
    corner = int(rng.choice([0, 1, 0, 1, 2, 3]))  # mostly under the housing's top
    return Web(start, built, gone, corner, float(rng.uniform(0.25, 0.5)) * size[1], int(rng.integers(1 << 30)))


def render_web(web: Web, progress: float) -> np.ndarray:
    """The web's silk as a float32 mask (0..1), ``radius_px`` square with its anchor at the top-left, blurred as
    something a few centimetres from a lens focused on the wall is. ``progress`` 0..1: radials first, then the
    spiral from the outside in."""
    import cv2

    r = int(web.radius_px)
    rng = np.random.default_rng(web.seed)
    canvas = np.zeros((r + 8, r + 8), np.float32)
    n_rad = int(rng.integers(7, 12))
    angles = np.sort(rng.uniform(0.05, np.pi / 2 - 0.05, n_rad))
    lens = r * rng.uniform(0.75, 1.0, n_rad)
    rad_part = min(1.0, progress / 0.3)
    for a, ln in zip(angles[: max(1, int(round(n_rad * rad_part)))], lens, strict=False):
        cv2.line(canvas, (0, 0), (int(ln * np.cos(a)), int(ln * np.sin(a))), 1.0, 2, cv2.LINE_AA)
    turns = int(rng.integers(10, 18))
    spiral = max(0.0, (progress - 0.3) / 0.7)
    for k in range(int(round(turns * spiral))):
        f = 0.95 - 0.8 * k / turns
        pts = np.array([(int(ln * f * np.cos(a)), int(ln * f * np.sin(a))) for a, ln in zip(angles, lens, strict=True)],
                       np.int32)
        cv2.polylines(canvas, [pts], False, 0.8, 1, cv2.LINE_AA)
    return cv2.GaussianBlur(canvas, (0, 0), 2.2)


def _shifted(mask: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``mask`` moved by (dy, dx) px, zeros where nothing moved in (no wrapping round)."""
    out = np.zeros_like(mask)
    h, w = mask.shape
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = mask[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def _soft_ellipse(h: int, w: int, feather: float = 0.12) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt(((xx + 0.5) / w * 2 - 1) ** 2 + ((yy + 0.5) / h * 2 - 1) ** 2)
    return np.clip((1.0 - r) / feather, 0.0, 1.0)


def _fit(img: np.ndarray, w: int, h: int) -> np.ndarray:
    import cv2

    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if img.shape[1] > w else cv2.INTER_LINEAR)


def _ir(img: np.ndarray) -> np.ndarray:
    """An IR view: greyscale weighted towards red (near-infrared reflectance), flatter contrast."""
    f = img.astype(np.float32)
    g = 0.15 * f[..., 0] + 0.3 * f[..., 1] + 0.55 * f[..., 2]
    g = 40.0 + 0.8 * g
    return np.repeat(np.clip(g, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


class PhotoWallStream:
    """One camera on one real wall for ``duration_s`` (see the module docstring)."""

    def __init__(self, wall_bgr: np.ndarray, paint_photos: list[np.ndarray], fixture_photos: list[np.ndarray],
                 seed: int, duration_s: float = DAY_S, size: tuple[int, int] = (1280, 720), fps: float = 1.0,
                 day: WallDay | None = None, busy: float = 1.0, clock0_s: float = 0.0, web: bool = False,
                 jpeg_quality: int | None = None, exposure_jitter: float = 0.0, osd: bool = False) -> None:
        # A real CCTV camera on request: each frame JPEG-compressed at ``jpeg_quality`` (the block artefacts of an
        # MJPEG or low-bitrate stream), its exposure hunting by a factor drawn per sample, N(1, exposure_jitter),
        # and (``osd``) its name and clock burned into the top-left corner, changing every second.
        self.jpeg_quality = jpeg_quality
        self.exposure_jitter = exposure_jitter
        self.osd = osd
        self.clock0_s = clock0_s  # time of day at t_s = 0 (lighting and IR follow the clock)
        self.size = size
        self.fps = fps
        self.duration_s = float(duration_s)
        self.seed = seed
        w, h = size
        self.wall = _fit(wall_bgr, w, h)
        rng = np.random.default_rng([seed, 4242])
        self.day = day if day is not None else plan_day(rng, size, len(paint_photos), len(fixture_photos),
                                                        duration_s, busy, clock0_s)
        if web and day is None:
            planned = plan_web(seed, size, duration_s, clock0_s)
            self.day.webs = [planned] if planned is not None else []
        self._web_masks: dict[tuple[int, int], np.ndarray] = {}
        self._paints = paint_photos
        self._fixture_photos = fixture_photos
        noise = [np.clip(rng.normal(0, 3.0, (h, w, 3)), -40, 40) for _ in range(4)]
        noise += [np.repeat(n[..., :1], 3, axis=2) for n in noise]  # an IR (mono) sensor: the same in every channel
        self._noise = [(np.maximum(n, 0).astype(np.uint8), np.maximum(-n, 0).astype(np.uint8)) for n in noise]
        self._sprites: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._wall_cache: tuple[tuple[object, ...], np.ndarray] | None = None

    # ------------------------------------------------------------ what the wall shows
    def wall_at(self, t_s: float, ir: bool | None = None) -> np.ndarray:
        """The wall itself at ``t_s`` (paint, cleaning, fixtures; no people, light or noise)."""
        key: list[object] = [is_ir(self.clock0_s + t_s) if ir is None else ir]
        for p in self.day.paint:
            prog = float(np.clip((t_s - p.start_s) / max(p.finished_s - p.start_s, 1.0), 0.0, 1.0))
            clean = float(np.clip((t_s - p.crew_start_s) / max(p.cleaned_s - p.crew_start_s, 1.0), 0.0, 1.0))
            key += [round(prog, 2), round(clean, 2)]
        key += [t_s >= f.t_s for f in self.day.fixtures]
        k = tuple(key)
        if self._wall_cache is not None and self._wall_cache[0] == k:
            return self._wall_cache[1]
        img = self.wall.astype(np.float32)
        w, h = self.size
        for f, up in zip(self.day.fixtures, key[1 + 2 * len(self.day.paint):], strict=True):
            if up:
                self._draw_fixture(img, f)
        for j, p in enumerate(self.day.paint):
            prog, clean = float(key[1 + 2 * j]), float(key[2 + 2 * j])  # type: ignore[arg-type]
            if prog <= 0:
                continue
            x1, y1, x2, y2 = p.box
            pw, ph = x2 - x1, y2 - y1
            src = self._paints[p.source]
            art = _fit(src, pw, ph).astype(np.float32)
            alpha = _soft_ellipse(ph, pw) * 0.97
            reveal = np.clip((np.arange(pw, dtype=np.float32) / pw - (prog * 1.15 - 0.15)) / -0.15, 0.0, 1.0)
            alpha = alpha * reveal[None, :]
            if clean > 0:  # the crew washes it off from left to right; a faint ghost stays
                washed = np.clip((np.arange(pw, dtype=np.float32) / pw - (clean * 1.15 - 0.15)) / -0.15, 0.0, 1.0)
                alpha = alpha * (1.0 - 0.93 * washed[None, :])
                buff = 1.0 + 0.04 * washed[None, :, None] * _soft_ellipse(ph, pw)[..., None]
                img[y1:y2, x1:x2] *= buff
            region = img[y1:y2, x1:x2]
            region += (art - region) * alpha[..., None]
        out = np.clip(img, 0, 255).astype(np.uint8)
        if k[0]:
            out = _ir(out)
        _ = (w, h)
        self._wall_cache = (k, out)
        return out

    def _draw_web(self, img: np.ndarray, j: int, web: Web, t_s: float) -> np.ndarray:
        """The web in front of everything: lit by the IR lamp at night, a faint grey by day; it sways a few px."""
        step = int(np.clip((t_s - web.start_s) / max(web.built_s - web.start_s, 1.0), 0.0, 1.0) * 10)
        mask = self._web_masks.get((j, step))
        if mask is None:
            mask = self._web_masks[(j, step)] = render_web(web, step / 10.0)
        rng = np.random.default_rng([web.seed, int(t_s // 5)])
        dx, dy = (int(v) for v in np.round(rng.normal(0, 1.5, 2)))
        m = _shifted(mask, dy, dx)
        if web.corner in (1, 3):
            m = m[:, ::-1]
        if web.corner in (2, 3):
            m = m[::-1, :]
        x1, y1, x2, y2 = web.box(self.size)  # the mask's own size: radius + 8 px each way
        lit = 170.0 if is_ir(self.clock0_s + t_s) else 30.0
        out = img.copy()
        region = out[y1:y2, x1:x2].astype(np.float32)
        out[y1:y2, x1:x2] = np.clip(region + m[..., None] * lit, 0, 255).astype(np.uint8)
        return out

    def _draw_fixture(self, img: np.ndarray, f: Fixture) -> None:
        import cv2

        x1, y1, x2, y2 = f.box
        bw, bh = x2 - x1, y2 - y1
        if f.kind == "poster" and self._fixture_photos:
            src = self._fixture_photos[f.source % len(self._fixture_photos)]
            img[y1:y2, x1:x2] = (30, 30, 30)  # frame
            m = max(3, bw // 20)
            img[y1 + m:y2 - m, x1 + m:x2 - m] = _fit(src, bw - 2 * m, bh - 2 * m).astype(np.float32)
        else:  # a printed notice: white paper, a heading and lines of text
            paper = np.full((bh, bw, 3), 235, np.uint8)
            rng = np.random.default_rng([self.seed, f.source, 77])
            cv2.putText(paper, "NOTICE", (int(bw * 0.08), int(bh * 0.14)), cv2.FONT_HERSHEY_DUPLEX,
                        max(0.3, bw / 260), (20, 20, 160), max(1, bw // 90), cv2.LINE_AA)
            y = int(bh * 0.25)
            while y < bh * 0.9:
                n = int(rng.integers(8, 22))
                text = "".join(chr(int(c)) for c in rng.integers(97, 123, n))
                cv2.putText(paper, text, (int(bw * 0.08), y), cv2.FONT_HERSHEY_SIMPLEX, max(0.2, bw / 520),
                            (30, 30, 30), 1, cv2.LINE_AA)
                y += max(8, bh // 14)
            img[y1:y2, x1:x2] = paper.astype(np.float32)

    # ------------------------------------------------------------ people
    def _sprite(self, p: Person) -> tuple[np.ndarray, np.ndarray]:
        """BGR uint8 and alpha float32 of a person (lettered shirt), cyclist or parked bike."""
        import cv2

        from detector.data.synth.people import draw_passerby, random_look

        hit = self._sprites.get(p.look_seed)
        if hit is not None:
            return hit
        rng = np.random.default_rng(p.look_seed)
        cyc = p.kind in ("cyclist", "bike")
        look = random_look(rng, cyclist=cyc)
        if p.jacket is not None:
            look = dataclasses.replace(look, jacket=p.jacket)
        layer = draw_passerby(look, p.height_px, 0.25 if p.kind == "bike" else 0.0, 0 if p.standing else 1)
        alpha = layer.alpha.copy()
        rgb = np.clip(layer.rgb * 255.0 / np.maximum(alpha, 1e-3)[..., None], 0, 255).astype(np.uint8)
        hh, ww = alpha.shape
        if p.kind == "bike":  # a parked bike: the rider is not there
            alpha[: int(hh * 0.45)] = 0.0
        elif not cyc:  # print letters and a logo on the shirt
            word = "".join(chr(int(c)) for c in rng.integers(65, 91, int(rng.integers(3, 7))))
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            cx, top = ww // 2, int(hh * 0.27)
            scale = max(0.25, ww / 170.0)
            (tw, th), _ = cv2.getTextSize(word, cv2.FONT_HERSHEY_DUPLEX, scale, max(1, ww // 60))
            org = (int(cx - tw / 2), int(top + th))
            cv2.putText(rgb, word, org, cv2.FONT_HERSHEY_DUPLEX, scale, colour, max(1, ww // 60), cv2.LINE_AA)
            if rng.random() < 0.5:
                cv2.circle(rgb, (cx, int(hh * 0.42)), max(2, ww // 10), tuple(int(v) for v in rng.integers(0, 256, 3)),
                           -1, cv2.LINE_AA)
        out = (rgb, alpha)
        self._sprites[p.look_seed] = out
        return out

    def people_at(self, t_s: float) -> list[tuple[Person, tuple[int, int, int, int]]]:
        """The people (and bikes) in view at ``t_s`` with their boxes (frame px)."""
        w, h = self.size
        out = []
        for p in self.day.people:
            if p.start_s > t_s:
                break
            if t_s >= p.end_s:
                continue
            f = (t_s - p.start_s) / max(p.end_s - p.start_s, 1e-6)
            cx = p.x0 + (p.x1 - p.x0) * f
            if p.standing and p.kind != "bike":  # shifting weight, turning, gesturing
                rng = np.random.default_rng([p.look_seed, int(t_s // 5)])
                cx += float(rng.normal(0, 6.0))
            sprite, _ = self._sprite(p)
            sh, sw = sprite.shape[:2]
            x1 = int(round(cx - sw / 2))
            y2 = h - int(0.02 * h)
            box = (x1, y2 - sh, x1 + sw, y2)
            if box[2] <= 0 or box[0] >= w:
                continue
            out.append((p, box))
        return out

    # ------------------------------------------------------------ one sample
    def frame_at(self, t_s: float, people: bool = True) -> np.ndarray:
        import cv2

        w, h = self.size
        img = self.wall_at(t_s).copy()
        if people:
            for p, (x1, y1, x2, y2) in self.people_at(t_s):
                sprite, alpha = self._sprite(p)
                xa, ya, xb, yb = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
                if xb <= xa or yb <= ya:
                    continue
                s = sprite[ya - y1:yb - y1, xa - x1:xb - x1].astype(np.float32)
                a = alpha[ya - y1:yb - y1, xa - x1:xb - x1, None]
                if is_ir(self.clock0_s + t_s):
                    s = _ir(s.astype(np.uint8)).astype(np.float32)
                region = img[ya:yb, xa:xb].astype(np.float32)
                img[ya:yb, xa:xb] = (region + (s - region) * a).astype(np.uint8)
        gain = daylight_gain(self.clock0_s + t_s)
        for sw in self.day.sweeps:
            if sw.start_s <= t_s < sw.end_s:
                f = (t_s - sw.start_s) / (sw.end_s - sw.start_s)
                cx = w * (f if sw.direction > 0 else 1 - f)
                xs = np.arange(w, dtype=np.float32)
                beam = 1.0 + 0.9 * np.exp(-(((xs - cx) / (0.15 * w)) ** 2))
                img = np.clip(img.astype(np.float32) * beam[None, :, None], 0, 255).astype(np.uint8)
        if abs(gain - 1.0) > 1e-3:
            img = cv2.convertScaleAbs(img, alpha=gain, beta=0.0)
        for j, web in enumerate(self.day.webs):
            if web.start_s <= t_s < web.gone_s:
                img = self._draw_web(img, j, web, t_s)
        if self.exposure_jitter > 0:
            hunt = np.random.default_rng([self.seed, 77, int(round(t_s * 1000))]).normal(1.0, self.exposure_jitter)
            img = cv2.convertScaleAbs(img, alpha=float(np.clip(hunt, 0.5, 1.5)), beta=0.0)
        up, down = self._noise[int(t_s * 7919) % 4 + (4 if is_ir(self.clock0_s + t_s) else 0)]
        img = cv2.subtract(cv2.add(img, up), down)
        osd = None
        if self.osd:
            th = max(8, int(h * 0.028))
            osd = Osd(osd_text(f"TUNNEL-{self.seed % 100:02d}", t_s, self.clock0_s), (int(h * 0.02), int(h * 0.02) + th), th)
        return burn_and_compress(img, osd, self.jpeg_quality or 0)
