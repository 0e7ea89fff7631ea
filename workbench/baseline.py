"""The cuDNN baseline: `F.conv3d` with PyTorch's default flags, cached on disk per device+problem.

Measured inside a GPU worker with the trial's own inputs and timing methods, once per
(device, driver, torch, cuDNN, problem); later trials read the cache, so a trial stays fast.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from workbench.problem import Problem

METHOD = "torch.nn.functional.conv3d, PyTorch default flags (cuDNN)"


def cache_dir() -> Path:
    env = os.environ.get("CONV3D_BENCH_CACHE")
    root = Path(env) if env else Path.home() / ".cache" / "conv3d-bench"
    return root / "baseline"


def cache_key(fingerprint: dict, problem: Problem) -> dict:
    """What the baseline time depends on."""
    return {
        "device": fingerprint.get("name"),
        "driver": fingerprint.get("driver"),
        "torch": fingerprint.get("torch"),
        "cudnn": fingerprint.get("cudnn"),
        "problem": problem.spec(),
    }


def _path(key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    return cache_dir() / f"{digest}.json"


def load(key: dict) -> dict | None:
    try:
        data = json.loads(_path(key).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if data.get("key") == key and data.get("median_ms") else None


def store(key: dict, data: dict) -> None:
    path = _path(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**data, "key": key}, indent=2), encoding="utf-8")
        tmp.replace(path)  # atomic: a reader sees the old file or the new one
    except OSError:
        pass  # a read-only cache costs a re-measurement, not a failure


def get(
    problem: Problem,
    conv: Callable[[], object],
    fingerprint: dict,
    time_fn: Callable[[Callable[[], object]], tuple[dict, dict]],
) -> dict:
    """The baseline for `problem` on this device: cached, or measured now with `time_fn`.

    `conv` runs F.conv3d on the trial's inputs; `time_fn(fn)` returns (timing, kernelbench_timing)
    dicts as measure.py makes them for the kernel, so both sides are timed the same way.
    """
    key = cache_key(fingerprint, problem)
    cached = load(key)
    if cached is not None:
        cached.pop("key", None)
        return {**cached, "cached": True}
    timing, kb = time_fn(conv)
    data = {
        "median_ms": timing["median_ms"],
        "p20_ms": timing["p20_ms"],
        "p80_ms": timing["p80_ms"],
        "mean_ms": timing["mean_ms"],
        "timing_method": timing["method"],
        "kernelbench_mean_ms": kb["mean_ms"],
        "kernelbench_method": kb["method"],
        "method": METHOD,
        "device": fingerprint.get("name"),
    }
    store(key, data)
    return {**data, "cached": False}
