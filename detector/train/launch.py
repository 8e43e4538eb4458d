"""Launch a training run from ``graffiti train``'s flags (or a YAML config): fresh, from a checkpoint
(``--from``), or resumed (``--resume``); then :mod:`detector.train.loop` (or :mod:`~detector.train.mil`) trains."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from detector.config import from_mapping, read_config_file
from detector.errors import CheckpointError, ConfigError
from detector.train.config import TrainConfig
from detector.train.loop import StartState, TrainResult, run_training

# What may change when resuming: how long and where it runs, never what it learns from or how.
RESUMABLE = frozenset({"epochs", "max_minutes", "workers", "device", "threads", "out", "track"})


def resolve_config(config_file: Path | None, overrides: dict[str, Any]) -> TrainConfig:
    """Defaults < YAML/TOML file < command-line flags (None = flag not given)."""
    data: dict[str, Any] = read_config_file(config_file) if config_file is not None else {}
    for key, value in overrides.items():
        if value is not None and not (key == "data" and not value):
            data[key] = value
    return from_mapping(TrainConfig, data)


def _resume_state(run_dir: Path, overrides: dict[str, Any]) -> tuple[TrainConfig, StartState]:
    from detector.data.manifest import read_manifest
    from detector.train.checkpoint import read_checkpoint_dict
    from detector.train.data import SourceInfo, file_sha256

    last = run_dir / "last.pt"
    if not last.is_file():
        raise CheckpointError(f"{last}: no last.pt to resume from (is {run_dir} a training run folder?)")
    raw = read_checkpoint_dict(last)
    changed = sorted(k for k, v in overrides.items() if v not in (None, []) and k not in RESUMABLE)
    if changed:
        raise ConfigError(f"{changed[0]}: cannot change when resuming (only {', '.join(sorted(RESUMABLE))} can); "
                          f"start a new run with --from {last} instead")
    cfg_map = dict(raw.get("config") or {})
    cfg_map.update({k: v for k, v in overrides.items() if k in RESUMABLE and v is not None})
    cfg_map["out"] = str(run_dir)
    cfg = from_mapping(TrainConfig, cfg_map)
    manifest = run_dir / "data_manifest.csv"
    data = raw.get("data") or {}
    if not manifest.is_file() or file_sha256(manifest) != data.get("digest"):
        raise CheckpointError(f"{manifest}: missing or changed since {last} was written (digest mismatch); "
                              "cannot resume exactly")
    samples = read_manifest(manifest)
    sources = {k: SourceInfo(**v) for k, v in (data.get("sources") or {}).items()}
    return cfg, StartState(samples=samples, sources=sources, resume=raw)


def train_main(config_file: Path | None, overrides: dict[str, Any], resume: Path | None, console: Any) -> TrainResult:
    """Everything ``graffiti train`` does after parsing its flags."""
    from detector.train.checkpoint import load_checkpoint
    from detector.train.data import check_trainable, load_mix

    if resume is not None:
        cfg, start = _resume_state(Path(resume), overrides)
        if cfg.mil.enabled:
            raise ConfigError(f"--resume {resume}: a MIL run (mil.enabled) cannot be resumed; start it again "
                              "or continue with --from RUN/last.pt")
        return _run(cfg, start, Path(resume), console)
    cfg = resolve_config(config_file, overrides)
    run_dir = Path(cfg.out)
    if (run_dir / "last.pt").exists():
        raise ConfigError(f"out: {run_dir} already holds a training run; continue it with --resume {run_dir} "
                          "or choose another --out")
    init = None
    if cfg.init_from:
        init = load_checkpoint(cfg.init_from)
        cfg.arch = init.arch
        cfg.input_px = init.preprocess.input_size[0]
        from detector.train.onnx_import import is_bn_folded

        if is_bn_folded(init.raw) and not cfg.freeze_bn:
            cfg.freeze_bn = True
            console.print(f"--from {cfg.init_from}: its BatchNorm is folded into the convolutions (imported from "
                          "ONNX, or trained from such a model); training with freeze_bn (the statistics stay as "
                          "they are)", highlight=False)
    from detector.train.tracking import check_available

    check_available(cfg.track)
    if init is None:  # the model and its weights fail here, before any image is decoded or folder written
        from detector.train.archs import preflight

        preflight(cfg.arch, cfg.weights, cfg.dropout, cfg.input_px, cfg.freeze_blocks, cfg.cached_views)
    split_seed = cfg.seed if cfg.split_seed is None else cfg.split_seed
    mix = load_mix(cfg.data, cfg.val_fraction, cfg.test_fraction, split_seed, cfg.augment.deequalize_sources)
    unknown = [k for k in cfg.keep_sources if k not in mix.sources]
    if unknown:
        raise ConfigError(f"keep_sources: {', '.join(unknown)} is not a source of data (sources: "
                          f"{', '.join(sorted(mix.sources))})")
    if cfg.fraction < 1.0 or cfg.max_images:
        from detector.train.subset import subsample

        before, groups = len(mix.samples), len({s.group for s in mix.samples})
        mix.samples = subsample(mix.samples, cfg.fraction, cfg.max_images, cfg.seed)
        console.print(f"quick run: kept {len(mix.samples)} of {before} images ({len({s.group for s in mix.samples})} "
                      f"of {groups} groups, whole groups per split and class)", highlight=False)
    check_trainable(mix.samples)
    return _run(cfg, StartState(samples=mix.samples, sources=mix.sources, init=init), run_dir, console)


def _run(cfg: TrainConfig, start: StartState, run_dir: Path, console: Any) -> TrainResult:
    """run_training under Ctrl-C/SIGTERM handling (see detector/train/interrupt.py)."""
    from detector.train.interrupt import StopOnSignal
    from detector.train.runlog import write_json

    with StopOnSignal() as stop:
        try:
            if cfg.mil.enabled:  # multiple-instance training over view tiles (detector/train/mil.py)
                from detector.train.mil import run_mil_training

                return run_mil_training(cfg, start, run_dir, console)  # type: ignore[no-any-return]
            return run_training(cfg, start, run_dir, console)
        except KeyboardInterrupt:
            if stop.deferred:  # a second Ctrl-C during the epochs: stop now, last.pt is the last saved state
                raise
            # still preparing data: nothing trained yet, nothing to resume
            if run_dir.is_dir() and not (run_dir / "last.pt").exists():
                write_json({"stopped": "interrupted", "epochs_done": 0, "phase": "preparing data",
                            "signal": stop.signal_name or "SIGINT"}, run_dir / "summary.json")
            console.print(f"interrupted by {stop.signal_name or 'SIGINT'} while preparing data (before the first "
                          "training step); nothing to resume: run the same command again", highlight=False)
            return TrainResult(run_dir=run_dir, best_path=run_dir / "best.pt", last_path=run_dir / "last.pt",
                               best_epoch=0, epochs_done=0, stopped="interrupted", best_metrics={},
                               test_metrics=None)
