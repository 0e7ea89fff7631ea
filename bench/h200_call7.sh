#!/usr/bin/env bash
# The first H200 call of the 2026-12-02c round (one device call, under 10 minutes), issue 16:
#   1. bf16x3p (x split once per call into head/tail words) at the file's defaults and with
#      BLOCK_K=16, and the row taps on L1/59, against the defaults (bench/fast4_explore.py);
#   2. the tuning round by the sweep verb: 36 conv3d_fast3 configs per L1 problem, bf16x3r and
#      bf16x3p (bench/h200_run.py --part fast3c: screened, top 5 by KernelBench's protocol).
# Run from the repo root: bash bench/h200_call7.sh
set -u
: "${OUT:?run on the device machine, where OUT is set}"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu --format=csv | tee "$OUT/gpu.txt"
timeout 130 python3 bench/fast4_explore.py --out "$OUT/explore" --only f3p-defaults,f3p-k16s3,f3-rows,f3p-rows \
  --problems L1/54,L1/59,L1/60,L1/66 --deadline-s 115 2>&1 | tee "$OUT/explore-log.txt" | tail -14
timeout 420 python3 bench/h200_run.py --part fast3c --out "$OUT/run" --deadline 405 2>&1 | tail -12
