#!/usr/bin/env bash
# The first H200 call of 2026-12-02 (one device call, under 10 minutes): KernelBench's verdict on
# the exported winners by our independent judge and by the workbench's bench (issue 10), then
# `guided` again against the committed grids, ranked from the H100 calibration (issue 12).
# Run from the repo root: bash bench/h200_call3.sh
set -u
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
python3 bench/h200_run.py --part judge,guided --out "$OUT" --deadline "${DEADLINE:-540}"
