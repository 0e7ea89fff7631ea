#!/usr/bin/env bash
# The committed kernels/conv3d_fast3.py, exported with each L1 problem's sweep winner
# (docs/measurements/h200-2026-12-02b/final-export-L1-*.py, written by `conv3d-bench export`),
# judged by bench/kernelbench_judge.py on the GPU machine: $OUT/final-judge-L1-*.json.
# Run from the repo root: bash bench/h200_final_judge.sh
set -u
: "${OUT:?run on the device machine, where OUT is set}"
D=docs/measurements/h200-2026-12-02b
declare -A FILE=([54]=54_conv_standard_3D__square_input__square_kernel.py
  [59]=59_conv_standard_3D__asymmetric_input__square_kernel.py
  [60]=60_conv_standard_3D__square_input__asymmetric_kernel.py
  [66]=66_conv_standard_3D__asymmetric_input__asymmetric_kernel.py)
for p in 54 59 60 66; do
  timeout 150 python3 bench/kernelbench_judge.py "$D/final-export-L1-$p.py" \
    "tests/fixtures/kernelbench/level1/${FILE[$p]}" --json "$OUT/final-judge-L1-$p.json" 2>&1 | tail -1
done
