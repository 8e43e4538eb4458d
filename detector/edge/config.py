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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detector.bundled import BUNDLED_MODEL as DEFAULT_MODEL
from detector.bundled import find_bundled_model
from detector.config import check_range, from_mapping, read_config_file
from detector.edge.delivery_config import DeliveryConfig
from detector.errors import ConfigError
from detector.tiling import DEFAULT_OVERLAP, DEFAULT_TILE_PX

_CAMERA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

Polygon = list[tuple[float, float]]  # frame pixels, (x, y) corners in order


@dataclass
class TilingConfig:
    """Overlapping square tiles cut from the watched area; each is resized to the model input."""

    tile_px: int = DEFAULT_TILE_PX  # square tiles of this many frame pixels, each scaled to the model input
    overlap: float = DEFAULT_OVERLAP  # fraction of tile_px shared by neighbouring tiles

    def validate(self, prefix: str) -> None:
        check_range(self.tile_px, f"{prefix}.tile_px", 16, 4096)
        check_range(self.overlap, f"{prefix}.overlap", 0.0, 0.9)


@dataclass
class DecisionConfig:
    """Per-tile evidence rules (see detector.edge.decision). None thresholds come from the model."""

    floor: float = 0.2  # scores below this count as zero
    window: int = 10  # median over the last `window` samples
    threshold: float | None = None  # median must reach this; None → the model's threshold
    confirm_s: float = 30.0  # ... and stay there this long before an event opens
    clean_threshold: float | None = None  # None → the model's clean_threshold
    clean_s: float = 180.0  # an open event closes after its tiles stay below clean_threshold this long
    join_s: float = 300.0  # neighbouring tiles turning hot within this long of an event opening grow it; later → a new event
    accepted_fraction: float = 0.5  # a tile with at least this much area in an accepted region never alerts

    def validate(self, prefix: str) -> None:
        check_range(self.floor, f"{prefix}.floor", 0.0, 1.0)
        check_range(self.window, f"{prefix}.window", 1, 1000)
        if self.threshold is not None:
            check_range(self.threshold, f"{prefix}.threshold", 0.0, 1.0)
        if self.clean_threshold is not None:
            check_range(self.clean_threshold, f"{prefix}.clean_threshold", 0.0, 1.0)
            if self.threshold is not None and self.clean_threshold > self.threshold:
                raise ConfigError(
                    f"{prefix}.clean_threshold: expected a value <= threshold ({self.threshold:g}), "
                    f"found {self.clean_threshold:g}"
                )
        check_range(self.confirm_s, f"{prefix}.confirm_s", 0.0, 86400.0)
        check_range(self.clean_s, f"{prefix}.clean_s", 0.0, 30 * 86400.0)
        check_range(self.join_s, f"{prefix}.join_s", 0.0, 30 * 86400.0)
        check_range(self.accepted_fraction, f"{prefix}.accepted_fraction", 0.01, 1.0)


@dataclass
class WallConfig:
    """Judge the wall, not the frame (see detector.edge.wall and detector.edge.judge).

    The defaults need no tuning: a change must stay still for slots // 2 + 1 slots (100 s) to be
    part of the wall; detection starts once the wall exists and its baseline was commissioned
    (about 2 + 5 minutes after start, and again after a lasting colour/IR switch the first time).
    """

    enabled: bool = True  # false: score every sample's live frame (the old behaviour)
    slot_s: float = 20.0  # the wall estimate is the median of `slots` slots of this many seconds
    slots: int = 9
    commission_s: float = 300.0  # baseline period (appearance and usual score of each tile)
    score_margin: float = 0.15  # evidence needs score >= the tile's baseline score + this
    change_fraction: float = 0.02  # ... and this share of the tile's blocks structurally changed
    refresh_s: float = 600.0  # an unchanged tile is scored again at least this often
    refine_s: float = 3600.0  # a change that never scores as graffiti becomes the baseline after this long

    def validate(self, prefix: str) -> None:
        check_range(self.slot_s, f"{prefix}.slot_s", 1.0, 3600.0)
        check_range(self.slots, f"{prefix}.slots", 3, 99)
        check_range(self.commission_s, f"{prefix}.commission_s", 0.0, 86400.0)
        check_range(self.score_margin, f"{prefix}.score_margin", 0.0, 1.0)
        check_range(self.change_fraction, f"{prefix}.change_fraction", 0.0, 1.0)
        check_range(self.refresh_s, f"{prefix}.refresh_s", 10.0, 86400.0)
        check_range(self.refine_s, f"{prefix}.refine_s", 60.0, 30 * 86400.0)


@dataclass
class MotionConfig:
    """Frame differencing on a small grey copy: is the scene still (for evidence pictures)?"""

    enabled: bool = True
    width_px: int = 160  # the frame is downscaled to this width before differencing
    pixel_delta: int = 25  # grey-level change that counts a pixel as moving
    still_fraction: float = 0.005  # the scene is still when fewer pixels than this fraction moved

    def validate(self, prefix: str) -> None:
        check_range(self.width_px, f"{prefix}.width_px", 16, 1920)
        check_range(self.pixel_delta, f"{prefix}.pixel_delta", 1, 255)
        check_range(self.still_fraction, f"{prefix}.still_fraction", 0.0, 1.0)


@dataclass
class HealthConfig:
    """Camera tamper checks; a problem must persist `confirm_s` before a camera_tamper event."""

    enabled: bool = True
    dark_mean: float = 20.0  # mean grey level below this → too dark
    uniform_std: float = 6.0  # grey standard deviation below this → uniform (covered, sprayed lens)
    blur_var: float = 8.0  # variance of the Laplacian (on a 320 px wide copy) below this → blurred
    shift_px: float = 40.0  # view moved more than this (frame pixels) from the reference → moved
    confirm_s: float = 60.0
    repeat_s: float = 6 * 3600.0  # a problem that persists is reported again after this long

    def validate(self, prefix: str) -> None:
        check_range(self.dark_mean, f"{prefix}.dark_mean", 0.0, 255.0)
        check_range(self.uniform_std, f"{prefix}.uniform_std", 0.0, 128.0)
        check_range(self.blur_var, f"{prefix}.blur_var", 0.0, None)
        check_range(self.shift_px, f"{prefix}.shift_px", 1.0, None)
        check_range(self.confirm_s, f"{prefix}.confirm_s", 0.0, 86400.0)
        check_range(self.repeat_s, f"{prefix}.repeat_s", 60.0, None)


@dataclass
class EvidenceConfig:
    """Evidence pictures attached to events."""

    jpeg_quality: int = 90
    crop_margin: float = 0.25  # margin around the event bbox, as a fraction of its size
    still_wait_samples: int = 3  # when an event opens during motion, wait this many samples for a still frame

    def validate(self, prefix: str) -> None:
        check_range(self.jpeg_quality, f"{prefix}.jpeg_quality", 10, 100)
        check_range(self.crop_margin, f"{prefix}.crop_margin", 0.0, 5.0)
        check_range(self.still_wait_samples, f"{prefix}.still_wait_samples", 0, 100)


@dataclass
class CameraSettings:
    """What ``[defaults]`` sets for every camera and a ``[cameras.NAME]`` section may override."""

    interval_s: float = 5.0  # score the newest frame this often (source clock)
    offline_after_s: float = 60.0  # no frames this long → camera_offline
    reconnect_initial_s: float = 1.0  # first reconnect delay; doubles up to reconnect_max_s
    reconnect_max_s: float = 60.0
    tiling: TilingConfig = field(default_factory=TilingConfig)
    decision: DecisionConfig = field(default_factory=DecisionConfig)
    wall: WallConfig = field(default_factory=WallConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    evidence: EvidenceConfig = field(default_factory=EvidenceConfig)

    def validate(self, prefix: str) -> None:
        check_range(self.interval_s, f"{prefix}.interval_s", 0.0, 3600.0)
        check_range(self.offline_after_s, f"{prefix}.offline_after_s", 1.0, None)
        check_range(self.reconnect_initial_s, f"{prefix}.reconnect_initial_s", 0.01, 3600.0)
        check_range(self.reconnect_max_s, f"{prefix}.reconnect_max_s", self.reconnect_initial_s, 86400.0)


@dataclass
class CameraConfig(CameraSettings):
    """One camera: its source, regions, and any settings that differ from ``[defaults]``."""

    source: str = ""  # rtsp://…, http://…, a USB index ("0"), a video file, a folder, or sim://SEED
    watch: list[Polygon] = field(default_factory=list)  # wall areas to watch; empty → the whole frame
    ignore: list[Polygon] = field(default_factory=list)  # masked grey before scoring (privacy, lights)
    accepted: list[Polygon] = field(default_factory=list)  # never alert here (permitted murals)

    def validate(self, prefix: str) -> None:
        super().validate(prefix)
        if not self.source.strip():
            raise ConfigError(f"{prefix}.source: expected a camera URL, USB index, video file or folder, found ''")
        for key in ("watch", "ignore", "accepted"):
            for i, poly in enumerate(getattr(self, key)):
                if len(poly) < 3:
                    raise ConfigError(f"{prefix}.{key}[{i}]: expected a polygon of at least 3 [x, y] points, found {len(poly)}")
                for j, (x, y) in enumerate(poly):
                    if x < 0 or y < 0:
                        raise ConfigError(f"{prefix}.{key}[{i}][{j}]: expected frame pixels >= 0, found [{x:g}, {y:g}]")


@dataclass
class DeviceConfig:
    name: str
    data_dir: Path = Path(".")  # outbox and other state live here (relative to the config file)
    heartbeat_interval_s: float = 60.0
    state_every_s: float = 30.0  # each camera's open events etc. are saved this often (and after each event)
    state_full_every_s: float = 600.0  # ... with the wall model and baseline (MBs) this often (recording: its clock)

    def validate(self, prefix: str) -> None:
        if not _CAMERA_NAME.match(self.name):
            raise ConfigError(f"{prefix}.name: expected letters, digits, '_' or '-' (max 64), found {self.name!r}")
        check_range(self.heartbeat_interval_s, f"{prefix}.heartbeat_interval_s", 1.0, 86400.0)
        check_range(self.state_every_s, f"{prefix}.state_every_s", 1.0, 86400.0)
        check_range(self.state_full_every_s, f"{prefix}.state_full_every_s", 1.0, 7 * 86400.0)


@dataclass
class ModelConfig:
    path: Path = DEFAULT_MODEL
    threads: int = 4  # onnxruntime intra-op threads; 4 suits a Raspberry Pi 4/5
    reference_frame: Path | None = None  # image a new model must score before a hot swap; None → synthetic
    check_interval_s: float = 10.0  # how often the model file is checked for a replacement
    max_batch: int = 0  # 0: all tiles of a frame in ONE run (fastest); n: runs of <= n tiles (less memory)

    def validate(self, prefix: str) -> None:
        check_range(self.threads, f"{prefix}.threads", 1, 64)
        check_range(self.max_batch, f"{prefix}.max_batch", 0, 1024)
        check_range(self.check_interval_s, f"{prefix}.check_interval_s", 0.1, 86400.0)


@dataclass
class ReviewConfig:
    """Where accepted regions are fetched from (GET /api/v1/accepted-regions)."""

    url: str | None = None  # None → delivery.http.url
    token: str | None = None  # None → delivery.http's token
    accepted_regions_poll_s: float = 300.0
    timeout_s: float = 10.0

    def validate(self, prefix: str) -> None:
        if self.url is not None and not re.match(r"^https?://[^/\s]+", self.url):
            raise ConfigError(f"{prefix}.url: expected an http:// or https:// URL, found {self.url!r}")
        check_range(self.accepted_regions_poll_s, f"{prefix}.accepted_regions_poll_s", 1.0, 86400.0)
        check_range(self.timeout_s, f"{prefix}.timeout_s", 0.1, 600.0)


@dataclass
class EdgeConfig:
    device: DeviceConfig
    cameras: dict[str, CameraConfig]
    model: ModelConfig = field(default_factory=ModelConfig)
    defaults: CameraSettings = field(default_factory=CameraSettings)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    review: ReviewConfig = field(default_factory=ReviewConfig)

    def validate(self, prefix: str) -> None:
        if not self.cameras:
            raise ConfigError("cameras: expected at least one [cameras.NAME] section, found none")
        for name in self.cameras:
            if not _CAMERA_NAME.match(name):
                raise ConfigError(f"cameras.{name}: expected a camera name of letters, digits, '_' or '-'")


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
