#!/usr/bin/env bash
# The third H200 call of the 2026-12-02e round (issue 16): bf16x3g (conv3d_fast3's Gluon wgmma
# kernel) with a persistent grid (WG_TILES) and 32-channel tiles: checked against float64 conv3d
# on small shapes (bench/wgmma_check.py), then measured on all four L1 problems against the
# defaults (bench/fast4_explore.py: the g-* variants). Everything packed into one call3.tar.gz.
# Run from the repo root: bash bench/h200_call18.sh
set -u
: "${OUT:?run on the device machine, where OUT is set}"
export PYTHONUNBUFFERED=1
W="$OUT/call3"
mkdir -p "$W"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu --format=csv | tee "$W/gpu.txt"
for t in "0 64" "2 64" "3 32"; do
  set -- $t
  WG_TILES=$1 BLOCK_N=$2 timeout 120 python3 bench/wgmma_check.py --out "$W" 2>&1 | tee -a "$W/check-log.txt" | tail -1
done
timeout 300 python3 bench/fast4_explore.py --out "$W/explore" \
  --only g-wait3,g-t2w3,g-t2,g-n32,g-n32w3,g-n32t3w3,g-n32t4,g-m64w3,g-m64t4w3 --deadline-s 280 2>&1 | tee "$W/explore-log.txt" | tail -50
tar czf "$OUT/call3.tar.gz" -C "$OUT" call3 && rm -rf "$W"
