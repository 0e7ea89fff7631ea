"""Headless printing of targets and problems (the `limits` and `problems` verbs)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from workbench.gpus import GPU, GPUS, find_gpu, local_device
from workbench.problem import PRESETS


def limits_table(gpu: GPU) -> Table:
    a = gpu.arch
    t = Table(
        title=f"{gpu.name}  (CC {gpu.cc[0]}.{gpu.cc[1]}, {a.sm}; {gpu.source})", show_header=False
    )
    t.add_column("what", style="bold")
    t.add_column("value")
    rows = [
        ("SMs", f"{gpu.sms} @ {gpu.boost_mhz} MHz boost" if gpu.boost_mhz else str(gpu.sms)),
        ("threads / SM", str(a.max_threads_per_sm)),
        ("warps / SM", str(a.max_warps_per_sm)),
        ("blocks / SM", str(a.max_blocks_per_sm)),
        ("threads / block", str(a.max_threads_per_block)),
        ("registers / SM", f"{a.registers_per_sm} ({a.max_registers_per_thread} max per thread)"),
        (
            "shared / SM",
            f"{a.max_shared_per_sm // 1024} KB (carveouts {', '.join(map(str, a.carveouts_kb))} KB)",
        ),
        (
            "shared / block",
            f"{a.max_shared_per_block_optin // 1024} KB opt-in, {a.shared_per_block_default // 1024} KB default; {a.reserved_shared_per_block} B reserved",
        ),
        ("L2", f"{gpu.l2_mb:g} MB"),
        ("memory", f"{gpu.memory}, {gpu.bandwidth_gbs:g} GB/s"),
        (
            "FP32 / TF32 / FP16 TFLOP/s",
            f"{gpu.fp32_tflops:g} / {gpu.tf32_tflops:g} / {gpu.fp16_tflops:g} (dense)",
        ),
    ]
    if not a.checked_on_hardware:
        rows.append(("note", "per-block shared limit not checked on hardware"))
    for row in rows:
        t.add_row(*row)
    return t


def limits_command(name: str | None, all_gpus: bool = False, as_json: bool = False) -> int:
    gpus = list(GPUS.values()) if all_gpus else [find_gpu(name)]
    local = local_device()
    if all_gpus and local is not None:
        gpus.append(local)
    if as_json:
        from workbench.cli import print_json

        data = [g.to_dict() for g in gpus]
        print_json(data if all_gpus else data[0])
        return 0
    console = Console()
    for gpu in gpus:
        console.print(limits_table(gpu))
    if not all_gpus:
        console.print(f"local device: {local.name if local else 'none (no CUDA GPU here)'}")
    return 0


def problems_command(as_json: bool = False) -> int:
    if as_json:
        from workbench.cli import print_json

        print_json(
            {
                k: {**p.to_dict(), "gflop": p.flops / 1e9, "min_mb": p.min_bytes / 1e6}
                for k, p in PRESETS.items()
            }
        )
        return 0
    t = Table(title="KernelBench conv3d problems (conv part)")
    for col in ("id", "problem", "output", "GEMM M x N x K", "GFLOP", "min MB"):
        t.add_column(col)
    for key, p in PRESETS.items():
        t.add_row(
            key,
            p.label().split(": ", 1)[-1],
            "x".join(map(str, p.output_shape)),
            f"{p.gemm_m} x {p.gemm_n} x {p.gemm_k}",
            f"{p.flops / 1e9:.1f}",
            f"{p.min_bytes / 1e6:.1f}",
        )
    Console().print(t)
    return 0
