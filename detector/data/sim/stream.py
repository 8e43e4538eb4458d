"""A fixed CCTV camera in a pedestrian tunnel, as frames on demand (no video encoding needed).

``TunnelStream(seed, duration_s, fps, size, script)`` builds one tunnel, camera and script and
renders any frame with ``frame_at(t_s)``: deterministic and random-access, so a demo, a test or a
24-hour benchmark can sample it every few seconds. It reuses the still-scene layers (geometry,
materials, graffiti painters, people, lighting, camera), so paint in the stream looks like the
graffiti a model was trained on. The wall's state (paint progress, cleaning) changes in steps, and
each distinct state's wall is rendered once and cached.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Iterator

import numpy as np

from detector.data.sim.fast import FastFrame
from detector.data.sim.script import BUILDERS, SCRIPTS, Incident, Passerby, Timeline, worker_passersby
from detector.data.synth.camera import Sensor, falloff_map
from detector.data.synth.decal import Placement, Warped, layer_size_px, place_at_pixel, warp_onto
from detector.data.synth.geometry import LEFT, WALLS, Camera, Tunnel, cast, rotation
from detector.data.synth.layer import Layer
from detector.data.synth.lighting import LightFields, Lighting, light_fields, random_rig
from detector.data.synth.negatives import paint_negative
from detector.data.synth.osd import Osd, osd_text
from detector.data.synth.paint import paint_graffiti
from detector.data.synth.people import Look, draw_passerby, figure_height_px, place_passerby, random_look
from detector.data.synth.wall import random_surfaces, shade
from detector.errors import ConfigError

PAINT_STEPS = 24  # paint progress is shown in this many steps (a state each)
CLEAN_STEPS = 12
HI_VIS = ((0.1, 0.9, 0.95), (0.05, 0.5, 1.0))


MAX_DURATION_S = 7 * 86400.0


def check_stream_args(duration_s: float, fps: float, size: tuple[int, int], script: str, seed: int) -> None:
    """One-line errors naming the option for impossible settings."""
    if not duration_s > 0:
        raise ConfigError(f"--minutes must be greater than 0, got {duration_s / 60:g}")
    if not duration_s <= MAX_DURATION_S:  # inf would never finish building the timeline
        raise ConfigError(f"--minutes must be at most {MAX_DURATION_S / 60:g} (a week), got {duration_s / 60:g}")
    if not 0.1 <= fps <= 60:
        raise ConfigError(f"--fps must be between 0.1 and 60, got {fps:g}")
    w, h = size
    if not (160 <= w <= 3840 and 120 <= h <= 2160):
        raise ConfigError(f"--size must be between 160x120 and 3840x2160, got {w}x{h}")
    if script not in SCRIPTS:
        raise ConfigError(f"--script must be one of {', '.join(SCRIPTS)}, got {script!r}")
    if seed < 0:
        raise ConfigError(f"--seed must be a non-negative integer, got {seed}")


@dataclasses.dataclass
class _Decal:
    incident: Incident
    placement: Placement
    layer_px: tuple[int, int]


class TunnelStream:
    """Frames of one simulated tunnel camera; ``timeline`` holds the ground truth."""

    def __init__(self, seed: int, duration_s: float, fps: float = 10.0, size: tuple[int, int] = (1280, 720),
                 script: str = "default", jpeg_quality: int = 70, osd: bool = True) -> None:
        check_stream_args(duration_s, fps, size, script, seed)
        self.seed, self.duration_s, self.fps, self.size = seed, float(duration_s), float(fps), size
        self.osd = osd  # camera name and clock burned into the top-left corner
        rng = np.random.default_rng([seed, 7])
        w, h = size
        width = float(rng.uniform(4.5, 7.0))
        vault = bool(rng.random() < 0.4)
        floor = float(rng.uniform(2.4, 3.0))
        ceiling = width * 0.5 - floor + float(rng.uniform(2.6, 3.0)) if vault else float(rng.uniform(0.2, 0.7))
        left = width * float(rng.uniform(0.6, 0.72))  # camera on the right-hand wall, looking along and left
        self.tunnel = Tunnel(left, width - left, floor, ceiling, vault, float(rng.uniform(35, 60)))
        rot = rotation(float(rng.uniform(-24, -14)), float(rng.uniform(8, 14)), float(rng.uniform(-1.5, 1.5)))
        self.camera = Camera.full_frame(w, h, float(rng.uniform(78, 92)), rot)
        self.maps = cast(self.camera, self.tunnel)
        self.surfaces = random_surfaces(rng)
        self._base = shade(self.maps, self.surfaces)
        self._fields: LightFields = light_fields(self.maps, self.tunnel, random_rig(rng, self.tunnel))
        self.lamp = str(rng.choice(["led", "fluorescent", "sodium", "warm"]))
        self.sensor = Sensor(float(rng.uniform(0.5, 0.9)), float(rng.uniform(0.1, 0.3)), (1.0, 1.0, 1.0),
                             float(rng.uniform(0.004, 0.008)), 0.3, int(jpeg_quality), chroma=False)
        self._fast = FastFrame(self._fields, self.surfaces.outside, falloff_map(h, w), self.sensor)
        incidents, walkers, lighting, quiet = BUILDERS[script](rng, self.duration_s, (left, width - left),
                                                              self.tunnel.length_m)
        self._decals: dict[str, _Decal] = {}
        self._shadows: dict[str, np.ndarray] = {}
        resolved: list[Incident] = []
        for inc in incidents:
            inc, spot = self._resolve(inc)
            resolved.append(inc)
            if spot is not None:
                walkers += worker_passersby(inc, spot[0], spot[1], np.random.default_rng(inc.seed))
        walkers.sort(key=lambda p: p.start_s)
        self.timeline = Timeline(seed, (w, h), self.fps, self.duration_s, script, resolved, walkers, lighting, quiet)
        self._looks: dict[str, Look] = {}
        self._cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
        nrng = np.random.default_rng([seed, 11])
        # Luma noise fields a little larger than the frame: each frame takes a shifted window.
        self._noise = []
        for _ in range(3):
            field = nrng.standard_normal((h + 16, w + 16), np.float32)
            self._noise.append(np.repeat(field[..., None], 3, axis=2))

    # -- incidents ---------------------------------------------------------------------------------
    def _wall_pixel(self, x: int, y: int) -> tuple[int, int]:
        """The wall pixel nearest to (x, y) (an anchor may fall on the floor of a different tunnel)."""
        wall = np.isin(self.maps.surface[::4, ::4], WALLS)
        ys, xs = np.nonzero(wall)
        i = int(np.argmin((xs * 4 - x) ** 2 + (ys * 4 - y) ** 2))
        return int(xs[i] * 4), int(ys[i] * 4)

    def _resolve(self, inc: Incident) -> tuple[Incident, tuple[float, float] | None]:
        """Place an incident on the wall; returns it with its frame bbox, and the worker's spot (z, x)."""
        w, h = self.size
        x, y = self._wall_pixel(int(inc.anchor_frac[0] * w), int(inc.anchor_frac[1] * h))
        if inc.type == "shadow":
            import cv2

            m = np.zeros((h, w), np.float32)
            bw = inc.size_frac * w
            pts = np.array([[x - bw / 2, 0], [x + bw / 3, 0], [x + bw / 2, h], [x - bw / 2 - bw * 0.3, h]], np.int32)
            cv2.fillPoly(m, [pts], 1.0)
            soft = cv2.GaussianBlur(m, (0, 0), 12.0)
            self._shadows[inc.id] = soft
            ys, xs = np.nonzero(soft > 0.3)
            return dataclasses.replace(inc, bbox=(float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))), None
        want_px = inc.size_frac * w
        size_px = want_px
        for _ in range(4):  # grow the work until its visible box is as wide as the script asks
            placed = place_at_pixel(self.maps, self.camera, self.tunnel, x, y, size_px, inc.aspect)
            if placed is None:
                raise RuntimeError(f"incident {inc.id}: no wall at the anchor pixel")
            p = placed
            decal = _Decal(inc, p, layer_size_px(p, self.camera, self.tunnel, max_px=900))
            warped = self._warp(decal, 1.0)
            got = (warped.xyxy[2] - warped.xyxy[0]) if warped is not None and warped.xyxy is not None else 0.0
            if got >= 0.85 * want_px or inc.type != "paint":
                break
            size_px *= min(2.0, want_px / max(got, 1.0))
        if inc.type == "paint":  # the scripted work must stand out from this wall: try a few seeds
            best = (self._contrast(warped), inc.seed, warped)
            for j in range(1, 8):
                if best[0] >= 0.25:
                    break
                decal.incident = dataclasses.replace(inc, seed=int(np.random.default_rng([inc.seed, j]).integers(2**31)))
                cand = self._warp(decal, 1.0)
                best = max(best, (self._contrast(cand), decal.incident.seed, cand), key=lambda b: b[0])
            inc = dataclasses.replace(inc, seed=best[1])
            warped = best[2]
        bbox = warped.xyxy if warped is not None else None
        inc = dataclasses.replace(inc, bbox=bbox)
        decal.incident = inc
        self._decals[inc.id] = decal
        z = float(self.tunnel.wall_point(p.surface, np.array([p.u_m]), np.array([p.v_m]))[0, 2])
        x_m = -self.tunnel.left_m + 0.45 if p.surface == LEFT else self.tunnel.right_m - 0.45
        return inc, (z, x_m)

    def _contrast(self, warped: Warped | None) -> float:
        """How much the paint changes the wall under its box: mean of coverage × colour difference."""
        if warped is None or warped.xyxy is None:
            return 0.0
        x1, y1, x2, y2 = warped.roi
        a = warped.alpha[..., None]
        base = self._base[y1:y2, x1:x2]
        changed = np.abs(warped.rgb - a * base).sum(axis=2)  # premultiplied paint vs covered wall
        bx1, by1, bx2, by2 = (int(v) for v in warped.xyxy)
        return float(changed[by1 - y1:by2 - y1, bx1 - x1:bx2 - x1].mean())

    def _warp(self, decal: _Decal, progress: float) -> Warped | None:
        lw, lh = decal.layer_px
        layer = Layer.blank(lw, lh)
        inc = decal.incident
        rng = np.random.default_rng(inc.seed)
        if inc.type == "paint":
            paint_graffiti(layer, inc.kind, rng, (0, 0, lw, lh), progress)
        else:
            paint_negative(layer, "wet" if inc.type == "wet" else inc.kind, rng, (0, 0, lw, lh), progress)
        return warp_onto(layer, decal.placement, self.camera, self.tunnel, self.maps)

    def _state(self, t: float) -> tuple:
        """The wall's state at ``t``: per incident (id, shown progress, cleaned fraction), quantised."""
        state = []
        for inc in self.timeline.incidents:
            if inc.type == "shadow" or t < inc.start_s:
                continue
            done = min(1.0, (t - inc.start_s) / max(inc.finished_s - inc.start_s, 1e-6))
            gone = 0.0
            if inc.clean_start_s is not None and inc.cleaned_s is not None and t >= inc.clean_start_s:
                gone = min(1.0, (t - inc.clean_start_s) / max(inc.cleaned_s - inc.clean_start_s, 1e-6))
            if inc.type == "paint":
                shown = np.ceil(done * PAINT_STEPS) / PAINT_STEPS
            elif inc.type == "poster":
                shown = 1.0 if done >= 1.0 else 0.0
            else:  # wet patch: soaks in, then dries
                shown = np.ceil(done * 6) / 6
            state.append((inc.id, float(shown), float(np.ceil(gone * CLEAN_STEPS) / CLEAN_STEPS)))
        return tuple(state)

    def _albedo(self, state: tuple) -> np.ndarray:
        if state in self._cache:
            self._cache.move_to_end(state)
            return self._cache[state]
        import cv2

        albedo = self._base.copy()
        for inc_id, shown, gone in state:
            if shown <= 0 or gone >= 1.0 and self._decals[inc_id].incident.type == "poster":
                continue
            warped = self._warp(self._decals[inc_id], shown)
            if warped is None:
                continue
            x1, y1, x2, y2 = warped.roi
            region = albedo[y1:y2, x1:x2]
            keep = 1.0 - 0.93 * gone  # cleaning leaves a faint trace of the paint...
            region *= (1 - warped.alpha * keep)[..., None]
            region += warped.rgb * keep
            if gone > 0 and self._decals[inc_id].incident.type == "paint":
                # ...and a scrubbed patch a little lighter than the wall around it.
                patch = cv2.GaussianBlur((warped.alpha > 0.05).astype(np.float32), (0, 0), 6.0)
                patch = cv2.dilate(patch, np.ones((9, 9), np.uint8))
                region += (region * 0.08 * gone) * patch[..., None]
        self._cache[state] = albedo
        if len(self._cache) > 8:
            self._cache.popitem(last=False)
        return albedo

    # -- lighting ----------------------------------------------------------------------------------
    def _levels(self, mode: str, t: float) -> tuple[float, float, float, float]:
        """(ambient, strip, day, ir) for a steady mode; daylight drifts slowly with passing clouds."""
        cloud = 1.0 + 0.12 * np.sin(t / 37.0) * np.sin(t / 11.0 + 1.3)
        return {
            "day": (0.1, 0.5, 2.4 * cloud, 0.0),
            "strip": (0.05, 1.0, 0.12, 0.0),
            "flicker": (0.05, 1.0, 0.05, 0.0),
            "night": (0.015, 0.75, 0.0, 0.0),
            "ir": (0.01, 0.12, 0.0, 1.0),
        }[mode]

    def lighting_at(self, t_s: float) -> Lighting:
        tl = self.timeline
        stretch = tl.light_at(t_s)
        k = int(round(t_s * self.fps))
        flicker = 1.0
        if stretch.mode in ("dusk", "dawn"):
            i = tl.lighting.index(stretch)
            before = tl.lighting[i - 1].mode if i > 0 else ("day" if stretch.mode == "dawn" else "day")
            after = tl.lighting[i + 1].mode if i + 1 < len(tl.lighting) else "strip"
            if before in ("dusk", "dawn"):
                before = "day"
            if after in ("dusk", "dawn"):
                after = "strip"
            a = (t_s - stretch.start_s) / max(stretch.end_s - stretch.start_s, 1e-6)
            a = float(np.clip(a, 0, 1))
            lv0, lv1 = self._levels(before, t_s), self._levels(after, t_s)
            amb, strip, day, ir = (x0 * (1 - a) + x1 * a for x0, x1 in zip(lv0, lv1, strict=True))
            # The lamps switch on at once halfway through dusk (off at dawn).
            strip = lv1[1] if a > 0.5 else lv0[1]
            if ir > 0 and (before == "ir") != (after == "ir"):  # IR cut filter switches, not a fade
                use_ir = (after == "ir") == (a > 0.5)
                amb, strip, day, ir = self._levels("ir" if use_ir else (after if after != "ir" else before), t_s)
        else:
            amb, strip, day, ir = self._levels(stretch.mode, t_s)
            if stretch.mode == "flicker":
                h = np.sin(k * 12.9898 + self.seed) * 43758.5453
                r = h - np.floor(h)
                flicker = float(0.25 + 0.75 * (r > 0.35))
        # Auto-exposure cannot fully make up for a dark night: aim lower (and get more noise).
        target = 0.4 if day > 0.5 or ir > 0 else (0.3 if strip > 0.9 else 0.13)
        return Lighting(amb, strip, day, ir, lamp=self.lamp, exposure_target=target, flicker=flicker)

    # -- people ------------------------------------------------------------------------------------
    def _look(self, p: Passerby) -> Look:
        look = self._looks.get(p.id)
        if look is None:
            look = random_look(np.random.default_rng(p.look_seed), cyclist=p.kind == "cyclist")
            if p.role == "crew":
                look = dataclasses.replace(look, jacket=HI_VIS[0], trousers=(0.15, 0.15, 0.2), backpack=None)
            elif p.role == "painter":
                look = dataclasses.replace(look, hat=look.hat or (0.1, 0.1, 0.1))
            self._looks[p.id] = look
        return look

    def _draw_people(self, t: float, albedo: np.ndarray, headlamp: bool,
                     restore: list[tuple[tuple[int, int, int, int], np.ndarray]]) -> np.ndarray | None:
        """Draw everyone in the tunnel at ``t`` (far first), saving what they cover into ``restore``;
        returns extra light from cyclists' lamps."""
        active = [(z, p) for p in self.timeline.passersby if (z := p.z_at(t)) is not None]
        active.sort(key=lambda zp: -zp[0])
        extra = None
        for z, p in active:
            if z < 0.8:
                continue
            look = self._look(p)
            hpx = figure_height_px(self.camera, self.tunnel, look, p.x_m, z)
            if hpx < 6:
                continue
            stopped = p.stopped(t)
            walked = abs(z - p.z_from_m)
            phase = 0.0 if stopped else (walked / (0.8 if p.kind == "person" else 2.0)) % 1.0
            facing = 0 if not stopped else (-1 if p.x_m < 0 else 1)
            layer = draw_passerby(look, hpx, phase, facing)
            feet, _ = self.camera.project(np.array([[p.x_m, self.tunnel.floor_m, z]]))
            x1 = max(0, int(feet[0, 0] - layer.width_px / 2) - 2)
            y1 = max(0, int(feet[0, 1] - layer.height_px) - 2)
            x2, y2 = x1 + layer.width_px + 4, y1 + layer.height_px + 4
            restore.append(((y1, y2, x1, x2), albedo[y1:y2, x1:x2].copy()))
            place_passerby(layer, self.camera, self.tunnel, p.x_m, z, albedo)
            if headlamp and p.kind == "cyclist":
                extra = self._headlamp(p, z, t, extra)
        return extra

    def _headlamp(self, p: Passerby, z: float, t: float, extra: np.ndarray | None) -> np.ndarray:
        """A cyclist's lamp: a bright pool sweeping over the floor and wall ahead of them."""
        import cv2

        w, h = self.size
        ahead = 4.0 if p.z_to_m > p.z_from_m else -4.0
        pts, front = self.camera.project(np.array([[p.x_m - 0.8, self.tunnel.floor_m - 0.2, z + ahead]]))
        if extra is None:
            extra = np.zeros((h // 4, w // 4), np.float32)
        if front[0]:
            cx, cy = pts[0] / 4
            r = max(2, int(0.25 * self.camera.f_px * 1.5 / max(z + ahead, 1.0)))
            cv2.ellipse(extra, (int(cx), int(cy)), (r, max(1, r // 2)), 0, 0, 360, 3.0, -1)
        return extra

    # -- frames ------------------------------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        return int(round(self.duration_s * self.fps))

    def frame_at(self, t_s: float) -> np.ndarray:
        """The frame shown at ``t_s`` seconds (snapped to the frame grid), uint8 BGR, deterministic."""
        import cv2

        k = int(round(t_s * self.fps))
        t = k / self.fps
        albedo = self._albedo(self._state(t))  # cached: people are drawn in and undone after lighting
        light = self.lighting_at(t)
        dark = light.day < 0.3
        restore: list[tuple[tuple[int, int, int, int], np.ndarray]] = []
        extra = self._draw_people(t, albedo, dark, restore)
        if extra is not None:
            extra = cv2.GaussianBlur(extra, (0, 0), 3.0)
            extra = cv2.resize(extra, self.size, interpolation=cv2.INTER_LINEAR)
        shadow = None
        for inc in self.timeline.incidents:
            if inc.type == "shadow" and inc.start_s <= t < (inc.cleaned_s or float("inf")):
                a = min(1.0, (t - inc.start_s) / max(inc.finished_s - inc.start_s, 1e-6))
                if inc.clean_start_s is not None and inc.cleaned_s is not None and t > inc.clean_start_s:
                    a *= 1 - (t - inc.clean_start_s) / max(inc.cleaned_s - inc.clean_start_s, 1e-6)
                m = 1 - 0.55 * a * self._shadows[inc.id]
                shadow = m if shadow is None else shadow * m
        img, gain = self._fast.expose(albedo, light, shadow, extra)
        for (y1, y2, x1, x2), saved in reversed(restore):  # undo the people drawn into the cached wall
            albedo[y1:y2, x1:x2] = saved
        # Noise: one of a few pre-drawn fields, seen through a per-frame offset (cheap, deterministic).
        dy, dx = (int(v) for v in np.random.default_rng([self.seed, k]).integers(0, 16, 2))
        h, w = img.shape[:2]
        osd = None
        if self.osd:
            th = max(8, int(h * 0.028))
            osd = Osd(osd_text(f"TUNNEL-{self.seed % 100:02d}", t), (int(h * 0.02), int(h * 0.02) + th), th)
        return self._fast.finish(img, gain, self._noise[k % len(self._noise)][dy:dy + h, dx:dx + w], osd)

    def frames(self, start_s: float = 0.0, end_s: float | None = None, step_s: float | None = None
               ) -> Iterator[tuple[float, np.ndarray]]:
        """``(t_s, frame)`` from ``start_s`` to ``end_s`` (default: the end), every ``step_s`` (default: every frame)."""
        end = self.duration_s if end_s is None else min(end_s, self.duration_s)
        step = 1 / self.fps if step_s is None else step_s
        n = int(np.floor((end - start_s) / step + 1e-9))
        for i in range(max(0, n)):
            t = start_s + i * step
            yield t, self.frame_at(t)
