#!/usr/bin/env bash
# The second H200 call of the 2026-12-02c round (one device call, under 10 minutes), issue 16:
#   1. the output-write floor of each L1 problem and the bf16x3p split pass alone
#      (bench/write_floor.py);
#   2. variants of the new defaults (bf16x3p, row taps at kw = 1): the old precision, a register
#      cap, 64-point tiles (bench/fast4_explore.py);
#   3. the judge: each problem's winner of call 1's sweeps, exported from the committed kernel by
#      `conv3d-bench export` (docs/measurements/h200-2026-12-02c/final-export-L1-*.py), judged by
#      bench/kernelbench_judge.py, with the workbench's own bench beside it;
#   4. Nsight Compute of the new defaults (bench/fast3_ncu.sh fast3c).
# Run from the repo root: bash bench/h200_call8.sh
set -u
: "${OUT:?run on the device machine, where OUT is set}"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu --format=csv | tee "$OUT/gpu.txt"
timeout 60 python3 bench/write_floor.py --out "$OUT/write-floor.json" 2>&1 | tail -5
timeout 100 python3 bench/fast4_explore.py --out "$OUT/explore" \
  --only f3r-defaults,f3p-maxnreg128,f3p-m64s2,f3r-m64s2,f3r-s2 \
  --problems L1/54,L1/59,L1/60,L1/66 --deadline-s 85 2>&1 | tee "$OUT/explore-log.txt" | tail -16
JUDGE_DIR=docs/measurements/h200-2026-12-02c BENCH=1 timeout 330 bash bench/h200_final_judge.sh 2>&1 | tail -8
timeout 100 bash bench/fast3_ncu.sh fast3c 2>&1 | tail -12
