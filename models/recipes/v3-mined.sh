# Steps 2-3 of the recipes that fine-tune the bundled version 3 (versions 9 and 10; sourced, with G = the graffiti
# command and D = runs/default-data, after data.sh and hardneg.sh):
# version 3's bundled ONNX file (the last commit that bundled it) as a training checkpoint, and its mistakes at the
# edge's tile scale, mined from the training photos as camera views: its hottest clean tiles (at most 3 per photo)
# and each graffiti photo's hottest tile.
mkdir -p runs/v3-import
git show 7e9b6ef:models/graffiti-effnetlite0.onnx > runs/v3-import/graffiti-effnetlite0-v3.onnx
$G import-onnx runs/v3-import/graffiti-effnetlite0-v3.onnx --out runs/v3-import/imported.pt
$G data mine runs/v3-import/graffiti-effnetlite0-v3.onnx --data "$D/facades-spb.csv" --data "$D/street-graffiti.csv" \
   --out runs/mined-b3 --n 1200 --per-photo 3
$G data mine runs/v3-import/graffiti-effnetlite0-v3.onnx --data "$D/street-graffiti.csv" \
   --out runs/mined-pos-b3 --n 2000 --per-photo 1 --label graffiti
