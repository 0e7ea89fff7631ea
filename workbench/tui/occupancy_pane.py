"""Occupancy pane: what the compile for the target says about the current config.

Resources, blocks per SM per limiter as bars, the binding limiter, occupancy, waves and tail,
masked-lane waste, then charts with labelled axes: occupancy against registers/thread and against
shared memory/block around the current point (the core's `occupancy()` over a sweep), and
occupancy against the parameter being edited (one column per allowed value, from compiles
already cached; `·` where that value has not been compiled). Charts fit the pane's width.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from workbench.core.config import short_config
from workbench.core.gpus import ArchLimits
from workbench.core.occupancy import LIMITERS, occupancy
from workbench.core.records import InspectReport
from workbench.tui.charts import axis_chart, hbar, kib, pct
from workbench.tui.rendered import RenderedView
from workbench.tui.style import Tones, tones

MIN_COLUMNS, MAX_COLUMNS = 32, 64  # columns per chart: as wide as the pane allows


def _sweep(maximum: int, columns: int) -> list[int]:
    step = max(1, maximum // columns)
    return [step * (i + 1) for i in range(columns) if step * (i + 1) <= maximum]


def _nearest(values: list[int], x: int) -> int:
    return min(range(len(values)), key=lambda i: abs(values[i] - x))


def sweep_charts(
    arch: ArchLimits, threads: int, regs: int, shared: int, width: int, t: Tones
) -> RenderableType:
    """Occupancy vs registers/thread and vs shared bytes/block, the other held at its value."""
    side_by_side = width >= 2 * (MIN_COLUMNS + 8) + 2
    per_chart = (width - 2) // 2 if side_by_side else width
    columns = max(8, min(MAX_COLUMNS, per_chart - 8))  # 8: the y axis and its labels
    reg_x = _sweep(arch.max_registers_per_thread, columns)
    smem_x = _sweep(arch.max_shared_per_block_optin, columns)
    charts = []
    for xs, now, ys, what, fmt in (
        (reg_x, regs, [occupancy(arch, threads, r, shared).fraction for r in reg_x],
         "registers/thread", str),
        (smem_x, shared, [occupancy(arch, threads, regs, s).fraction for s in smem_x],
         "shared/block", kib),
    ):  # fmt: skip
        mark = _nearest(xs, now)
        charts.append(
            axis_chart(
                ys,
                title=f"occupancy vs {what} (now {fmt(now)})",
                x_title=what,
                y_max=1.0,
                y_label=lambda v: f"{v * 100:.0f}%",
                x_ticks={0: fmt(xs[0]), mark: fmt(now), len(xs) - 1: fmt(xs[-1])},
                marker=mark,
                style=t.good,
                marker_style=t.marker,
                muted=t.muted,
            )
        )
    if side_by_side:
        grid = Table.grid(padding=(0, 2))
        grid.add_row(*charts)
        return grid
    return Group(charts[0], Text(""), charts[1])


def param_chart(name: str, points: list[tuple[Any, float | None]], now: Any, t: Tones) -> Text:
    """Occupancy for each allowed value of the parameter being edited (cached compiles only)."""
    labels = [str(v) for v, _ in points]
    col = max(3, max(len(s) for s in labels) + 1)
    marker = next((i for i, (v, _) in enumerate(points) if v == now), None)
    missing = sum(1 for _, f in points if f is None)
    note = f"; · = not compiled yet ({missing})" if missing else ""
    return axis_chart(
        [f for _, f in points],
        title=f"occupancy vs {name} (from cached compiles{note})",
        x_title=name,
        y_max=1.0,
        y_label=lambda v: f"{v * 100:.0f}%",
        x_ticks=dict(enumerate(labels)),
        marker=marker,
        col_width=col,
        style=t.good,
        marker_style=t.marker,
        muted=t.muted,
    )


def render_report(
    report: InspectReport,
    arch: ArchLimits,
    width: int,
    t: Tones,
    points: tuple[str, list[tuple[Any, float | None]], Any] | None = None,
    estimate_note: str = "",
    prediction: str = "",
) -> Group:
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
            (f"spills {spill} B" if spill else "no spills", f"bold {t.bad}" if spill else t.good),
        ),
    )
    head.add_row("shared", f"{kib(res.shared_bytes)}/block  (compiled for {sm})")
    if estimate_note:
        head.add_row("", Text(estimate_note, style=t.muted))

    bar_width = max(8, min(24, width - 28))
    bars = Table.grid(padding=(0, 1))
    bars.add_column(style="bold", width=9)
    bars.add_column(width=bar_width)
    bars.add_column()
    binding = set(occ.limiters)
    top = max([arch.max_blocks_per_sm, *occ.limits.values()])
    for name in LIMITERS:
        value = occ.limits.get(name)
        if value is None:
            continue
        style = t.marker if name in binding else t.accent
        bars.add_row(
            name,
            hbar(value, top, bar_width, style, t.muted),
            Text(f"{value} blk" + ("  ◀ binding" if name in binding else ""), style=style),
        )

    summary = Table.grid(padding=(0, 1))
    summary.add_column(style="bold")
    summary.add_column()
    frac = occ.fraction
    tone = t.good if frac >= 0.5 else t.warn if frac > 0.25 else t.bad
    summary.add_row(
        "occupancy",
        Text.assemble(
            (pct(frac), f"bold {tone}"),
            f"  {occ.blocks_per_sm} blk/SM · {occ.active_warps}/{occ.max_warps} warps (theoretical)",
        ),
    )
    summary.add_row(
        "waves",
        f"{waves.waves:.2f} on {sms} SMs · {report.grid_blocks} blocks · tail {pct(waves.tail_fill)}"
        f" full · efficiency {pct(waves.efficiency)}",
    )
    if waste is not None:
        summary.add_row(
            "waste",
            f"masked lanes {pct(waste.total, 1)}  (M {pct(waste.m, 1)} · N {pct(waste.n, 1)} ·"
            f" K {pct(waste.k, 1)})",
        )
    if occ.reason:
        summary.add_row("why 0", Text(occ.reason, style=t.bad))
    if prediction:
        summary.add_row("model", Text(prediction, style=t.accent))
    threads = occ.warps_per_block * arch.warp_size
    parts: list[RenderableType] = [head, Text(""), bars, Text(""), summary, Text("")]
    parts.append(sweep_charts(arch, threads, res.registers, res.shared_bytes, width, t))
    if points is not None and points[1]:
        parts += [Text(""), param_chart(points[0], points[1], points[2], t)]
    return Group(*parts)


class OccupancyPane(RenderedView):
    """Shows the newest report; while a compile runs the old one stays, dimmed, and the
    subtitle says what is compiling, for how long, and which key cancels it."""

    def __init__(self, placeholder: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.placeholder = placeholder
        self.report: InspectReport | None = None
        self.arch: ArchLimits | None = None
        self.points: tuple[str, list[tuple[Any, float | None]], Any] | None = None
        self.estimate_note = ""
        self.prediction = ""
        self.state = "waiting"  # waiting | pending | ready | failed
        self.status_text = ""  # the subtitle: what is compiling, or where the numbers came from
        self.message = ""  # what the pane says instead of a report (an error, a reason)
        self.report_subtitle = ""

    def on_mount(self) -> None:
        self.show_renderable(Text(self.placeholder, style=tones(self.app).muted))

    def show_report(
        self, report: InspectReport, arch: ArchLimits, estimate_note: str = "", prediction: str = ""
    ) -> None:
        self.report, self.arch, self.estimate_note = report, arch, estimate_note
        self.prediction = prediction
        self.state = "ready"
        self.remove_class("-stale", "-failed")
        self.rebuild()
        config = short_config(report.config) if report.config else ""
        self.report_subtitle = f"{config} · {'; '.join(report.provenance[:1])}"[:90]
        self.subtitle(self.report_subtitle)

    def show_current(self) -> None:
        """The report on screen is the current config's again: undim it, nothing to draw."""
        self.state = "ready"
        self.remove_class("-stale")
        self.subtitle(self.report_subtitle)

    def show_points(self, name: str, points: list[tuple[Any, float | None]], now: Any) -> None:
        self.points = (name, points, now) if points else None
        if self.state == "ready":
            self.rebuild()

    def show_pending(self, what: str) -> None:
        """The last report stays, dimmed (or the reason, if there is none yet)."""
        was_failed = self.state == "failed"
        self.add_class("-stale")
        self.remove_class("-failed")
        if self.report is not None:
            self.state = "pending"
            if was_failed:
                self.rebuild()
        else:
            self.message = what
            self.show_renderable(Text(what, style=tones(self.app).muted))
        self.subtitle(what)

    def show_error(self, message: str, subtitle: str = "no occupancy for this config") -> None:
        self.state, self.message = "failed", message
        self.add_class("-failed")
        self.remove_class("-stale")
        self.show_renderable(Text(message, style=f"bold {tones(self.app).bad}"), keep_scroll=False)
        self.subtitle(subtitle)

    def subtitle(self, text: str) -> None:
        self.border_subtitle = text
        self.status_text = text

    def rebuild(self) -> None:
        if self.state == "failed":
            self.show_renderable(Text(self.message, style=f"bold {tones(self.app).bad}"))
            return
        if self.report is None or self.arch is None:
            super().rebuild()
            return
        width = max(40, self.view_width)
        self.show_renderable(
            render_report(
                self.report,
                self.arch,
                width,
                tones(self.app),
                self.points,
                self.estimate_note,
                self.prediction,
            )  # fmt: skip
        )
