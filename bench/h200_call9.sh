#!/usr/bin/env bash
# The third H200 call of the 2026-12-02c round (one device call, under 10 minutes), issue 16:
#   1. the bf16x3p split kernel's tiles (bench/write_floor.py);
#   2. sweeps of 36 conv3d_fast3 configs on L1/54 and L1/59 with 32 output channels per tile
#      (bench/h200_run.py --part fast3d);
# everything under $OUT packed into one call3.tar.gz (the device tool returns at most 8 files).
# Run from the repo root: bash bench/h200_call9.sh
set -u
: "${OUT:?run on the device machine, where OUT is set}"
export PYTHONUNBUFFERED=1
W="$OUT/call3"
mkdir -p "$W"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu --format=csv | tee "$W/gpu.txt"
timeout 90 python3 bench/write_floor.py --out "$W/write-floor.json" 2>&1 | cut -c1-400 | tail -5
timeout 330 python3 bench/h200_run.py --part fast3d --out "$W/run" --deadline 320 2>&1 | tail -6
tar czf "$OUT/call3.tar.gz" -C "$OUT" call3 && rm -rf "$W"
