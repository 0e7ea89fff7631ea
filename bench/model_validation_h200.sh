#!/usr/bin/env bash
# The performance model's H200 validation (issue 13) on every committed H200 sweep session:
# docs/measurements/h200-2026-12-01, h200-2026-12-02, 02b and 02c (where present) as
# *.session.json.gz or *.session.json, and sessions/l1-*-h200-fast3.json. CPU only: the trials
# carry the instruction mixes of the code that ran (--no-compile).
#
#   bash bench/model_validation_h200.sh --out DIR [--splits N] [--dry-run] [--offline-shared]
#     [--recount-shared] [MORE_SESSION...]
#
# --dry-run lists the sessions and stops. --offline-shared: the sessions' compiles (Triton 3.6 on
# the device) recorded no shared-memory accesses; attach those of an offline compile here (this
# machine's Triton) of each trial's recorded source and config (the model's bank-conflict term);
# --recount-shared does so for every trial, replacing what the device's compile recorded (counted
# by model v5's rule in the sessions of 2026-12-02c). Writes DIR/model-validation-nvidia-h200.{json,md}.
set -euo pipefail
cd "$(dirname "$0")/.."
out="" splits=5 dry=0 extra=() shared=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="${2:?--out needs a folder}"; shift 2 ;;
    --splits) splits="${2:?--splits needs a number}"; shift 2 ;;
    --dry-run) dry=1; shift ;;
    --offline-shared) shared+=(--offline-shared); shift ;;
    --recount-shared) shared+=(--recount-shared); shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) echo "unknown option $1: use --out DIR [--splits N] [--dry-run] [SESSION...]" >&2; exit 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done
[ -n "$out" ] || { echo "--out DIR is required (the folder for the JSON and markdown)" >&2; exit 2; }
shopt -s nullglob  # a folder not there yet (h200-2026-12-02b) adds nothing
sessions=()
for dir in docs/measurements/h200-2026-12-01 docs/measurements/h200-2026-12-02 \
  docs/measurements/h200-2026-12-02b docs/measurements/h200-2026-12-02c; do
  sessions+=("$dir"/*.session.json.gz "$dir"/*.session.json)
done
sessions+=(sessions/l1-*-h200-fast3.json "${extra[@]}")
printf '%s\n' "${sessions[@]}"
echo "${#sessions[@]} sessions"
[ "$dry" = 1 ] && exit 0
PYTHONPATH="$PWD" python3 bench/model_validation.py "${sessions[@]}" --no-compile \
  --splits "$splits" --out "$out" "${shared[@]}"
