"""Multiple-instance training over the edge's view tiles, with mined hard negatives.

The edge alerts on the hottest tile of a camera view, so that is the question training asks:
every photo whose shorter side is at least ``mil.tile_min_side_px`` is shown as a camera view and
cut into the edge's tiles (:mod:`detector.train.viewlevel`) — a *bag*. A clean photo's tiles are
all negatives; a graffiti photo's bag must have at least one hot tile: its tile logits are pooled
(max, mean of the top k, or log-mean-exp) into one bag logit trained towards graffiti. No boxes
are needed: the network learns which part of a photo is the graffiti. Smaller images (the 320-px
synthetic tunnel scenes, which are one tile already) and, with ``mil.whole_photo``, every photo as
a whole stay single instances with their photo label (the old task, kept for comparison).

CPU budget: as in :mod:`detector.train.features`, the frozen prefix runs once per tile (one
augmented view per tile; validation un-augmented) and only the suffix trains. Between epochs the
suffix scores every clean training tile and the hottest ``mil.hard_fraction`` of them are fed again
in the next epoch (``mil.hard_per_step`` per step): hard-negative mining on what the model now gets
wrong (pipes, signage, lettering). Early stopping selects on view-level recall at the view-level
false-positive rate ``mil.val_max_fpr`` (then photo-level AUROC), tracked by
:class:`detector.train.best_epoch.BestEpoch` like the plain loop.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from detector.config import to_mapping
from detector.preprocess import PreprocessSpec, read_image, to_tensor_layout
from detector.train.augment import augment
from detector.train.best_epoch import BestEpoch
from detector.train.config import AugmentConfig, MilConfig, TrainConfig
from detector.train.data import (
    CachedImage,
    cache_images,
    check_trainable,
    sampling_weights,
    split_counts_by_source,
)
from detector.train.features import build_features, predict_features
from detector.train.runlog import RunLog, plot_curves, progress_for, write_json, write_metrics_csv


# --------------------------------------------------------------------------- pooling and loss (pure torch)
def pool_bag(logits: torch.Tensor, pool: str, topk: int = 2, lse_r: float = 2.0) -> torch.Tensor:
    """One bag logit from a bag's tile logits [T]: 'max', 'topk' (mean of the k largest) or 'lse'."""
    if pool == "max":
        return logits.max()
    if pool == "topk":
        k = min(topk, logits.numel())
        return logits.topk(k).values.mean()
    if pool == "lse":
        n = torch.tensor(float(logits.numel()), device=logits.device)
        return (torch.logsumexp(lse_r * logits, 0) - torch.log(n)) / lse_r
    raise ValueError(f"unknown pool {pool!r}")


def mil_loss(tile_logits: torch.Tensor, bag_sizes: Sequence[int], bag_labels: Sequence[int], cfg: MilConfig,
             smoothing: float = 0.0) -> torch.Tensor:
    """Mean of: every tile of a clean bag vs 0 (per tile), and each graffiti bag's pooled logit vs 1."""
    bce = nn.functional.binary_cross_entropy_with_logits
    neg_target, pos_target = 0.5 * smoothing, 1.0 - 0.5 * smoothing
    parts: list[torch.Tensor] = []
    clean: list[torch.Tensor] = []
    pooled: list[torch.Tensor] = []
    start = 0
    for size, label in zip(bag_sizes, bag_labels, strict=True):
        bag = tile_logits[start:start + size]
        start += size
        if label == 1:
            pooled.append(pool_bag(bag, cfg.pool, cfg.topk, cfg.lse_r))
        else:
            clean.append(bag)
    if clean:
        x = torch.cat(clean)
        parts.append(bce(x, torch.full_like(x, neg_target)))
    if pooled:
        x = torch.stack(pooled)
        parts.append(bce(x, torch.full_like(x, pos_target)))
    if not parts:
        return tile_logits.sum() * 0.0
    return torch.stack(parts).mean()


def hottest(scores: np.ndarray, fraction: float, minimum: int = 1) -> np.ndarray:
    """Indices of the highest-scoring ``fraction`` of ``scores`` (at least ``minimum``), hottest first."""
    n = scores.size
    if n == 0 or fraction <= 0:
        return np.zeros(0, dtype=np.int64)
    k = min(n, max(minimum, int(round(fraction * n))))
    order = np.argsort(-scores, kind="mergesort")
    return order[:k].astype(np.int64)


# --------------------------------------------------------------------------- bags of tile features
@dataclass
class Bags:
    """Tile features of tiled photos: rows ``offsets[i]:offsets[i+1]`` of ``features`` are photo i's tiles."""

    features: torch.Tensor  # [tiles, C, H, W] fp16
    offsets: np.ndarray  # [photos + 1]
    labels: np.ndarray  # [photos] 0/1
    sources: list[str]
    paths: list[str]

    def __len__(self) -> int:
        return int(self.labels.size)

    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    def clean_tile_rows(self) -> np.ndarray:
        rows = [np.arange(self.offsets[i], self.offsets[i + 1]) for i in range(len(self)) if self.labels[i] == 0]
        return np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)


def tile_augment_config(aug: AugmentConfig) -> AugmentConfig:
    """Per-tile augmentation: the camera effects, but only gentle crops (a tile must stay that tile)."""
    return dataclasses.replace(aug, crop_min_area=0.8, crop_min_area_graffiti=0.8, perspective=min(aug.perspective, 0.2))


@torch.no_grad()
def build_bags(prefix: nn.Module, items: Sequence[CachedImage], spec: PreprocessSpec, aug: AugmentConfig | None,
               seed: int, batch: int, device: torch.device, progress: Any = None, label: str = "tiles") -> Bags:
    """Cut every photo into the edge's view tiles (from the full-resolution file), push them through
    the frozen prefix (one augmented view each when ``aug`` is given) and keep the features."""
    from detector.train.features import view_seed
    from detector.train.viewlevel import view_tiles

    prefix.eval()
    px = spec.input_size[0]
    chunks: list[torch.Tensor] = []
    pending: list[np.ndarray] = []
    offsets = [0]
    labels, sources, paths = [], [], []
    task = progress.add_task(label, total=len(items)) if progress is not None else None

    def flush() -> None:
        x = torch.from_numpy(np.stack(pending)).to(device).contiguous(memory_format=torch.channels_last)
        chunks.append(prefix(x).to("cpu", torch.float16).contiguous())
        pending.clear()

    for i, item in enumerate(items):
        img = read_image(str(item.sample.path))
        if img is None:  # cached once already, so only a file changed under us; keep the cached copy
            img = item.image
        tiles = view_tiles(img)
        for t, tile in enumerate(tiles):
            if aug is not None and aug.enabled:
                rng = np.random.default_rng(view_seed(seed, i, 1000 + t))
                tile = augment(tile, 0, [], rng, aug, px, item.equalised)
            pending.append(to_tensor_layout(tile, spec))
        offsets.append(offsets[-1] + len(tiles))
        labels.append(item.label)
        sources.append(item.source)
        paths.append(str(item.sample.path))
        if len(pending) >= batch:
            flush()
        if task is not None:
            progress.advance(task)
    if pending:
        flush()
    if task is not None:
        progress.remove_task(task)
    feats = torch.cat(chunks) if chunks else torch.zeros(0)
    return Bags(feats, np.asarray(offsets, dtype=np.int64), np.asarray(labels, dtype=np.int64), sources, paths)


def bag_view_scores(suffix: nn.Module, bags: Bags, batch: int, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """(tile probabilities, view score per bag = max tile probability)."""
    probs = predict_features(suffix, bags.features, batch, device) if len(bags.features) else np.zeros(0)
    views = np.asarray([probs[bags.offsets[i]:bags.offsets[i + 1]].max() if bags.offsets[i + 1] > bags.offsets[i]
                        else 0.0 for i in range(len(bags))], dtype=np.float64)
    return probs, views


def recall_at_fpr(labels: np.ndarray, scores: np.ndarray, max_fpr: float) -> float | None:
    """Recall at the lowest threshold whose FPR is at most ``max_fpr`` (the export policy's point)."""
    from detector.train.thresholds import ThresholdError, threshold_for_max_fpr

    if labels.size == 0 or labels.min() == labels.max():
        return None
    try:
        t = threshold_for_max_fpr(labels, scores, max_fpr)
    except ThresholdError:
        return 0.0
    return float((scores[labels == 1] >= t).mean())


# --------------------------------------------------------------------------- the run
def _per_group(items: Sequence[CachedImage], limit: int, sources: Sequence[str]) -> list[CachedImage]:
    """At most ``limit`` photos per (source, group) of ``sources``, in input order (0 = no limit)."""
    if limit <= 0:
        return list(items)
    seen: dict[tuple[str, str], int] = {}
    out = []
    for c in items:
        if c.source not in sources:
            out.append(c)
            continue
        key = (c.source, c.sample.group)
        if seen.get(key, 0) < limit:
            seen[key] = seen.get(key, 0) + 1
            out.append(c)
    return out


def _original_side(path: str) -> int:
    import cv2

    img = cv2.imread(path, cv2.IMREAD_REDUCED_COLOR_2)  # cheap: only the size is needed
    if img is None:
        return 0
    return 2 * min(img.shape[:2])


def run_mil_training(cfg: TrainConfig, start: Any, run_dir: Path, console: Any) -> Any:
    """Train per ``cfg`` (``cfg.mil.enabled``) into ``run_dir``; single process (no DDP, no resume)."""
    from detector.train import archs
    from detector.train.checkpoint import save_checkpoint
    from detector.train.data import MixSampler, file_sha256, write_split_manifest
    from detector.train.loop import TrainResult, git_revision, seed_everything
    from detector.train.optim import optimizer_and_schedule
    from detector.train.validation import summarise

    mil = cfg.mil
    t_start = time.monotonic()
    device = torch.device("cuda" if cfg.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu")
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    run_dir.mkdir(parents=True, exist_ok=True)
    log = RunLog(run_dir, console, True)
    config_map = to_mapping(cfg)
    import yaml

    (run_dir / "config.yaml").write_text(yaml.safe_dump(config_map, sort_keys=False), encoding="utf-8")
    seed_everything(cfg.seed)
    git_rev = git_revision()

    log(f"data: {len(start.samples)} images from {len(start.sources)} source(s); caching at {cfg.cache_px}px")
    progress = progress_for(console, log)
    progress.start()
    try:
        cached, bad = cache_images(start.samples, start.sources, cfg.cache_px, progress)
    finally:
        progress.stop()
    if bad:
        log(f"skipped {len(bad)} unreadable image(s)")
        (run_dir / "unreadable.txt").write_text("".join(f"{s.path}\n" for s in bad), encoding="utf-8")
    samples = [c.sample for c in cached]
    check_trainable(samples)
    manifest_path = run_dir / "data_manifest.csv"
    write_split_manifest(samples, manifest_path)
    digest = file_sha256(manifest_path)
    counts = split_counts_by_source(samples)
    data_info = {"manifest": str(manifest_path), "digest": digest, "counts": counts, "unreadable": len(bad),
                 "sources": {k: to_mapping(v) for k, v in start.sources.items()}}
    for split, per in counts.items():
        log(f"  {split}: " + "; ".join(f"{src} {v['clean']} clean / {v['graffiti']} graffiti" for src, v in sorted(per.items())))
    train_items = [c for c in cached if c.sample.split == "train"]
    val_items = [c for c in cached if c.sample.split == "val"]
    side = {id(c): _original_side(str(c.sample.path)) for c in train_items + val_items}
    train_tiled = _per_group([c for c in train_items if side[id(c)] >= mil.tile_min_side_px], mil.tile_per_group,
                             mil.tile_per_group_sources)
    val_tiled = _per_group([c for c in val_items if side[id(c)] >= mil.tile_min_side_px], mil.tile_per_group,
                           mil.tile_per_group_sources)
    train_whole = train_items if mil.whole_photo else [c for c in train_items if side[id(c)] < mil.tile_min_side_px]

    if start.init is not None:
        model = start.init.model
        preprocess: PreprocessSpec = start.init.preprocess
    else:
        model = archs.build(cfg.arch, cfg.weights, dropout=cfg.dropout)
        preprocess = archs.preprocess(cfg.arch, cfg.input_px)
    frozen = archs.freeze(model, cfg.arch, cfg.freeze_blocks)
    model = model.to(device).to(memory_format=torch.channels_last)
    prefix, suffix = archs.split(model, cfg.arch, cfg.freeze_blocks)

    log(f"MIL: {len(train_tiled)} training photos cut into view tiles ({len(val_tiled)} validation), "
        f"{len(train_whole)} whole-photo instances x {cfg.cached_views} view(s); pool {mil.pool}")
    t_cache = time.monotonic()
    progress = progress_for(console, log)
    progress.start()
    try:
        tile_aug = tile_augment_config(cfg.augment)
        bags = build_bags(prefix, train_tiled, preprocess, tile_aug, cfg.seed, cfg.batch_size, device, progress,
                          "training tiles")
        val_bags = build_bags(prefix, val_tiled, preprocess, None, cfg.seed, cfg.batch_size, device, progress,
                              "validation tiles")
        whole_feats = build_features(prefix, train_whole, preprocess, cfg.augment, cfg.cached_views, cfg.seed,
                                     cfg.batch_size, device, progress, "whole-photo views")
        val_whole = build_features(prefix, val_items, preprocess, None, 1, cfg.seed, cfg.batch_size, device,
                                   progress, "validation photos")
    finally:
        progress.stop()
    cache_s = time.monotonic() - t_cache
    log(f"cached {len(bags.features)} training tiles, {len(val_bags.features)} validation tiles, "
        f"{len(whole_feats)} whole-photo views in {cache_s / 60:.1f} min")

    whole_labels = torch.tensor([float(c.label) for c in train_whole])
    probs = sampling_weights(train_whole, start.sources, cfg.balance == "sampler") if train_whole else np.zeros(0)
    bag_order_rng = np.random.default_rng([cfg.seed, 17])
    steps_per_epoch = max(1, -(-len(bags) // mil.bags_per_step)) if len(bags) else max(
        1, (cfg.samples_per_epoch or len(train_whole)) // max(1, mil.whole_per_step))
    optimizer, scheduler = optimizer_and_schedule(model, cfg, steps_per_epoch)
    bce = nn.BCEWithLogitsLoss()
    clean_rows = bags.clean_tile_rows()
    hard_rows = np.zeros(0, dtype=np.int64)
    val_labels_view = val_bags.labels.astype(np.int64)
    val_labels_whole = np.array([c.label for c in val_items], dtype=np.float64)

    history: list[dict[str, Any]] = []
    best = BestEpoch()
    stopped, epoch = "epochs", 0
    best_path, last_path = run_dir / "best.pt", run_dir / "last.pt"
    log(f"model {cfg.arch}: {sum(p.numel() for p in model.parameters() if p.requires_grad):,} trainable parameters, "
        f"{steps_per_epoch} steps/epoch x {cfg.epochs} epochs on {device}")
    for epoch in range(1, cfg.epochs + 1):
        t_epoch = time.monotonic()
        suffix.train()
        for m in frozen:
            m.eval()
        if cfg.freeze_bn:
            archs.hold_batchnorm(suffix)
        order = bag_order_rng.permutation(len(bags)) if len(bags) else np.zeros(0, dtype=np.int64)
        sampler = MixSampler(probs, steps_per_epoch * mil.whole_per_step, cfg.seed, weighted=True) if len(
            train_whole) and mil.whole_per_step else None
        whole_draws: list[tuple[int, int]] = []
        if sampler is not None:
            sampler.set_epoch(epoch)
            whole_draws = list(iter(sampler))
        hard_rng = np.random.default_rng([cfg.seed, 31, epoch])
        total, seen = 0.0, 0
        for step in range(steps_per_epoch):
            terms: list[torch.Tensor] = []
            chosen = order[step * mil.bags_per_step:(step + 1) * mil.bags_per_step]
            if len(chosen):
                rows = np.concatenate([np.arange(bags.offsets[b], bags.offsets[b + 1]) for b in chosen])
                x = bags.features[torch.from_numpy(rows)].float().to(device).contiguous(memory_format=torch.channels_last)
                terms.append(mil_loss(suffix(x), bags.sizes()[chosen].tolist(), bags.labels[chosen].tolist(), mil,
                                      cfg.label_smoothing))
            if hard_rows.size and mil.hard_per_step:
                pick = hard_rng.choice(hard_rows, size=min(mil.hard_per_step, hard_rows.size), replace=False)
                x = bags.features[torch.from_numpy(pick)].float().to(device).contiguous(memory_format=torch.channels_last)
                logits = suffix(x)
                terms.append(bce(logits, torch.full_like(logits, 0.5 * cfg.label_smoothing)))
            draws = whole_draws[step * mil.whole_per_step:(step + 1) * mil.whole_per_step]
            if draws:
                idx = torch.tensor([i * cfg.cached_views + s % cfg.cached_views for i, s in draws])
                x = whole_feats[idx].float().to(device).contiguous(memory_format=torch.channels_last)
                y = whole_labels[torch.tensor([i for i, _ in draws])].to(device)
                target = y * (1.0 - cfg.label_smoothing) + 0.5 * cfg.label_smoothing
                terms.append(bce(suffix(x), target))
            if not terms:
                continue
            loss = torch.stack(terms).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += float(loss.detach())
            seen += 1
            if (step + 1) % max(1, steps_per_epoch // 4) == 0:
                log(f"  epoch {epoch} step {step + 1}/{steps_per_epoch} loss {total / max(seen, 1):.4f} "
                    f"({time.monotonic() - t_epoch:.0f}s)")
        train_loss = total / max(seen, 1)
        # ---- mine: the hottest clean training tiles are fed again next epoch
        mined_mean = None
        if clean_rows.size and mil.hard_fraction > 0:
            clean_probs = predict_features(suffix, bags.features[torch.from_numpy(clean_rows)], cfg.batch_size * 4, device)
            top = hottest(clean_probs, mil.hard_fraction)
            hard_rows = clean_rows[top]
            mined_mean = float(clean_probs[top].mean())
        # ---- validate: view level on the tiled validation photos, photo level on all
        _, val_views = bag_view_scores(suffix, val_bags, cfg.batch_size * 4, device)
        whole_probs = predict_features(suffix, val_whole, cfg.batch_size * 2, device)
        metrics = summarise(val_labels_whole, whole_probs, [c.source for c in val_items])
        from detector.train.metrics import auroc

        view_auroc = auroc(val_labels_view, val_views) if val_labels_view.size and val_labels_view.min() != val_labels_view.max() else None
        view_recall = recall_at_fpr(val_labels_view, val_views, mil.val_max_fpr)
        metrics.update({"val_view_auroc": view_auroc, f"val_view_recall_at_fpr{mil.val_max_fpr:g}": view_recall,
                        "val_view_fpr_at_0.5": float((val_views[val_labels_view == 0] >= 0.5).mean())
                        if (val_labels_view == 0).any() else None,
                        "mined_clean_tiles_mean_score": mined_mean})
        epoch_s = time.monotonic() - t_epoch
        row = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], "train_loss": train_loss,
               **{k: metrics.get(k) for k in ("val_loss", "val_auroc", "val_ap", "val_recall_at_0.5", "val_fpr_at_0.5",
                                              "val_view_auroc", f"val_view_recall_at_fpr{mil.val_max_fpr:g}",
                                              "val_view_fpr_at_0.5", "mined_clean_tiles_mean_score")},
               "epoch_s": round(epoch_s, 1), "elapsed_s": round(time.monotonic() - t_start, 1)}
        history.append(row)
        key = (round(view_recall if view_recall is not None else -1.0, 4) + round(metrics.get("val_auroc") or 0.0, 4),
               -float(metrics.get("val_loss") or 0.0))
        improved = best.update(epoch, key, {"epoch": epoch, "train_loss": train_loss, **metrics})
        extra = {"history": history, **best.to_extra(), "seed": cfg.seed, "mil": to_mapping(mil), "view": _view_info()}
        save_checkpoint(last_path, model=model, arch=cfg.arch, preprocess=preprocess, optimizer=optimizer,
                        scheduler=scheduler, epoch=epoch, metrics={"epoch": epoch, "train_loss": train_loss, **metrics},
                        config=config_map, data_info=data_info, git_rev=git_rev, extra=extra)
        if improved:
            shutil.copyfile(last_path, best_path)
        write_metrics_csv(history, run_dir / "metrics.csv")
        plot_curves(history, run_dir / "curves.png")
        log(f"epoch {epoch}: loss {train_loss:.4f}, photo AUROC {_f(metrics.get('val_auroc'))}, view AUROC "
            f"{_f(view_auroc)}, view recall@FPR{mil.val_max_fpr:g} {_f(view_recall)}, view FPR@0.5 "
            f"{_f(row['val_view_fpr_at_0.5'])}, mined clean tiles mean {_f(mined_mean)} ({epoch_s:.0f}s)"
            + (" *best*" if improved else ""))
        stop = best.stop_reason(patience=cfg.patience, max_minutes=cfg.max_minutes, epoch=epoch, epochs=cfg.epochs,
                                elapsed_s=time.monotonic() - t_start, epoch_s=epoch_s, selects_on="validation")
        if stop is not None:
            stopped = stop[0]
            log(stop[1])
            break
    summary = {"stopped": stopped, "epochs_done": epoch, "best_epoch": best.epoch, "best": best.metrics, "test": None,
               "mode": "mil", "cache_s": round(cache_s, 1), "train_tiles": int(len(bags.features)),
               "elapsed_s": round(time.monotonic() - t_start, 1), "git_rev": git_rev, "data_digest": digest,
               "unreadable": [str(s.path) for s in bad]}
    write_json(summary, run_dir / "summary.json")
    log(f"done ({stopped}): best epoch {best.epoch}; outputs in {run_dir}")
    return TrainResult(run_dir=run_dir, best_path=best_path, last_path=last_path, best_epoch=best.epoch,
                       epochs_done=epoch, stopped=stopped, best_metrics=best.metrics, test_metrics=None)


def _view_info() -> dict[str, Any]:
    from detector.train.viewlevel import ViewSpec

    return ViewSpec().to_dict()


def _f(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.4f}"
