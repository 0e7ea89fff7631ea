"""The performance model: a predicted kernel time for a config on a target GPU, from its compile.

Interface (the sweep ranks by it, inspect and the TUI show it); the model itself is being built:
until then `predict` ranks by what the compile gives (occupancy, waves, tile waste, work) and
says so in its `source`, labelled "uncalibrated".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workbench.core.gpus import GPU
from workbench.core.problem import Problem
from workbench.core.records import InspectReport, Prediction, Record


@dataclass
class Calibration(Record):
    """Device constants fitted from measured trials on one device (or spec-sheet defaults)."""

    device: str  # the GPU the trials were measured on, e.g. "NVIDIA H200"
    constants: dict[str, float] = field(default_factory=dict)
    trials: int = 0
    typical_error_pct: float | None = None
    source: str = "uncalibrated (spec-sheet defaults)"
    extra: dict[str, Any] = field(default_factory=dict)


def predict(
    report: InspectReport, problem: Problem, gpu: GPU, calibration: Calibration | None = None
) -> Prediction:
    """A first-order estimate until the calibrated model lands: work over the target's rates,
    stretched by occupancy and wave efficiency. Labelled as a prediction, never a measurement."""
    precision = str(report.config.get("precision", "tf32"))
    products = 3 if precision in ("tf32x3", "tf32x3r", "bf16x3") else 1
    rate = gpu.fp32_tflops if precision == "ieee" else gpu.tf32_tflops
    compute_ms = problem.flops * products / (rate * 1e12) * 1e3 if rate else 0.0
    memory_ms = problem.min_bytes / (gpu.bandwidth_gbs * 1e9) * 1e3 if gpu.bandwidth_gbs else 0.0
    occupancy = max(report.occupancy.fraction, 1e-3)
    efficiency = max(report.waves.efficiency, 1e-3)
    waste = 1.0 - (report.waste.total if report.waste else 0.0)
    ms = max(compute_ms / waste, memory_ms) / efficiency / min(1.0, occupancy * 4)
    return Prediction(
        ms=ms,
        low_ms=ms * 0.5,
        high_ms=ms * 2.0,
        calibration=(calibration.source if calibration else "uncalibrated (spec-sheet defaults)"),
        source=f"predicted by a first-order model for {gpu.name} (work over rates, occupancy, waves)",
        bound="memory" if memory_ms > compute_ms else "compute",
    )
