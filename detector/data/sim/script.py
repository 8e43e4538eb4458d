"""What happens in a simulated tunnel stream: incidents, passers-by and lighting, as a timeline.

A script is plain data (times in seconds from the start). The ``default`` script fits any length:
passers-by only, then lighting changes only, then a writer paints a tag or throw-up at about a third,
a poster, a wet patch and a shadow, and a crew cleans the paint at about three quarters. The ``day``
script follows a 24-hour day: daylight, dusk, strip lights, IR at night, hundreds of passers-by
and several paint incidents. Incident boxes are filled in by the stream (they need the geometry).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

SCRIPTS = ("default", "day", "quiet")
INCIDENT_TYPES = ("paint", "poster", "wet", "shadow")
LIGHT_MODES = ("day", "dusk", "strip", "flicker", "night", "ir", "dawn")


@dataclass(frozen=True)
class Incident:
    """Something that changes the wall. ``finished_s``: paint complete / poster up / patch wet /
    shadow fully cast; ``cleaned_s``: cleaning done / poster removed / dried / shadow gone (None:
    it stays). ``bbox`` is the visible box of the finished work in frame pixels (x1, y1, x2, y2)."""

    id: str
    type: str
    kind: str
    label: int  # 1 = graffiti (the edge should report it), 0 = not graffiti
    start_s: float
    finished_s: float
    cleaned_s: float | None = None
    clean_start_s: float | None = None
    bbox: tuple[float, float, float, float] | None = None
    anchor_frac: tuple[float, float] = (0.3, 0.5)  # where on the frame to put it (fractions of w, h)
    size_frac: float = 0.2  # on-screen width as a fraction of the frame width
    aspect: float = 2.0
    seed: int = 0


@dataclass(frozen=True)
class Passerby:
    """Someone walking (or cycling) along the tunnel, from depth ``z_from_m`` to ``z_to_m``,
    optionally stopping at ``stop_z_m`` for ``stop_s`` seconds (``role``: passer, painter, crew)."""

    id: str
    kind: str  # person | cyclist
    role: str
    start_s: float
    end_s: float
    x_m: float
    z_from_m: float
    z_to_m: float
    speed_mps: float
    stop_z_m: float | None = None
    stop_at_s: float | None = None
    stop_s: float = 0.0
    look_seed: int = 0

    def z_at(self, t_s: float) -> float | None:
        """Depth along the tunnel at time ``t_s``; None when not in the tunnel."""
        if not self.start_s <= t_s <= self.end_s:
            return None
        sign = 1.0 if self.z_to_m >= self.z_from_m else -1.0
        if self.stop_z_m is None or self.stop_at_s is None:
            return self.z_from_m + sign * self.speed_mps * (t_s - self.start_s)
        if t_s < self.stop_at_s:
            return self.stop_z_m - sign * self.speed_mps * (self.stop_at_s - t_s)
        if t_s < self.stop_at_s + self.stop_s:
            return self.stop_z_m
        return self.stop_z_m + sign * self.speed_mps * (t_s - self.stop_at_s - self.stop_s)

    def stopped(self, t_s: float) -> bool:
        return self.stop_at_s is not None and self.stop_at_s <= t_s < self.stop_at_s + self.stop_s


@dataclass(frozen=True)
class LightStretch:
    start_s: float
    end_s: float
    mode: str  # one of LIGHT_MODES; dusk/dawn blend between their neighbours' levels
    note: str = ""


@dataclass
class Timeline:
    """Ground truth of a stream, written beside a video as JSON."""

    seed: int
    size: tuple[int, int]  # (width, height) in pixels
    fps: float
    duration_s: float
    script: str
    incidents: list[Incident] = field(default_factory=list)
    passersby: list[Passerby] = field(default_factory=list)
    lighting: list[LightStretch] = field(default_factory=list)
    quiet: list[tuple[float, float, str]] = field(default_factory=list)  # (start_s, end_s, what): stretches

    def to_dict(self) -> dict:
        def clean(d: dict) -> dict:
            return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in d.items()}

        return {
            "seed": self.seed, "size": list(self.size), "fps": self.fps, "duration_s": self.duration_s,
            "script": self.script,
            "incidents": [clean({k: v for k, v in asdict(i).items() if k not in ("anchor_frac", "size_frac", "aspect")})
                          for i in self.incidents],
            "passersby": [clean({k: v for k, v in asdict(p).items() if k not in ("look_seed",)}) for p in self.passersby],
            "lighting": [clean(asdict(s)) for s in self.lighting],
            "stretches": [{"start_s": round(a, 3), "end_s": round(b, 3), "what": w} for a, b, w in self.quiet],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Timeline:
        """Read back what ``to_json`` wrote (e.g. the ``tunnel.json`` beside a video)."""
        d = json.loads(text)

        def incident(x: dict) -> Incident:
            bbox = tuple(x["bbox"]) if x.get("bbox") is not None else None
            return Incident(**{**x, "bbox": bbox})

        return cls(int(d["seed"]), (int(d["size"][0]), int(d["size"][1])), float(d["fps"]), float(d["duration_s"]),
                   str(d["script"]), [incident(x) for x in d["incidents"]], [Passerby(**x) for x in d["passersby"]],
                   [LightStretch(**x) for x in d["lighting"]],
                   [(float(x["start_s"]), float(x["end_s"]), str(x["what"])) for x in d.get("stretches", [])])

    def graffiti_visible(self, t_s: float) -> list[Incident]:
        """Graffiti finished by ``t_s`` and not yet cleaned: what a detector should be reporting then."""
        return [i for i in self.incidents if i.label == 1 and i.finished_s <= t_s
                and (i.clean_start_s is None or t_s < i.clean_start_s)]

    def light_at(self, t_s: float) -> LightStretch:
        for s in self.lighting:
            if s.start_s <= t_s < s.end_s:
                return s
        return self.lighting[-1]


def _walkers(rng: np.random.Generator, t0: float, t1: float, rate_per_s: float, width: tuple[float, float],
             length_m: float, first_id: int) -> list[Passerby]:
    """Passers-by entering between t0 and t1 (Poisson), walking either way along the tunnel."""
    out: list[Passerby] = []
    t = t0
    i = first_id
    while True:
        t += float(rng.exponential(1 / max(rate_per_s, 1e-9)))
        if t >= t1:
            break
        cyc = bool(rng.random() < 0.3)
        speed = float(rng.uniform(3.5, 6.5) if cyc else rng.uniform(1.0, 1.7))
        away = bool(rng.random() < 0.5)
        z_a, z_b = (1.0, length_m) if away else (length_m, 1.0)
        dur = abs(z_b - z_a) / speed
        x = float(rng.uniform(-width[0] + 0.5, width[1] - 0.5))
        stop_z = stop_at = None
        stop_s = 0.0
        if not cyc and rng.random() < 0.08:  # stops in front of the wall (phone, lace, looking)
            stop_z = float(rng.uniform(4, 10))
            stop_at = t + abs(stop_z - z_a) / speed
            stop_s = float(rng.uniform(5, 40))
            x = -width[0] + 0.45
        out.append(Passerby(f"p{i}", "cyclist" if cyc else "person", "passer", t, t + dur + stop_s, x, z_a, z_b, speed,
                            stop_z, stop_at, stop_s, int(rng.integers(2**31))))
        i += 1
    return out


def default_script(rng: np.random.Generator, duration_s: float, width: tuple[float, float], length_m: float
                   ) -> tuple[list[Incident], list[Passerby], list[LightStretch], list[tuple[float, float, str]]]:
    """The scripted test stream for any length (see module docstring); times scale with the duration."""
    d = duration_s
    paint_s = float(np.clip(0.1 * d, 3.0, 60.0))
    clean_s = float(np.clip(0.04 * d, 2.0, 120.0))
    t_paint = d / 3
    t_clean = 0.75 * d
    paint_kind = str(rng.choice(["tag", "throwup"], p=[0.6, 0.4]))
    incidents = [
        Incident("i1", "paint", paint_kind, 1, t_paint, t_paint + paint_s, t_clean + clean_s, t_clean,
                 anchor_frac=(float(rng.uniform(0.18, 0.3)), float(rng.uniform(0.45, 0.55))),
                 size_frac=float(rng.uniform(0.14, 0.24)), aspect=float(rng.uniform(1.6, 2.4)),
                 seed=int(rng.integers(2**31))),
        Incident("i2", "poster", "poster", 0, 0.45 * d, 0.45 * d + min(3.0, 0.01 * d), None,
                 anchor_frac=(float(rng.uniform(0.5, 0.56)), 0.47), size_frac=0.045, aspect=0.7,
                 seed=int(rng.integers(2**31))),
        Incident("i3", "wet", "stain", 0, 0.5 * d, 0.52 * d, 0.62 * d, 0.56 * d,
                 anchor_frac=(float(rng.uniform(0.05, 0.1)), 0.62), size_frac=0.12, aspect=1.0,
                 seed=int(rng.integers(2**31))),
        Incident("i4", "shadow", "shadow", 0, 0.56 * d, 0.57 * d, 0.66 * d, 0.65 * d,
                 anchor_frac=(0.3, 0.45), size_frac=0.35, aspect=1.2, seed=int(rng.integers(2**31))),
    ]
    lighting = [
        LightStretch(0.0, 0.12 * d, "day"),
        LightStretch(0.12 * d, 0.22 * d, "dusk", "daylight fades, strip lights come on"),
        LightStretch(0.22 * d, 0.86 * d, "strip"),
        LightStretch(0.86 * d, 0.9 * d, "flicker", "failing lamp"),
        LightStretch(0.9 * d, d, "night"),
    ]
    quiet = [(0.0, 0.12 * d, "passers-by only, steady light"), (0.12 * d, 0.22 * d, "lighting changes only, nobody")]
    rate = 1 / 15.0
    # First stretch: people already walking at t=0 or entering, all gone before the lights change.
    early = _walkers(rng, -length_m / 1.2, 0.12 * d, rate * 1.5, width, length_m, 1)
    walkers = [w for w in early if w.end_s <= 0.12 * d]
    # ...and at least one, whatever the length: someone walking towards the camera from t=0.
    dist = min(length_m - 1.0, 1.4 * 0.1 * d)
    walkers.append(Passerby("p-first", "person", "passer", 0.0, dist / 1.4, float(rng.uniform(-width[0] + 0.8, 0.0)),
                            1.0 + dist, 1.0, 1.4, look_seed=int(rng.integers(2**31))))
    walkers += _walkers(rng, 0.22 * d, d, rate, width, length_m, 1000)
    # Someone who stops in front of the wall without painting (a negative for the edge).
    t_stop = 0.25 * d
    speed = 1.3
    walkers.append(Passerby("p-stop", "person", "passer", t_stop - 4.0 / speed, t_stop + 0.04 * d + 8.0 / speed,
                            -width[0] + 0.45, 1.0, 13.0, speed, 5.0, t_stop, 0.04 * d, int(rng.integers(2**31))))
    return incidents, walkers, lighting, quiet


def day_script(rng: np.random.Generator, duration_s: float, width: tuple[float, float], length_m: float
               ) -> tuple[list[Incident], list[Passerby], list[LightStretch], list[tuple[float, float, str]]]:
    """A day (or ``duration_s`` compressed into one): lighting by the hour, rush hours, night paint."""
    k = duration_s / 86400.0

    def h(hour: float) -> float:
        return hour * 3600 * k

    lighting = [LightStretch(h(0), h(5), "ir"), LightStretch(h(5), h(6.5), "dawn"), LightStretch(h(6.5), h(18), "day"),
                LightStretch(h(18), h(19.5), "dusk"), LightStretch(h(19.5), h(22), "strip"),
                LightStretch(h(22), h(22.3), "flicker", "failing lamp"), LightStretch(h(22.3), h(24), "ir")]
    walkers: list[Passerby] = []
    for hour in range(24):  # passers-by per hour: rush hours busy, small hours nearly empty
        busy = 4 + 40 * np.exp(-((hour - 8) / 1.5) ** 2) + 45 * np.exp(-((hour - 17.5) / 2) ** 2)
        per_h = float(busy + (10 if 9 < hour < 17 else 0)) if 6 <= hour <= 22 else 1.5
        # In a compressed day people still walk at walking pace: at most one entering every 4 s.
        rate = min(per_h / max(h(1), 1e-9), 0.25)
        walkers += _walkers(rng, h(hour), h(hour + 1), rate, width, length_m, 1 + 1000 * hour)
    incidents = []
    spots = [(0.18, 0.5), (0.47, 0.47), (0.08, 0.55), (0.3, 0.62)]
    plan: list[tuple[str, str, float, float | None]] = [
        ("paint", "tag", 2.5, 9.0), ("paint", "throwup", 3.2, None), ("paint", "piece", 23.2, None)]
    for n, (typ, kind, at_hour, clean_hour) in enumerate(plan):
        start = h(at_hour + float(rng.uniform(-0.3, 0.3)))
        dur = min(float(rng.uniform(40, 120) if kind != "piece" else rng.uniform(300, 600)), h(0.6))
        cleaned = h(clean_hour + 0.3) if clean_hour is not None else None
        incidents.append(Incident(f"i{n + 1}", typ, kind, 1, start, start + dur, cleaned,
                                  h(clean_hour) if clean_hour is not None else None, anchor_frac=spots[n],
                                  size_frac=float(rng.uniform(0.14, 0.24)) if kind != "piece" else 0.3,
                                  aspect=2.0 if kind != "piece" else 2.6, seed=int(rng.integers(2**31))))
    incidents.append(Incident("i4", "poster", "poster", 0, h(10.0), h(10.01), h(16.0), h(15.99), anchor_frac=(0.55, 0.47),
                              size_frac=0.045, aspect=0.7, seed=int(rng.integers(2**31))))
    incidents.append(Incident("i5", "wet", "stain", 0, h(13.0), h(13.3), h(16.0), h(14.0), anchor_frac=spots[3],
                              size_frac=0.12, aspect=1.0, seed=int(rng.integers(2**31))))
    incidents.append(Incident("i6", "shadow", "shadow", 0, h(15.0), h(15.02), h(15.5), h(15.48), anchor_frac=(0.3, 0.45),
                              size_frac=0.35, aspect=1.2, seed=int(rng.integers(2**31))))
    return incidents, walkers, lighting, []


def quiet_script(rng: np.random.Generator, duration_s: float, width: tuple[float, float], length_m: float
                 ) -> tuple[list[Incident], list[Passerby], list[LightStretch], list[tuple[float, float, str]]]:
    """No incidents at all: passers-by and steady strip lighting (a false-alarm soak test)."""
    walkers = _walkers(rng, -5.0, duration_s, 1 / 15.0, width, length_m, 1)
    return [], walkers, [LightStretch(0.0, duration_s, "strip")], [(0.0, duration_s, "passers-by only")]


def worker_passersby(incident: Incident, z_m: float, x_m: float, rng: np.random.Generator) -> list[Passerby]:
    """The writer who paints (arrives, paints until finished, leaves) and the crew who clean."""
    out = []
    speed = 1.3
    if incident.type == "paint":
        walk = (z_m - 1.0) / speed
        out.append(Passerby(f"{incident.id}-writer", "person", "painter", incident.start_s - walk - 1.0,
                            incident.finished_s + 2.0 + walk, x_m, 1.0, 1.0 + 2 * (z_m - 1.0) + 0.01, speed, z_m,
                            incident.start_s - 1.0, incident.finished_s - incident.start_s + 3.0,
                            int(rng.integers(2**31))))
    if incident.clean_start_s is not None and incident.cleaned_s is not None and incident.type in ("paint", "poster"):
        for j, dz in enumerate((-0.5, 0.6)):
            walk = (z_m + dz - 1.0) / speed
            out.append(Passerby(f"{incident.id}-crew{j + 1}", "person", "crew", incident.clean_start_s - walk - 2.0,
                                incident.cleaned_s + 2.0 + walk, x_m + 0.1 * j, 1.0, 1.0 + 2 * (z_m + dz - 1.0) + 0.01,
                                speed, z_m + dz, incident.clean_start_s - 2.0,
                                incident.cleaned_s - incident.clean_start_s + 4.0, int(rng.integers(2**31))))
    return out


BUILDERS = {"default": default_script, "day": day_script, "quiet": quiet_script}
