"""Precision advice for a target, from its spec-sheet rates and the model's view of a config.

KernelBench checks fp32 results at atol = rtol = 1e-4. Three products are accurate enough:
ieee (FP32 FFMA on the CUDA cores), tf32x3 (three TF32 tensor-core products) and bf16x3 (three
BF16 products, FP32 accumulate; passed at 8e-6 max abs on L1/66 on the H200); one TF32 product
(tf32) errs ~7e-4 and fails. Which of the three is cheapest depends on the target's rates: on an
RTX 4090 the TF32 tensor rate equals the FP32 rate (82.6 TFLOP/s), so tf32x3 costs three times a
plain FP32 product there; on Hopper TF32 is 7x and BF16 15x the FP32 rate. And a config that is
bound by memory, latency or issue, not by its product, gains nothing from a cheaper one.
"""

from __future__ import annotations

from collections.abc import Sequence

from workbench.analysis.model import BOUND_OF, TERM_WORDS
from workbench.core.gpus import GPU
from workbench.core.problem import Problem
from workbench.core.records import Prediction

ACCURATE = ("ieee", "tf32x3", "bf16x3")  # fp32-accurate enough for KernelBench's 1e-4


def product_floors(problem: Problem, gpu: GPU) -> dict[str, float]:
    """ms of the problem's useful multiply-adds alone at the spec-sheet rate, per precision."""
    flops = problem.flops
    rates = {
        "ieee": (1, gpu.fp32_tflops),
        "tf32": (1, gpu.tf32_tflops),
        "tf32x3": (3, gpu.tf32_tflops),
        "bf16x3": (3, gpu.fp16_tflops),
    }
    return {p: n * flops / (r * 1e12) * 1e3 for p, (n, r) in rates.items() if r}


def memory_floor(problem: Problem, gpu: GPU) -> float | None:
    """ms to move each input, weight and output element once at the spec-sheet bandwidth."""
    return problem.min_bytes / (gpu.bandwidth_gbs * 1e9) * 1e3 if gpu.bandwidth_gbs else None


def _offered(precision: str, modes: Sequence[str]) -> bool:
    """Whether the kernel offers a precision: itself, or a variant of it (tf32x3r is tf32x3)."""
    return not modes or any(m == precision or m.startswith(precision) for m in modes)


def precision_advice(
    problem: Problem,
    gpu: GPU,
    precision: str = "",
    modes: Sequence[str] = (),
    prediction: Prediction | None = None,
) -> list[str]:
    """Lines of advice: which fp32-accurate product the target favours and why, and whether this
    config's product is what limits it. `modes`: the precisions the kernel offers."""
    floors = product_floors(problem, gpu)
    if not floors:
        return []
    short = gpu.name.replace("NVIDIA ", "").replace("GeForce ", "")
    candidates = {p: floors[p] for p in ACCURATE if p in floors and _offered(p, modes)}
    candidates = candidates or {p: floors[p] for p in ACCURATE if p in floors}
    best = min(candidates, key=lambda p: candidates[p])
    rate_of = {"ieee": gpu.fp32_tflops, "tf32x3": gpu.tf32_tflops, "bf16x3": gpu.fp16_tflops}
    kind = {"ieee": "FP32 cores", "tf32x3": "3 TF32 products", "bf16x3": "3 BF16 products"}
    listed = ", ".join(
        f"{p} {floors[p]:.3g} ms ({kind[p]} at {rate_of[p]:g} TFLOP/s)" for p in candidates
    )
    lines = [f"products on {short} (fp32-accurate, spec-sheet rates): {listed}"]
    if gpu.tf32_tflops and abs(gpu.tf32_tflops - gpu.fp32_tflops) < 0.05 * gpu.fp32_tflops:
        lines.append(
            f"on {short} the TF32 tensor rate ({gpu.tf32_tflops:g}) equals the FP32 rate"
            f" ({gpu.fp32_tflops:g}): tf32x3 costs three times a plain FP32 product; expect"
            f" {best} to win where the product limits"
        )
    else:
        ratio = floors["ieee"] / candidates[best] if "ieee" in floors else 0.0
        lines.append(
            f"on {short} {best} is the cheapest fp32-accurate product"
            + (f", {ratio:.1f}x cheaper than FP32 FFMA (ieee)" if best != "ieee" and ratio else "")
        )
    mem = memory_floor(problem, gpu)
    if mem is not None and mem >= candidates[best]:
        lines.append(
            f"the problem is memory-bound on {short} at best (moving its data once takes"
            f" {mem:.3g} ms, more than {best}'s product): a cheaper product gains nothing"
        )
    if precision == "tf32":
        lines.append(
            "tf32 (one product) errs ~7e-4 and fails KernelBench's 1e-4 check: use"
            f" {best} for a correct result"
        )
    if prediction is not None and prediction.bound and prediction.bound != "compute":
        share = _share(prediction)
        lines.append(
            f"this config is predicted {prediction.bound}-bound"
            + (f" ({share})" if share else "")
            + ": its product's precision is not what limits it; a cheaper product moves little"
        )
    elif (
        prediction is not None
        and prediction.bound == "compute"
        and precision in ("ieee", "tf32x3", "tf32x3r", "bf16x3")
        and not precision.startswith(best)
    ):
        lines.append(
            f"this config is predicted compute-bound in {precision}: {best} should be faster"
            f" on {short}"
        )
    return lines


def _share(p: Prediction) -> str:
    """'one warp's dependent issue: 3.4 ms of 4.4 ms': the largest term behind the bound."""
    keys = [k for k in p.terms if BOUND_OF.get(k) == p.bound]
    if p.ms <= 0 or not keys:
        return ""
    key = max(keys, key=lambda k: p.terms[k])
    return f"{TERM_WORDS.get(key, key)}: {p.terms[key]:.3g} ms of {p.ms:.3g} ms"
