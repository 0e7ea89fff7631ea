#!/usr/bin/env bash
# The committed kernels/conv3d_fast3.py, exported with each L1 problem's sweep winner
# ($JUDGE_DIR/final-export-L1-*.py, written by `conv3d-bench export`; default
# docs/measurements/h200-2026-12-02b), judged by bench/kernelbench_judge.py on the GPU machine:
# $OUT/final-judge-L1-*.json; with BENCH=1 also the workbench's own `bench` of each file
# ($OUT/final-bench-L1-*.json: KernelBench's protocol and kernel-only time).
# Run from the repo root: [JUDGE_DIR=...] [BENCH=1] bash bench/h200_final_judge.sh
set -u
: "${OUT:?run on the device machine, where OUT is set}"
D="${JUDGE_DIR:-docs/measurements/h200-2026-12-02b}"
declare -A FILE=([54]=54_conv_standard_3D__square_input__square_kernel.py
  [59]=59_conv_standard_3D__asymmetric_input__square_kernel.py
  [60]=60_conv_standard_3D__square_input__asymmetric_kernel.py
  [66]=66_conv_standard_3D__asymmetric_input__asymmetric_kernel.py)
for p in 54 59 60 66; do
  timeout 150 python3 bench/kernelbench_judge.py "$D/final-export-L1-$p.py" \
    "tests/fixtures/kernelbench/level1/${FILE[$p]}" --json "$OUT/final-judge-L1-$p.json" 2>&1 | tail -1
  if [ "${BENCH:-0}" = 1 ]; then
    timeout 120 python3 -m workbench bench "$D/final-export-L1-$p.py" --problem "L1/$p" --gpu h200 \
      --json > "$OUT/final-bench-L1-$p.json" 2> "$OUT/final-bench-L1-$p.err"
    echo "bench L1/$p: exit $?"
  fi
done
