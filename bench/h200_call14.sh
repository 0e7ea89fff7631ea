#!/usr/bin/env bash
# The third H200 call of the 2026-12-02d round (issue 16): Nsight Compute on conv3d_fast3's main
# kernel with PHASES = 1 (kernels/conv3d_fast3.py, the defaults) and with PHASES = 2 (the kernel
# of 1784fa3, kept as docs/measurements/h200-2026-12-02d/conv3d_fast3_phases.py) on L1/60 and
# L1/66: speed of light, the memory tables (shared-memory wavefronts), instruction counts, warp
# stalls. PHASES = 2 ran 2.5x fewer instructions per K step and no faster: what bounds both?
# Everything packed into one call3.tar.gz. Run from the repo root: bash bench/h200_call14.sh
set -u
: "${OUT:?run on the device machine, where OUT is set}"
W="$OUT/call3"
mkdir -p "$W"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu --format=csv | tee "$W/gpu.txt"
phases=docs/measurements/h200-2026-12-02d/conv3d_fast3_phases.py
# profile TAG ARGS...: one launch of the main kernel per problem and variant (p1: today's file,
# p2: the PHASES = 2 one), written to $W/ncu-TAG-VARIANT-l1-XX.csv.
profile() {
  local tag="$1"; shift
  for p in L1/66 L1/60; do
    for v in p1 p2; do
      local name=ncu-$tag$v-$(echo "$p" | tr 'A-Z/' 'a-z-') file=""
      [ "$v" = p2 ] && file="$phases"
      FAST3_FILE="$file" timeout 120 ncu --clock-control none --kernel-name regex:_conv3d_fast3_kernel \
        --launch-skip 2 --launch-count 1 "$@" \
        --csv --page details python3 bench/fast3_ncu.py "$p" > "$W/$name.csv" 2> "$W/$name.err"
      echo "$p $v $tag: exit $?; $(wc -l < "$W/$name.csv") lines"
    done
  done
}
profile "" --section SpeedOfLight --section Occupancy --section WarpStateStats \
  --section MemoryWorkloadAnalysis --section MemoryWorkloadAnalysis_Tables \
  --section InstructionStats --section ComputeWorkloadAnalysis \
  --metrics "regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio"
# The same four with raw counters of the shared/L1 data path (a separate run: an unknown metric
# name fails only this one).
profile raw- --metrics gpu__time_duration.sum,smsp__inst_executed.sum,\
l1tex__data_bank_reads.avg.pct_of_peak_sustained_elapsed,\
l1tex__data_bank_writes.avg.pct_of_peak_sustained_elapsed,\
l1tex__data_pipe_lsu_wavefronts_mem_shared.sum,l1tex__data_pipe_lsu_wavefronts.sum,\
l1tex__t_bytes.sum,lts__t_bytes.sum,sm__pipe_tensor_op_gmma_cycles_active.avg.pct_of_peak_sustained_elapsed
tar czf "$OUT/call3.tar.gz" -C "$OUT" call3 && rm -rf "$W"
