"""A tiny trained run for the eval/export tests: generated wall images, a split manifest and a
checkpoint of MobileNetV3-Small at 32×32 px that really separates the two classes (val AUROC 1.0
for seeds 0-4 when this was written; a few seconds on one core), trained on the whole images and on
their camera-view tiles, so view-level thresholds exist too.

Graffiti images are grey walls with thick saturated strokes; clean ones are grey walls with noise
and a dark patch (a stain). The checkpoint is written with the training code's own
``save_checkpoint`` so export/eval read exactly what ``graffiti train`` writes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector.data.sample import Sample

ARCH = "mobilenet_v3_small"
INPUT_PX = 32


@dataclass
class TinyRun:
    root: Path
    manifest: Path  # split manifest: train + val rows
    checkpoint: Path
    val_dir: Path  # ImageFolder with the val images (clean/, graffiti/)
    calib_dir: Path  # ImageFolder used for int8 calibration


def wall_image(rng: np.random.Generator, graffiti: bool, size: int = 64) -> np.ndarray:
    import cv2

    base = int(rng.integers(90, 170))
    img = np.clip(rng.normal(base, 8, (size, size, 3)), 0, 255).astype(np.uint8)
    if graffiti:
        for _ in range(int(rng.integers(3, 6))):
            colour = [int(v) for v in rng.permutation([255, int(rng.integers(0, 256)), 0])]  # saturated
            p1 = tuple(int(v) for v in rng.integers(0, size, 2))
            p2 = tuple(int(v) for v in rng.integers(0, size, 2))
            cv2.line(img, p1, p2, tuple(colour), int(rng.integers(6, 11)))
    else:
        x, y = (int(v) for v in rng.integers(0, size // 2, 2))
        cv2.rectangle(img, (x, y), (x + size // 3, y + size // 4), (base // 2,) * 3, -1)
    return img


def write_images(folder: Path, n_per_class: int, seed: int) -> list[tuple[Path, int]]:
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for label, name in ((0, "clean"), (1, "graffiti")):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            path = folder / name / f"{name}_{seed}_{i:03d}.png"
            cv2.imwrite(str(path), wall_image(rng, bool(label)))
            out.append((path, label))
    return out


def _train(model, images: np.ndarray, labels: np.ndarray, steps: int) -> None:
    import torch

    torch.manual_seed(0)
    x = torch.from_numpy(images)
    y = torch.from_numpy(labels.astype(np.float32))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
        loss.backward()
        opt.step()
    # exact BatchNorm population statistics for eval mode (torchvision's momentum 0.01 is too slow here)
    for mod in model.modules():
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
            mod.reset_running_stats()
            mod.momentum = None
    with torch.no_grad():
        model(x)
    model.eval()


def _view_tiles(images: list[np.ndarray], labels: list[int]) -> tuple[list[np.ndarray], list[int]]:
    """The photos' camera-view tiles (as the edge and view-level export cut them), each labelled
    graffiti when it shows a saturated stroke: the tiny model also answers the edge's question."""
    import cv2

    from detector.train.viewlevel import view_tiles

    tiles, out = [], []
    for img, lab in zip(images, labels, strict=True):
        for t in view_tiles(img):
            small = cv2.resize(t, (INPUT_PX, INPUT_PX), interpolation=cv2.INTER_AREA)
            saturated = bool((cv2.cvtColor(small, cv2.COLOR_BGR2HSV)[:, :, 1] > 150).mean() > 0.05)
            tiles.append(small)
            out.append(int(lab == 1 and saturated))
    return tiles, out


def build_tiny_run(root: Path, steps: int = 20, seed: int = 0, n_train: int = 40) -> TinyRun:
    import torch

    from detector.data.manifest import write_manifest
    from detector.preprocess import preprocess_batch, read_image
    from detector.train.archs import build as build_model
    from detector.train.archs import preprocess as default_preprocess
    from detector.train.checkpoint import save_checkpoint

    torch.set_num_threads(1)
    train = write_images(root / "train", n_train, seed=1)
    val = write_images(root / "val", 12, seed=2)
    write_images(root / "calib", 8, seed=3)
    samples = [Sample(path=p, label=lab, group=p.stem, source="tiny", split=split, kind=("tag" if lab else "stain"))
               for split, rows in (("train", train), ("val", val)) for p, lab in rows]
    manifest = write_manifest(samples, root / "run" / "split.csv")

    spec = default_preprocess(ARCH, INPUT_PX)
    torch.manual_seed(seed)
    model = build_model(ARCH, weights=None, dropout=0.0)
    images = [read_image(str(p)) for p, _ in train]
    labels = [lab for _, lab in train]
    tiles, tile_labels = _view_tiles(images, labels)
    batch = preprocess_batch(images + tiles, spec)
    _train(model, batch, np.array(labels + tile_labels), steps)
    ckpt = save_checkpoint(
        root / "run" / "best.pt", model=model, arch=ARCH, preprocess=spec, optimizer=None, scheduler=None,
        epoch=3, metrics={"val_auroc": 1.0}, config={"arch": ARCH, "dropout": 0.0},
        data_info={"manifest": str(manifest), "digest": "0" * 64, "sources": {"tiny": 1.0},
                   "counts": {"train": len(train), "val": len(val)}},
        git_rev="testrev",
    )
    return TinyRun(root=root, manifest=manifest, checkpoint=ckpt, val_dir=root / "val", calib_dir=root / "calib")


def shared_tiny_run(tmp_path_factory) -> TinyRun:
    """One tiny run per pytest session (built on first use) for all eval/export/quantize test files.

    Tests write only new files under its root (each under its own name), never modify the run.
    """
    root = tmp_path_factory.getbasetemp() / "tiny-run-shared"
    done = root / "run" / "ready"
    if not done.is_file():
        import shutil

        shutil.rmtree(root, ignore_errors=True)
        build_tiny_run(root)
        done.write_text("ok\n")
    return TinyRun(root=root, manifest=root / "run" / "split.csv", checkpoint=root / "run" / "best.pt",
                   val_dir=root / "val", calib_dir=root / "calib")


def photo_model(run: TinyRun, name: str = "photo.onnx") -> Path:
    """The tiny run exported once per session with photo-level thresholds (``models/<name>`` under its root), for
    the tests that only read a model."""
    from detector.train.onnx_export import export_model

    out = run.root / "models" / name
    if not out.is_file():
        export_model(run.checkpoint, out, progress=False, threshold_level="photo")
    return out


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run the real console entry point (``graffiti ...``) in-process; returns (exit code, stdout, stderr)."""
    from detector.cli import main

    monkeypatch.setattr(sys, "argv", ["graffiti", *args])
    import pytest

    with pytest.raises(SystemExit) as info:
        main()
    captured = capsys.readouterr()
    return int(info.value.code or 0), captured.out, captured.err
