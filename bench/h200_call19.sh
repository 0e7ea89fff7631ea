#!/usr/bin/env bash
# The fourth H200 call of the 2026-12-02e round (issue 16): bench/kernelbench_judge.py on the four
# files of docs/measurements/h200-2026-12-02e/ (L1/54 and L1/59: round 9's judged exports, the
# Triton kernel; L1/60 and L1/66: today's kernels/conv3d_fast3.py with bf16x3g, WG_TILES=2 and
# WG_WAIT=3, the best of call 3). Run from the repo root: bash bench/h200_call19.sh
set -u
: "${OUT:?run on the device machine, where OUT is set}"
JUDGE_DIR=docs/measurements/h200-2026-12-02e bash bench/h200_final_judge.sh
