"""The training run's configuration: one typed dataclass, from a YAML file and/or CLI flags.

The resolved config (defaults + file + flags) is written beside the run as ``config.yaml``, so a
run can be repeated with ``graffiti train --config RUN/config.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from detector.config import check_range
from detector.errors import ConfigError


@dataclass
class AugmentConfig:
    """Probabilities and strengths of the camera-matching augmentations (see augment.py)."""

    enabled: bool = True
    crop_min_area: float = 0.35  # random crop keeps at least this fraction of the image (partial views)
    crop_min_area_graffiti: float = 0.55  # graffiti images without regions: larger crops keep the paint
    hflip: float = 0.5
    perspective: float = 0.4  # probability of a mild perspective warp (camera looking along a wall)
    perspective_strength: float = 0.08  # corner jitter as a fraction of the side
    low_light: float = 0.2
    ir_grey: float = 0.15  # night IR: greyscale, flat, noisy
    colour_jitter: float = 0.8
    noise: float = 0.5
    motion_blur: float = 0.2
    defocus: float = 0.15
    jpeg: float = 0.5
    downscale: float = 0.2  # low-resolution camera: shrink then enlarge
    deequalize: float = 0.8  # undo the CLAHE "HDR" look on equalised sources
    deequalize_other: float = 0.15  # also on other sources, so the look itself carries no label
    equalize_other: float = 0.15  # and give other sources the CLAHE look now and then
    illumination: float = 0.4  # smooth light fall-off / gradients across the tile
    deequalize_sources: list[str] = field(default_factory=lambda: ["street-graffiti"])

    def validate(self, prefix: str) -> None:
        for name in ("crop_min_area", "crop_min_area_graffiti"):
            check_range(getattr(self, name), f"{prefix}.{name}", 0.05, 1.0)
        for name in ("hflip", "perspective", "low_light", "ir_grey", "colour_jitter", "noise", "motion_blur",
                     "defocus", "jpeg", "downscale", "deequalize", "deequalize_other", "equalize_other",
                     "illumination"):
            check_range(getattr(self, name), f"{prefix}.{name}", 0.0, 1.0)
        check_range(self.perspective_strength, f"{prefix}.perspective_strength", 0.0, 0.3)


@dataclass
class MilConfig:
    """Multiple-instance training over the edge's view tiles (see detector/train/mil.py)."""

    enabled: bool = False  # False = whole-photo training (the loop in loop.py)
    pool: Literal["max", "topk", "lse"] = "lse"  # how a graffiti photo's tile logits become one bag logit
    topk: int = 2  # tiles averaged by pool 'topk'
    lse_r: float = 2.0  # sharpness of pool 'lse' (log-mean-exp; large = max)
    tile_min_side_px: int = 360  # photos with a shorter side below this are not cut (a 320-px scene is one tile)
    tile_per_group: int = 0  # photos of one group cut into tiles (0 = all), in the sources below
    tile_per_group_sources: list[str] = field(default_factory=list)  # e.g. Roboflow copies of one photo
    whole_photo: bool = True  # also train every photo as one whole-photo instance (the old task)
    bags_per_step: int = 8  # tiled photos per step (all their tiles go through the suffix)
    whole_per_step: int = 16  # whole-photo instances per step
    hard_fraction: float = 0.05  # share of clean training tiles re-fed each epoch, hottest first (mined)
    hard_per_step: int = 16  # mined clean tiles per step
    val_max_fpr: float = 0.02  # selection: view-level recall at this view-level FPR on validation

    def validate(self, prefix: str) -> None:
        check_range(self.topk, f"{prefix}.topk", 1, 64)
        check_range(self.lse_r, f"{prefix}.lse_r", 0.1, 100.0)
        check_range(self.tile_min_side_px, f"{prefix}.tile_min_side_px", 0, 10000)
        check_range(self.tile_per_group, f"{prefix}.tile_per_group", 0, 1000)
        check_range(self.bags_per_step, f"{prefix}.bags_per_step", 1, 1024)
        check_range(self.whole_per_step, f"{prefix}.whole_per_step", 0, 4096)
        check_range(self.hard_fraction, f"{prefix}.hard_fraction", 0.0, 1.0)
        check_range(self.hard_per_step, f"{prefix}.hard_per_step", 0, 4096)
        check_range(self.val_max_fpr, f"{prefix}.val_max_fpr", 0.0, 0.5)


@dataclass
class TrainConfig:
    """Everything that decides what a training run does. Units are in the names."""

    data: list[str] = field(default_factory=list)  # dataset specs PATH[::key=value,...]
    arch: str = "efficientnet_lite0"
    weights: str = "imagenet"  # 'imagenet' (default file on disk), 'hub' (download), a state_dict path, or 'none'
    init_from: str | None = None  # continue from one of our checkpoints (--from)
    out: str = "runs/train"
    input_px: int = 224
    cache_px: int = 256  # decoded images are cached with their shorter side at this size
    epochs: int = 12
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 0.02
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.05
    dropout: float = 0.3
    freeze_blocks: int = 0  # keep the stem and this many first blocks at their pretrained values
    cached_views: int = 0  # >0 (needs freeze_blocks): augment each image this many times once, cache the
    # frozen layers' output and train the rest on it (several times faster on CPU; see features.py)
    balance: Literal["sampler", "pos_weight", "none"] = "sampler"
    samples_per_epoch: int = 0  # 0 = the number of training images
    val_fraction: float = 0.15
    test_fraction: float = 0.0
    patience: int = 4  # early stopping: epochs without a better validation AUROC
    seed: int = 0
    max_minutes: float = 0.0  # 0 = no time box; otherwise stop cleanly after the epoch that crosses it
    workers: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = 0  # torch CPU threads; 0 = leave torch's default
    fraction: float = 1.0  # quick runs: keep about this share of the images, whole groups (see subset.py)
    max_images: int = 0  # quick runs: at most this many images, whole groups (0 = no cap)
    track: str = "tensorboard"  # experiment trackers: 'tensorboard', 'mlflow', both comma-separated, or 'none'
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    mil: MilConfig = field(default_factory=MilConfig)

    def validate(self, prefix: str) -> None:
        from detector.train.archs import check_name

        dotted = f"{prefix}." if prefix else ""
        check_name(self.arch, dotted)
        for name, lo in (("input_px", 32), ("cache_px", 32), ("epochs", 1), ("batch_size", 1)):
            check_range(getattr(self, name), f"{dotted}{name}", lo, 4096 if name.endswith("px") else None)
        if self.input_px % 32:
            raise ConfigError(f"{dotted}input_px: expected a multiple of 32, found {self.input_px}")
        check_range(self.lr, f"{dotted}lr", 1e-7, 1.0)
        check_range(self.weight_decay, f"{dotted}weight_decay", 0.0, 1.0)
        check_range(self.warmup_epochs, f"{dotted}warmup_epochs", 0.0, None)
        check_range(self.label_smoothing, f"{dotted}label_smoothing", 0.0, 0.4)
        check_range(self.dropout, f"{dotted}dropout", 0.0, 0.9)
        check_range(self.freeze_blocks, f"{dotted}freeze_blocks", 0, 16)
        check_range(self.cached_views, f"{dotted}cached_views", 0, 64)
        if self.cached_views and not self.freeze_blocks:
            raise ConfigError(f"{dotted}cached_views: needs freeze_blocks > 0 (only frozen layers' output can be cached)")
        check_range(self.samples_per_epoch, f"{dotted}samples_per_epoch", 0, None)
        check_range(self.val_fraction, f"{dotted}val_fraction", 0.0, 0.9)
        check_range(self.test_fraction, f"{dotted}test_fraction", 0.0, 0.9)
        check_range(self.patience, f"{dotted}patience", 0, None)
        check_range(self.max_minutes, f"{dotted}max_minutes", 0.0, None)
        check_range(self.workers, f"{dotted}workers", 0, 64)
        check_range(self.threads, f"{dotted}threads", 0, 256)
        if self.mil.enabled and not (self.freeze_blocks and self.cached_views):
            raise ConfigError(f"{dotted}mil.enabled: needs freeze_blocks > 0 and cached_views > 0 "
                              "(MIL trains on cached frozen-prefix features of every tile)")
        if not 0.0 < self.fraction <= 1.0:
            raise ConfigError(f"{dotted}fraction: expected a share in (0, 1], found {self.fraction}")
        check_range(self.max_images, f"{dotted}max_images", 0, None)
        from detector.train.tracking import parse_track

        try:
            parse_track(self.track)
        except ConfigError as exc:
            raise ConfigError(f"{dotted}{exc}") from None
