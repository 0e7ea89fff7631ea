"""Inside a GPU worker: timing a callable two ways.

- KernelBench's protocol (what users are scored by): 3 warm-ups each followed by a synchronize,
  then 101 trials timed with CUDA events, the first dropped, each after filling a 256 MB buffer
  to flush L2, with a synchronize before and after; the mean. Autograd stays on, as there.
- Kernel only: `triton.testing.do_bench`'s median of back-to-back launches. It hides host work
  per call (allocations, weight packing, launch overhead) that KernelBench's one-call-then-sync
  timing exposes, so it is shown beside the headline, never as it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from workbench.core import kernelbench
from workbench.core.gpus import local_device
from workbench.core.problem import Problem
from workbench.core.records import Timing

DO_BENCH_METHOD = (
    "kernel only: triton.testing.do_bench (warmup 25 ms, rep 100 ms, L2 cleared), median"
)
SCREEN_METHOD = "kernel only, screening: triton.testing.do_bench (warmup 5 ms, rep 20 ms), median"


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between order statistics (as triton.testing does)."""
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def time_kernel_only(fn: Callable[[], object], screen: bool = False) -> Timing:
    from triton.testing import do_bench

    warmup, rep = (5, 20) if screen else (25, 100)
    with torch.no_grad():
        times = do_bench(fn, warmup=warmup, rep=rep, return_mode="all")
    return Timing(
        method=SCREEN_METHOD if screen else DO_BENCH_METHOD,
        median_ms=quantile(times, 0.5),
        p20_ms=quantile(times, 0.2),
        p80_ms=quantile(times, 0.8),
        mean_ms=sum(times) / len(times),
        runs=len(times),
    )


def _flush_l2(device: torch.device) -> None:
    dummy = torch.empty(kernelbench.L2_FLUSH_BYTES // 8, dtype=torch.int64, device=device)
    dummy.fill_(42)
    del dummy


def time_kernelbench(
    fn: Callable[[], object],
    trials: int = kernelbench.TIMED_TRIALS,
    warmups: int = kernelbench.WARMUPS,
) -> Timing:
    """KernelBench's time_execution_with_cuda_event, step for step (see the module docstring)."""
    device = torch.device("cuda", torch.cuda.current_device())
    for _ in range(warmups):
        fn()
        torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    times = []
    for _ in range(trials + kernelbench.DISCARD_FIRST):
        torch.cuda.synchronize(device)
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        _flush_l2(device)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize(device)
        times.append(start.elapsed_time(end))
    times = times[kernelbench.DISCARD_FIRST :]
    return Timing(
        method=kernelbench.PROTOCOL,
        mean_ms=sum(times) / len(times),
        median_ms=None,
        p20_ms=quantile(times, 0.2),
        p80_ms=quantile(times, 0.8),
        runs=len(times),
    )


def add_rates(timing: Timing, problem: Problem, precision: Any) -> None:
    """TFLOP/s, GB/s and percent of this device's peak (its spec sheet), from the median."""
    ms = timing.median_ms or timing.mean_ms
    if not ms:
        return
    seconds = ms * 1e-3
    timing.tflops = problem.flops / seconds / 1e12
    timing.gbs = problem.min_bytes / seconds / 1e9
    gpu = local_device()
    if gpu is None:
        return
    if problem.dtype != "float32":
        basis, peak = "fp16", gpu.fp16_tflops
    elif precision == "ieee":
        basis, peak = "fp32", gpu.fp32_tflops
    else:  # tf32, tf32x3, or a kernel with Triton's default fp32 dot (tf32)
        basis, peak = "tf32", gpu.tf32_tflops
    if peak:
        timing.pct_peak_compute = 100 * timing.tflops / peak
    if gpu.bandwidth_gbs:
        timing.pct_peak_bandwidth = 100 * timing.gbs / gpu.bandwidth_gbs
    timing.peak_tflops, timing.peak_basis = peak or None, basis
    timing.peak_gbs = gpu.bandwidth_gbs or None
