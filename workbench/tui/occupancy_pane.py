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

from workbench.gpus import ArchLimits
from workbench.occupancy import LIMITERS, occupancy
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


def render_report(report: dict, arch: ArchLimits) -> Group:
    res, occ, waves, waste = (
        report["resources"],
        report["occupancy"],
        report.get("waves", {}),
        report.get("waste", {}),
    )
    target = report.get("target", {})
    head = Table.grid(padding=(0, 1))
    head.add_column(style="bold")
    head.add_column()
    spill = res.get("spill_bytes") or 0
    head.add_row(
        "registers",
        Text.assemble(
            f"{res.get('registers')}/thread  ",
            (f"spills {spill} B" if spill else "no spills", "bold red" if spill else "green"),
        ),
    )
    head.add_row(
        "shared",
        f"{kib(res.get('shared_bytes'))}/block  (compiled for {target.get('sm', arch.sm)})",
    )

    bars = Table.grid(padding=(0, 1))
    bars.add_column(style="bold", width=9)
    bars.add_column(width=24)
    bars.add_column()
    limits = occ.get("limits", {})
    binding = set(occ.get("limiters", []))
    top = max([arch.max_blocks_per_sm, *[v for v in limits.values() if v is not None]])
    for name in LIMITERS:
        value = limits.get(name)
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
    frac = occ.get("fraction", 0.0)
    summary.add_row(
        "occupancy",
        Text.assemble(
            (
                pct(frac),
                "bold green" if frac >= 0.5 else "bold yellow" if frac > 0.25 else "bold red",
            ),
            f"  {occ.get('blocks_per_sm')} blk/SM · {occ.get('active_warps')}/"
            f"{occ.get('max_warps', arch.max_warps_per_sm)} warps (theoretical)",
        ),
    )
    if waves:
        summary.add_row(
            "waves",
            f"{waves.get('waves', 0):.2f} on {target.get('sms', '?')} SMs · "
            f"{report.get('grid_blocks', '?')} blocks · tail {pct(waves.get('tail_fill'))} full · "
            f"efficiency {pct(waves.get('efficiency'))}",
        )
    if waste:
        summary.add_row(
            "waste",
            f"masked lanes {pct(waste.get('total'), 1)}  "
            f"(M {pct(waste.get('m'), 1)} · N {pct(waste.get('n'), 1)} · K {pct(waste.get('k'), 1)})",
        )
    if occ.get("reason"):
        summary.add_row("why 0", Text(occ["reason"], style="red"))
    threads = occ.get("warps_per_block", 1) * arch.warp_size
    charts = sweep_charts(arch, threads, res.get("registers") or 0, res.get("shared_bytes") or 0)
    return Group(head, Text(""), bars, Text(""), summary, Text(""), charts)


class OccupancyPane(Static):
    """Static whose content is replaced each time the background inspect finishes."""

    def show_report(self, report: dict, arch: ArchLimits) -> None:
        self.update(render_report(report, arch))
        self.border_subtitle = "; ".join(report.get("provenance", []))[:80]
        self.remove_class("-stale", "-failed")

    def show_pending(self, what: str) -> None:
        self.add_class("-stale")
        self.border_subtitle = what

    def show_error(self, message: str) -> None:
        self.add_class("-failed")
        self.update(Text(message, style="bold red"))
        self.border_subtitle = "no occupancy for this config"
