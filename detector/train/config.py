"""The training run's configuration: one typed dataclass, from a YAML file and/or CLI flags.

The resolved config (defaults + file + flags) is written beside the run as ``config.yaml``, so a
run can be repeated with ``graffiti train --config RUN/config.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from detector.config import json_schema, setting
from detector.errors import ConfigError


@dataclass
class AugmentConfig:
    """Probabilities and strengths of the camera-matching augmentations (see augment.py)."""

    enabled: bool = setting(True)
    crop_min_area: float = setting(0.35, ge=0.05, le=1.0,
                                   doc="random crop keeps at least this fraction of the image (partial views)")
    crop_min_area_graffiti: float = setting(0.55, ge=0.05, le=1.0,
                                            doc="graffiti images without regions: larger crops keep the paint")
    hflip: float = setting(0.5, ge=0.0, le=1.0)
    perspective: float = setting(0.4, ge=0.0, le=1.0,
                                 doc="probability of a mild perspective warp (camera looking along a wall)")
    perspective_strength: float = setting(0.08, ge=0.0, le=0.3, doc="corner jitter as a fraction of the side")
    low_light: float = setting(0.2, ge=0.0, le=1.0)
    ir_grey: float = setting(0.15, ge=0.0, le=1.0, doc="night IR: greyscale, flat, noisy")
    colour_jitter: float = setting(0.8, ge=0.0, le=1.0)
    noise: float = setting(0.5, ge=0.0, le=1.0)
    motion_blur: float = setting(0.2, ge=0.0, le=1.0)
    defocus: float = setting(0.15, ge=0.0, le=1.0)
    jpeg: float = setting(0.5, ge=0.0, le=1.0)
    downscale: float = setting(0.2, ge=0.0, le=1.0, doc="low-resolution camera: shrink then enlarge")
    zoom_out: float = setting(0.0, ge=0.0, le=1.0,
                              doc="show the view smaller inside its own mirrored surroundings (both labels alike), "
                                  "so paint that fills a fraction of an edge tile is still seen")
    zoom_out_min: float = setting(0.45, ge=0.1, le=1.0, doc="smallest side of the zoomed-out view, as a fraction")
    deequalize: float = setting(0.8, ge=0.0, le=1.0, doc="undo the CLAHE \"HDR\" look on equalised sources")
    deequalize_other: float = setting(0.15, ge=0.0, le=1.0, doc="also on other sources, so the look itself carries no label")
    equalize_other: float = setting(0.15, ge=0.0, le=1.0, doc="and give other sources the CLAHE look now and then")
    illumination: float = setting(0.4, ge=0.0, le=1.0, doc="smooth light fall-off / gradients across the tile")
    deequalize_sources: list[str] = setting(factory=lambda: ["street-graffiti"],
                                            doc="the sources whose images carry the CLAHE look")


@dataclass
class MilConfig:
    """Multiple-instance training over the edge's view tiles (see detector/train/mil.py)."""

    enabled: bool = setting(False, doc="false = whole-photo training (the loop in loop.py)")
    pool: Literal["max", "topk", "lse"] = setting("lse", doc="how a graffiti photo's tile logits become one bag logit")
    topk: int = setting(2, ge=1, le=64, doc="tiles averaged by pool 'topk'")
    lse_r: float = setting(2.0, ge=0.1, le=100.0, doc="sharpness of pool 'lse' (log-mean-exp; large = max)")
    tile_min_side_px: int = setting(360, ge=0, le=10000, doc="photos with a shorter side below this are not cut "
                                    "(a 320-px scene is one tile)")
    tile_per_group: int = setting(0, ge=0, le=1000,
                                  doc="photos of one group cut into tiles (0 = all), in the sources below")
    tile_per_group_sources: list[str] = setting(factory=list, doc="e.g. Roboflow copies of one photo")
    whole_photo: bool = setting(True, doc="also train every photo as one whole-photo instance (the old task)")
    bags_per_step: int = setting(8, ge=1, le=1024, doc="tiled photos per step (all their tiles go through the suffix)")
    whole_per_step: int = setting(16, ge=0, le=4096, doc="whole-photo instances per step")
    hard_fraction: float = setting(0.05, ge=0.0, le=1.0,
                                   doc="share of clean training tiles re-fed each epoch, hottest first (mined)")
    hard_per_step: int = setting(16, ge=0, le=4096, doc="mined clean tiles per step")
    val_max_fpr: float = setting(0.02, ge=0.0, le=0.5,
                                 doc="selection: view-level recall at this view-level FPR on validation")


@dataclass
class TrainConfig:
    """Everything that decides what a training run does. Units are in the names."""

    data: list[str] = setting(factory=list, doc="dataset specs PATH[::key=value,...]")
    arch: str = setting("efficientnet_lite0", expect="a known architecture, torchvision:<name> or timm:<name>",
                        doc="the network (see detector/train/archs.py)")
    weights: str = setting("imagenet", doc="'imagenet' (default file on disk), 'hub' (download), a state_dict path, "
                           "or 'none'")
    init_from: str | None = setting(None, doc="continue from one of our checkpoints (--from)")
    out: str = setting("runs/train", doc="the run folder")
    input_px: int = setting(224, ge=32, le=4096, multiple_of=32, doc="the network's input side")
    cache_px: int = setting(256, ge=32, le=4096, doc="decoded images are cached with their shorter side at this size")
    epochs: int = setting(12, ge=1)
    batch_size: int = setting(32, ge=1)
    lr: float = setting(3e-4, ge=1e-7, le=1.0, doc="AdamW peak learning rate (linear warm-up, cosine decay)")
    weight_decay: float = setting(0.02, ge=0.0, le=1.0)
    warmup_epochs: float = setting(1.0, ge=0.0)
    label_smoothing: float = setting(0.05, ge=0.0, le=0.4)
    dropout: float = setting(0.3, ge=0.0, le=0.9)
    freeze_blocks: int = setting(0, ge=0, le=256,  # the architecture's own block count is checked at preflight
                                 doc="keep the stem and this many first blocks at their pretrained values")
    cached_views: int = setting(0, ge=0, le=64, doc=">0 (needs freeze_blocks): augment each image this many times "
                                "once, cache the frozen layers' output and train the rest on it (several times "
                                "faster on CPU; see features.py)")
    freeze_bn: bool = setting(False, doc="keep every BatchNorm layer's statistics (and eval behaviour) while "
                              "training; needed to fine-tune a model imported from ONNX (graffiti import-onnx), "
                              "whose BatchNorm was folded into its convolutions, and set for one by --from")
    keep_sources: list[str] = setting(factory=list,
                                      doc="sources (their names in data) held rather than labelled: each of their "
                                          "images is trained not to read lower than the starting model (init_from) "
                                          "read it, a one-sided distillation (needs init_from and cached_views). For "
                                          "tiles of graffiti photos, so that hard negatives do not teach the paint "
                                          "in them as clean")
    keep_weight: float = setting(1.0, ge=0.0, le=100.0,
                                 doc="weight of the keep term: keep_weight x max(0, starting logit - logit)")
    balance: Literal["sampler", "pos_weight", "none"] = setting("sampler", doc="how clean and graffiti are balanced")
    samples_per_epoch: int = setting(0, ge=0, doc="0 = the number of training images")
    val_fraction: float = setting(0.15, ge=0.0, le=0.9)
    test_fraction: float = setting(0.0, ge=0.0, le=0.9)
    patience: int = setting(4, ge=0, doc="early stopping: epochs without a better validation AUROC")
    seed: int = setting(0, doc="initialisation, augmentation and sampling (and the splits, unless split_seed is set)")
    split_seed: int | None = setting(None, doc="seed of the validation/test splits of sources without committed splits; "
                                     "unset = seed. Set it to train other seeds on the same splits (and soup them)")
    max_minutes: float = setting(0.0, ge=0.0, doc="0 = no time box; otherwise stop cleanly after the epoch that "
                                 "crosses it")
    workers: int = setting(0, ge=0, le=64)
    device: Literal["auto", "cpu", "cuda"] = setting("auto")
    threads: int = setting(0, ge=0, le=256, doc="torch CPU threads; 0 = leave torch's default")
    fraction: float = setting(1.0, gt=0.0, le=1.0, expect="a share in (0, 1]",
                              doc="quick runs: keep about this share of the images, whole groups (see subset.py)")
    max_images: int = setting(0, ge=0, doc="quick runs: at most this many images, whole groups (0 = no cap)")
    track: str = setting("tensorboard", expect="'none' or a comma-separated list of trackers",
                         doc="experiment trackers: 'tensorboard', 'mlflow', both comma-separated, or 'none'")
    augment: AugmentConfig = setting(factory=AugmentConfig)
    mil: MilConfig = setting(factory=MilConfig)

    def validate(self, prefix: str) -> None:
        from detector.train.archs import check_name

        dotted = f"{prefix}." if prefix else ""
        check_name(self.arch, dotted)
        if self.cached_views and not self.freeze_blocks:
            raise ConfigError(f"{dotted}cached_views: needs freeze_blocks > 0 (only frozen layers' output can be cached)")
        if self.mil.enabled and not (self.freeze_blocks and self.cached_views):
            raise ConfigError(f"{dotted}mil.enabled: needs freeze_blocks > 0 and cached_views > 0 "
                              "(MIL trains on cached frozen-prefix features of every tile)")
        if self.keep_sources and self.mil.enabled:
            raise ConfigError(f"{dotted}keep_sources: not used by MIL training (mil.enabled); leave one of them out")
        if self.keep_sources and not (self.init_from and self.cached_views):
            raise ConfigError(f"{dotted}keep_sources: needs init_from (the model whose readings are kept) and "
                              "cached_views > 0")
        from detector.train.tracking import parse_track

        try:
            parse_track(self.track)
        except ConfigError as exc:
            raise ConfigError(f"{dotted}{exc}") from None


def train_config_schema() -> dict[str, Any]:
    """The JSON Schema of a training config file (``graffiti train --config``)."""
    return json_schema(TrainConfig, title="Graffiti detector training config (graffiti train --config)")
