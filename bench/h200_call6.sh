#!/usr/bin/env bash
# The second H200 call of the 2026-12-02b round (one device call, about 6 minutes):
#   1. issue 16: conv3d_fast3's persistent tile loop (PERSISTENT = programs per SM, in the kernel of
#      2f324d5 only; the variants, since removed, were f3-pers5-m64s3, f3-pers4-m64s2, f3-pers3-s3,
#      f3-pers2-s2) on the
#      one-K-step problem L1/59 and on the others, and the tap table with BLOCK_K=32 on the
#      kw = 7 problems, against the defaults (bench/fast4_explore.py, KernelBench's protocol);
#   2. issue 16: the fast3b sweep winners (call 1's sessions) exported and judged by
#      bench/kernelbench_judge.py, and `bench` of the same files (bench/h200_run.py --part judge).
# Run from the repo root: bash bench/h200_call6.sh
set -u
: "${OUT:?run on the device machine, where OUT is set}"
export PYTHONUNBUFFERED=1
timeout 160 python3 bench/fast4_explore.py --out "$OUT/explore" --deadline-s 150 \
  --only f3-m64k32s2,f3-table-k32s3,f3-table-k32s4 \
  2>&1 | tee "$OUT/explore-log.txt" | tail -26
mkdir -p "$OUT/judge/work"
for p in 54 59 60 66; do
  gunzip -c "docs/measurements/h200-2026-12-02b/fast3b-l1-$p.session.json.gz" > "$OUT/judge/work/fast3-l1-$p.json"
done
timeout 330 python3 bench/h200_run.py --part judge --out "$OUT/judge" --deadline 320 2>&1 | tail -6
rm -f "$OUT"/judge/work/fast3-l1-*.json  # the sessions are committed already
