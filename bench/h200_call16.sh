#!/usr/bin/env bash
# The first H200 call of the 2026-12-02e round (issue 16): bf16x3s and bf16x3c (conv3d_fast3's
# split words read as bf16 (head, tail) pairs, the A tile left in shared memory for wgmma: no
# LDS of A) on all four L1 problems against the defaults (bench/fast4_explore.py: the s-* and
# c-* variants), then ncu of the defaults, s-k16s3 and s-k32s2 on L1/66 (L1 data-pipe
# wavefronts, bank reads and writes, stalls). Everything packed into one call1.tar.gz.
# Run from the repo root: bash bench/h200_call16.sh
set -u
: "${OUT:?run on the device machine, where OUT is set}"
export PYTHONUNBUFFERED=1
W="$OUT/call1"
mkdir -p "$W"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu --format=csv | tee "$W/gpu.txt"
timeout 330 python3 bench/fast4_explore.py --out "$W/explore" \
  --only s-k32s2,s-k16s3,s-k16s4,s-k16s2,s-k32s3,s-m64s3,s-m64k16s4,c-m64k16s3,c-m64k16s4,c-m64s2,c-k16s3 \
  --deadline-s 300 2>&1 | tee "$W/explore-log.txt" | tail -60
# variant FILE PRECISION BLOCK_K NUM_STAGES: a copy of the kernel file with those constants.
variant() {
  sed "s/^PRECISION = .*/PRECISION = \"$2\"/; s/^BLOCK_K = .*/BLOCK_K = $3/; s/^NUM_STAGES = .*/NUM_STAGES = $4/" \
    kernels/conv3d_fast3.py > "$1"
  grep -n "^PRECISION\|^BLOCK_K\|^NUM_STAGES" "$1"
}
variant "$W/p.py" bf16x3p 32 3
variant "$W/s16.py" bf16x3s 16 3
variant "$W/s32.py" bf16x3s 32 2
for v in p s16 s32; do
  FAST3_FILE="$W/$v.py" timeout 90 ncu --clock-control none --kernel-name regex:_conv3d_fast3_kernel \
    --launch-skip 2 --launch-count 1 --section SpeedOfLight --section Occupancy --section WarpStateStats \
    --section MemoryWorkloadAnalysis_Tables \
    --metrics "gpu__time_duration.sum,smsp__inst_executed.sum,l1tex__data_bank_reads.avg.pct_of_peak_sustained_elapsed,l1tex__data_bank_writes.avg.pct_of_peak_sustained_elapsed,l1tex__data_pipe_lsu_wavefronts.sum,l1tex__data_pipe_lsu_wavefronts_mem_shared.sum,regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio" \
    --csv --page details python3 bench/fast3_ncu.py L1/66 > "$W/ncu-$v-l1-66.csv" 2> "$W/ncu-$v-l1-66.err"
  echo "ncu $v: exit $?; $(wc -l < "$W/ncu-$v-l1-66.csv") lines"
done
tar czf "$OUT/call1.tar.gz" -C "$OUT" call1 && rm -rf "$W"
