# The training steps of version 5 (sourced by graffiti-effnetlite0-v5.sh and -v7.sh, with G = the graffiti
# command and D = runs/default-data): the data, version 3 (the model whose mistakes are mined), the mining
# and version 5's training. CPU only, 2 cores: data 3 min, version 3 6 min, export 1 min, mining a few
# minutes each, version 5 2 min (the frozen layers' outputs are cached per image once version 3 ran).
mkdir -p runs/v3
source models/recipes/data.sh
source models/recipes/hardneg.sh
$G train --config models/recipes/graffiti-effnetlite0-v3.yaml
$G export runs/effnetlite0-v3/best.pt --out runs/v3/graffiti-effnetlite0.onnx --name graffiti-effnetlite0 \
   --version 3 --max-fpr 0.02 --threshold-level photo
# Mine the training photos with version 3 as the edge's camera views: its hottest clean tiles (at most 3
# per photo) and each graffiti photo's hottest tile.
$G data mine runs/v3/graffiti-effnetlite0.onnx --data "$D/facades-spb.csv" --data "$D/street-graffiti.csv" \
   --out runs/mined-v3 --n 1200 --per-photo 3
$G data mine runs/v3/graffiti-effnetlite0.onnx --data "$D/street-graffiti.csv" \
   --out runs/mined-pos-v3 --n 2000 --per-photo 1 --label graffiti
$G train --config models/recipes/graffiti-effnetlite0-v5.yaml
