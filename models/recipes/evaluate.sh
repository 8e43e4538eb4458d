# The evaluation step of the recipes from version 3 on (sourced, with G = the graffiti command,
# D = runs/default-data, OUT = the folder holding the exported models, V = the version tag for the report
# folders): fp32 and int8 on street validation, the held-out facades and the held-out synthetic sets.
for m in graffiti-effnetlite0 graffiti-effnetlite0-int8; do
  $G eval "$OUT/$m.onnx" --data "$D/street-graffiti.csv" --split val --out "runs/eval/$V-$m-street-val"
  $G eval "$OUT/$m.onnx" --data "$D/facades-spb.csv" --split test --out "runs/eval/$V-$m-facades-test"
  $G eval "$OUT/$m.onnx" --data runs/synth-holdout --out "runs/eval/$V-$m-synth-holdout" --no-views
  $G eval "$OUT/$m.onnx" --data runs/synth-hn-holdout --out "runs/eval/$V-$m-synth-hn-holdout" --no-views
done
