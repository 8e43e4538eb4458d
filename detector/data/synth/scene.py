"""One synthetic CCTV view of a pedestrian tunnel, clean or with graffiti, from a seed.

Layers, in order: tunnel geometry and camera → wall/floor/ceiling materials → painted decals (hard
negatives, then graffiti) warped onto the walls → passers-by → lighting and exposure → the camera's
own artefacts. Three kinds of view: ``tile`` (what one 320-px edge tile of a 1280×720 frame sees),
``wide`` (the whole tunnel in perspective) and ``frontal`` (a camera facing the wall).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from detector.data.sample import CLEAN, GRAFFITI, Region
from detector.data.synth.bikes import park_bikes
from detector.data.synth.camera import apply_sensor, falloff_map, random_sensor
from detector.data.synth.closeup import CLOSE_KINDS, add_close_figure
from detector.data.synth.decal import layer_size_px, place_at_pixel, random_placement, warp_onto
from detector.data.synth.fixtures import FIXTURE_KINDS
from detector.data.synth.geometry import WALLS, Camera, Tunnel, cast, rotation
from detector.data.synth.infrared import ir_look
from detector.data.synth.layer import Layer
from detector.data.synth.lighting import expose, light_fields, random_lighting, random_rig
from detector.data.synth.negatives import paint_negative
from detector.data.synth.osd import random_osd
from detector.data.synth.paint import paint_graffiti
from detector.data.synth.people import draw_passerby, figure_height_px, place_passerby, random_look
from detector.data.synth.wall import random_surfaces, shade

VIEWS = ("tile", "wide", "frontal")
# kind → (share, on-screen size range as a fraction of the image side, aspect range w/h)
GRAFFITI_MIX = {"tag": (0.34, (0.25, 1.0), (1.6, 3.5)), "throwup": (0.22, (0.35, 1.2), (1.4, 2.4)),
                "piece": (0.16, (0.5, 1.5), (2.0, 3.2)), "etch": (0.12, (0.15, 0.45), (1.3, 2.5)),
                "sticker": (0.16, (0.12, 0.35), (1.0, 1.6))}
NEGATIVE_MIX = {"poster": (0.13, (0.15, 0.5), (0.65, 0.8)), "sign": (0.1, (0.15, 0.5), (1.0, 3.0)),
                "stain": (0.16, (0.3, 1.0), (0.5, 1.5)), "crack": (0.08, (0.2, 0.8), (0.3, 1.0)),
                "dirt": (0.08, (0.3, 1.0), (1.0, 2.5)), "mural": (0.09, (0.7, 2.0), (1.5, 3.0)),
                "buff": (0.08, (0.3, 1.0), (0.8, 2.5)), "ghost": (0.07, (0.3, 0.9), (1.5, 2.5)),
                "person": (0.2, (0, 0), (0, 0)), "shadow": (0.08, (0, 0), (0, 0))}
# Hard negatives the edge meets and the bundled model fails on (drawn from their own random stream):
# parked bikes, people/cyclists close to the camera in lettered clothes, pipes, cables, tile panels, plaster.
HARD_MIX = {"bike": (0.22, (0, 0), (0, 0)), "close-person": (0.16, (0, 0), (0, 0)), "close-cyclist": (0.08, (0, 0), (0, 0)),
            "pipe": (0.16, (0.8, 2.5), (3.0, 9.0)), "cable": (0.14, (0.8, 2.5), (4.0, 12.0)),
            "tiles": (0.12, (0.35, 1.1), (0.8, 2.5)), "plaster": (0.12, (0.45, 1.3), (0.8, 2.0))}
HARD_SHARE = (0.35, 0.15)  # share of clean / graffiti scenes with one of HARD_MIX
IR_LOOK_SHARE = 0.08  # share of scenes shown in the infrared look (besides the IR lighting mode)
EXTRA_STREAM = 0x4E45  # second seed word of the hard negatives' random stream
# ``ir``: the infrared look (with another kind); ``bare``: a tunnel with no negative at all (the control).
ONLY_NEGATIVE_KINDS = tuple(NEGATIVE_MIX) + tuple(HARD_MIX) + ("ir", "bare")
DEFAULT_ONLY_KINDS = tuple(HARD_MIX) + ("person", "sign", "poster", "stain", "ir", "bare")  # --only-negatives alone
FRAME_W, FRAME_H = 1280, 720  # the edge camera whose tiles the ``tile`` view imitates


@dataclass
class SynthScene:
    """A rendered scene: the image (uint8 BGR), its label (1 graffiti / 0 clean), the sample kind, and
    every drawn object with its visible box in image pixels."""

    image: np.ndarray
    label: int
    kind: str
    regions: tuple[Region, ...]
    info: dict[str, str] = field(default_factory=dict)  # view, wall material, lighting mode


def random_tunnel(rng: np.random.Generator) -> Tunnel:
    width = float(rng.uniform(3.0, 7.5))
    side = float(rng.uniform(0.25, 0.75))
    vault = bool(rng.random() < 0.4)
    if vault:  # camera on the wall below the spring line of the roof
        spring_h = float(rng.uniform(1.9, 2.8))
        floor = float(rng.uniform(2.0, min(3.2, spring_h + 0.2)))
        ceiling = width / 2 - floor + spring_h
    else:
        floor = float(rng.uniform(2.2, 3.2))
        ceiling = float(rng.uniform(0.15, 0.9))
    return Tunnel(width * side, width * (1 - side), floor, ceiling, vault, float(rng.uniform(15, 60)))


def random_camera(rng: np.random.Generator, view: str, size_px: int, tunnel: Tunnel) -> tuple[Camera, np.ndarray]:
    """The camera for ``view`` and its vignette map (computed over the virtual full frame for tiles)."""
    if view == "frontal":
        yaw = float(rng.choice([-90.0, 90.0]) + rng.uniform(-30, 30))
        rot = rotation(yaw, float(rng.uniform(0, 25)), float(rng.uniform(-3, 3)))
        cam = Camera.full_frame(size_px, size_px, float(rng.uniform(45, 85)), rot)
        return cam, falloff_map(size_px, size_px)
    rot = rotation(float(rng.uniform(-25, 25)), float(rng.uniform(4, 20)), float(rng.uniform(-3, 3)))
    if view == "wide":
        cam = Camera.full_frame(size_px, size_px, float(rng.uniform(70, 100)), rot,
                                (float(rng.normal(0, size_px * 0.05)), float(rng.normal(0, size_px * 0.05))))
        return cam, falloff_map(size_px, size_px)
    full = Camera.full_frame(FRAME_W, FRAME_H, float(rng.uniform(70, 105)), rot)
    side = float(min(FRAME_H, 320 * rng.uniform(0.75, 1.5)))
    x0 = float(rng.uniform(0, FRAME_W - side))
    y0 = float(rng.uniform(0, FRAME_H - side))
    cam = full.window(x0, y0, side, size_px)
    k = size_px / side
    vig = falloff_map(size_px, size_px, ((FRAME_W / 2 - x0) * k, (FRAME_H / 2 - y0) * k),
                       float(np.hypot(FRAME_W / 2, FRAME_H / 2) * k))
    return cam, vig


def _pick(rng: np.random.Generator, mix: dict[str, tuple[float, tuple[float, float], tuple[float, float]]]) -> str:
    names = list(mix)
    p = np.array([mix[n][0] for n in names])
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def check_negative_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    """The kinds a hard-negatives-only scene may be asked for; a ValueError naming the unknown one."""
    out = tuple(str(k).strip() for k in kinds if str(k).strip())
    if not out:
        raise ValueError(f"no negative kinds given; expected some of {', '.join(ONLY_NEGATIVE_KINDS)}")
    for k in out:
        if k not in ONLY_NEGATIVE_KINDS:
            raise ValueError(f"unknown negative kind {k!r}; expected some of {', '.join(ONLY_NEGATIVE_KINDS)}")
    return out


def render_scene(seed: int, size_px: int = 320, *, graffiti: bool | None = None,
                 negatives: Sequence[str] | None = None, hard_negatives: bool = False) -> SynthScene:
    """Render one scene; the same ``seed`` (and arguments) always gives the same bytes.

    ``graffiti`` forces the label; None draws it from the seed (half and half).
    ``negatives`` renders a clean scene with exactly these hard negatives (kinds of
    ``ONLY_NEGATIVE_KINDS``; ``ir`` = the infrared look; ``bare`` = none at all) and no others; the
    sample kind is the first.
    ``hard_negatives`` adds, from their own random stream, one of ``HARD_MIX`` to a share of the
    scenes (``HARD_SHARE``) and the infrared look to ``IR_LOOK_SHARE`` of them; off, a seed renders
    exactly what it rendered before they existed (the shipped model's recipe and held-out sets).
    """
    if size_px < 32:
        raise ValueError(f"size_px must be at least 32, got {size_px}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    if negatives is not None:
        forced = check_negative_kinds(negatives)
        if graffiti:
            raise ValueError("a scene of hard negatives only is clean; graffiti=True contradicts negatives=")
        for attempt in range(16):  # another tunnel/camera when a kind has no room in this one (a bike, no floor)
            rng = np.random.default_rng(seed if attempt == 0 else [seed, attempt])
            scene = _render(seed, rng, rng, size_px, False, forced)
            if scene is not None:
                return scene
        raise RuntimeError(f"seed {seed}: could not draw {', '.join(forced)} in 16 tunnels")
    rng = np.random.default_rng(seed)
    has_graffiti = bool(rng.random() < 0.5) if graffiti is None else graffiti
    # The extra hard negatives come from their own stream, so a seed's tunnel, paint and older
    # negatives are the same as before they existed (held-out synthetic sets stay comparable).
    scene = _render(seed, rng, np.random.default_rng([seed, EXTRA_STREAM]), size_px, has_graffiti, None,
                    hard_negatives)
    assert scene is not None  # only forced kinds can fail
    return scene


def _render(seed: int, rng: np.random.Generator, extra: np.random.Generator, size_px: int, has_graffiti: bool,
            forced: tuple[str, ...] | None, hard_negatives: bool = False) -> SynthScene | None:
    tunnel = random_tunnel(rng)
    view = str(rng.choice(VIEWS, p=[0.5, 0.2, 0.3]))
    need_floor = forced is not None and "bike" in forced
    for attempt in range(8):  # a view that shows some wall (graffiti needs somewhere to be)
        camera, vig = random_camera(rng, view if attempt < 6 else "frontal", size_px, tunnel)
        coarse = cast(camera.scaled(1 / 8), tunnel)
        walls = np.isin(coarse.surface, WALLS)
        if walls.mean() >= 0.3 and (not need_floor or (walls & (coarse.v < 1.0)).mean() >= 0.03):
            break
    maps = cast(camera, tunnel)
    surfaces = random_surfaces(rng)
    albedo = shade(maps, surfaces)
    regions: list[Region] = []
    min_visible = 0.004 * size_px * size_px

    def decal(kind: str, mix: dict[str, tuple[float, tuple[float, float], tuple[float, float]]], label: int,
              force: bool = False, near: tuple[float, float] | None = None, r: np.random.Generator = rng) -> bool:
        rng = r
        _, size_rng, aspect_rng = mix[kind]
        for attempt in range(6):
            size, aspect = rng.uniform(*size_rng) * size_px, rng.uniform(*aspect_rng)
            if force:  # last resort: centre it on the wall pixel nearest the middle of the view
                ys, xs = np.nonzero(np.isin(maps.surface, WALLS))
                if xs.size == 0:
                    return False
                order = np.argsort((xs - size_px / 2) ** 2 + (ys - size_px / 2) ** 2)
                i = int(order[min(attempt * 7, order.size - 1)])
                p = place_at_pixel(maps, camera, tunnel, int(xs[i]), int(ys[i]), size, aspect)
            elif near is not None and attempt < 3:  # crowd around an earlier work, as on a busy wall
                x = int(np.clip(near[0] + rng.normal(0, 0.25 * size_px), 0, size_px - 1))
                y = int(np.clip(near[1] + rng.normal(0, 0.15 * size_px), 0, size_px - 1))
                p = place_at_pixel(maps, camera, tunnel, x, y, size, aspect)
            else:
                p = random_placement(rng, maps, camera, tunnel, size, aspect)
            if p is None:
                continue
            lw, lh = layer_size_px(p, camera, tunnel, max_px=int(size_px * 1.5))
            layer = Layer.blank(lw, lh)
            painter = paint_graffiti if label == GRAFFITI else paint_negative
            painter(layer, kind, rng, (0, 0, lw, lh))
            warped = warp_onto(layer, p, camera, tunnel, maps)
            if warped is None or warped.xyxy is None or warped.visible_px() < (1.0 if force else min_visible):
                continue
            x1, y1, x2, y2 = warped.roi
            region = albedo[y1:y2, x1:x2]
            region *= (1 - warped.alpha)[..., None]
            region += warped.rgb
            regions.append(Region(kind, warped.xyxy, label))
            return True
        return False

    if forced is None:
        n_neg = int(rng.choice([0, 1, 2, 3], p=[0.15, 0.35, 0.3, 0.2] if not has_graffiti else [0.5, 0.3, 0.15, 0.05]))
        neg_kinds = [_pick(rng, NEGATIVE_MIX) for _ in range(n_neg)]
        hard = [_pick(extra, HARD_MIX)] if hard_negatives and extra.random() < HARD_SHARE[has_graffiti] else []
        if has_graffiti:  # a figure filling the view would hide the paint the label promises
            hard = [k for k in hard if k not in CLOSE_KINDS]
        ir_look_on = hard_negatives and bool(extra.random() < IR_LOOK_SHARE)
    else:
        neg_kinds = [k for k in forced if k in NEGATIVE_MIX]
        hard = [k for k in forced if k in HARD_MIX] or ([_pick(rng, HARD_MIX)] if forced == ("ir",) else [])
        ir_look_on = "ir" in forced
    drawn: set[str] = set()
    for kind in sorted(neg_kinds, key=lambda k: k in ("poster", "sign", "mural", "buff")):
        if kind not in ("person", "shadow") and decal(kind, NEGATIVE_MIX, CLEAN):
            drawn.add(kind)
    for kind in hard:  # pipes, cables, tile panels, plaster: on the wall, under any paint
        if kind in FIXTURE_KINDS and decal(kind, HARD_MIX, CLEAN, r=extra):
            drawn.add(kind)
    if has_graffiti:
        n_g = int(rng.choice([1, 2, 3, 5], p=[0.5, 0.25, 0.15, 0.1]))
        kinds = [_pick(rng, GRAFFITI_MIX) for _ in range(n_g)]
        crowd = bool(rng.random() < 0.5)
        placed = []
        for k in kinds:
            first = next((r for r in regions if r.label == GRAFFITI), None)
            near = ((first.xyxy[0] + first.xyxy[2]) / 2, (first.xyxy[1] + first.xyxy[3]) / 2) if crowd and first else None
            placed.append(decal(k, GRAFFITI_MIX, GRAFFITI, near=near))
        if not any(placed):  # a graffiti scene must show graffiti
            placed.append(decal("tag", {"tag": (1.0, (0.4, 0.9), (1.5, 2.5))}, GRAFFITI, force=True))
        if not any(placed):
            raise RuntimeError(f"seed {seed}: could not place graffiti on a visible wall")
    if "bike" in hard:
        box = park_bikes(extra, camera, tunnel, maps, albedo)
        if box is not None:
            regions.append(Region("bike", box, CLEAN))
            drawn.add("bike")
    for kind in neg_kinds:
        if kind == "person" and _add_passerby(rng, camera, tunnel, maps, albedo, regions):
            drawn.add(kind)
    for kind in hard:
        if kind in CLOSE_KINDS:
            box = add_close_figure(extra, albedo, cyclist=kind == "close-cyclist")
            if box is not None:
                regions.append(Region(kind, box, CLEAN))
                drawn.add(kind)
    rig = random_rig(rng, tunnel)
    fields = light_fields(maps, tunnel, rig)
    light = random_lighting(rng)
    shadow = _shadow(rng, size_px, regions) if "shadow" in neg_kinds else None
    if shadow is not None:
        drawn.add("shadow")
    if forced is not None and not drawn.issuperset(k for k in forced if k not in ("ir", "bare")):
        return None
    if forced is not None and forced == ("ir",) and not drawn:
        return None
    img, gain = expose(albedo, fields, light, surfaces.outside, shadow)
    sensor = random_sensor(rng)
    if ir_look_on and light.ir == 0:
        img = ir_look(img, extra)
    if light.ir > 0 or ir_look_on:
        sensor = type(sensor)(**{**sensor.__dict__, "mono": True})
    # Camera text: ~20 px of a 720-line frame, so larger in a tile than in a whole-frame view.
    osd = None
    if view != "frontal" and rng.random() < 0.15:
        osd = random_osd(rng, size_px, float(rng.uniform(0.045, 0.07) if view == "tile" else rng.uniform(0.025, 0.035)))
    image = apply_sensor(img, gain, sensor, rng, vig, osd=osd)
    if osd is not None:
        regions.append(Region("osd", osd.xyxy(size_px, size_px), CLEAN))
    label = GRAFFITI if has_graffiti else CLEAN
    kind = forced[0] if forced is not None else _scene_kind(label, regions)
    info = {"view": view, "wall": surfaces.left.kind, "light": "ir" if light.ir > 0 else
            ("ir-look" if ir_look_on else
             ("day" if light.day > 0.9 else ("night" if light.strip < 0.85 and light.day == 0 else "strip")))}
    return SynthScene(image, label, kind, tuple(regions), info)


def _add_passerby(rng: np.random.Generator, camera: Camera, tunnel: Tunnel, maps, albedo: np.ndarray,
                  regions: list[Region]) -> bool:
    h, w = maps.surface.shape
    for _ in range(6):
        y, x = int(rng.integers(h)), int(rng.integers(w))
        px, _, pz = (float(v) for v in maps.xyz[y, x])
        pz *= float(rng.uniform(0.5, 1.0))
        if pz < 1.0:
            continue
        xm = float(np.clip(px, -tunnel.left_m + 0.4, tunnel.right_m - 0.4))
        look = random_look(rng)
        hpx = figure_height_px(camera, tunnel, look, xm, pz)
        if hpx < 12 or hpx > 4 * h:
            continue
        layer = draw_passerby(look, hpx, float(rng.random()), int(rng.choice([-1, 0, 1])))
        xyxy = place_passerby(layer, camera, tunnel, xm, pz, albedo, float(rng.uniform(0, 0.04) * hpx))
        if xyxy is not None and min(xyxy[2] - xyxy[0], xyxy[3] - xyxy[1]) >= max(6.0, 0.05 * w):
            regions.append(Region("cyclist" if look.cyclist else "person", xyxy, CLEAN))
            return True
    return False


def _shadow(rng: np.random.Generator, size_px: int, regions: list[Region]) -> np.ndarray:
    """A soft shadow across the view (a pillar, a fitting, a person out of view): multiplies the light."""
    import cv2

    m = np.zeros((size_px, size_px), np.float32)
    pts = rng.uniform(-0.2, 1.2, size=(4, 2)) * size_px
    cv2.fillPoly(m, [pts.astype(np.int32)], 1.0)
    soft = cv2.GaussianBlur(m, (0, 0), size_px * rng.uniform(0.01, 0.06))
    ys, xs = np.nonzero(soft > 0.3)
    if xs.size:
        regions.append(Region("shadow", (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)), CLEAN))
    return 1 - soft * float(rng.uniform(0.35, 0.7))


def _scene_kind(label: int, regions: list[Region]) -> str:
    def area(r: Region) -> float:
        return (r.xyxy[2] - r.xyxy[0]) * (r.xyxy[3] - r.xyxy[1])

    if label == GRAFFITI:
        return max((r for r in regions if r.label == GRAFFITI), key=area).kind
    if any(r.kind == "mural" for r in regions):
        return "mural"
    negatives = [r for r in regions if r.label == CLEAN and r.kind != "osd"]  # camera text is not what a scene is of
    return max(negatives, key=area).kind if negatives else "tunnel-clean"
