#!/usr/bin/env bash
# The second H200 call of the 2026-12-03 round (issue 16): each L1 problem's fast3h session (from
# call 1, shipped as sessions/l1-*-h200-fast3h.json) exported by `conv3d-bench export` and
# judged by bench/kernelbench_judge.py and by the workbench's `bench` (bench/h200_run.py --part
# judge); packed into one call2.tar.gz. Run from the repo root: bash bench/h200_call21.sh
set -u
: "${OUT:?run on the device machine, where OUT is set}"
export PYTHONUNBUFFERED=1
W="$OUT/call2"
mkdir -p "$W/run/work"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu --format=csv | tee "$W/gpu.txt"
for p in 54 59 60 66; do
  cp "sessions/l1-$p-h200-fast3h.json" "$W/run/work/fast3h-l1-$p.json"
done
JUDGE_SESSIONS=fast3h timeout 560 python3 bench/h200_run.py --part judge --out "$W/run" \
  --deadline 540 2>&1 | tee "$W/judge-log.txt" | tail -12
tar czf "$OUT/call2.tar.gz" -C "$OUT" call2 && rm -rf "$W"
