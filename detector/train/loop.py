"""The training run: data → model → epochs with validation, checkpoints, early stopping, time box.

Rank 0 alone writes the run folder; under torchrun every rank trains on its shard and the
DistributedDataParallel all-reduce keeps the weights identical (checked at the end by digest).
"""

from __future__ import annotations

import math
import random
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from detector.config import to_mapping
from detector.data.sample import Sample
from detector.preprocess import PreprocessSpec
from detector.train import ddp
from detector.train.checkpoint import LoadedCheckpoint, save_checkpoint, unwrap
from detector.train.config import TrainConfig
from detector.train.data import (
    CachedImage,
    MixSampler,
    SourceInfo,
    TrainSet,
    cache_images,
    check_trainable,
    sampling_weights,
    split_counts_by_source,
    write_split_manifest,
)
from detector.train.evalrun import evaluate_items, selection_key, summarise
from detector.train.features import FeatureTrainSet, build_features, predict_features
from detector.train.runlog import RunLog, plot_curves, progress_for, write_json, write_metrics_csv


@dataclass
class TrainResult:
    """Where the run's outputs are and how it ended."""

    run_dir: Path
    best_path: Path
    last_path: Path
    best_epoch: int
    epochs_done: int
    stopped: str  # 'epochs' | 'early-stop' | 'time-box'
    best_metrics: dict[str, Any]
    test_metrics: dict[str, Any] | None


@dataclass
class StartState:
    """Where a run starts: fresh, from one of our checkpoints (--from) or resuming its own last.pt."""

    samples: list[Sample]
    sources: dict[str, SourceInfo]
    resume: dict[str, Any] | None = None  # raw last.pt of the run being resumed
    init: LoadedCheckpoint | None = None  # --from


def git_revision() -> str:
    """The training code's git revision (+ '-dirty' when detector/ has uncommitted changes)."""
    root = Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "detector"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev + ("-dirty" if dirty else "")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def freeze_early(model: nn.Module, arch: str, blocks: int) -> list[nn.Module]:
    """Freeze the stem and the first ``blocks`` blocks; returns the frozen modules (kept in eval mode).

    Early layers hold generic edges/textures; keeping them pretrained is cheaper (no backward
    through the highest-resolution layers) and generalises better from a few thousand images.
    """
    from detector.train.archs import freeze

    return freeze(model, arch, blocks)


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def lr_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """Linear warm-up, then cosine decay to 1% of the base learning rate."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * progress))


def _loader(dataset: Any, batch: int, workers: int, sampler: Any = None, drop_last: bool = False) -> DataLoader:
    return DataLoader(dataset, batch_size=batch, sampler=sampler, shuffle=False, num_workers=workers,
                      drop_last=drop_last, persistent_workers=False)


def run_training(cfg: TrainConfig, start: StartState, run_dir: Path, console: Any) -> TrainResult:
    """Train per ``cfg`` into ``run_dir``; see the module docstring."""
    from detector.train.model import build_model, default_preprocess, split_at

    info = ddp.setup(cfg.device)
    t_start = time.monotonic()
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    ddp.barrier(info)
    log = RunLog(run_dir, console, info.is_main)
    config_map = to_mapping(cfg)
    if info.is_main:
        import yaml

        (run_dir / "config.yaml").write_text(yaml.safe_dump(config_map, sort_keys=False), encoding="utf-8")
    seed_everything(cfg.seed)
    git_rev = git_revision()

    # ---- data
    log(f"data: {len(start.samples)} images from {len(start.sources)} source(s); caching at {cfg.cache_px}px")
    progress = progress_for(console, log) if info.is_main else None
    if progress is not None:
        progress.start()
    try:
        # validation/test pixels exactly as graffiti eval prepares them (one resize from full size)
        eval_spec = start.init.preprocess if start.init is not None else default_preprocess(cfg.arch, cfg.input_px)
        cached, bad = cache_images(start.samples, start.sources, cfg.cache_px, progress, eval_spec=eval_spec)
    finally:
        if progress is not None:
            progress.stop()
    if bad:
        names = ", ".join(str(s.path) for s in bad[:10]) + (" ..." if len(bad) > 10 else "")
        log(f"skipped {len(bad)} unreadable image(s): {names}")
        if info.is_main:
            (run_dir / "unreadable.txt").write_text("".join(f"{s.path}\n" for s in bad), encoding="utf-8")
    samples = [c.sample for c in cached]
    check_trainable(samples)
    manifest_path = run_dir / "data_manifest.csv"
    if start.resume is not None:
        digest = str(start.resume["data"]["digest"])
    else:
        if info.is_main:
            write_split_manifest(samples, manifest_path)
        ddp.barrier(info)
        from detector.train.data import file_sha256

        digest = file_sha256(manifest_path)
    counts = split_counts_by_source(samples)
    data_info = {"manifest": str(manifest_path), "digest": digest, "counts": counts, "unreadable": len(bad),
                 "sources": {k: to_mapping(v) for k, v in start.sources.items()}}
    train_items = [c for c in cached if c.sample.split == "train"]
    val_items = [c for c in cached if c.sample.split == "val"]
    test_items = [c for c in cached if c.sample.split == "test"]
    for split, per in counts.items():
        log(f"  {split}: " + "; ".join(f"{src} {v['clean']} clean / {v['graffiti']} graffiti" for src, v in sorted(per.items())))

    # ---- model
    if start.init is not None:
        model = start.init.model
        preprocess: PreprocessSpec = start.init.preprocess
    else:
        model = build_model(cfg.arch, cfg.weights if start.resume is None else None, dropout=cfg.dropout)
        preprocess = default_preprocess(cfg.arch, cfg.input_px)
    if start.resume is not None:
        model.load_state_dict(start.resume["model_state"])
    frozen = freeze_early(model, cfg.arch, cfg.freeze_blocks)
    model = model.to(info.device).to(memory_format=torch.channels_last)
    train_set: Any
    val_features = None
    if cfg.cached_views:
        prefix, suffix = split_at(model, cfg.arch, cfg.freeze_blocks)
        log(f"caching {cfg.cached_views} augmented view(s) of {len(train_items)} training images through the "
            f"frozen stem + {cfg.freeze_blocks} blocks")
        progress = progress_for(console, log) if info.is_main else None
        if progress is not None:
            progress.start()
        def compute_features() -> tuple[torch.Tensor, torch.Tensor]:
            return (build_features(prefix, train_items, preprocess, cfg.augment, cfg.cached_views, cfg.seed,
                                   cfg.batch_size, info.device, progress, "training views"),
                    build_features(prefix, val_items, preprocess, None, 1, cfg.seed, cfg.batch_size,
                                   info.device, progress, "validation", dtype=torch.float32))

        from detector.train.feature_cache import cached_features, feature_key

        try:
            train_features, val_features = cached_features(
                feature_key(cfg, digest, prefix, preprocess, len(train_items), len(val_items), info.device),
                compute_features, log)
        finally:
            if progress is not None:
                progress.stop()
        train_set = FeatureTrainSet(train_features, [c.label for c in train_items], cfg.cached_views)
        net = ddp.wrap(suffix, info)
        log(f"cached {tuple(train_features.shape)} training features ({train_features.numel() * 2 / 1e6:.0f} MB)")
    else:
        train_set = TrainSet(train_items, preprocess, cfg.augment)
        net = ddp.wrap(model, info)

    from detector.train.tracking import Tracker, parse_track, pick_samples

    tracker = Tracker(run_dir, parse_track(cfg.track), config_map, log, pick_samples(val_items), preprocess,
                      resumed=start.resume is not None) if info.is_main else None

    # ---- sampling, optimiser, schedule
    balance = cfg.balance == "sampler"
    probs = sampling_weights(train_items, start.sources, balance)
    weighted = balance or len({s.weight for s in start.sources.values()}) > 1
    draws = cfg.samples_per_epoch or len(train_items)
    sampler = MixSampler(probs, draws, cfg.seed, info.rank, info.world, weighted=weighted)
    per_rank = len(sampler)
    drop_last = per_rank >= cfg.batch_size
    train_loader = _loader(train_set, cfg.batch_size, cfg.workers if not cfg.cached_views else 0, sampler,
                           drop_last)
    steps_per_epoch = max(1, len(train_loader))
    total_steps = steps_per_epoch * cfg.epochs
    warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
    optimizer = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, warmup, total_steps))
    n_pos = sum(1 for c in train_items if c.label == 1)
    pos_weight = None
    if cfg.balance == "pos_weight" and n_pos:
        pos_weight = torch.tensor((len(train_items) - n_pos) / n_pos, device=info.device)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)

    history: list[dict[str, Any]] = []
    first_epoch, best_key, best_epoch, bad_epochs = 1, None, 0, 0
    mid_epoch: dict[str, Any] | None = None
    best_metrics: dict[str, Any] = {}
    if start.resume is not None:
        raw = start.resume
        optimizer.load_state_dict(raw["optimizer_state"])
        scheduler.load_state_dict(raw["scheduler_state"])
        extra = raw.get("extra") or {}
        first_epoch = int(raw["epoch"]) + 1
        history = list(extra.get("history", []))
        best_epoch = int(extra.get("best_epoch", 0))
        best_metrics = dict(extra.get("best_metrics", {}))
        best_key = tuple(extra["best_key"]) if extra.get("best_key") is not None else None
        bad_epochs = int(extra.get("bad_epochs", 0))
        if "torch_rng" in extra:
            torch.set_rng_state(extra["torch_rng"])
        mid_epoch = extra.get("mid_epoch")  # interrupted inside an epoch: continue at the next step
        if mid_epoch:
            log(f"resuming {run_dir} in epoch {mid_epoch['epoch']} at step {mid_epoch['step'] + 1}")
        else:
            log(f"resuming {run_dir} after epoch {raw['epoch']}")

    best_path, last_path = run_dir / "best.pt", run_dir / "last.pt"
    stopped = "epochs"
    last_epoch_s = 0.0
    log(f"model {cfg.arch} ({preprocess.input_size[0]}px, {sum(p.numel() for p in model.parameters() if p.requires_grad):,} "
        f"trainable parameters), {steps_per_epoch} steps/epoch x {cfg.epochs} epochs on {info.device}"
        + (f", {info.world} processes" if info.distributed else ""))
    epoch = first_epoch - 1
    from detector.train import interrupt

    stop_request = interrupt.active()
    stop_request.defer()  # from here a Ctrl-C/SIGTERM ends the current step, saves and says how to resume
    interrupted: dict[str, Any] | None = None
    for epoch in range(first_epoch, cfg.epochs + 1):
        t_epoch = time.monotonic()
        sampler.set_epoch(epoch)
        net.train()
        for m in frozen:
            m.eval()
        total, seen, skip = 0.0, 0, 0
        if mid_epoch and int(mid_epoch["epoch"]) == epoch:
            skip, total, seen = int(mid_epoch["step"]), float(mid_epoch["total"]), int(mid_epoch["seen"])
        sampler.skip = skip * cfg.batch_size
        progress = progress_for(console, None) if info.is_main else None
        task = progress.add_task(f"epoch {epoch}/{cfg.epochs}", total=steps_per_epoch, completed=skip) if progress else None
        if progress is not None:
            progress.start()
        try:
            batches = iter(train_loader)  # creating the iterator draws from torch's RNG
            if skip and start.resume is not None and "torch_rng" in (start.resume.get("extra") or {}):
                torch.set_rng_state(start.resume["extra"]["torch_rng"])  # the state saved after step `skip`
            for step, (x, y) in enumerate(batches, start=skip):
                x = x.to(info.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
                y = y.to(info.device)
                target = y * (1.0 - cfg.label_smoothing) + 0.5 * cfg.label_smoothing
                loss = loss_fn(net(x), target)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                total += float(loss.detach()) * len(y)
                seen += len(y)
                if progress is not None and task is not None:
                    progress.update(task, advance=1, description=f"epoch {epoch}/{cfg.epochs} loss {total / seen:.4f}")
                elif info.is_main and not console.is_terminal and (step + 1) % max(1, steps_per_epoch // 4) == 0:
                    log(f"  epoch {epoch} step {step + 1}/{steps_per_epoch} loss {total / max(seen, 1):.4f}")
                if ddp.broadcast_flag(stop_request.requested, info):
                    interrupted = {"epoch": epoch, "step": step + 1, "steps": steps_per_epoch, "total": total,
                                   "seen": seen, "signal": stop_request.signal_name or "signal"}
                    break
        finally:
            if progress is not None:
                progress.stop()
        sampler.skip = 0
        if interrupted is not None:
            stopped = "interrupted"
            if info.is_main:
                extra = {"history": history, "best_epoch": best_epoch, "best_metrics": best_metrics,
                         "best_key": list(best_key) if best_key is not None else None, "bad_epochs": bad_epochs,
                         "torch_rng": torch.get_rng_state(), "seed": cfg.seed, "mid_epoch": interrupted}
                save_checkpoint(last_path, model=model, arch=cfg.arch, preprocess=preprocess, optimizer=optimizer,
                                scheduler=scheduler, epoch=epoch - 1,
                                metrics={"epoch": epoch - 1, "train_loss_partial": total / max(seen, 1)},
                                config=config_map, data_info=data_info, git_rev=git_rev, extra=extra)
            break
        ddp.sync_buffers(model, info)
        train_loss = _mean_across_ranks(total, seen, info)
        row: dict[str, Any] = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], "train_loss": train_loss}
        stop = False
        if info.is_main:
            if val_features is not None:
                probs = predict_features(unwrap(net), val_features, cfg.batch_size * 2, info.device)
                metrics = summarise(np.array([c.label for c in val_items], dtype=np.float64), probs,
                                    [c.source for c in val_items])
            else:
                metrics = evaluate_items(model, val_items, preprocess, cfg.batch_size, info.device)
            row.update({k: metrics.get(k) for k in ("val_loss", "val_auroc", "val_ap", "val_recall_at_0.5",
                                                     "val_fpr_at_0.5")})
            last_epoch_s = time.monotonic() - t_epoch
            row["epoch_s"] = round(last_epoch_s, 1)
            row["elapsed_s"] = round(time.monotonic() - t_start, 1)
            history.append(row)
            key = selection_key(metrics, epoch)
            improved = best_key is None or key > best_key
            if improved:
                best_key, best_epoch, bad_epochs = key, epoch, 0
                best_metrics = {"epoch": epoch, "train_loss": train_loss, **metrics}
            else:
                bad_epochs += 1
            extra = {"history": history, "best_epoch": best_epoch, "best_metrics": best_metrics,
                     "best_key": list(best_key) if best_key is not None else None, "bad_epochs": bad_epochs,
                     "torch_rng": torch.get_rng_state(), "seed": cfg.seed}
            save_checkpoint(last_path, model=model, arch=cfg.arch, preprocess=preprocess, optimizer=optimizer,
                            scheduler=scheduler, epoch=epoch, metrics={"epoch": epoch, "train_loss": train_loss, **metrics},
                            config=config_map, data_info=data_info, git_rev=git_rev, extra=extra)
            if improved:
                shutil.copyfile(last_path, best_path)
            write_metrics_csv(history, run_dir / "metrics.csv")
            plot_curves(history, run_dir / "curves.png")
            if tracker is not None:
                tracker.epoch(row, model)
            auroc = metrics.get("val_auroc")
            log(f"epoch {epoch}: train loss {train_loss:.4f}, val loss {_f(metrics.get('val_loss'))}, "
                f"val AUROC {_f(auroc)}, FPR@0.5 {_f(metrics.get('val_fpr_at_0.5'))}, "
                f"recall@0.5 {_f(metrics.get('val_recall_at_0.5'))} ({last_epoch_s:.0f}s)"
                + (" *best*" if improved else ""))
            if cfg.patience and bad_epochs >= cfg.patience:
                stopped, stop = "early-stop", True
                log(f"early stop: no better validation AUROC for {bad_epochs} epochs (best epoch {best_epoch})")
            elif cfg.max_minutes and epoch < cfg.epochs:
                elapsed = time.monotonic() - t_start
                if elapsed + last_epoch_s > cfg.max_minutes * 60:
                    stopped, stop = "time-box", True
                    log(f"time box: {elapsed / 60:.1f} of {cfg.max_minutes:g} min used; another epoch would not fit")
        if ddp.broadcast_flag(stop, info):
            if not info.is_main:
                stopped = "stopped"
            break

    digests = ddp.gather_objects(ddp.state_digest(model), info)
    test_metrics = None
    if info.is_main:
        if test_items and best_path.is_file() and interrupted is None:
            test_metrics = _test_best(best_path, test_items, cfg.batch_size, info.device)
            log("held-out test (best epoch): AUROC " + _f(test_metrics.get("test_auroc")) + ", FPR@0.5 "
                + _f(test_metrics.get("test_fpr_at_0.5")) + ", recall@0.5 " + _f(test_metrics.get("test_recall_at_0.5")))
        summary = {"stopped": stopped, "epochs_done": epoch - (interrupted is not None), "best_epoch": best_epoch,
                   "best": best_metrics,
                   "test": test_metrics, "ddp_weight_sha256": digests, "world_size": info.world,
                   "elapsed_s": round(time.monotonic() - t_start, 1), "git_rev": git_rev,
                   "data_digest": digest, "unreadable": [str(s.path) for s in bad]}
        if interrupted is not None:
            summary["interrupted"] = {k: interrupted[k] for k in ("epoch", "step", "steps", "signal")}
            summary["resume"] = interrupt.resume_hint(run_dir)
        write_json(summary, run_dir / "summary.json")
        if tracker is not None:
            tracker.close(summary)
        if len(set(digests)) > 1:
            log(f"WARNING: ranks ended with different weights: {digests}")
        if interrupted is not None:
            log(f"interrupted by {interrupted['signal']} in epoch {epoch} after step {interrupted['step']}/"
                f"{steps_per_epoch}: saved {last_path}; resume with: {interrupt.resume_hint(run_dir)}")
        else:
            log(f"done ({stopped}): best epoch {best_epoch}, val AUROC {_f(best_metrics.get('val_auroc'))}; "
                f"outputs in {run_dir}")
    ddp.barrier(info)
    ddp.teardown(info)
    return TrainResult(run_dir=run_dir, best_path=best_path, last_path=last_path, best_epoch=best_epoch,
                       epochs_done=epoch, stopped=stopped, best_metrics=best_metrics, test_metrics=test_metrics)


def _test_best(best_path: Path, items: list[CachedImage], batch: int, device: torch.device) -> dict[str, Any]:
    """Score the held-out test split with the best checkpoint; store the result inside best.pt too."""
    from detector.train.checkpoint import load_checkpoint, read_checkpoint_dict

    loaded = load_checkpoint(best_path)
    metrics = evaluate_items(loaded.model.to(device), items, loaded.preprocess, batch, device, prefix="test_")
    raw = read_checkpoint_dict(best_path)
    raw["metrics"] = {**raw.get("metrics", {}), "test": metrics}
    tmp = best_path.with_name(".best.pt.tmp")
    torch.save(raw, tmp)
    tmp.replace(best_path)
    return metrics


def _mean_across_ranks(total: float, seen: int, info: ddp.DistInfo) -> float:
    if info.distributed:
        import torch.distributed as dist

        t = torch.tensor([total, float(seen)], dtype=torch.float64)
        dist.all_reduce(t)
        total, seen = float(t[0]), int(t[1])
    return total / max(seen, 1)


def _f(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.4f}"
