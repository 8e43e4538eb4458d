"""The training run: data → model → epochs with validation, checkpoints, early stopping, time box.

Rank 0 alone writes the run folder; under torchrun every rank trains on its shard and the
DistributedDataParallel all-reduce keeps the weights identical (checked at the end by digest).
"""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from dataclasses import dataclass, field
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
from detector.train.best_epoch import BestEpoch
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
from detector.train.features import (
    FeatureTrainSet,
    build_features,
    keep_loss,
    predict_features,
    predict_logits,
)
from detector.train.optim import optimizer_and_schedule
from detector.train.runlog import RunLog, plot_curves, progress_for, write_json, write_metrics_csv
from detector.train.validation import evaluate_items, selection_key, summarise


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


def _loader(dataset: Any, batch: int, workers: int, sampler: Any = None, drop_last: bool = False) -> DataLoader:
    return DataLoader(dataset, batch_size=batch, sampler=sampler, shuffle=False, num_workers=workers,
                      drop_last=drop_last, persistent_workers=False)


@dataclass
class RunContext:
    """What stays the same for the whole run: the config, the process and where things are written."""

    cfg: TrainConfig
    info: ddp.DistInfo
    run_dir: Path
    console: Any
    log: RunLog
    config_map: dict[str, Any]
    git_rev: str
    t_start: float


@dataclass
class RunData:
    """The decoded images by split and what the checkpoint records about them."""

    bad: list[Sample]  # unreadable, skipped
    digest: str  # of the split manifest
    data_info: dict[str, Any]
    train_items: list[CachedImage]
    val_items: list[CachedImage]
    test_items: list[CachedImage]


@dataclass
class Trainee:
    """The network being trained and what feeds it."""

    model: nn.Module  # the whole network (what checkpoints hold)
    net: nn.Module  # what the optimiser's steps run: the (DDP-wrapped) model, or its suffix on cached features
    frozen: list[nn.Module]  # kept in eval mode
    preprocess: PreprocessSpec
    train_set: Any
    val_features: torch.Tensor | None  # cached-feature training: the validation images through the frozen prefix


@dataclass
class Optimisation:
    sampler: MixSampler
    loader: DataLoader
    steps_per_epoch: int
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    loss_fn: nn.Module


@dataclass
class TrainState:
    """What changes from epoch to epoch; saved in last.pt's ``extra`` so a run resumes where it stopped."""

    history: list[dict[str, Any]] = field(default_factory=list)  # one metrics row per epoch
    best: BestEpoch = field(default_factory=BestEpoch)
    first_epoch: int = 1
    mid_epoch: dict[str, Any] | None = None  # interrupted inside an epoch: where to continue
    resume_rng: torch.Tensor | None = None  # torch's RNG state saved with last.pt

    def extra(self, seed: int, **more: Any) -> dict[str, Any]:
        return {"history": self.history, **self.best.to_extra(), "torch_rng": torch.get_rng_state(), "seed": seed,
                **more}


@dataclass
class EpochLoss:
    total: float  # summed over the images seen
    seen: int
    interrupted: dict[str, Any] | None = None  # a stop request ended the epoch early: where


def run_training(cfg: TrainConfig, start: StartState, run_dir: Path, console: Any) -> TrainResult:
    """Train per ``cfg`` into ``run_dir``; see the module docstring."""
    ctx = _start_run(cfg, run_dir, console)
    data = _load_data(ctx, start)
    trainee = _build_trainee(ctx, start, data)
    info, log = ctx.info, ctx.log
    from detector.train.tracking import Tracker, parse_track, pick_samples

    tracker = Tracker(run_dir, parse_track(cfg.track), ctx.config_map, log, pick_samples(data.val_items),
                      trainee.preprocess, resumed=start.resume is not None) if info.is_main else None
    opt = _optimisation(ctx, start, data, trainee)
    state = _resume_state(ctx, start, opt)
    best_path, last_path = run_dir / "best.pt", run_dir / "last.pt"
    stopped = "epochs"
    log(f"model {cfg.arch} ({trainee.preprocess.input_size[0]}px, "
        f"{sum(p.numel() for p in trainee.model.parameters() if p.requires_grad):,} "
        f"trainable parameters), {opt.steps_per_epoch} steps/epoch x {cfg.epochs} epochs on {info.device}"
        + (f", {info.world} processes" if info.distributed else ""))
    epoch = state.first_epoch - 1
    from detector.train import interrupt

    stop_request = interrupt.active()
    stop_request.defer()  # from here a Ctrl-C/SIGTERM ends the current step, saves and says how to resume
    interrupted: dict[str, Any] | None = None
    for epoch in range(state.first_epoch, cfg.epochs + 1):
        t_epoch = time.monotonic()
        loss = _train_epoch(ctx, trainee, opt, state, epoch, stop_request)
        if loss.interrupted is not None:
            interrupted, stopped = loss.interrupted, "interrupted"
            if info.is_main:
                _save_last(ctx, data, trainee, opt, epoch - 1,
                           {"epoch": epoch - 1, "train_loss_partial": loss.total / max(loss.seen, 1)},
                           state.extra(cfg.seed, mid_epoch=interrupted))
            break
        ddp.sync_buffers(trainee.model, info)
        train_loss = _mean_across_ranks(loss.total, loss.seen, info)
        stop: tuple[str, str] | None = None
        if info.is_main:
            stop = _end_epoch(ctx, data, trainee, opt, state, tracker, epoch, train_loss, t_epoch)
            if stop is not None:
                stopped = stop[0]
                log(stop[1])
        if ddp.broadcast_flag(stop is not None, info):
            if not info.is_main:
                stopped = "stopped"
            break

    digests = ddp.gather_objects(ddp.state_digest(trainee.model), info)
    test_metrics = None
    if info.is_main:
        test_metrics = _finish(ctx, data, state, tracker, epoch, stopped, interrupted, digests, opt.steps_per_epoch)
    ddp.barrier(info)
    ddp.teardown(info)
    return TrainResult(run_dir=run_dir, best_path=best_path, last_path=last_path, best_epoch=state.best.epoch,
                       epochs_done=epoch, stopped=stopped, best_metrics=state.best.metrics, test_metrics=test_metrics)


def _start_run(cfg: TrainConfig, run_dir: Path, console: Any) -> RunContext:
    """Processes, threads, the run folder with its config.yaml and log, the seed, the code's revision."""
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
    return RunContext(cfg, info, run_dir, console, log, config_map, git_revision(), t_start)


def _load_data(ctx: RunContext, start: StartState) -> RunData:
    """Decode and cache every image, write the split manifest (fresh runs), count the splits."""
    from detector.train.archs import preprocess as arch_preprocess

    cfg, info, log, run_dir = ctx.cfg, ctx.info, ctx.log, ctx.run_dir
    log(f"data: {len(start.samples)} images from {len(start.sources)} source(s); caching at {cfg.cache_px}px")
    progress = progress_for(ctx.console, log) if info.is_main else None
    if progress is not None:
        progress.start()
    try:
        # validation/test pixels exactly as graffiti eval prepares them (one resize from full size)
        eval_spec = start.init.preprocess if start.init is not None else arch_preprocess(cfg.arch, cfg.input_px)
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
    data = RunData(bad=bad, digest=digest, data_info=data_info,
                   train_items=[c for c in cached if c.sample.split == "train"],
                   val_items=[c for c in cached if c.sample.split == "val"],
                   test_items=[c for c in cached if c.sample.split == "test"])
    for split, per in counts.items():
        log(f"  {split}: " + "; ".join(f"{src} {v['clean']} clean / {v['graffiti']} graffiti" for src, v in sorted(per.items())))
    return data


def _build_trainee(ctx: RunContext, start: StartState, data: RunData) -> Trainee:
    """The model (fresh, --from or resumed), frozen early layers, and either augmented images or
    cached features of the frozen prefix to train on."""
    from detector.train import archs

    cfg, info, log = ctx.cfg, ctx.info, ctx.log
    if start.init is not None:
        model = start.init.model
        preprocess: PreprocessSpec = start.init.preprocess
    else:
        model = archs.build(cfg.arch, cfg.weights if start.resume is None else None, dropout=cfg.dropout)
        preprocess = archs.preprocess(cfg.arch, cfg.input_px)
    if start.resume is not None:
        model.load_state_dict(start.resume["model_state"])
    frozen = archs.freeze(model, cfg.arch, cfg.freeze_blocks)
    model = model.to(info.device).to(memory_format=torch.channels_last)
    if not cfg.cached_views:
        train_set: Any = TrainSet(data.train_items, preprocess, cfg.augment)
        return Trainee(model, ddp.wrap(model, info), frozen, preprocess, train_set, None)
    train_items, val_items = data.train_items, data.val_items
    prefix, suffix = archs.split(model, cfg.arch, cfg.freeze_blocks)
    log(f"caching {cfg.cached_views} augmented view(s) of {len(train_items)} training images through the "
        f"frozen stem + {cfg.freeze_blocks} blocks")
    progress = progress_for(ctx.console, log) if info.is_main else None
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
            feature_key(cfg, data.digest, prefix, preprocess, len(train_items), len(val_items), info.device),
            compute_features, log)
    finally:
        if progress is not None:
            progress.stop()
    keep, teacher = None, None
    if cfg.keep_sources:
        keep = [c.sample.source in cfg.keep_sources for c in train_items]
        teacher = _teacher_logits(ctx, suffix, train_features, resumed=start.resume is not None)
        log(f"keep: {sum(keep)} training images of {', '.join(cfg.keep_sources)} held at the starting model's "
            f"readings (weight {cfg.keep_weight:g})")
    train_set = FeatureTrainSet(train_features, [c.label for c in train_items], cfg.cached_views, keep, teacher)
    net = ddp.wrap(suffix, info)
    log(f"cached {tuple(train_features.shape)} training features ({train_features.numel() * 2 / 1e6:.0f} MB)")
    return Trainee(model, net, frozen, preprocess, train_set, val_features)


def _teacher_logits(ctx: RunContext, suffix: nn.Module, features: torch.Tensor, resumed: bool) -> torch.Tensor:
    """The starting model's logit of every cached training view (config keep_sources), computed before the
    first step and kept in the run folder: a resumed run's network is no longer the starting model, so it
    reads them back from there."""
    path = ctx.run_dir / "keep_teacher.pt"
    if resumed:
        teacher = torch.load(path, map_location="cpu", weights_only=True) if path.is_file() else None
        if teacher is None or teacher.shape[0] != features.shape[0]:
            from detector.errors import CheckpointError

            raise CheckpointError(f"{path}: the starting model's readings of the held images (keep_sources) are "
                                  f"{'missing' if teacher is None else 'for other data'}; a resumed run cannot "
                                  "recompute them, so start the run again")
        return teacher  # type: ignore[no-any-return]
    teacher = predict_logits(suffix, features, ctx.cfg.batch_size * 2, ctx.info.device)
    if ctx.info.is_main:
        torch.save(teacher, path)
    return teacher


def _optimisation(ctx: RunContext, start: StartState, data: RunData, trainee: Trainee) -> Optimisation:
    """Sampling (source weights, class balance, this rank's shard), AdamW, warm-up + cosine, the loss."""
    cfg, info = ctx.cfg, ctx.info
    train_items = data.train_items
    balance = cfg.balance == "sampler"
    probs = sampling_weights(train_items, start.sources, balance)
    weighted = balance or len({s.weight for s in start.sources.values()}) > 1
    draws = cfg.samples_per_epoch or len(train_items)
    sampler = MixSampler(probs, draws, cfg.seed, info.rank, info.world, weighted=weighted)
    per_rank = len(sampler)
    drop_last = per_rank >= cfg.batch_size
    loader = _loader(trainee.train_set, cfg.batch_size, cfg.workers if not cfg.cached_views else 0, sampler, drop_last)
    steps_per_epoch = max(1, len(loader))
    optimizer, scheduler = optimizer_and_schedule(trainee.model, cfg, steps_per_epoch)
    n_pos = sum(1 for c in train_items if c.label == 1)
    pos_weight = None
    if cfg.balance == "pos_weight" and n_pos:
        pos_weight = torch.tensor((len(train_items) - n_pos) / n_pos, device=info.device)
    return Optimisation(sampler, loader, steps_per_epoch, optimizer, scheduler, nn.BCEWithLogitsLoss(pos_weight=pos_weight))


def _resume_state(ctx: RunContext, start: StartState, opt: Optimisation) -> TrainState:
    """A fresh state, or the one saved in the resumed run's last.pt (optimiser, schedule, RNG too)."""
    if start.resume is None:
        return TrainState()
    raw = start.resume
    opt.optimizer.load_state_dict(raw["optimizer_state"])
    opt.scheduler.load_state_dict(raw["scheduler_state"])
    extra = raw.get("extra") or {}
    state = TrainState(history=list(extra.get("history", [])), best=BestEpoch.from_extra(extra),
                       first_epoch=int(raw["epoch"]) + 1, resume_rng=extra.get("torch_rng"))
    if state.resume_rng is not None:
        torch.set_rng_state(state.resume_rng)
    state.mid_epoch = extra.get("mid_epoch")  # interrupted inside an epoch: continue at the next step
    if state.mid_epoch:
        ctx.log(f"resuming {ctx.run_dir} in epoch {state.mid_epoch['epoch']} at step {state.mid_epoch['step'] + 1}")
    else:
        ctx.log(f"resuming {ctx.run_dir} after epoch {raw['epoch']}")
    return state


def _train_epoch(ctx: RunContext, trainee: Trainee, opt: Optimisation, state: TrainState, epoch: int,
                 stop_request: Any) -> EpochLoss:
    """One pass over this rank's draws (continuing mid-epoch after a resume); stops early on a request."""
    cfg, info, console = ctx.cfg, ctx.info, ctx.console
    steps_per_epoch = opt.steps_per_epoch
    opt.sampler.set_epoch(epoch)
    trainee.net.train()
    for m in trainee.frozen:
        m.eval()
    if cfg.freeze_bn:
        from detector.train.archs import hold_batchnorm

        hold_batchnorm(trainee.net)
    total, seen, skip = 0.0, 0, 0
    mid_epoch = state.mid_epoch
    if mid_epoch and int(mid_epoch["epoch"]) == epoch:
        skip, total, seen = int(mid_epoch["step"]), float(mid_epoch["total"]), int(mid_epoch["seen"])
    opt.sampler.skip = skip * cfg.batch_size
    progress = progress_for(console, None) if info.is_main else None
    task = progress.add_task(f"epoch {epoch}/{cfg.epochs}", total=steps_per_epoch, completed=skip) if progress else None
    if progress is not None:
        progress.start()
    interrupted: dict[str, Any] | None = None
    try:
        batches = iter(opt.loader)  # creating the iterator draws from torch's RNG
        if skip and state.resume_rng is not None:
            torch.set_rng_state(state.resume_rng)  # the state saved after step `skip`
        for step, batch in enumerate(batches, start=skip):
            x = batch[0].to(info.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            y = batch[1].to(info.device)
            target = y * (1.0 - cfg.label_smoothing) + 0.5 * cfg.label_smoothing
            if len(batch) == 4:  # held items (keep_sources): never read lower than the starting model
                loss = keep_loss(trainee.net(x), target, batch[2].to(info.device), batch[3].to(info.device),
                                 cfg.keep_weight, getattr(opt.loss_fn, "pos_weight", None))
            else:
                loss = opt.loss_fn(trainee.net(x), target)
            opt.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            opt.optimizer.step()
            opt.scheduler.step()
            total += float(loss.detach()) * len(y)
            seen += len(y)
            if progress is not None and task is not None:
                progress.update(task, advance=1, description=f"epoch {epoch}/{cfg.epochs} loss {total / seen:.4f}")
            elif info.is_main and not console.is_terminal and (step + 1) % max(1, steps_per_epoch // 4) == 0:
                ctx.log(f"  epoch {epoch} step {step + 1}/{steps_per_epoch} loss {total / max(seen, 1):.4f}")
            if ddp.broadcast_flag(stop_request.requested, info):
                interrupted = {"epoch": epoch, "step": step + 1, "steps": steps_per_epoch, "total": total,
                               "seen": seen, "signal": stop_request.signal_name or "signal"}
                break
    finally:
        if progress is not None:
            progress.stop()
    opt.sampler.skip = 0
    return EpochLoss(total, seen, interrupted)


def _validate(ctx: RunContext, data: RunData, trainee: Trainee) -> dict[str, Any]:
    """Validation metrics of the model now (on the cached features when training on them)."""
    cfg, info = ctx.cfg, ctx.info
    if trainee.val_features is not None:
        probs = predict_features(unwrap(trainee.net), trainee.val_features, cfg.batch_size * 2, info.device)
        return summarise(np.array([c.label for c in data.val_items], dtype=np.float64), probs,
                         [c.source for c in data.val_items])
    return evaluate_items(trainee.model, data.val_items, trainee.preprocess, cfg.batch_size, info.device)


def _end_epoch(ctx: RunContext, data: RunData, trainee: Trainee, opt: Optimisation, state: TrainState,
               tracker: Any, epoch: int, train_loss: float, t_epoch: float) -> tuple[str, str] | None:
    """Rank 0 after an epoch: validate, track the best, write last.pt (and best.pt), the curves and the
    trackers, log; returns ``(stopped, why)`` when the run should stop here."""
    cfg, run_dir = ctx.cfg, ctx.run_dir
    row: dict[str, Any] = {"epoch": epoch, "lr": opt.optimizer.param_groups[0]["lr"], "train_loss": train_loss}
    metrics = _validate(ctx, data, trainee)
    row.update({k: metrics.get(k) for k in ("val_loss", "val_auroc", "val_ap", "val_recall_at_0.5",
                                             "val_fpr_at_0.5")})
    epoch_s = time.monotonic() - t_epoch
    row["epoch_s"] = round(epoch_s, 1)
    row["elapsed_s"] = round(time.monotonic() - ctx.t_start, 1)
    state.history.append(row)
    improved = state.best.update(epoch, selection_key(metrics, epoch),
                                 {"epoch": epoch, "train_loss": train_loss, **metrics})
    last_path = _save_last(ctx, data, trainee, opt, epoch, {"epoch": epoch, "train_loss": train_loss, **metrics},
                           state.extra(cfg.seed))
    if improved:
        shutil.copyfile(last_path, run_dir / "best.pt")
    write_metrics_csv(state.history, run_dir / "metrics.csv")
    plot_curves(state.history, run_dir / "curves.png")
    if tracker is not None:
        tracker.epoch(row, trainee.model)
    ctx.log(f"epoch {epoch}: train loss {train_loss:.4f}, val loss {_f(metrics.get('val_loss'))}, "
            f"val AUROC {_f(metrics.get('val_auroc'))}, FPR@0.5 {_f(metrics.get('val_fpr_at_0.5'))}, "
            f"recall@0.5 {_f(metrics.get('val_recall_at_0.5'))} ({epoch_s:.0f}s)"
            + (" *best*" if improved else ""))
    return state.best.stop_reason(patience=cfg.patience, max_minutes=cfg.max_minutes, epoch=epoch, epochs=cfg.epochs,
                                  elapsed_s=time.monotonic() - ctx.t_start, epoch_s=epoch_s,
                                  selects_on="validation AUROC")


def _save_last(ctx: RunContext, data: RunData, trainee: Trainee, opt: Optimisation, epoch: int,
               metrics: dict[str, Any], extra: dict[str, Any]) -> Path:
    path = ctx.run_dir / "last.pt"
    save_checkpoint(path, model=trainee.model, arch=ctx.cfg.arch, preprocess=trainee.preprocess,
                    optimizer=opt.optimizer, scheduler=opt.scheduler, epoch=epoch, metrics=metrics,
                    config=ctx.config_map, data_info=data.data_info, git_rev=ctx.git_rev, extra=extra)
    return path


def _finish(ctx: RunContext, data: RunData, state: TrainState, tracker: Any, epoch: int, stopped: str,
            interrupted: dict[str, Any] | None, digests: list[str], steps_per_epoch: int) -> dict[str, Any] | None:
    """Rank 0 at the end: the best checkpoint on the test split, summary.json, the closing log line."""
    log, run_dir = ctx.log, ctx.run_dir
    best_path, last_path = run_dir / "best.pt", run_dir / "last.pt"
    test_metrics = None
    if data.test_items and best_path.is_file() and interrupted is None:
        test_metrics = _test_best(best_path, data.test_items, ctx.cfg.batch_size, ctx.info.device)
        log("held-out test (best epoch): AUROC " + _f(test_metrics.get("test_auroc")) + ", FPR@0.5 "
            + _f(test_metrics.get("test_fpr_at_0.5")) + ", recall@0.5 " + _f(test_metrics.get("test_recall_at_0.5")))
    from detector.train import interrupt

    summary = {"stopped": stopped, "epochs_done": epoch - (interrupted is not None), "best_epoch": state.best.epoch,
               "best": state.best.metrics,
               "test": test_metrics, "ddp_weight_sha256": digests, "world_size": ctx.info.world,
               "elapsed_s": round(time.monotonic() - ctx.t_start, 1), "git_rev": ctx.git_rev,
               "data_digest": data.digest, "unreadable": [str(s.path) for s in data.bad]}
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
        log(f"done ({stopped}): best epoch {state.best.epoch}, val AUROC {_f(state.best.metrics.get('val_auroc'))}; "
            f"outputs in {run_dir}")
    return test_metrics


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
