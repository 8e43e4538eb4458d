"""Weight averaging of fine-tuned checkpoints (a "model soup"): one network, no extra cost on the edge.

Two runs fine-tuned from the same ImageNet weights with the same frozen prefix differ only in the
layers they trained; averaging those layers' weights (Wortsman et al., *Model soups*, 2022; the
WiSE-FT interpolation) often lands between the two in behaviour. Here it is the way to keep most of
one model's recall on real pieces (version 3) while taking some of another's quiet on clean walls
(version 5, trained on mined lettering): an interpolation weight chosen on the validation figures
and the paint-margin screen, never on the benchmarks that judge the result.

The soup is an ordinary checkpoint: ``graffiti export`` chooses its thresholds on the validation
split, which is why every ingredient must share that split (checked here) and the same architecture
and preprocessing. The soup keeps the data record (and so the training-data summary of the exported
model) of the ingredient listed last: list the one trained on the most data last. Its
``extra.soup`` lists the ingredients and their weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector.errors import CheckpointError, ConfigError


def _bn_kind(folded: bool) -> str:
    return "folded BatchNorm (imported from ONNX, or trained --from such a model)" if folded else "BatchNorm statistics"


@dataclass(frozen=True)
class SoupSummary:
    out: Path
    weights: tuple[float, ...]
    tensors_mixed: int  # tensors that differ between the ingredients (the fine-tuned layers)
    tensors_same: int  # tensors equal in every ingredient (the frozen prefix)


def _manifest(ckpt: dict[str, Any], path: Path) -> Path | None:
    """The split manifest the checkpoint's run wrote: as recorded, else beside the checkpoint (a moved run
    folder, as export finds it); None when it records none."""
    from detector.train.onnx_export import recorded_manifest

    mpath = recorded_manifest(ckpt.get("data"), path)
    if mpath is None:
        return None
    if not mpath.is_file():
        raise CheckpointError(f"{path}: its split manifest {mpath} is not there (needed to check that the "
                              "ingredients share one validation split)")
    return mpath


def _val_rows(ckpt: dict[str, Any], path: Path) -> frozenset[tuple[str, int]] | None:
    """The (image path, label) rows of the validation split the checkpoint was trained with; None when
    the checkpoint records no split manifest."""
    from detector.data.manifest import read_manifest

    mpath = _manifest(ckpt, path)
    if mpath is None:
        return None
    return frozenset((str(s.path), s.label) for s in read_manifest(mpath, check_files=False) if s.split == "val")


def make_soup(paths: Sequence[Path], weights: Sequence[float] | None, out: Path) -> SoupSummary:
    """Average the checkpoints' weights (``weights`` normalised to sum 1; default equal) into ``out``."""
    import torch

    from detector.train.checkpoint import FORMAT, read_checkpoint_dict, write_checkpoint_dict

    if len(paths) < 2:
        raise ConfigError(f"a soup needs at least two checkpoints (got {len(paths)})")
    w = [1.0] * len(paths) if not weights else [float(x) for x in weights]
    if len(w) != len(paths):
        raise ConfigError(f"--weight: {len(w)} weights for {len(paths)} checkpoints (give one per checkpoint)")
    if any(x < 0 for x in w) or sum(w) <= 0:
        raise ConfigError(f"--weight: weights must be >= 0 with a positive sum (got {', '.join(f'{x:g}' for x in w)})")
    w = [x / sum(w) for x in w]
    ckpts = [read_checkpoint_dict(p) for p in paths]
    first, first_path = ckpts[0], Path(paths[0])
    for p, c in zip(paths[1:], ckpts[1:], strict=True):
        if c["arch"] != first["arch"]:
            raise CheckpointError(f"{p}: architecture {c['arch']} differs from {first_path}'s {first['arch']}")
        if c["preprocess"] != first["preprocess"]:
            raise CheckpointError(f"{p}: preprocessing {c['preprocess']} differs from {first_path}'s "
                                  f"{first['preprocess']}")
        a, b = first["model_state"], c["model_state"]
        if set(a) != set(b):
            odd = sorted(set(a) ^ set(b))[0]
            raise CheckpointError(f"{p}: its weights do not match {first_path}'s (tensor {odd} is in one only)")
        for k in a:
            if tuple(a[k].shape) != tuple(b[k].shape):
                raise CheckpointError(f"{p}: tensor {k} has shape {tuple(b[k].shape)}, {first_path}'s "
                                      f"{tuple(a[k].shape)}")
    from detector.train.onnx_import import is_bn_folded

    folded = [is_bn_folded(c) for c in ckpts]
    if len(set(folded)) > 1:
        bad = next(p for p, f in zip(paths, folded, strict=True) if f != folded[0])
        raise CheckpointError(f"{bad}: has {_bn_kind(not folded[0])}, {first_path} has {_bn_kind(folded[0])}; their "
                              "weights cannot be averaged (soup an imported model only with runs trained --from it)")
    # An ingredient that records no split (one imported from ONNX, `graffiti import-onnx`) is not compared;
    # the others must share theirs.
    vals = [_val_rows(c, Path(p)) for p, c in zip(paths, ckpts, strict=True)]
    recorded = [v for v in vals if v is not None]
    if len(set(recorded)) > 1:
        bad = next(p for p, v in zip(paths, vals, strict=True) if v is not None and v != recorded[0])
        raise CheckpointError(f"{bad}: trained with another validation split than {first_path} (export chooses "
                              "the soup's thresholds on that split; train the ingredients with the same val split)")
    state: dict[str, Any] = {}
    mixed = same = 0
    for k, t0 in first["model_state"].items():
        tensors = [c["model_state"][k] for c in ckpts]
        if all(torch.equal(t0, t) for t in tensors[1:]):
            state[k] = t0.clone()
            same += 1
        elif t0.is_floating_point():
            acc = sum(wi * t.double() for wi, t in zip(w, tensors, strict=True))
            state[k] = acc.to(t0.dtype)  # type: ignore[union-attr]
            mixed += 1
        else:  # integer counters (BatchNorm's num_batches_tracked): the last ingredient's
            state[k] = tensors[-1].clone()
            mixed += 1
    last = ckpts[-1]
    data = dict(last.get("data") or {})
    found = _manifest(last, Path(paths[-1]))
    if found is not None:
        data["manifest"] = str(found)  # where it is now (its run folder may have moved): export reads it
    payload: dict[str, Any] = {
        "format": FORMAT,
        "arch": last["arch"],
        "model_state": state,
        "optimizer_state": None,
        "scheduler_state": None,
        "epoch": int(last.get("epoch") or 0),
        "metrics": {},
        "config": dict(last.get("config") or {}),
        "preprocess": last["preprocess"],
        "data": data,
        "git_rev": str(last.get("git_rev") or ""),
        "extra": {"soup": [{"checkpoint": str(p), "weight": round(x, 6), "epoch": c.get("epoch"),
                            "git_rev": c.get("git_rev")} for p, x, c in zip(paths, w, ckpts, strict=True)]},
    }
    try:
        out = write_checkpoint_dict(out, payload)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write the soup ({exc.strerror})") from None
    return SoupSummary(out=out, weights=tuple(w), tensors_mixed=mixed, tensors_same=same)
