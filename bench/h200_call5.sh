#!/usr/bin/env bash
# The first H200 call of the 2026-12-02b round (one device call, under 10 minutes):
#   1. issue 16: conv3d_fast3's cached launch (FAST_LAUNCH=1, now its default) against Triton's
#      plain launch (FAST_LAUNCH=0), same kernels, KernelBench's protocol, all four L1 problems;
#      fast4's best L1/66 tile with 4 stages (bench/fast4_explore.py, ~60 s);
#   2. issues 16 and 13: the tuning round by the sweep verb: a grid of 48 conv3d_fast3 configs
#      on each L1 problem (bench/h200_run.py --part fast3b: screened, top 5 by KernelBench's
#      protocol, each twice, a tie broken by three more runs each); the sessions are the model's
#      larger fast3 groups and the H200 session of each problem.
# Run from the repo root: bash bench/h200_call5.sh
set -u
: "${OUT:?run on the device machine, where OUT is set}"
export PYTHONUNBUFFERED=1
timeout 110 python3 bench/fast4_explore.py --out "$OUT/explore" --only f3-plainlaunch,f4-m256w8s4 \
  --problems L1/54,L1/59,L1/60,L1/66 --deadline-s 95 2>&1 | tee "$OUT/explore-log.txt" | tail -14
timeout 470 python3 bench/h200_run.py --part fast3b --out "$OUT/run" --deadline 455 2>&1 | tail -12
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu --format=csv | tee "$OUT/gpu.txt"
