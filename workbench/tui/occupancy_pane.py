"""Occupancy pane: what `inspect_config` reports for the current config on the target.

Resources, blocks per SM per limiter as bars, the binding limiter, occupancy, waves and tail,
masked-lane waste, and Nsight-style charts of occupancy against registers and shared memory
around the current point (each point is one call of the core's `occupancy()`).
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from workbench.core.gpus import ArchLimits
from workbench.core.occupancy import LIMITERS, occupancy
from workbench.core.records import InspectReport
from workbench.tui.charts import column_chart, hbar, kib, pct

CHART_WIDTH = 32


def register_sweep(arch: ArchLimits, threads: int, shared: int) -> list[int]:
    step = max(1, arch.max_registers_per_thread // CHART_WIDTH)
    return list(range(step, arch.max_registers_per_thread + 1, step))[:CHART_WIDTH]


def shared_sweep(arch: ArchLimits) -> list[int]:
    step = arch.max_shared_per_block_optin // CHART_WIDTH
    return [step * (i + 1) for i in range(CHART_WIDTH)]


def _nearest(values: list[int], x: int) -> int:
    return min(range(len(values)), key=lambda i: abs(values[i] - x))


def sweep_charts(arch: ArchLimits, threads: int, regs: int, shared: int) -> Group:
    """Occupancy vs registers/thread and vs shared bytes/block, the other held at the current value."""
    reg_x = register_sweep(arch, threads, shared)
    reg_y = [occupancy(arch, threads, r, shared).fraction for r in reg_x]
    smem_x = shared_sweep(arch)
    smem_y = [occupancy(arch, threads, regs, s).fraction for s in smem_x]
    grid = Table.grid(padding=(0, 2))
    grid.add_row(
        Text(f"vs registers/thread (now {regs})", style="bold"),
        Text(f"vs shared/block (now {kib(shared)})", style="bold"),
    )
    grid.add_row(
        column_chart(reg_y, marker=_nearest(reg_x, regs)),
        column_chart(smem_y, marker=_nearest(smem_x, shared)),
    )
    grid.add_row(
        Text(f"{reg_x[0]:<6}{reg_x[-1]:>{CHART_WIDTH - 6}}", style="dim"),
        Text(f"{kib(smem_x[0]):<9}{kib(smem_x[-1]):>{CHART_WIDTH - 9}}", style="dim"),
    )
    return Group(grid)


def render_report(report: InspectReport, arch: ArchLimits) -> Group:
    res, occ, waves, waste = report.resources, report.occupancy, report.waves, report.waste
    sm = report.target.sm if report.target else arch.sm
    sms = report.target.sms if report.target else "?"
    head = Table.grid(padding=(0, 1))
    head.add_column(style="bold")
    head.add_column()
    spill = res.spill_bytes
    head.add_row(
        "registers",
        Text.assemble(
            f"{res.registers}/thread  ",
            (f"spills {spill} B" if spill else "no spills", "bold red" if spill else "green"),
        ),
    )
    head.add_row("shared", f"{kib(res.shared_bytes)}/block  (compiled for {sm})")

    bars = Table.grid(padding=(0, 1))
    bars.add_column(style="bold", width=9)
    bars.add_column(width=24)
    bars.add_column()
    binding = set(occ.limiters)
    top = max([arch.max_blocks_per_sm, *occ.limits.values()])
    for name in LIMITERS:
        value = occ.limits.get(name)
        if value is None:
            continue
        style = "bold yellow" if name in binding else "cyan"
        bars.add_row(
            name,
            hbar(value, top, 24, style),
            Text(f"{value} blk" + ("  ◀ binding" if name in binding else ""), style=style),
        )

    summary = Table.grid(padding=(0, 1))
    summary.add_column(style="bold")
    summary.add_column()
    frac = occ.fraction
    summary.add_row(
        "occupancy",
        Text.assemble(
            (
                pct(frac),
                "bold green" if frac >= 0.5 else "bold yellow" if frac > 0.25 else "bold red",
            ),
            f"  {occ.blocks_per_sm} blk/SM · {occ.active_warps}/{occ.max_warps} warps (theoretical)",
        ),
    )
    summary.add_row(
        "waves",
        f"{waves.waves:.2f} on {sms} SMs · {report.grid_blocks} blocks · tail {pct(waves.tail_fill)} full · "
        f"efficiency {pct(waves.efficiency)}",
    )
    if waste is not None:
        summary.add_row(
            "waste",
            f"masked lanes {pct(waste.total, 1)}  (M {pct(waste.m, 1)} · N {pct(waste.n, 1)} · K {pct(waste.k, 1)})",
        )
    if occ.reason:
        summary.add_row("why 0", Text(occ.reason, style="red"))
    threads = occ.warps_per_block * arch.warp_size
    charts = sweep_charts(arch, threads, res.registers, res.shared_bytes)
    return Group(head, Text(""), bars, Text(""), summary, Text(""), charts)


class OccupancyPane(Static):
    """Static whose content is replaced each time the background inspect finishes."""

    def show_report(self, report: InspectReport, arch: ArchLimits) -> None:
        self.update(render_report(report, arch))
        self.border_subtitle = "; ".join(report.provenance)[:80]
        self.remove_class("-stale", "-failed")

    def show_pending(self, what: str) -> None:
        self.add_class("-stale")
        self.border_subtitle = what

    def show_error(self, message: str) -> None:
        self.add_class("-failed")
        self.update(Text(message, style="bold red"))
        self.border_subtitle = "no occupancy for this config"
