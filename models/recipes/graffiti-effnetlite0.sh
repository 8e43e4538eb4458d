#!/usr/bin/env bash
# How version 1 (the bundled model until 2026-11-29; version 3 replaced it, see graffiti-effnetlite0-v3.sh) was made, step by step, from the repository root.
# CPU only: training took 25 min on 2 shared cores (of which 12 min caching the frozen layers' output).
set -euo pipefail
G=".venv/bin/graffiti"
D=runs/default-data
mkdir -p "$D" runs/v1

# 1. Data: the splits and synthetic sets every recipe here shares.
source models/recipes/data.sh

# 2. Train: ImageNet EfficientNet-Lite0, stem + first 14 blocks frozen, the last 2 blocks + head trained
#    on 2 cached augmented views per image; early stopping on validation AUROC.
$G train --config models/recipes/graffiti-effnetlite0.yaml

# 3. Export (thresholds from the validation split at <= 2 % false positives) and evaluate.
$G export runs/effnetlite0-default/best.pt --out runs/v1/graffiti-effnetlite0.onnx --name graffiti-effnetlite0 \
   --version 1 --max-fpr 0.02 --threshold-level photo --int8 --int8-thresholds own --calib "$D/street-graffiti.csv" --calib "$D/synth.csv" --calib "$D/facades-spb.csv"
for m in graffiti-effnetlite0 graffiti-effnetlite0-int8; do
  $G eval runs/v1/$m.onnx --data "$D/street-graffiti.csv" --split val --out runs/eval/v1-$m-street-val
  $G eval runs/v1/$m.onnx --data "$D/facades-spb.csv" --split test --out runs/eval/v1-$m-facades-test
  $G eval runs/v1/$m.onnx --data runs/synth-holdout --out runs/eval/v1-$m-synth-holdout
done
.venv/bin/python scripts/bench_onnx.py runs/v1/graffiti-effnetlite0.onnx runs/v1/graffiti-effnetlite0-int8.onnx --threads 1
