#!/usr/bin/env bash
# How version 5 was made, step by step, from the repository root (CPU only, 2 cores).
# It starts from version 3 (the model whose mistakes are mined): its recipe's data and training steps.
set -euo pipefail
G=".venv/bin/graffiti"
D=runs/default-data
OUT=${OUT:-models}  # OUT=runs/v5 keeps the bundled files
mkdir -p "$D" "$OUT" runs/v3

# 1. Data, and version 3 (data 3 min, training 6 min, export 1 min).
source models/recipes/data.sh
source models/recipes/hardneg.sh
$G train --config models/recipes/graffiti-effnetlite0-v3.yaml
$G export runs/effnetlite0-v3/best.pt --out runs/v3/graffiti-effnetlite0.onnx --name graffiti-effnetlite0 \
   --version 3 --max-fpr 0.02 --threshold-level photo

# 2. Mine the training photos with version 3 as the edge's camera views (a few minutes each): its hottest
#    clean tiles (at most 3 per photo) and each graffiti photo's hottest tile.
$G data mine runs/v3/graffiti-effnetlite0.onnx --data "$D/facades-spb.csv" --data "$D/street-graffiti.csv" \
   --out runs/mined-v3 --n 1200 --per-photo 3
$G data mine runs/v3/graffiti-effnetlite0.onnx --data "$D/street-graffiti.csv" \
   --out runs/mined-pos-v3 --n 2000 --per-photo 1 --label graffiti

# 3. Train (the frozen layers' outputs are cached per image: 2 min once version 3's cache exists), export
#    (thresholds from the validation split at <= 2 % false positives over whole photos) and evaluate.
$G train --config models/recipes/graffiti-effnetlite0-v5.yaml
$G export runs/effnetlite0-v5/best.pt --out "$OUT/graffiti-effnetlite0.onnx" --name graffiti-effnetlite0 \
   --version 5 --max-fpr 0.02 --threshold-level photo --int8 --int8-thresholds own \
   --calib "$D/street-graffiti.csv" --calib "$D/synth.csv" --calib "$D/facades-spb.csv"
V=v5 source models/recipes/evaluate.sh
# 4. The operating point on the edge: the real-walls benchmark and the simulated tunnel day.
.venv/bin/python scripts/bench_real_walls.py --walls 20 --hours 24 --jobs 2 --model "$OUT/graffiti-effnetlite0.onnx"
.venv/bin/python scripts/bench_tunnel_day.py --hours 24 --seeds 0,1,2 --model "$OUT/graffiti-effnetlite0.onnx"
