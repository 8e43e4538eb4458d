"""Turn the command line (or a YAML config) into a training run: fresh, from a checkpoint, or resumed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from detector.config import from_mapping, read_config_file
from detector.errors import CheckpointError, ConfigError
from detector.train.config import TrainConfig
from detector.train.loop import StartState, TrainResult, run_training

# What may change when resuming: how long and where it runs, never what it learns from or how.
RESUMABLE = frozenset({"epochs", "max_minutes", "workers", "device", "threads", "out"})


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
        return run_training(cfg, start, Path(resume), console)
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
    mix = load_mix(cfg.data, cfg.val_fraction, cfg.test_fraction, cfg.seed, cfg.augment.deequalize_sources)
    check_trainable(mix.samples)
    start = StartState(samples=mix.samples, sources=mix.sources, init=init)
    if cfg.mil.enabled:
        from detector.train.mil import run_mil_training

        return run_mil_training(cfg, start, run_dir, console)  # type: ignore[no-any-return]
    return run_training(cfg, start, run_dir, console)
