#!/usr/bin/env bash
# The second H200 call of the 2026-12-02e round (issue 16): bf16x3g (conv3d_fast3's Gluon wgmma
# kernel) checked against float64 conv3d on small shapes (bench/wgmma_check.py), then on all four
# L1 problems against the defaults (bench/fast4_explore.py: the g-* variants), then ncu of the
# defaults and bf16x3g on L1/66. Everything packed into one call2.tar.gz.
# Run from the repo root: bash bench/h200_call17.sh
set -u
: "${OUT:?run on the device machine, where OUT is set}"
export PYTHONUNBUFFERED=1
W="$OUT/call2"
mkdir -p "$W"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu --format=csv | tee "$W/gpu.txt"
timeout 120 python3 bench/wgmma_check.py --out "$W" 2>&1 | tee "$W/check-log.txt" | tail -12
timeout 300 python3 bench/fast4_explore.py --out "$W/explore" \
  --only g-defaults,g-wait3,g-k16,g-m64,g-m256w8 --deadline-s 280 2>&1 | tee "$W/explore-log.txt" | tail -34
sed 's/^PRECISION = .*/PRECISION = "bf16x3g"/' kernels/conv3d_fast3.py > "$W/g.py"
for v in g; do
  FAST3_FILE="$W/$v.py" timeout 90 ncu --clock-control none --kernel-name regex:_conv3d_wgmma_kernel \
    --launch-skip 2 --launch-count 1 --section SpeedOfLight --section Occupancy --section WarpStateStats \
    --metrics "gpu__time_duration.sum,smsp__inst_executed.sum,l1tex__data_bank_reads.avg.pct_of_peak_sustained_elapsed,l1tex__data_bank_writes.avg.pct_of_peak_sustained_elapsed,l1tex__data_pipe_lsu_wavefronts.sum,l1tex__data_pipe_lsu_wavefronts_mem_shared.sum,l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum,l1tex__t_requests_pipe_lsu_mem_global_op_ld.sum,regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio" \
    --csv --page details python3 bench/fast3_ncu.py L1/66 > "$W/ncu-$v-l1-66.csv" 2> "$W/ncu-$v-l1-66.err"
  echo "ncu $v: exit $?; $(wc -l < "$W/ncu-$v-l1-66.csv") lines"
done
tar czf "$OUT/call2.tar.gz" -C "$OUT" call2 && rm -rf "$W"
