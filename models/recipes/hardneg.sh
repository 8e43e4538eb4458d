# Step 1b of the recipes from version 3 on (sourced after data.sh, with G = the graffiti command): hard
# negatives the edge meets (every image clean: parked bikes, close people and cyclists in lettered clothes,
# pipes, cables, signs, tiles, plaster, the IR look ...), scenes that mix those with paint, and a held-out
# hard-negatives set (seed 9101) for evaluation only.
$G data synth --out runs/synth-hardneg --n 1200 --seed 2 --only-negatives
$G data synth --out runs/synth-mixed --n 800 --seed 3 --hard-negatives
$G data synth --out runs/synth-hn-holdout --n 520 --seed 9101 --only-negatives
