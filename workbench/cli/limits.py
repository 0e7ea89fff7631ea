"""The `limits` and `problems` verbs: a target's limits and spec sheet; KernelBench's problems."""

from __future__ import annotations

import argparse

from rich.table import Table

from workbench.cli.render import limits_table, out_console, print_json
from workbench.core.gpus import GPUS, find_gpu
from workbench.core.problem import PRESETS
from workbench.runner.device import describe, fingerprint, gpu_present


def limits_command(args: argparse.Namespace) -> int:
    gpus = list(GPUS.values()) if args.all else [find_gpu(args.gpu)]
    if args.json:
        data = [g.to_json() for g in gpus]
        print_json(data if args.all else data[0])
        return 0
    console = out_console()
    for gpu in gpus:
        console.print(limits_table(gpu))
    # Read without initialising CUDA here (workers own CUDA): nvidia-smi and torch's build.
    local = describe(fingerprint("gpu")) if gpu_present() else "none (no CUDA GPU here)"
    console.print(f"local device: {local}")
    return 0


def problems_command(args: argparse.Namespace) -> int:
    if args.json:
        print_json(
            {
                k: {**p.to_json(), "gflop": p.flops / 1e9, "min_mb": p.min_bytes / 1e6,
                    "init_inputs": p.model_init_inputs(), "conv_args": p.conv_args()}
                for k, p in PRESETS.items()
            }
        )  # fmt: skip
        return 0
    t = Table(title="KernelBench conv3d problems (Level 2: the conv part; ModelNew(*init inputs))")
    for col in (
        "id",
        "problem",
        "output",
        "GEMM M x N x K",
        "GFLOP",
        "min MB",
        "init inputs",
        "after the conv",
    ):
        t.add_column(col)
    for key, p in PRESETS.items():
        t.add_row(
            key,
            p.label().split(": ", 1)[-1],
            "x".join(map(str, p.output_shape)),
            f"{p.gemm_m} x {p.gemm_n} x {p.gemm_k}",
            f"{p.flops / 1e9:.1f}",
            f"{p.min_bytes / 1e6:.1f}",
            str(p.model_init_inputs()),
            ", ".join(p.ops) or "-",
        )
    out_console().print(t)
    return 0
