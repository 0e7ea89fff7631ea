#!/usr/bin/env bash
# The second H200 call of this round: Ray installed from the carried wheels (see bench/ray_h200.sh),
# then bench/h200_run.py's parts in priority order. Run from the repo root, carry .whl/slim .whl/deps.
set -u
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/deps/*.whl .whl/slim/*.whl \
  && export PYTHONPATH=/tmp/site RAY_AUTH_MODE=disabled RAY_USAGE_STATS_ENABLED=0 || echo "ray install failed: the ray part will say so"
python3 bench/h200_run.py --part fast3,judge,precision,grid2,ray,data --out "$OUT" --deadline "${DEADLINE:-470}"
