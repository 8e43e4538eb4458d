# Step 1 of every recipe in this folder (sourced, with G = the graffiti command and D = runs/default-data):
# the real-photo splits, version 1's synthetic tunnels and the held-out synthetic seed.
# Street photos: group-aware (the .rf. copies of one photo stay together), 15 % validation.
$G data split ../shared/datasets/street-graffiti --val 0.15 --seed 0 --out "$D/street-graffiti.csv"
# Facades: groups of 20 consecutive image numbers (neighbouring shots may show one building);
# 30 % of the groups are a test split that no training stage ever sees.
(echo path,group; for f in ../shared/datasets/facades-spb/images/*.jpg; do
   n=$(basename "$f" .jpg); n=${n#img_}; echo "images/img_$n.jpg,facades-block-$((n / 20))"; done) > "$D/facades-groups.csv"
$G data split "../shared/datasets/facades-spb::label=clean,groups=$D/facades-groups.csv" \
   --val 0.15 --test 0.3 --seed 0 --out "$D/facades-spb.csv"
# Synthetic tunnels for training, and a separately seeded set kept for evaluation only.
$G data synth --out runs/synth-train --n 2400 --seed 1
$G data synth --out runs/synth-holdout --n 400 --seed 9001
$G data split runs/synth-train --val 0.15 --seed 0 --out "$D/synth.csv"
# Commit the real-photo splits (paths + file hashes) so anyone can evaluate the held-out split and
# graffiti eval's leak guard can recognise training images. (Synthetic sets are regenerated from their seeds.)
.venv/bin/python scripts/write_model_splits.py graffiti-effnetlite0 "$D/street-graffiti.csv" "$D/facades-spb.csv"
