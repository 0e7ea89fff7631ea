#!/usr/bin/env bash
# Nsight Compute on conv3d_fast3's main kernel (the file's defaults), all four L1 problems: speed
# of light, occupancy, and the warp stall reasons (per issued instruction), one launch each,
# clocks left as they are. Writes $OUT/ncu-fast3b-l1-XX.csv and a summary of each to stdout.
# Run from the repo root on the GPU machine: bash bench/fast3_ncu.sh [TAG] (default fast3b: the
# files are named ncu-TAG-l1-XX.csv and ncu-TAG-summary.json).
set -u
: "${OUT:?run on the device machine, where OUT is set}"
tag="${1:-fast3b}"
export NCU_TAG="$tag"
for p in L1/54 L1/59 L1/60 L1/66; do
  name=ncu-$tag-$(echo "$p" | tr 'A-Z/' 'a-z-')
  ncu --clock-control none --kernel-name regex:_conv3d_fast3_kernel --launch-skip 2 --launch-count 1 \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
    --section MemoryWorkloadAnalysis \
    --metrics "regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio" \
    --csv --page details python3 bench/fast3_ncu.py "$p" > "$OUT/$name.csv" 2> "$OUT/$name.err"
  echo "$p: exit $?; $(wc -l < "$OUT/$name.csv") lines"
done
python3 - <<'PY'
import csv, glob, json, os
out = os.environ["OUT"]
summary = {}
for path in sorted(glob.glob(f"{out}/ncu-{os.environ['NCU_TAG']}-l1-*.csv")):
    lines = open(path).read().splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith('"ID"')), None)
    if start is None:
        continue
    rows = list(csv.DictReader(lines[start:]))
    metrics = {r["Metric Name"]: (r["Metric Value"], r["Metric Unit"]) for r in rows if r.get("Metric Name")}
    stalls = {k.split("stalled_")[1].split("_per_issue")[0]: float(v[0].replace(",", ""))
              for k, v in metrics.items() if "issue_stalled" in k and v[0]}
    keep = ("Duration", "Compute (SM) Throughput", "Memory Throughput", "DRAM Throughput",
            "L1/TEX Cache Throughput", "L2 Cache Throughput", "Achieved Occupancy",
            "Theoretical Occupancy", "Registers Per Thread", "Warp Cycles Per Issued Instruction",
            "L1/TEX Hit Rate", "L2 Hit Rate")
    summary[os.path.basename(path)] = {
        "metrics": {k: metrics[k] for k in keep if k in metrics},
        "stalls_per_issue": dict(sorted(stalls.items(), key=lambda kv: -kv[1])),
    }
json.dump(summary, open(f"{out}/ncu-{os.environ['NCU_TAG']}-summary.json", "w"), indent=1)
for name, s in summary.items():
    print(name, {k: v[0] for k, v in s["metrics"].items()})
    print("  stalls:", list(s["stalls_per_issue"].items())[:8])
PY
