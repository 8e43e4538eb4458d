"""Write a synthetic dataset: an ImageFolder (graffiti/, clean/) plus a manifest CSV with regions.

Each image's scene seed is derived from (dataset seed, index), so any one image can be re-rendered
alone, and two datasets with different seeds share no scenes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector.data.sample import GRAFFITI, LABELS, Sample
from detector.errors import ConfigError, DatasetError


@dataclass(frozen=True)
class SynthSummary:
    manifest: Path
    n_graffiti: int
    n_clean: int
    kinds: dict[str, int]
    seconds: float

    @property
    def images_per_s(self) -> float:
        return (self.n_graffiti + self.n_clean) / max(self.seconds, 1e-9)


def scene_seed(dataset_seed: int, index: int) -> int:
    """The render_scene seed of image ``index`` of a dataset made with ``dataset_seed``."""
    return int(np.random.SeedSequence([dataset_seed, index]).generate_state(1, np.uint64)[0] >> 1)


def check_synth_args(n: int, seed: int, size_px: int, graffiti_fraction: float) -> None:
    """Reject impossible settings with a message naming the option."""
    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    if seed < 0:
        raise ConfigError(f"--seed must be a non-negative integer, got {seed}")
    if not 32 <= size_px <= 2048:
        raise ConfigError(f"--size must be between 32 and 2048 pixels, got {size_px}")
    if not 0.0 <= graffiti_fraction <= 1.0:
        raise ConfigError(f"--graffiti-fraction must be between 0 and 1, got {graffiti_fraction}")


def make_out_dir(out: Path) -> Path:
    """Create ``out/graffiti`` and ``out/clean``; a one-line DatasetError when that is impossible."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out}: exists and is not a folder; --out must be a folder")
    try:
        for name in LABELS:
            (out / name).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"{out}: cannot create the --out folder ({exc.strerror})") from None
    return out


def parse_kinds(text: str | None) -> tuple[str, ...]:
    """``--kinds bike,person,ir`` → the kinds; a ConfigError naming the option and the unknown kind."""
    from detector.data.synth.scene import DEFAULT_ONLY_KINDS, ONLY_NEGATIVE_KINDS

    if text is None or not text.strip():
        return DEFAULT_ONLY_KINDS
    kinds = tuple(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    for k in kinds:
        if k not in ONLY_NEGATIVE_KINDS:
            raise ConfigError(f"--kinds: unknown kind {k!r}; expected a comma-separated list of "
                              f"{', '.join(ONLY_NEGATIVE_KINDS)}")
    if not kinds:
        raise ConfigError(f"--kinds: no kind given; expected some of {', '.join(ONLY_NEGATIVE_KINDS)}")
    return kinds


def negatives_plan(n: int, seed: int, kinds: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The hard negatives of each image of a negatives-only set: every kind equally often as the main
    (sample) kind, in a seeded order; a third of the images (and every ``ir`` image) also show a
    second chosen kind; ``bare`` images show none."""
    rng = np.random.default_rng([seed, 0x4E47])
    mains = [kinds[i % len(kinds)] for i in range(n)]
    rng.shuffle(mains)
    plan: list[tuple[str, ...]] = []
    for main in mains:
        others = [k for k in kinds if k not in (main, "ir", "bare")]
        # An IR image shows one of the other chosen kinds (any hard negative when ``ir`` is alone);
        # a bare tunnel (the control) shows none.
        extra = bool(others) and main != "bare" and (main == "ir" or rng.random() < 1 / 3)
        plan.append((main, str(rng.choice(others))) if extra else (main,))
    return plan


def write_synth_dataset(out: Path, n: int, seed: int, *, size_px: int = 320, graffiti_fraction: float = 0.5,
                        jpeg_quality: int = 92, on_image: Callable[[int], None] | None = None,
                        only_negatives: tuple[str, ...] | None = None,
                        hard_negatives: bool = False) -> SynthSummary:
    """Render ``n`` scenes into ``out`` and write ``out/manifest.csv``; ``on_image(i)`` reports progress.

    ``only_negatives``: every image clean, showing these hard-negative kinds (sample kind = its main one).
    ``hard_negatives``: mix the hard negatives the edge meets into the ordinary scenes (see ``render_scene``).
    """
    from detector.data.contact import write_jpeg
    from detector.data.manifest import write_manifest
    from detector.data.synth.scene import render_scene

    check_synth_args(n, seed, size_px, graffiti_fraction)
    out = make_out_dir(out)
    # Exactly round(n * fraction) graffiti images, in a seeded random order.
    n_g = 0 if only_negatives is not None else int(round(n * graffiti_fraction))
    labels = np.zeros(n, bool)
    labels[:n_g] = True
    np.random.default_rng(seed).shuffle(labels)
    plan = negatives_plan(n, seed, only_negatives) if only_negatives is not None else None
    samples: list[Sample] = []
    kinds: dict[str, int] = {}
    t0 = time.perf_counter()
    for i in range(n):
        if plan is not None:
            scene = render_scene(scene_seed(seed, i), size_px, negatives=plan[i])
        else:
            scene = render_scene(scene_seed(seed, i), size_px, graffiti=bool(labels[i]), hard_negatives=hard_negatives)
        path = out / LABELS[scene.label] / f"synth-{seed}-{i:06d}.jpg"
        write_jpeg(path, scene.image, jpeg_quality)
        samples.append(Sample(path=path, label=scene.label, group=f"synth-{seed}-{i:06d}",
                              source="synth" if plan is None else "synth-negatives",
                              kind=scene.kind, regions=scene.regions))
        kinds[scene.kind] = kinds.get(scene.kind, 0) + 1
        if on_image is not None:
            on_image(i)
    manifest = write_manifest(samples, out / "manifest.csv")
    n_graffiti = sum(1 for s in samples if s.label == GRAFFITI)
    return SynthSummary(manifest, n_graffiti, n - n_graffiti, dict(sorted(kinds.items())),
                        time.perf_counter() - t0)
