#!/usr/bin/env bash
# Nsight Compute on the fast kernel's main launch: speed of light, warp stall reasons, memory,
# occupancy. Clocks are left as they are (--clock-control none).
# Usage: bash bench/fast_ncu.sh "$OUT" [kernel stem: conv3d_fast (default) or conv3d_fast2]
set -u
out=${1:?usage: fast_ncu.sh OUT_DIR [KERNEL_STEM]}
stem=${2:-conv3d_fast}
main=$([ "$stem" = conv3d_fast ] && echo _conv3d_igemm_kernel || echo "_${stem}_kernel")
for run in "L1/66 3" "L1/54 2"; do
  set -- $run
  name=$(echo "$stem-$1" | tr 'A-Z/_' 'a-z--' | sed 's/^conv3d-//')
  [ "$stem" = conv3d_fast2 ] && set -- "$1" -  # fast2: its own defaults
  ncu --clock-control none --kernel-name "regex:$main" --launch-skip 2 --launch-count 1 \
    --section SpeedOfLight --section WarpStateStats --section MemoryWorkloadAnalysis \
    --section Occupancy --section LaunchStats --section ComputeWorkloadAnalysis \
    --csv --page details python3 bench/fast_ncu.py "$1" "$2" "$stem" > "$out/ncu-$name.csv" 2> "$out/ncu-$name.err"
  echo "$1: exit $?; $(wc -l < "$out/ncu-$name.csv") lines"
  grep -E '"(Duration|Compute \(SM\) Throughput|Memory Throughput|DRAM Throughput|Achieved Occupancy|Theoretical Occupancy|Registers Per Thread|Warp Cycles Per Issued Instruction|Issue Slots Busy|L1/TEX Hit Rate|L2 Hit Rate|Executed Ipc Active|Stall [A-Za-z ]+)"' "$out/ncu-$name.csv" \
    | awk -F'","' '{print $(NF-2) " = " $NF " " $(NF-1)}' | sed 's/"$//' | head -30
  grep -i "stall\|bottleneck\|dominated\|bound" "$out/ncu-$name.csv" | awk -F'","' '{print $NF}' | cut -c1-300 | head -8
done
