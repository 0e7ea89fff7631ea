#!/usr/bin/env bash
# The fourth H200 call of 2026-12-02 (one device call, under 10 minutes):
#   1. issue 10: the judge and the workbench's `bench` on the exported L1/54 and L1/66 winners
#      again, now that a trial runs its config baked in (bench/kb_gap.py found the launch
#      override's host time: 0.07-0.1 ms per forward), and `bench` of the kernel file with the
#      winner's --config (the sweep's path);
#   2. issue 16: bench/fast4_explore.py round 1, with what is left of the call.
# Run from the repo root: bash bench/h200_call4.sh
set -u
export PYTHONUNBUFFERED=1
JUDGE_PROBLEMS=L1/54,L1/66 timeout 200 python3 bench/h200_run.py --part judge --out "$OUT/agree" --deadline 190 2>&1 | tail -8
timeout 400 python3 bench/fast4_explore.py --out "$OUT" --deadline-s "${FAST4_DEADLINE:-340}" 2>&1 | tee "$OUT/fast4-log.txt" | tail -40
