#!/usr/bin/env bash
# The first H200 call of the 2026-12-02d round (one device call, under 10 minutes), issue 16:
# sweeps of 16 conv3d_fast3 configs per problem on L1/54, L1/60 and L1/66 (bench/h200_run.py
# --part fast3f: bf16x3p with PHASES = 2 and 4 against PHASES = 1 and bf16x3r; screened, the
# top 5 timed by KernelBench's protocol); everything packed into one call1.tar.gz (the device
# tool returns at most 8 files). Run from the repo root at commit 1784fa3 (PHASES was taken out
# after this measurement): bash bench/h200_call12.sh
set -u
: "${OUT:?run on the device machine, where OUT is set}"
export PYTHONUNBUFFERED=1
W="$OUT/call1"
mkdir -p "$W"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu --format=csv | tee "$W/gpu.txt"
timeout 560 python3 bench/h200_run.py --part fast3f --out "$W/run" --deadline 550 2>&1 | tee "$W/sweeps-log.txt" | tail -12
tar czf "$OUT/call1.tar.gz" -C "$OUT" call1 && rm -rf "$W"
