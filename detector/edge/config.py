"""The edge runner's config (``edge.toml`` / ``edge.yaml``): device, model, cameras, delivery, review.

``[defaults]`` holds camera settings every camera inherits; a ``[cameras.NAME]`` section overrides any
of them (tables are merged key by key, so ``[cameras.north.decision] threshold = 0.7`` keeps the other
decision defaults). Errors name the key path, e.g. ``cameras.north.decision.threshold``. Relative
paths (model, data_dir, file/folder sources) are resolved against the config file's folder.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector.bundled import BUNDLED_MODEL as DEFAULT_MODEL
from detector.bundled import find_bundled_model
from detector.config import from_mapping, json_schema, read_config_file, rule_error, setting
from detector.edge.delivery.config import DeliveryConfig
from detector.errors import ConfigError
from detector.events import NAME_PATTERN  # the one device/camera name rule (they go into topics and paths)
from detector.tiling import DEFAULT_OVERLAP, DEFAULT_TILE_SHARE, REFERENCE_FRAME, tile_px_for

Polygon = list[tuple[float, float]]  # frame pixels, (x, y) corners in order


@dataclass
class TilingConfig:
    """Overlapping square tiles cut from the watched area; each is resized to the model input."""

    tile_px: int | None = setting(None, ge=16, le=4096,
                                  doc="square tiles of this many frame pixels, each scaled to the model input; unset: "
                                      "sized to the frame by tile_share (320 px at 1280x720, 480 at 1920x1080)")
    tile_share: float = setting(DEFAULT_TILE_SHARE, gt=0.0, le=1.0,
                                doc="without tile_px, each tile's area as a share of the frame's (1/9: the "
                                    "1280x720 view in 320-px tiles the model's threshold was measured on)")
    overlap: float = setting(DEFAULT_OVERLAP, ge=0.0, le=0.9, doc="fraction of tile_px shared by neighbouring tiles")

    def tile_for(self, frame_size: tuple[int, int]) -> int:
        """The tile size (frame pixels) for frames of ``frame_size`` (width, height)."""
        return tile_px_for(frame_size, self.tile_px, self.tile_share)

    def describe(self) -> str:
        if self.tile_px:
            return f"tiles {self.tile_px} px"
        w, h = REFERENCE_FRAME
        return f"tiles sized to the frame ({self.tile_for(REFERENCE_FRAME)} px at {w}x{h})"


@dataclass
class DecisionConfig:
    """Per-tile evidence rules (see detector.edge.decision). None thresholds come from the model."""

    floor: float = setting(0.2, ge=0.0, le=1.0, doc="scores below this count as zero")
    window: int = setting(10, ge=1, le=1000, doc="median over the last `window` samples")
    threshold: float | None = setting(None, ge=0.0, le=1.0,
                                      doc="median must reach this; None → the model's threshold")
    confirm_s: float = setting(30.0, ge=0.0, le=86400.0, doc="... and stay there this long before an event opens")
    clean_threshold: float | None = setting(None, ge=0.0, le=1.0, doc="None → the model's clean_threshold; "
                                            "at most threshold")
    clean_s: float = setting(180.0, ge=0.0, le=30 * 86400.0,
                             doc="an open event closes after its tiles stay below clean_threshold this long")
    settled_s: float = setting(60.0, ge=0.0, le=30 * 86400.0,
                               doc="with the wall model: an event whose tiles' wall is back to the commissioned "
                               "baseline closes after this long (at most clean_s; the wall estimate already "
                               "waited for the change to stay)")
    join_s: float = setting(300.0, ge=0.0, le=30 * 86400.0, doc="an event is young this long after it opens (or "
                            "after a colour/IR switch): a change beside a young event is the same paint; beside an "
                            "older one, new paint with its own event")
    accepted_fraction: float = setting(0.5, ge=0.01, le=1.0,
                                       doc="a tile with at least this much area in an accepted region never alerts")

    @property
    def settled_wait_s(self) -> float:
        """``settled_s`` as the decision engine uses it: never longer than ``clean_s``."""
        return min(self.settled_s, self.clean_s)

    def validate(self, prefix: str) -> None:
        if self.clean_threshold is not None and self.threshold is not None and self.clean_threshold > self.threshold:
            raise ConfigError(
                f"{prefix}.clean_threshold: expected a value <= threshold ({self.threshold:g}), "
                f"found {self.clean_threshold:g}"
            )


@dataclass
class WallConfig:
    """Judge the wall, not the frame (see detector.edge.wall and detector.edge.judge).

    The defaults need no tuning: a change must stay still for slots // 2 + 1 slots (100 s) to be
    part of the wall; detection starts once the wall exists and its baseline was commissioned
    (about 2 + 5 minutes after start, and again after a lasting colour/IR switch the first time).
    """

    enabled: bool = setting(True, doc="false: score every sample's live frame (the old behaviour)")
    slot_s: float = setting(20.0, ge=1.0, le=3600.0,
                            doc="the wall estimate is the median of `slots` slots of this many seconds")
    slots: int = setting(9, ge=3, le=99)
    commission_s: float = setting(300.0, ge=0.0, le=86400.0,
                                  doc="baseline period (appearance and usual score of each tile)")
    score_margin: float = setting(0.15, ge=0.0, le=1.0, doc="evidence needs score >= the tile's baseline score + this")
    change_fraction: float = setting(0.02, ge=0.0, le=1.0,
                                     doc="... and this share of the tile's blocks structurally changed")
    refresh_s: float = setting(600.0, ge=10.0, le=86400.0, doc="an unchanged tile is scored again at least this often")
    refine_s: float = setting(3600.0, ge=60.0, le=30 * 86400.0,
                              doc="a change that never scores as graffiti becomes the baseline after this long")


@dataclass
class MotionConfig:
    """Frame differencing on a small grey copy: is the scene still (for evidence pictures)?"""

    enabled: bool = setting(True)
    width_px: int = setting(160, ge=16, le=1920, doc="the frame is downscaled to this width before differencing")
    pixel_delta: int = setting(25, ge=1, le=255, doc="grey-level change that counts a pixel as moving")
    still_fraction: float = setting(0.005, ge=0.0, le=1.0,
                                    doc="the scene is still when fewer pixels than this fraction moved")


@dataclass
class HealthConfig:
    """Camera tamper checks; a problem must persist `confirm_s` before a camera_tamper event."""

    enabled: bool = setting(True)
    dark_mean: float = setting(20.0, ge=0.0, le=255.0, doc="mean grey level below this → too dark")
    uniform_std: float = setting(6.0, ge=0.0, le=128.0,
                                 doc="grey standard deviation below this → uniform (covered, sprayed lens)")
    blur_var: float = setting(8.0, ge=0.0,
                              doc="variance of the Laplacian (on a 320 px wide copy) below this → blurred")
    shift_px: float = setting(40.0, ge=1.0,
                              doc="view moved more than this (frame pixels) from the reference → moved")
    confirm_s: float = setting(60.0, ge=0.0, le=86400.0)
    repeat_s: float = setting(6 * 3600.0, ge=60.0, doc="a problem that persists is reported again after this long")


@dataclass
class EvidenceConfig:
    """Evidence pictures attached to events."""

    jpeg_quality: int = setting(90, ge=10, le=100)
    crop_margin: float = setting(0.25, ge=0.0, le=5.0, doc="margin around the event bbox, as a fraction of its size")
    still_wait_samples: int = setting(3, ge=0, le=100, doc="when an event opens during motion, wait this many "
                                      "samples for a still frame")


@dataclass
class CameraSettings:
    """What ``[defaults]`` sets for every camera and a ``[cameras.NAME]`` section may override."""

    interval_s: float = setting(5.0, ge=0.0, le=3600.0, doc="score the newest frame this often (source clock)")
    offline_after_s: float = setting(60.0, ge=1.0, doc="no frames this long → camera_offline")
    reconnect_initial_s: float = setting(1.0, ge=0.01, le=3600.0,
                                         doc="first reconnect delay; doubles up to reconnect_max_s")
    reconnect_max_s: float = setting(60.0, ge="reconnect_initial_s", le=86400.0)
    tiling: TilingConfig = setting(factory=TilingConfig)
    decision: DecisionConfig = setting(factory=DecisionConfig)
    wall: WallConfig = setting(factory=WallConfig)
    motion: MotionConfig = setting(factory=MotionConfig)
    health: HealthConfig = setting(factory=HealthConfig)
    evidence: EvidenceConfig = setting(factory=EvidenceConfig)


_POLYGONS = "polygons of at least 3 [x, y] points in frame pixels (>= 0)"


@dataclass
class CameraConfig(CameraSettings):
    """One camera: its source, regions, and any settings that differ from ``[defaults]``."""

    source: str = setting("", expect="a camera URL, USB index, video file or folder",
                          doc="rtsp://…, http://…, a USB index (\"0\"), a video file, a folder, or sim://SEED")
    watch: list[Polygon] = setting(factory=list, expect=_POLYGONS,
                                   doc="wall areas to watch; empty → the whole frame")
    ignore: list[Polygon] = setting(factory=list, expect=_POLYGONS,
                                    doc="masked grey before scoring (privacy, lights)")
    accepted: list[Polygon] = setting(factory=list, expect=_POLYGONS, doc="never alert here (permitted murals)")

    def validate(self, prefix: str) -> None:
        if not self.source.strip():
            raise rule_error(self, "source", prefix, found=repr(self.source))
        for key in ("watch", "ignore", "accepted"):
            for i, poly in enumerate(getattr(self, key)):
                if len(poly) < 3:
                    raise ConfigError(f"{prefix}.{key}[{i}]: expected a polygon of at least 3 [x, y] points, found {len(poly)}")
                for j, (x, y) in enumerate(poly):
                    if x < 0 or y < 0:
                        raise ConfigError(f"{prefix}.{key}[{i}][{j}]: expected frame pixels >= 0, found [{x:g}, {y:g}]")


@dataclass
class DeviceConfig:
    """This device: its name on the wire, where its state lives and how often it reports."""

    name: str = setting(pattern=NAME_PATTERN, expect="letters, digits, '_' or '-' (max 64)",
                        doc="the device's name in events, heartbeats and topics")
    data_dir: Path = setting(Path("."), doc="outbox and other state live here (relative to the config file)")
    heartbeat_interval_s: float = setting(60.0, ge=1.0, le=86400.0)
    state_every_s: float = setting(30.0, ge=1.0, le=86400.0,
                                   doc="each camera's open events etc. are saved this often (and after each event)")
    state_full_every_s: float = setting(600.0, ge=1.0, le=7 * 86400.0, doc="... with the wall model and baseline "
                                        "(MBs) this often (recording: its clock)")


@dataclass
class ModelConfig:
    """The ONNX model (with the metadata contract) and how it is run."""

    path: Path = setting(DEFAULT_MODEL, doc="the ONNX model; the default falls back to the bundled model")
    threads: int = setting(4, ge=1, le=64, doc="onnxruntime intra-op threads; 4 suits a Raspberry Pi 4/5")
    reference_frame: Path | None = setting(None, doc="image a new model must score before a hot swap; "
                                           "None → synthetic")
    check_interval_s: float = setting(10.0, ge=0.1, le=86400.0,
                                      doc="how often the model file is checked for a replacement")
    max_batch: int = setting(1, ge=0, le=1024, doc="runs of <= n tiles: one tile per run is as fast as runs of 5 and "
                             "faster than one run of 15, and needs the least memory (fp32: ~20 MB less at peak than runs of 5, "
                             "~100 MB less than one run; scores are identical); 0: all tiles of a frame in one run")


@dataclass
class ReviewConfig:
    """Where accepted regions are fetched from (GET /api/v1/accepted-regions)."""

    url: str | None = setting(None, expect="an http:// or https:// URL", doc="None → delivery.http.url")
    token: str | None = setting(None, secret=True, doc="None → delivery.http's token")
    accepted_regions_poll_s: float = setting(300.0, ge=1.0, le=86400.0)
    timeout_s: float = setting(10.0, ge=0.1, le=600.0)

    def validate(self, prefix: str) -> None:
        if self.url is not None and not re.match(r"^https?://[^/\s]+", self.url):
            raise rule_error(self, "url", prefix, found=repr(self.url))


@dataclass
class EdgeConfig:
    """The whole ``edge.toml`` / ``edge.yaml``."""

    device: DeviceConfig = setting()
    cameras: dict[str, CameraConfig] = setting(keys=(NAME_PATTERN, "a camera name of letters, digits, '_' or '-'"),
                                               doc="one [cameras.NAME] section per camera")
    model: ModelConfig = setting(factory=ModelConfig)
    defaults: CameraSettings = setting(factory=CameraSettings)
    delivery: DeliveryConfig = setting(factory=DeliveryConfig)
    review: ReviewConfig = setting(factory=ReviewConfig)

    def validate(self, prefix: str) -> None:
        if not self.cameras:
            raise ConfigError("cameras: expected at least one [cameras.NAME] section, found none")


def edge_config_schema() -> dict[str, Any]:
    """The JSON Schema of ``edge.toml`` / ``edge.yaml`` (what ``graffiti edge config-schema`` prints).

    ``cameras.NAME`` sections are checked after ``[defaults]`` is merged into them, so a section that
    leaves ``source`` to the defaults is still valid for the loader; the schema says the same (no key
    of a camera section is required).
    """
    return json_schema(EdgeConfig, title="Graffiti detector edge config (edge.toml / edge.yaml)")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge mapping ``over`` onto ``base`` (tables merge key by key; other values replace)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_edge_config(data: dict[str, Any], base_dir: Path = Path(".")) -> EdgeConfig:
    """Build an EdgeConfig from a parsed mapping; relative paths are made absolute under ``base_dir``."""
    data = dict(data)
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise ConfigError(f"defaults: expected a table/mapping, found {defaults!r}")
    from_mapping(CameraSettings, defaults, "defaults")  # errors in [defaults] are named as such
    cameras = data.get("cameras", {})
    if not isinstance(cameras, dict):
        raise ConfigError(f"cameras: expected a table of [cameras.NAME] sections, found {cameras!r}")
    merged = {}
    for name, cam in cameras.items():
        if not isinstance(cam, dict):
            raise ConfigError(f"cameras.{name}: expected a table/mapping, found {cam!r}")
        merged[name] = _merge(defaults, cam)
    data["cameras"] = merged
    cfg = from_mapping(EdgeConfig, data, "")
    return _resolve_paths(cfg, Path(base_dir))


def load_edge_config(path: Path) -> EdgeConfig:
    """Read and validate an edge config file (no other I/O)."""
    path = Path(path)
    data = read_config_file(path)
    try:
        return parse_edge_config(data, path.resolve().parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _abs(p: Path, base: Path) -> Path:
    p = p.expanduser()
    return Path(os.path.normpath(p if p.is_absolute() else base / p))


def _resolve_source(source: str, base: Path) -> str:
    if "://" in source or source.strip().isdigit() or source.startswith("/dev/"):
        return source
    return str(_abs(Path(source), base))


def _resolve_paths(cfg: EdgeConfig, base: Path) -> EdgeConfig:
    model = dataclasses.replace(
        cfg.model,
        # The default model path falls back to the bundled model when the config's folder has none.
        path=_abs(cfg.model.path, base) if cfg.model.path != DEFAULT_MODEL or (base / DEFAULT_MODEL).is_file()
        else find_bundled_model(what="model.path"),
        reference_frame=None if cfg.model.reference_frame is None else _abs(cfg.model.reference_frame, base),
    )
    device = dataclasses.replace(cfg.device, data_dir=_abs(cfg.device.data_dir, base))
    cameras = {n: dataclasses.replace(c, source=_resolve_source(c.source, base)) for n, c in cfg.cameras.items()}
    return dataclasses.replace(
        cfg, model=model, device=device, cameras=cameras, delivery=cfg.delivery.resolved(device.data_dir)
    )
