"""Target pane: the target GPU's limits and spec sheet; a list to switch target."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Select, Static

from workbench.gpus import GPU, GPUS


def limits_table(gpu: GPU) -> Table:
    a = gpu.arch
    t = Table.grid(padding=(0, 1))
    t.add_column(style="bold")
    t.add_column()
    rows = [
        ("arch", f"CC {gpu.cc[0]}.{gpu.cc[1]} · {a.sm} · {gpu.source}"),
        ("SMs", f"{gpu.sms}" + (f" @ {gpu.boost_mhz} MHz" if gpu.boost_mhz else "")),
        (
            "per SM",
            f"{a.max_warps_per_sm} warps · {a.max_threads_per_sm} thr · {a.max_blocks_per_sm} blk",
        ),
        ("regs/SM", f"{a.registers_per_sm} ({a.max_registers_per_thread}/thread max)"),
        ("smem/SM", f"{a.max_shared_per_sm // 1024} KiB"),
        (
            "smem/blk",
            f"{a.max_shared_per_block_optin // 1024} KiB opt-in · {a.reserved_shared_per_block} B rsv",
        ),
        ("thr/blk", str(a.max_threads_per_block)),
        ("L2 · mem", f"{gpu.l2_mb:g} MB · {gpu.memory} · {gpu.bandwidth_gbs:g} GB/s"),
        (
            "TFLOP/s",
            f"fp32 {gpu.fp32_tflops:g} · tf32 {gpu.tf32_tflops:g} · fp16 {gpu.fp16_tflops:g}",
        ),
    ]
    if not a.checked_on_hardware:
        rows.append(("note", "per-block shared limit not checked on hardware"))
    for row in rows:
        t.add_row(*row)
    return t


class TargetPane(VerticalScroll):
    """Shows one target; the Select lists the known spec sheets plus the local device if any."""

    class Picked(Message):
        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, gpu: GPU, **kwargs) -> None:
        super().__init__(**kwargs)
        self.gpu = gpu
        self._quiet = False  # set while the app changes the Select, so no Picked echoes back

    def compose(self) -> ComposeResult:
        options = [(f"{g.key:<10} {g.name}", g.key) for g in GPUS.values()]
        yield Select(
            options, value=self.gpu.key, allow_blank=False, id="target-select", compact=True
        )
        yield Static(limits_table(self.gpu), id="target-limits")
        yield Static("local: …", id="target-local")

    def show(self, gpu: GPU) -> None:
        self.gpu = gpu
        self.border_subtitle = gpu.name
        self.query_one("#target-limits", Static).update(limits_table(gpu))
        select = self.query_one(Select)
        if select.value != gpu.key:
            self._quiet = True
            with select.prevent(Select.Changed):
                select.value = gpu.key
            self._quiet = False

    def show_local(self, mode: str, device: str) -> None:
        """The machine's own device (read without initialising CUDA here: trials own CUDA)."""
        text = f"local: {device}" if mode == "gpu" else "local: no CUDA GPU"
        self.query_one("#target-local", Static).update(text)

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if not self._quiet and isinstance(event.value, str) and event.value != self.gpu.key:
            self.post_message(self.Picked(event.value))
