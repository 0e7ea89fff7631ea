#!/usr/bin/env bash
# First check of the workbench's GPU path on the lent H200 (about 2 minutes): the GPU tests, one
# trial of each kind through the CLI, and a tiny sweep. Results under $OUT.
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD" CONV3D_BENCH_CACHE=/tmp/c3b COLUMNS=160
ROOT="$PWD"
python3 -c "import torch, triton; print(torch.__version__, triton.__version__, torch.cuda.get_device_name(), torch.backends.cudnn.version())" | tee "$OUT/versions.txt"
timeout 150 python3 -m pytest -q -m gpu tests/test_run.py -x -p no:cacheprovider 2>&1 | tail -20 | tee "$OUT/gpu-tests.txt"
cd /tmp
timeout 120 python3 -m workbench bench --problem L1/66 --gpu h200 -c BLOCK_M=128,BLOCK_N=64,BLOCK_K=32,num_warps=8,num_stages=2 --json > "$OUT/bench-builtin.json" 2> "$OUT/bench-builtin.err"; echo "bench builtin exit $?"
timeout 120 python3 -m workbench bench "$ROOT/kernels/conv3d_fast2.py" --problem L1/59 --gpu h200 --json > "$OUT/bench-fast2-l1-59.json" 2> "$OUT/bench-fast2-l1-59.err"; echo "bench fast2 L1/59 exit $?"
timeout 200 python3 -m workbench sweep "$ROOT/kernels/conv3d_fast2.py" --problem L1/66 --gpu h200 --space "BLOCK_M=64,128;BLOCK_N=64;BLOCK_K=16,32;num_warps=4,8;num_stages=2" --top 2 --session /tmp/smoke-sweep.json --json > "$OUT/sweep.json" 2> "$OUT/sweep.err"; echo "sweep exit $?"
cp /tmp/smoke-sweep.json "$OUT/" 2>/dev/null
python3 - <<'PY'
import json, os
out = os.environ["OUT"]
for name in ("bench-builtin.json", "bench-fast2-l1-59.json"):
    try:
        r = json.load(open(os.path.join(out, name)))
    except Exception as err:
        print(name, "unreadable:", err); continue
    kb, t, b = r.get("kernelbench_timing") or {}, r.get("timing") or {}, r.get("baseline") or {}
    print(name, r["status"], r["message"][:120], "KB", kb.get("mean_ms"), "kernel", t.get("median_ms"), "cuDNN KB", b.get("kernelbench_mean_ms"), "phases", r.get("phases_s"))
try:
    s = json.load(open(os.path.join(out, "sweep.json")))
    print("sweep", s["fits"], s["measured"], s["winner"], s["gpu_s"], s["seconds_per_config"], s["wall_s"])
except Exception as err:
    print("sweep unreadable:", err)
PY
tail -5 "$OUT"/*.err
