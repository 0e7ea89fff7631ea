"""The `calibrate` verb: fit the performance model's device constants from sessions measured on
one device, and write them as that device's calibration file.

Exit status: 0 written, 2 a usage error (no timed trials, trials of several devices, a bad
session or path), each as one line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from workbench.analysis.calibrate import calibrate
from workbench.analysis.model import CONSTANTS, Calibration, calibration_path
from workbench.cli.render import err_console, out_console, print_json
from workbench.core.errors import CalibrationError, UsageError
from workbench.core.gpus import find_gpu
from workbench.core.jsonio import write_json
from workbench.session.measurements import device_gpu, load_measurements


def calibrate_command(args: argparse.Namespace) -> int:
    override = find_gpu(args.gpu) if args.gpu else None
    err = err_console()
    quiet = args.json
    with err.status("reading sessions", spinner="dots") as status:
        loaded = load_measurements(
            args.sessions,
            gpu=override,
            recompile=not args.no_compile,
            offline_shared=not args.no_compile,
            recount_shared=args.recount_shared,
            progress=None if quiet else (lambda text: status.update(text)),
        )
    if not loaded.measurements:
        why = f" ({loaded.skipped[0]}{' ...' if len(loaded.skipped) > 1 else ''})"
        raise CalibrationError(
            "no trial in these sessions was measured on a GPU with an inspect record"
            + (why if loaded.skipped else "")
            + ": calibrate needs `bench` or `sweep` sessions recorded on the device"
        )
    gpu = device_gpu(loaded.measurements[0].device, override)
    cal = calibrate(loaded.measurements, gpu, sources=loaded.sources, compiled=loaded.compiled)
    cal.extra["skipped"] = loaded.skipped
    path = Path(args.output) if args.output else calibration_path(gpu.key)
    if path.exists() and path.is_dir():
        raise UsageError(f"-o {path} is a folder: name the calibration file to write")
    write_json(path, cal)
    if args.json:
        print_json({"path": str(path), "calibration": cal})
    else:
        print_calibration(cal, str(path))
    return 0


def print_calibration(cal: Calibration, path: str) -> None:
    console = out_console()
    console.print(
        f"[bold]{cal.label}[/]: typical error {cal.typical_error_pct}%"
        f" (cross-validated, KernelBench-protocol time), band x{cal.low_factor:g}..x"
        f"{cal.high_factor:g}"
    )
    detail = cal.extra.get("fit", {}).get("constants", {})
    t = Table(title="device constants", title_justify="left")
    for col in ("constant", "fitted", "default", "unit", ""):
        t.add_column(col)
    for c in CONSTANTS:
        d = detail.get(c.name, {})
        note = "" if d.get("constrained", True) else "[dim]not constrained by these trials[/]"
        t.add_row(c.name, f"{cal.value(c.name):.4g}", f"{c.default:g}", c.unit, note)
    console.print(t)
    rows = sorted(
        cal.extra.get("measurements", []),
        key=lambda r: -abs(r.get("cross_validated_error_pct") or 0.0),
    )
    if rows:
        w = Table(title="worst predicted trials, each by a fit without it", title_justify="left")
        for col in ("trial", "config", "measured ms", "predicted ms", "error", "bound"):
            w.add_column(col)
        for r in rows[:8]:
            measured = r.get("measured_kernelbench_ms") or r.get("measured_kernel_only_ms")
            predicted = r.get("cross_validated_predicted_ms")
            w.add_row(
                str(r["trial"]),
                ",".join(f"{k}={v}" for k, v in r["config"].items()) or "(defaults)",
                f"{measured:.3f}" if measured else "-",
                f"{predicted:.3f}" if predicted else "-",
                f"{r.get('cross_validated_error_pct')}%",
                r.get("bound", ""),
            )
        console.print(w)
    for line in cal.extra.get("compiled", []):
        console.print(f"[dim]{line}[/]")
    for line in cal.extra.get("skipped", []):
        console.print(f"[dim]skipped {line}[/]")
    console.print(f"wrote {path}")
