#!/usr/bin/env python3
"""An int8 copy of an exported fp32 model you only have as ONNX (the bundled one), at the fp32 operating point.

``graffiti export --int8`` quantizes while it exports a training checkpoint. This does the same for an ONNX file:
static int8 (QDQ, per-channel weights, 7-bit weight range unless ``--full-range``; see
``detector.train.quantize.quantize_int8``) calibrated on ``--calib`` images, the contract copied from the fp32 file
with ``quantization = int8-static`` and the calibration recorded, then thresholds matched to the fp32 model's
decisions on the validation photos and every tile of them as camera views (``graffiti rethreshold --match``).

    .venv/bin/python scripts/quantize_model.py models/graffiti-effnetlite0.onnx \\
        --out models/graffiti-effnetlite0-int8.onnx --calib runs/default-data/street-graffiti.csv \\
        --calib runs/default-data/synth.csv --calib runs/default-data/facades-spb.csv \\
        --data runs/default-data/street-graffiti.csv --data runs/default-data/facades-spb.csv \\
        --data runs/default-data/synth.csv
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path, help="the exported fp32 model (.onnx)")
    p.add_argument("--out", type=Path, required=True, help="the int8 copy to write (.onnx)")
    p.add_argument("--calib", action="append", required=True, help="calibration dataset spec (repeatable)")
    p.add_argument("--data", action="append", required=True,
                   help="the model's validation images, where the thresholds are matched (dataset spec, repeatable)")
    p.add_argument("--split", default="val", help="split of --data to match on (default val)")
    p.add_argument("--threshold-level", default="view", help="view (default) or photo, as graffiti rethreshold")
    p.add_argument("--min-side", type=int, default=None,
                   help="only photos at least this many px on the shorter side are shown as camera views "
                        "(default as graffiti rethreshold: 360)")
    p.add_argument("--full-range", action="store_true", help="8-bit weights (default 7: see quantize_int8)")
    p.add_argument("--calib-method", default="minmax", help="minmax (default) | percentile | entropy")
    p.add_argument("--calib-images", type=int, default=0, help="calibration images (0 = 256)")
    p.add_argument("--float-tail", default="fc", help="kept in float: fc (default) or conv")
    p.add_argument("--float-front", type=int, default=None,
                   help="convolutions from the input kept in float (default as graffiti export: 3)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from detector.errors import DetectorError

    try:
        return _run(args)
    except DetectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from detector.errors import ConfigError
    from detector.modelmeta import file_sha256
    from detector.onnxmodel import read_meta
    from detector.train.onnx_export import (
        FLOAT_TAILS,
        INT8_FLOAT_FRONT,
        _save_with_meta,
        _tmp_path,
        calibration_record,
        int8_calibration,
    )
    from detector.train.quantize import quantize_int8
    from detector.train.rethreshold import rethreshold

    src, out = args.model, args.out
    if src.suffix.lower() != ".onnx" or not src.is_file():
        raise ConfigError(f"{src}: expected an exported fp32 ONNX model (.onnx) that exists")
    if out.suffix.lower() != ".onnx" or out.resolve() == src.resolve():
        raise ConfigError(f"--out {out}: expected a new .onnx path beside, not over, the fp32 model")
    if args.float_tail not in FLOAT_TAILS:
        raise ConfigError(f"--float-tail: expected one of {', '.join(FLOAT_TAILS)}, found {args.float_tail!r}")
    float_front = INT8_FLOAT_FRONT if args.float_front is None else args.float_front
    if float_front < 0:
        raise ConfigError(f"--float-front: expected a number of convolutions >= 0, found {float_front}")
    meta = read_meta(src)
    if meta.quantization != "none":
        raise ConfigError(f"{src}: expected an fp32 model, found quantization {meta.quantization!r}")
    calib = int8_calibration(args.calib, args.calib_method, args.calib_images)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(out)
    try:
        used = quantize_int8(src, tmp, calib, meta.preprocess_spec(), method=args.calib_method,
                             float_tail=args.float_tail, reduce_range=not args.full_range, float_front=float_front)
        int8_meta = dataclasses.replace(
            meta, quantization="int8-static", created_utc=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            extra={**meta.extra,
                   "calibration": calibration_record(args.calib, used, args.calib_method, args.float_tail,
                                                     not args.full_range, float_front),
                   "fp32_model": {"file": src.name, "sha256": file_sha256(src)}},
        )
        _save_with_meta(tmp, out, int8_meta)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"{out}: int8 copy of {src.name} calibrated on {used} images; matching its thresholds to fp32's", flush=True)
    extra = {} if args.min_side is None else {"min_side_px": args.min_side}
    result = rethreshold(out, args.data, split=args.split, match=src, threshold_level=args.threshold_level, **extra)
    m = result.meta.extra.get("matched_to") or {}
    print(f"{out}: threshold {result.meta.threshold:.4f} (fp32 {meta.threshold:.4f}), clean {result.meta.clean_threshold:.4f}; "
          f"{m.get('disagree')} of {m.get('n')} validation photos and view tiles decided unlike fp32 at the threshold")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
