#!/usr/bin/env bash
# The third H200 call of the 2026-12-03 round (issue 16), after the fix of bf16x3r's compile on
# Triton 3.6: tests/test_fast3_gpu.py (now every fp32-accurate precision), the fast3i sweeps
# (bf16x3r against bf16x3p on L1/54 and L1/59) and their exports judged; then L1/66's fast3h
# export judged a second time (call 2 timed it 0.556 ms where the workbench timed 0.517).
# Packed into one call3.tar.gz. Run from the repo root: bash bench/h200_call22.sh
set -u
: "${OUT:?run on the device machine, where OUT is set}"
export PYTHONUNBUFFERED=1
W="$OUT/call3"
mkdir -p "$W/run66/work"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu --format=csv | tee "$W/gpu.txt"
timeout 150 python3 -m pytest -q -rs -p no:cacheprovider tests/test_fast3_gpu.py 2>&1 | tee "$W/gpu-tests.txt" | tail -5
JUDGE_SESSIONS=fast3i JUDGE_PROBLEMS=L1/54,L1/59 timeout 330 python3 bench/h200_run.py \
  --part fast3i,judge --out "$W/run" --deadline 320 2>&1 | tee "$W/run-log.txt" | tail -8
cp sessions/l1-66-h200-fast3h.json "$W/run66/work/fast3h-l1-66.json"
JUDGE_SESSIONS=fast3h JUDGE_PROBLEMS=L1/66 JUDGE_SAME_CONFIG=0 timeout 120 python3 bench/h200_run.py \
  --part judge --out "$W/run66" --deadline 110 2>&1 | tee "$W/run66-log.txt" | tail -4
tar czf "$OUT/call3.tar.gz" -C "$OUT" call3 && rm -rf "$W"
