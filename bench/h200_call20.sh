#!/usr/bin/env bash
# The first H200 call of the 2026-12-03 round (issue 16): tests/test_fast3_gpu.py (bf16x3g against
# float64 conv3d, on the Gluon wgmma kernel), then the fast3h sweeps (bench/h200_run.py: the
# `conv3d-bench sweep` verb on all four L1 problems, bf16x3g's WG_TILES and WG_WAIT among the
# tunables); everything packed into one call1.tar.gz. Run from the repo root: bash bench/h200_call20.sh
set -u
: "${OUT:?run on the device machine, where OUT is set}"
export PYTHONUNBUFFERED=1
W="$OUT/call1"
mkdir -p "$W"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu --format=csv | tee "$W/gpu.txt"
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" | tee -a "$W/gpu.txt"
timeout 150 python3 -m pytest -q -rs -p no:cacheprovider tests/test_fast3_gpu.py 2>&1 | tee "$W/gpu-tests.txt" | tail -5
timeout 420 python3 bench/h200_run.py --part fast3h --out "$W/run" --deadline 400 2>&1 \
  | tee "$W/sweeps-log.txt" | tail -12
tar czf "$OUT/call1.tar.gz" -C "$OUT" call1 && rm -rf "$W"
