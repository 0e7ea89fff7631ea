#!/usr/bin/env bash
# The fifth H200 call of the 2026-12-02c round (one device call, under 10 minutes), issue 16:
#   1. sweeps of 24 conv3d_fast3 configs per L1 problem, bf16x3r and bf16x3p with its head x head
#      product first (bench/h200_run.py --part fast3e: screened, top 5 by KernelBench's protocol);
#   2. each problem's winner exported by `conv3d-bench export` from its session (the committed
#      kernel) and judged by bench/kernelbench_judge.py, with the workbench's bench of the file;
# everything packed into one call5.tar.gz (the device tool returns at most 8 files).
# Run from the repo root: bash bench/h200_call11.sh
set -u
: "${OUT:?run on the device machine, where OUT is set}"
export PYTHONUNBUFFERED=1
W="$OUT/call5"
mkdir -p "$W"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu --format=csv | tee "$W/gpu.txt"
timeout 290 python3 bench/h200_run.py --part fast3e --out "$W/run" --deadline 280 2>&1 | tee "$W/sweeps-log.txt" | tail -9
JUDGE_SESSIONS=fast3e JUDGE_SAME_CONFIG=0 timeout 280 python3 bench/h200_run.py --part judge --out "$W/run" \
  --deadline 270 2>&1 | tee "$W/judge-log.txt" | tail -5
tar czf "$OUT/call5.tar.gz" -C "$OUT" call5 && rm -rf "$W"
