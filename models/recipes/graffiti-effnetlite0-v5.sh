#!/usr/bin/env bash
# How version 5 was made, step by step, from the repository root (CPU only, 2 cores).
# It starts from version 3 (the model whose mistakes are mined): its recipe's data and training steps.
set -euo pipefail
G=".venv/bin/graffiti"
D=runs/default-data
OUT=${OUT:-models}  # OUT=runs/v5 keeps the bundled files
mkdir -p "$D" "$OUT"

# 1-3. Data, version 3, the mining and version 5's training (models/recipes/v5-train.sh).
source models/recipes/v5-train.sh
# Export (thresholds from the validation split at <= 2 % false positives over whole photos) and evaluate.
$G export runs/effnetlite0-v5/best.pt --out "$OUT/graffiti-effnetlite0.onnx" --name graffiti-effnetlite0 \
   --version 5 --max-fpr 0.02 --threshold-level photo --int8 --int8-thresholds own \
   --calib "$D/street-graffiti.csv" --calib "$D/synth.csv" --calib "$D/facades-spb.csv"
V=v5 source models/recipes/evaluate.sh
# 4. The operating point on the edge: the real-walls benchmark and the simulated tunnel day.
.venv/bin/python scripts/bench_real_walls.py --walls 20 --hours 24 --jobs 2 --model "$OUT/graffiti-effnetlite0.onnx"
.venv/bin/python scripts/bench_tunnel_day.py --hours 24 --seeds 0,1,2 --model "$OUT/graffiti-effnetlite0.onnx"
