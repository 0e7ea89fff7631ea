#!/usr/bin/env bash
# The third H200 call of 2026-12-02 (one device call, under 10 minutes):
#   1. bench/kb_gap.py on the exported L1/54 winner: why the workbench's `bench` and the judge
#      timed the same file 0.933 vs 0.738 ms (issue 10);
#   2. bench/fast4_explore.py round 1 (issue 16), with what is left of the call.
# Run from the repo root: bash bench/h200_call4.sh
set -u
export PYTHONUNBUFFERED=1
M=docs/measurements/h200-2026-12-02
mkdir -p "$OUT/kb_gap"
timeout 200 python3 bench/kb_gap.py "$M/export-L1-54.py" \
    tests/fixtures/kernelbench/level1/54_conv_standard_3D__square_input__square_kernel.py L1/54 \
    --out "$OUT/kb_gap/kb-gap-l1-54.json" 2>&1 | tail -30
timeout 420 python3 bench/fast4_explore.py --out "$OUT" --deadline-s "${FAST4_DEADLINE:-330}" 2>&1 | tail -60
