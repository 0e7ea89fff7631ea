#!/usr/bin/env bash
# Issue 15 on the lent H200 (one GPU, 16 CPUs), one device call of about 4 minutes:
#   1. install the slimmed Ray 2.60.0 wheel (no ray/jars/, the Java worker: 45 MiB instead of
#      76; made by bench/slim_ray_wheel.py into .whl/slim) and jsonschema's four wheels (.whl/deps:
#      `pip download jsonschema` for Python 3.12, the ones the image lacks) into /tmp/site;
#   2. check the versions Ray needs of what the image already has (packaging>=24.2,
#      protobuf>=3.20.3, msgpack<2) and run the Ray smoke test (one GPU actor);
#   3. bench/ray_h200.py: a grid sweep of kernels/conv3d_fast2.py on L1/66 (54 configs) with
#      --backend local, then with --backend ray (a local cluster of 16 CPUs and the GPU), each
#      from empty caches; $OUT/ray_h200.json and $OUT/ray_h200_bundle.tar.gz.
# Run from the repo root with carry: [".whl/deps", ".whl/slim"]:
#   bash bench/ray_h200.sh
set -u
: "${OUT:?run on the device machine, where OUT is set}"
WORK=/tmp/ray_h200_work
mkdir -p "$WORK"
export PYTHONUNBUFFERED=1 COLUMNS=160

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/deps/*.whl .whl/slim/*.whl && export PYTHONPATH=/tmp/site RAY_AUTH_MODE=disabled RAY_USAGE_STATS_ENABLED=0 || { echo "ray install failed"; exit 3; }
python3 -m pip show click filelock msgpack packaging protobuf pyyaml requests attrs typing_extensions | grep -E '^(Name|Version):' | paste - - | tee "$WORK/ray-packages.txt"
python3 - > "$WORK/ray-versions.txt" 2>&1 <<'PY'
import sys
from importlib.metadata import version
from packaging.version import Version
need = {"packaging": (">=", "24.2"), "protobuf": (">=", "3.20.3"), "msgpack": ("<", "2")}
bad = []
for name, (op, bound) in need.items():
    have = Version(version(name))
    ok = have >= Version(bound) if op == ">=" else have < Version(bound)
    print(f"{name} {have} (Ray 2.60 needs {op}{bound}): {'ok' if ok else 'TOO OLD/NEW'}")
    bad += [] if ok else [name]
sys.exit(1 if bad else 0)
PY
checked=$?
cat "$WORK/ray-versions.txt"
[ "$checked" = 0 ] || { echo "Ray's requirements are not met by the image: see above"; exit 4; }
NGPU=1 timeout 90 python3 .whl/deps/device_smoke.py 2>&1 | tee "$WORK/ray-smoke.txt"
nvidia-smi -L | tee "$WORK/gpus.txt"
timeout 420 python3 bench/ray_h200.py --out "$OUT" --work "$WORK" --workers 16 --timeout 200
echo "exit $?"
ls -la "$OUT"
