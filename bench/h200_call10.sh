#!/usr/bin/env bash
# The last H200 call of the 2026-12-02c round: the final exports judged again (the kernel has
# not changed since call 2, whose judge files did not come back), with the workbench's own bench
# of each, all packed into one call4.tar.gz (the device tool returns at most 8 files).
# Run from the repo root: bash bench/h200_call10.sh
set -u
: "${OUT:?run on the device machine, where OUT is set}"
export PYTHONUNBUFFERED=1
W="$OUT/call4"
mkdir -p "$W"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu --format=csv | tee "$W/gpu.txt"
OUT="$W" JUDGE_DIR=docs/measurements/h200-2026-12-02c BENCH=1 timeout 400 bash bench/h200_final_judge.sh 2>&1 | tail -8
tar czf "$OUT/call4.tar.gz" -C "$OUT" call4 && rm -rf "$W"
