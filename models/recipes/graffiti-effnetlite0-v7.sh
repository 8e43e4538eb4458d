#!/usr/bin/env bash
# How the version-7 candidate (runs/v7/graffiti-effnetlite0.onnx and -int8.onnx; NOT bundled: on the
# real-walls benchmark it missed wall 5's piece, see the model card) was made, step by step, from the
# repository root (CPU only, 2 cores). Version 7 is one network: the weights of version 3 (0.8) and version 5 (0.2)
# averaged ("model soup"; both fine-tune only the last 2 blocks and the head of the same ImageNet
# EfficientNet-Lite0, on the same validation split). Version 3 keeps every real piece of the paint-margin
# screen; version 5, trained on mined shop lettering, is quiet on clean walls but reads some pieces cold.
# The weight 0.8 is the lowest share of version 3 that kept all 24 screen pieces over the threshold in
# colour and IR (walls 20-43 of scripts/bench_paint_margin.py; 0.75 lost one IR piece, 0.7 one of each);
# the goal-run walls 0-19 and the held-out sets were not used to choose it.
set -euo pipefail
G=".venv/bin/graffiti"
D=runs/default-data
OUT=${OUT:-runs/v7}  # OUT=models would replace the bundled files
mkdir -p "$D" "$OUT"

# 1-2. Data, version 3, the mining and version 5 (models/recipes/v5-train.sh).
source models/recipes/v5-train.sh

# 3. The soup, exported (thresholds from the validation split at <= 2 % false positives over whole photos;
#    the int8 copy's thresholds matched to fp32's decisions), evaluated.
$G soup runs/effnetlite0-v3/best.pt runs/effnetlite0-v5/best.pt --weight 0.8 --weight 0.2 \
   --out runs/effnetlite0-v7/best.pt
$G export runs/effnetlite0-v7/best.pt --out "$OUT/graffiti-effnetlite0.onnx" --name graffiti-effnetlite0 \
   --version 7 --max-fpr 0.02 --threshold-level photo --int8 \
   --calib "$D/street-graffiti.csv" --calib "$D/synth.csv" --calib "$D/facades-spb.csv"
V=v7 source models/recipes/evaluate.sh
.venv/bin/python scripts/bench_paint_margin.py --walls 24 --model "$OUT/graffiti-effnetlite0.onnx"

# 4. The operating point on the edge: the real-walls benchmark and the simulated tunnel day.
.venv/bin/python scripts/bench_real_walls.py --walls 20 --hours 24 --jobs 2 --model "$OUT/graffiti-effnetlite0.onnx"
.venv/bin/python scripts/bench_tunnel_day.py --hours 24 --seeds 0,1,2 --model "$OUT/graffiti-effnetlite0.onnx"
