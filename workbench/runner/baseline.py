"""The reference's time (PyTorch's conv3d: cuDNN, or a problem file's whole Model), measured once
per device and problem and cached on disk.

Measured inside a GPU worker with the trial's own inputs and both timing methods, once per
(device, driver, torch, cuDNN, problem); later trials read the cache, so a trial stays fast.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.core.jsonio import read_json, write_json
from workbench.core.paths import cache_root
from workbench.core.problem import Problem
from workbench.core.records import Baseline, Timing

METHOD = "the reference Model in eager PyTorch, default flags (cuDNN's conv3d)"


def cache_key(fingerprint: dict[str, Any], problem: Problem) -> dict[str, Any]:
    """What the reference's time depends on."""
    return {
        "device": fingerprint.get("name"),
        "driver": fingerprint.get("driver"),
        "torch": fingerprint.get("torch"),
        "cudnn": fingerprint.get("cudnn"),
        "problem": problem.spec(),
        "problem_file": problem.file_sha256 or None,
        "schema": 2,
    }


def _path(key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    return cache_root() / "baseline" / f"{digest}.json"


def get(
    problem: Problem,
    reference: Callable[[], object],
    fingerprint: dict[str, Any],
    time_both: Callable[[Callable[[], object]], tuple[Timing, Timing]],
) -> Baseline:
    """The baseline for `problem` on this device: cached, or measured now with `time_both`
    (which times `reference` the way the kernel is timed: kernel only, then KernelBench's)."""
    key = cache_key(fingerprint, problem)
    data = read_json(_path(key))
    if isinstance(data, dict) and data.get("key") == key and data.get("kernelbench_mean_ms"):
        data.pop("key")
        return Baseline.from_json({**data, "cached": True})
    kernel_only, kb = time_both(reference)
    baseline = Baseline(
        median_ms=kernel_only.median_ms,
        p20_ms=kernel_only.p20_ms,
        p80_ms=kernel_only.p80_ms,
        mean_ms=kernel_only.mean_ms,
        timing_method=kernel_only.method,
        kernelbench_mean_ms=kb.mean_ms,
        kernelbench_method=kb.method,
        method=METHOD,
        device=fingerprint.get("name"),
        cached=False,
    )
    with contextlib.suppress(OSError):  # a read-only cache costs a re-measurement, not a failure
        write_json(_path(key), {**baseline.to_json(), "key": key})
    return baseline
