"""The `inspect` verb: one config on one problem for one target GPU, with no GPU needed.

The compile runs in a worker under a time limit (the user's wrapper runs there), and the report
comes back as a record: printed as tables, or as one JSON object with `--json`.
"""

from __future__ import annotations

import argparse

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table

from workbench.cli.render import out_console, prediction_text, print_json
from workbench.core.config import format_config, parse_config
from workbench.core.gpus import find_gpu
from workbench.core.records import InspectReport
from workbench.kernel.kernelfile import KernelFile
from workbench.kernel.problemfile import load_problem
from workbench.runner.local import inspect_in_worker


def inspect_command(args: argparse.Namespace) -> int:
    kf = KernelFile.load(args.kernel)
    problem = load_problem(args.problem)
    gpu = find_gpu(args.gpu)
    config = parse_config(args.config)
    report = inspect_in_worker(kf, problem, config, gpu, timeout_s=args.timeout)
    if args.json:
        print_json(report)
    else:
        out_console().print(render(report))
    return 0


def render(report: InspectReport) -> Group:
    """The rich view of an inspect report."""
    t, p, k = report.target, report.problem, report.kernel
    assert t is not None and p is not None and k is not None
    head = (
        f"[bold]{k.name}[/] in {k.path}\n"
        f"problem {p.label}  (GEMM {p.gemm.get('m')} x {p.gemm.get('n')} x {p.gemm.get('k')},"
        f" {p.gflop or 0:.1f} GFLOP)\n"
        f"target {t.name} (CC {t.cc}, {t.sm}, {t.sms} SMs)\n"
        f"config [bold]{format_config(report.config)}[/]"
    )
    parts: list[RenderableType] = [Panel(head, title="inspect", expand=False)]
    parts += [_resources_table(report), _occupancy_table(report), _grid_table(report)]
    parts.append(_waste_text(report))
    if report.prediction is not None:
        parts.append(prediction_text(report.prediction, t.name))
    parts += [f"[cyan]advice[/] {line}" for line in report.advice]
    parts += _rules_text(report)
    parts += [f"[dim]not tunable: {reason}[/]" for reason in report.untunable.values()]
    parts += [f"[dim]{line}[/]" for line in report.provenance]
    return Group(*parts)


def _resources_table(report: InspectReport) -> Table:
    r = report.resources
    table = Table(title="resources per thread / block", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("registers / thread", str(r.registers))
    table.add_row(
        "spills (stack + local)", f"[red]{r.spill_bytes} B[/]" if r.spill_bytes else "0 B"
    )
    table.add_row("shared / block", f"{r.shared_bytes} B ({r.shared_bytes / 1024:.1f} KB)")
    cached = "cached" if r.cached else (f"{r.compile_s:.2f} s" if r.compile_s is not None else "")
    table.add_row("source", f"{r.source}" + (f" ({cached})" if cached else ""))
    return table


def _occupancy_table(report: InspectReport) -> Group:
    occ = report.occupancy
    table = Table(title="occupancy (theoretical)", title_justify="left")
    table.add_column("limiter")
    table.add_column("blocks / SM", justify="right")
    table.add_column("")
    for name, blocks in occ.limits.items():
        binding = name in occ.limiters
        table.add_row(
            f"[bold]{name}[/]" if binding else name,
            str(blocks),
            "[yellow]binding[/]" if binding else "",
        )
    summary = (
        f"{occ.blocks_per_sm} blocks/SM x {occ.warps_per_block} warps ="
        f" {occ.active_warps}/{occ.max_warps} warps = [bold]{occ.fraction:.1%}[/]"
        f" (bound by {' + '.join(occ.limiters)})"
    )
    if occ.reason:
        summary += f"; {occ.reason}"
    return Group(table, summary)


def _grid_table(report: InspectReport) -> Table:
    w = report.waves
    table = Table(title="grid and waves", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("grid", f"{' x '.join(map(str, report.grid))} = {report.grid_blocks} blocks")
    table.add_row("blocks per wave", str(w.blocks_per_wave))
    table.add_row("waves", f"{w.waves:.2f} ({w.full_waves} full)")
    tail = (
        f"{w.tail_blocks} blocks ({w.tail_fill:.0%} of a wave)"
        if w.tail_blocks
        else "none (whole waves)"
    )
    table.add_row("tail", tail)
    table.add_row("wave efficiency", f"{w.efficiency:.1%}")
    return table


def _waste_text(report: InspectReport) -> str:
    waste = report.waste
    if waste is None:
        return f"waste: n/a ({report.waste_note})"
    return (
        f"waste (masked lanes): M {waste.m:.1%}, N {waste.n:.1%}, K {waste.k:.1%},"
        f" total [bold]{waste.total:.1%}[/]"
    )


def _rules_text(report: InspectReport) -> list[str]:
    if not report.rules:
        return ["rules: no breaks"]
    out = ["rules:"]
    for rule in report.rules:
        color = "red" if rule.severity == "error" else "yellow"
        out.append(f"  [{color}]{rule.severity}[/] {rule.message}")
    return out
