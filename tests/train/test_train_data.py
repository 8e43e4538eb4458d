"""Training data pieces: weighted/balanced sampling, DDP sharding, augmentation, config checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.train

torch = pytest.importorskip("torch")

from detector.config import from_mapping  # noqa: E402
from detector.data.sample import Sample  # noqa: E402
from detector.errors import ConfigError  # noqa: E402
from detector.train.augment import _crop_box, augment, deequalize, zoom_out  # noqa: E402
from detector.train.config import AugmentConfig, TrainConfig  # noqa: E402
from detector.train.data import CachedImage, MixSampler, SourceInfo, sampling_weights  # noqa: E402


def _item(source: str, label: int) -> CachedImage:
    sample = Sample(path=Path("x.jpg"), label=label, group="g", source=source)
    return CachedImage(image=np.zeros((8, 8, 3), np.uint8), label=label, graffiti_boxes=[], equalised=False,
                       source=source, sample=sample)


def test_source_weight_multiplies_each_images_draw_probability():
    items = [_item("a", 0), _item("a", 1), _item("b", 0), _item("b", 1)]
    sources = {"a": SourceInfo(spec="a", weight=1.0, equalised=False),
               "b": SourceInfo(spec="b", weight=3.0, equalised=False)}
    probs = sampling_weights(items, sources, balance=False)
    assert probs.sum() == pytest.approx(1.0)
    assert probs[2] == pytest.approx(3 * probs[0])


def test_balanced_sampling_gives_each_class_half_the_draws():
    items = [_item("a", 0)] * 9 + [_item("a", 1)]
    sources = {"a": SourceInfo(spec="a", weight=1.0, equalised=False)}
    probs = sampling_weights(items, sources, balance=True)
    assert probs[-1] == pytest.approx(0.5)
    assert probs[:9].sum() == pytest.approx(0.5)


def test_sampler_shards_are_disjoint_equal_and_repeatable():
    probs = np.full(10, 0.1)
    full = list(MixSampler(probs, 20, seed=4, rank=0, world=1))
    shards = [list(MixSampler(probs, 20, seed=4, rank=r, world=2)) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 10
    assert sorted(shards[0] + shards[1]) == sorted(full)
    assert list(MixSampler(probs, 20, seed=4)) == full
    other = MixSampler(probs, 20, seed=4)
    other.set_epoch(1)
    assert list(other) != full


def test_augmentation_is_repeatable_for_a_seed_and_returns_the_input_size():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (120, 180, 3), dtype=np.uint8)
    cfg = AugmentConfig()
    a = augment(img, 1, [], np.random.default_rng(5), cfg, 64, equalised=True)
    b = augment(img, 1, [], np.random.default_rng(5), cfg, 64, equalised=True)
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)


@pytest.mark.parametrize("seed", range(20))
def test_crop_keeps_most_of_the_graffiti_region(seed):
    box = (150.0, 20.0, 190.0, 60.0)  # small tag near the right edge of a 200×100 image
    x0, y0, x1, y1 = _crop_box(100, 200, np.random.default_rng(seed), 0.35, box)
    inter = max(0, min(x1, box[2]) - max(x0, box[0])) * max(0, min(y1, box[3]) - max(y0, box[1]))
    assert inter >= 0.99 * (box[2] - box[0]) * (box[3] - box[1])
    assert 0 <= x0 < x1 <= 200 and 0 <= y0 < y1 <= 100


@pytest.mark.parametrize("seed", range(10))
def test_zoom_out_shows_the_whole_view_smaller_inside_its_mirror(seed):
    """A bright square in the middle of the view comes out smaller (by the drawn scale), whole, at one
    place; the border holds only mirrored copies of the view, never a blank fill."""
    import cv2

    img = np.full((100, 100, 3), 40, np.uint8)
    img[40:60, 40:60] = 250
    out = zoom_out(img, np.random.default_rng(seed), 0.45)
    assert out.shape == img.shape and out.dtype == np.uint8
    n, _, stats, _ = cv2.connectedComponentsWithStats((out[:, :, 0] > 200).astype(np.uint8))
    areas = sorted(stats[1:, cv2.CC_STAT_AREA].tolist(), reverse=True)
    assert n >= 2 and 0.45 ** 2 * 400 * 0.7 <= areas[0] <= 0.9 * 0.95 * 400 * 1.3  # one square, shrunk
    assert out.min() >= 40  # mirrored content only


def test_zoom_out_is_off_unless_configured_and_takes_both_labels_alike():
    img = np.random.default_rng(0).integers(0, 256, (80, 80, 3), dtype=np.uint8)
    plain = AugmentConfig(hflip=0, perspective=0, low_light=0, ir_grey=0, colour_jitter=0, noise=0, motion_blur=0,
                          defocus=0, jpeg=0, downscale=0, deequalize=0, deequalize_other=0, equalize_other=0,
                          illumination=0, crop_min_area=1.0, crop_min_area_graffiti=1.0)
    assert AugmentConfig().zoom_out == 0.0
    same = augment(img, 0, [], np.random.default_rng(3), plain, 80, equalised=False)
    zoomed = AugmentConfig(**{**plain.__dict__, "zoom_out": 1.0})
    for label in (0, 1):
        out = augment(img, label, [], np.random.default_rng(3), zoomed, 80, equalised=False)
        assert not np.array_equal(out, same)
        assert np.array_equal(out, augment(img, 1 - label, [], np.random.default_rng(3), zoomed, 80, equalised=False))


def test_deequalize_flattens_contrast():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    out = deequalize(img, np.random.default_rng(2))
    assert out.std() < img.std()


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"cached_views": 2}, "cached_views: needs freeze_blocks"),
        ({"arch": "vgg16"}, "arch: unknown architecture"),
        ({"input_px": 100}, "input_px: expected a multiple of 32"),
        ({"augment": {"jpeg": 2.0}}, "augment.jpeg"),
        ({"balance": "oversample"}, "balance"),
        ({"epochs": 0}, "epochs"),
        ({"learning_rate": 0.1}, "learning_rate: unknown key"),
        ({"fraction": 0}, r"^fraction: expected a share in \(0, 1\], found 0\.0$"),
        ({"input_px": 8}, r"^input_px: expected an integer in \[32, 4096\], found 8$"),
        ({"mil": {"pool": "avg"}}, r"^mil\.pool: expected one of 'max', 'topk', 'lse', found 'avg'$"),
    ],
    ids=["cached-without-freeze", "arch", "input-px", "augment-prob", "balance", "epochs", "unknown-key", "fraction",
         "input-px-range", "mil-pool"],
)
def test_bad_config_names_the_key(data, key):
    with pytest.raises(ConfigError, match=key):
        from_mapping(TrainConfig, data)
