#!/usr/bin/env bash
# How version 2 (MIL; runs/mil-model/graffiti-effnetlite0.onnx, not shipped) was made, step by step, from the repository root.
# CPU only: training took 56 min on 2 shared cores (49 min of it pushing every photo's camera-view tiles
# and one augmented whole-photo view through the frozen layers), export 15 min, evaluation 20 min.
set -euo pipefail
G=".venv/bin/graffiti"
D=runs/default-data
mkdir -p "$D" runs/mil-model

# 1. Data: the splits and synthetic sets every recipe here shares.
source models/recipes/data.sh

# 2. Train: ImageNet EfficientNet-Lite0, stem + first 14 blocks frozen, the last 2 blocks + head trained by
#    multiple-instance learning over each photo's camera-view tiles (1280x720, the edge's 320-px tiles),
#    plus whole-photo instances; selection on view-level recall at 2 % view-level false positives.
$G train --config models/recipes/graffiti-effnetlite0-mil.yaml

# 3. Export: thresholds from the validation split at <= 2 % false positives counted on camera views
#    (any tile of a clean photo shown as a 1280x720 view; --threshold-level view is the default), then evaluate
#    (photo level and view level; the 320-px synthetic scenes are not camera views: photo level only).
$G export runs/effnetlite0-mil/best.pt --out runs/mil-model/graffiti-effnetlite0.onnx --name graffiti-effnetlite0 \
   --version 2 --max-fpr 0.02 --int8 --int8-thresholds own --calib "$D/street-graffiti.csv" --calib "$D/synth.csv" --calib "$D/facades-spb.csv"
for m in graffiti-effnetlite0 graffiti-effnetlite0-int8; do
  $G eval runs/mil-model/$m.onnx --data "$D/street-graffiti.csv" --split val --out runs/eval/$m-street-val
  $G eval runs/mil-model/$m.onnx --data "$D/facades-spb.csv" --split test --out runs/eval/$m-facades-test
  $G eval runs/mil-model/$m.onnx --data runs/synth-holdout --out runs/eval/$m-synth-holdout --no-views
done
.venv/bin/python scripts/bench_onnx.py runs/mil-model/graffiti-effnetlite0.onnx runs/mil-model/graffiti-effnetlite0-int8.onnx --threads 1
