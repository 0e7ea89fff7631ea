#!/usr/bin/env bash
# The fourth H200 call of the 2026-12-02d round (issue 16): K_MAJOR (bf16x3p's A tile k-major in
# shared memory, its wgmma operand read as 8-byte k-pairs, against round 10's ncu: 2.6-way bank
# conflicts on the default layout) on L1/54, L1/60 and L1/66 (bench/fast4_explore.py: the
# kmaj-* variants, bf16x3p at BLOCK_K=16 and the defaults as controls), then ncu of the best
# K_MAJOR config on L1/66 (bank conflicts, L1 data-pipe wavefronts). Everything packed into one call4.tar.gz.
# Run from the repo root at dccdcec (K_MAJOR was taken out after this
# measurement: it lost): bash bench/h200_call15.sh
set -u
: "${OUT:?run on the device machine, where OUT is set}"
export PYTHONUNBUFFERED=1
W="$OUT/call4"
mkdir -p "$W"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu --format=csv | tee "$W/gpu.txt"
timeout 300 python3 bench/fast4_explore.py --out "$W/explore" --problems L1/54,L1/60,L1/66 \
  --only f3p-k16s3,kmaj-k16-r128,kmaj-k16-r128-s2,kmaj-k16-r128-s4,kmaj-k16,kmaj-k32 \
  --deadline-s 270 2>&1 | tee "$W/explore-log.txt" | tail -24
km=$W/conv3d_fast3_kmajor.py
sed 's/^K_MAJOR = 0 /K_MAJOR = 1 /; s/^MAXNREG = 0 /MAXNREG = 128 /; s/^BLOCK_K = 32$/BLOCK_K = 16/' \
  kernels/conv3d_fast3.py > "$km"
grep -n "^K_MAJOR\|^MAXNREG\|^BLOCK_K" "$km"
FAST3_FILE="$km" timeout 100 ncu --clock-control none --kernel-name regex:_conv3d_fast3_kernel \
  --launch-skip 2 --launch-count 1 --section SpeedOfLight --section Occupancy --section WarpStateStats \
  --section MemoryWorkloadAnalysis --section MemoryWorkloadAnalysis_Tables --section InstructionStats \
  --metrics "l1tex__data_pipe_lsu_wavefronts.sum,l1tex__data_pipe_lsu_wavefronts_mem_shared.sum,regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio" \
  --csv --page details python3 bench/fast3_ncu.py L1/66 > "$W/ncu-kmaj-l1-66.csv" 2> "$W/ncu-kmaj-l1-66.err"
echo "ncu: exit $?; $(wc -l < "$W/ncu-kmaj-l1-66.csv") lines"
tar czf "$OUT/call4.tar.gz" -C "$OUT" call4 && rm -rf "$W"
