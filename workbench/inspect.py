"""The `inspect` verb: one config on one problem for one target GPU, with no GPU needed.

Compiles the real launch for the target (registers, spills, shared memory from the cubin), then
models what the hardware would do with it: theoretical occupancy, waves and tail, and the masked
lanes of the tile over the implicit GEMM. One dict carries it all (`inspect --json`).
"""

from __future__ import annotations

import argparse

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

from workbench.compile import compile_for_target
from workbench.config import (
    Config,
    check_rules,
    format_config,
    parse_config,
    precision_modes,
    validate,
)
from workbench.gpus import GPU, find_gpu
from workbench.kernelfile import KernelFile
from workbench.occupancy import occupancy, tile_waste, waves
from workbench.problem import Problem, parse_problem

TILE_KEYS = ("BLOCK_M", "BLOCK_N", "BLOCK_K")


def inspect_config(kf: KernelFile, problem: Problem, config: Config, gpu: GPU) -> dict:
    """Everything `inspect` shows, as plain data (see docs/architecture.md, "inspect report")."""
    validate(config)  # a hard rule break (e.g. BLOCK_M=48) is a ConfigError before compiling
    full = kf.full_config(problem, config)
    resources, launch = compile_for_target(kf, problem, full, gpu)
    occ = occupancy(gpu.arch, 32 * resources.num_warps, resources.registers, resources.shared_bytes)
    grid_blocks = launch.grid_blocks
    gemm = (problem.gemm_m, problem.gemm_n, problem.gemm_k)
    waste, waste_note = _waste({**launch.constexprs, **full}, gemm)
    return {
        "target": {
            "key": gpu.key,
            "name": gpu.name,
            "cc": f"{gpu.cc[0]}.{gpu.cc[1]}",
            "sm": gpu.sm,
            "sms": gpu.sms,
        },
        "problem": {
            "id": problem.name or None,
            "label": problem.label(),
            "spec": problem.spec(),
            "output_shape": list(problem.output_shape),
            "gemm": {"m": gemm[0], "n": gemm[1], "k": gemm[2]},
            "gflop": problem.flops / 1e9,
        },
        "kernel": {
            "path": str(kf.path),
            "sha256": kf.sha256,
            "name": launch.name,
            "builtin": kf.is_builtin,
        },
        "config": full,
        "untunable": kf.untunable(problem),
        "resources": resources.to_dict(),  # with triton_version: replay compares like with like
        "occupancy": occ.to_dict(),
        "grid": list(launch.grid),
        "grid_blocks": grid_blocks,
        "waves": waves(grid_blocks, occ.blocks_per_sm, gpu.sms).to_dict(),
        "waste": waste,
        "waste_note": waste_note,
        "rules": [
            r.to_dict() for r in check_rules(full, gemm, precision_modes(kf.tunables(problem)))
        ],
        "provenance": [
            f"registers/spills/shared: {resources.source} (no GPU needed)",
            "occupancy: theoretical, cuda_occupancy.h algorithm",
            "waste: model of the implicit GEMM",
        ],
    }


def _waste(config: Config, gemm: tuple[int, int, int]) -> tuple[dict | None, str]:
    tiles = [config.get(k) for k in TILE_KEYS]
    if not all(isinstance(t, int) for t in tiles):
        return None, (
            "the kernel has no BLOCK_M/BLOCK_N/BLOCK_K constexprs: the waste model needs"
            " the tile of the implicit GEMM"
        )
    waste = tile_waste(*gemm, *tiles)  # type: ignore[arg-type]
    return waste.to_dict(), "masked lanes of BLOCK_M x BLOCK_N x BLOCK_K tiles over M x N x K"


# --- the verb ---------------------------------------------------------------------------------
def inspect_command(args: argparse.Namespace) -> int:
    kf = KernelFile.load(args.kernel)
    problem = parse_problem(args.problem)
    gpu = find_gpu(args.gpu)
    config = parse_config(args.config)
    report = inspect_config(kf, problem, config, gpu)
    if args.json:
        from workbench.cli import print_json

        print_json(report)
    else:
        Console().print(render(report))
    return 0


def render(report: dict) -> Group:
    """The rich view of an inspect report."""
    t, p, k = report["target"], report["problem"], report["kernel"]
    head = (
        f"[bold]{k['name']}[/] in {k['path']}\n"
        f"problem {p['label']}  (GEMM {p['gemm']['m']} x {p['gemm']['n']} x {p['gemm']['k']},"
        f" {p['gflop']:.1f} GFLOP)\n"
        f"target {t['name']} (CC {t['cc']}, {t['sm']}, {t['sms']} SMs)\n"
        f"config [bold]{format_config(report['config'])}[/]"
    )
    parts = [Panel(head, title="inspect", expand=False)]
    parts += [_resources_table(report), _occupancy_table(report), _grid_table(report)]
    parts.append(_waste_text(report))
    parts += _rules_text(report)
    parts += [f"[dim]not tunable: {reason}[/]" for reason in report["untunable"].values()]
    parts += [f"[dim]{line}[/]" for line in report["provenance"]]
    return Group(*parts)


def _resources_table(report: dict) -> Table:
    r = report["resources"]
    table = Table(title="resources per thread / block", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    spill_style = "red" if r["spill_bytes"] else ""
    table.add_row("registers / thread", str(r["registers"]))
    table.add_row(
        "spills (stack + local)",
        f"[{spill_style}]{r['spill_bytes']} B[/]" if spill_style else "0 B",
    )
    table.add_row("shared / block", f"{r['shared_bytes']} B ({r['shared_bytes'] / 1024:.1f} KB)")
    cached = "cached" if r["cached"] else f"{r['compile_s']:.2f} s"
    table.add_row("source", f"{r['source']} ({cached})")
    return table


def _occupancy_table(report: dict) -> Group:
    occ = report["occupancy"]
    table = Table(title="occupancy (theoretical)", title_justify="left")
    table.add_column("limiter")
    table.add_column("blocks / SM", justify="right")
    table.add_column("")
    for name, blocks in occ["limits"].items():
        binding = name in occ["limiters"]
        table.add_row(
            f"[bold]{name}[/]" if binding else name,
            str(blocks),
            "[yellow]binding[/]" if binding else "",
        )
    summary = (
        f"{occ['blocks_per_sm']} blocks/SM x {occ['warps_per_block']} warps ="
        f" {occ['active_warps']}/{occ['max_warps']} warps = [bold]{occ['fraction']:.1%}[/]"
        f" (bound by {' + '.join(occ['limiters'])})"
    )
    if occ.get("reason"):
        summary += f"; {occ['reason']}"
    return Group(table, summary)


def _grid_table(report: dict) -> Table:
    w = report["waves"]
    grid = " x ".join(map(str, report["grid"]))
    table = Table(title="grid and waves", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("grid", f"{grid} = {report['grid_blocks']} blocks")
    table.add_row("blocks per wave", str(w["blocks_per_wave"]))
    table.add_row("waves", f"{w['waves']:.2f} ({w['full_waves']} full)")
    tail = (
        f"{w['tail_blocks']} blocks ({w['tail_fill']:.0%} of a wave)"
        if w["tail_blocks"]
        else "none (whole waves)"
    )
    table.add_row("tail", tail)
    table.add_row("wave efficiency", f"{w['efficiency']:.1%}")
    return table


def _waste_text(report: dict) -> str:
    waste = report["waste"]
    if waste is None:
        return f"waste: n/a ({report['waste_note']})"
    return (
        f"waste (masked lanes): M {waste['m']:.1%}, N {waste['n']:.1%}, K {waste['k']:.1%},"
        f" total [bold]{waste['total']:.1%}[/]"
    )


def _rules_text(report: dict) -> list[str]:
    if not report["rules"]:
        return ["rules: no breaks"]
    out = ["rules:"]
    for rule in report["rules"]:
        color = "red" if rule["severity"] == "error" else "yellow"
        out.append(f"  [{color}]{rule['severity']}[/] {rule['message']}")
    return out
