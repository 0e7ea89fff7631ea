#!/usr/bin/env bash
# The second H200 call of the 2026-12-02d round (one device call, under 10 minutes), issue 16:
#   1. L1/59's tiles stored by TMA against the per-thread stores (bench/fast4_explore.py's
#      f3-notma, f3r-k16s3(-notma), f3p-s4, f3p-m256w8, f3p-m64s2-tma and the control);
#   2. sweeps of today's kernel file (bench/h200_run.py --part fast3g): round 9's grid on L1/59,
#      4 configs around round 9's winners on L1/54, 60 and 66 (sessions to export and judge);
# everything packed into one call2.tar.gz. Run from the repo root at commit 934a619 (TMA_STORE
# was taken out after this measurement: it lost): bash bench/h200_call13.sh
set -u
: "${OUT:?run on the device machine, where OUT is set}"
export PYTHONUNBUFFERED=1
W="$OUT/call2"
mkdir -p "$W"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu --format=csv | tee "$W/gpu.txt"
timeout 170 python3 bench/fast4_explore.py --out "$W/explore" --problems L1/59 \
  --only f3-notma,f3r-k16s3,f3r-k16s3-notma,f3p-s4,f3p-m256w8,f3p-m64s2-tma --deadline-s 150 \
  2>&1 | tee "$W/explore-log.txt" | tail -14
timeout 380 python3 bench/h200_run.py --part fast3g --out "$W/run" --deadline 370 2>&1 \
  | tee "$W/sweeps-log.txt" | tail -10
tar czf "$OUT/call2.tar.gz" -C "$OUT" call2 && rm -rf "$W"
