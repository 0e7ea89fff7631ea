"""Nsight Compute: the command that profiles one launch of a trial's kernel, and reading its CSV.

The profiled program is a measure worker in its "ncu" phase (warm-up calls, then one more); ncu
selects the kernel by its Python function name and skips the warm-up launches. Running the
process (time limit, process tree) is run.py's job; this module only builds and reads.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path
from typing import Any

from workbench.kernel.source_facts import kernel_names

__all__ = ["kernel_names", "command", "parse_csv", "failure", "find_ncu", "number"]

# The user's five metrics, then theoretical occupancy and registers per thread.
METRICS = (
    "sm__throughput.avg.pct_of_peak_sustained_elapsed",
    "launch__grid_size",
    "sm__warps_active.avg.pct_of_peak_sustained_active",
    "dram__throughput.avg.pct_of_peak_sustained_elapsed",
    "lts__t_sector_hit_rate.pct",
    "sm__maximum_warps_per_active_cycle_pct",
    "launch__registers_per_thread",
)
LABELS = {
    "sm__throughput.avg.pct_of_peak_sustained_elapsed": "SM throughput (% of peak)",
    "launch__grid_size": "grid size (blocks)",
    "sm__warps_active.avg.pct_of_peak_sustained_active": "achieved occupancy (% warps active)",
    "dram__throughput.avg.pct_of_peak_sustained_elapsed": "DRAM throughput (% of peak)",
    "lts__t_sector_hit_rate.pct": "L2 hit rate (%)",
    "sm__maximum_warps_per_active_cycle_pct": "theoretical occupancy (%)",
    "launch__registers_per_thread": "registers / thread",
}
WARMUPS = 3
MISSING = "ncu not found on PATH: install Nsight Compute (it ships with the CUDA toolkit)"
NO_PERMISSION = (
    "GPU performance counters are not permitted for this user: run as root, or set the nvidia"
    " module option NVreg_RestrictProfilingToAdminUsers=0 (ERR_NVGPUCTRPERM)"
)


def find_ncu() -> str | None:
    return shutil.which("ncu")


def command(
    ncu: str, names: list[str], target_argv: list[str], log_file: Path, warmups: int = WARMUPS
) -> list[str]:
    """ncu's command line: one launch of the named kernel after `warmups` of them."""
    regex = "|".join(names) if len(names) == 1 else "(" + "|".join(names) + ")"
    return [
        ncu,
        "--target-processes",
        "all",
        "--kernel-name",
        f"regex:{regex}",
        "--launch-skip",
        str(warmups),
        "--launch-count",
        "1",
        "--csv",
        "--metrics",
        ",".join(METRICS),
        "--log-file",
        str(log_file),
        *target_argv,
    ]


def number(text: str) -> float | int | None:
    """ncu's values: "13,237" -> 13237, "64.61" -> 64.61, "n/a" -> None."""
    cleaned = text.strip().replace(",", "")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return int(value) if value.is_integer() and "." not in cleaned else value


def parse_csv(text: str) -> dict[str, Any]:
    """Metrics of the first profiled kernel in ncu's `--csv` output (one row per metric)."""
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith('"ID"')), None)
    if start is None:
        return {}
    rows = list(csv.DictReader(io.StringIO("\n".join(lines[start:]))))
    if not rows:
        return {}
    first_id = rows[0].get("ID")
    out: dict[str, Any] = {
        "kernel": rows[0].get("Kernel Name"),
        "block": rows[0].get("Block Size"),
        "grid": rows[0].get("Grid Size"),
        "metrics": {},
        "units": {},
    }
    for row in rows:
        if row.get("ID") != first_id:
            continue
        name = row.get("Metric Name", "")
        out["metrics"][name] = number(row.get("Metric Value", ""))
        out["units"][name] = row.get("Metric Unit", "")
    return out


def failure(output: str, returncode: int) -> str | None:
    """A one-line reason when ncu did not profile, else None."""
    if "ERR_NVGPUCTRPERM" in output:
        return NO_PERMISSION
    if "No kernels were profiled" in output:
        return (
            "ncu profiled no kernel: the kernel name did not match, or it launched fewer than"
            f" {WARMUPS + 1} times"
        )
    if returncode != 0:
        last = [ln for ln in output.splitlines() if ln.strip()]
        return f"ncu failed (exit {returncode}): {last[-1].strip() if last else 'no output'}"
    return None
