"""What the headless verbs print: JSON for pipelines, rich tables for people, in one place."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from workbench.core.gpus import GPU, limit_rows
from workbench.core.jsonio import dumps
from workbench.core.records import Prediction, TrialResult

STATUS_STYLE = {"ok": "bold green", "wrong_result": "bold red", "cancelled": "yellow"}


def print_json(data: Any) -> None:
    """One JSON object on stdout (records, dataclasses and paths made plain)."""
    sys.stdout.write(dumps(data))


def out_console() -> Console:
    return Console(highlight=False)


def err_console() -> Console:
    return Console(stderr=True, highlight=False)


def ms(value: float | None, digits: str = ".3f") -> str:
    return "-" if value is None else f"{value:{digits}} ms"


def num(value: Any, fmt: str = ".3g") -> str:
    return "-" if value is None else format(value, fmt)


def speedup(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def prediction_text(p: Prediction | None, gpu_name: str = "") -> str:
    """`predicted on NVIDIA GeForce RTX 4090: 1.9 ms (1.5-2.4), model calibrated on H200, typical
    error 18%`: never a bare number."""
    if p is None:
        return "no prediction"
    where = f" on {gpu_name}" if gpu_name else ""
    err = f", typical error {p.typical_error_pct:.0f}%" if p.typical_error_pct is not None else ""
    bound = f", {p.bound}-bound" if p.bound else ""
    return f"predicted{where}: {p.ms:.3g} ms ({p.low_ms:.3g}-{p.high_ms:.3g}){bound}, {p.calibration}{err}"


def limits_table(gpu: GPU) -> Table:
    t = Table(title=f"{gpu.name}  (CC {gpu.cc_text}, {gpu.sm}; {gpu.source})", show_header=False)
    t.add_column("what", style="bold")
    t.add_column("value")
    for row in limit_rows(gpu):  # the same facts the TUI's Target pane shows
        t.add_row(*row)
    return t


def headline(result: TrialResult) -> str:
    """The first number a user reads: KernelBench's protocol, with kernel-only beside it."""
    parts = []
    if result.kernelbench_ms is not None:
        parts.append(
            f"[bold]KernelBench's protocol {result.kernelbench_ms:.3f} ms"
            + (
                f", {result.kernelbench_speedup:.2f}x cuDNN[/]"
                if result.kernelbench_speedup
                else "[/]"
            )
        )
    if result.kernel_only_ms is not None:
        parts.append(
            f"kernel only {result.kernel_only_ms:.3f} ms"
            + (f" ({result.kernel_only_speedup:.2f}x)" if result.kernel_only_speedup else "")
        )
    return "; ".join(parts)
