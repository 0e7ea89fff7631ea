"""Target pane: the target GPU's limits and spec sheet, and a list to switch target.

On a narrow screen only the list and a one-line summary show; maximise the pane (m) for all.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Select, Static

from workbench.core.gpus import GPU, GPUS, limit_rows
from workbench.tui.messages import TargetPicked


def limits_table(gpu: GPU) -> Table:
    t = Table.grid(padding=(0, 1))
    t.add_column(style="bold")
    t.add_column()
    for row in limit_rows(gpu, compact=True):  # the facts `conv3d-bench limits` shows, compact
        t.add_row(*row)
    return t


def summary_line(gpu: GPU) -> str:
    a = gpu.arch
    return (
        f"{a.sm} · {gpu.sms} SMs · {a.max_shared_per_block_optin // 1024} KiB smem/blk ·"
        f" {a.registers_per_sm // 1024}K regs/SM · {a.max_warps_per_sm} warps/SM"
    )


class TargetPane(VerticalScroll, can_focus=False):
    """Shows one target; the Select lists the known spec sheets."""

    ALLOW_MAXIMIZE = True

    def __init__(self, gpu: GPU, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gpu = gpu

    def compose(self) -> ComposeResult:
        options = [(f"{g.key:<10} {g.name}", g.key) for g in GPUS.values()]
        yield Select(
            options, value=self.gpu.key, allow_blank=False, id="target-select", compact=True
        )
        yield Static(summary_line(self.gpu), id="target-summary")
        yield Static(limits_table(self.gpu), id="target-limits")
        yield Static("local: …", id="target-local")

    def show(self, gpu: GPU) -> None:
        self.gpu = gpu
        self.border_subtitle = gpu.name
        self.query_one("#target-limits", Static).update(limits_table(gpu))
        self.query_one("#target-summary", Static).update(summary_line(gpu))
        select = self.query_one(Select)
        if select.value != gpu.key:
            with select.prevent(Select.Changed):
                select.value = gpu.key

    def show_local(self, mode: str, device: str) -> None:
        """The machine's own device (read without initialising CUDA here: trials own CUDA)."""
        text = f"local: {device}" if mode == "gpu" else "local: no CUDA GPU"
        self.query_one("#target-local", Static).update(text)

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if isinstance(event.value, str) and event.value != self.gpu.key:
            self.post_message(TargetPicked(event.value))
