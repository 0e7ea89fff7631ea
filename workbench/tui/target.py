"""Target pane: the target GPU's limits and spec sheet; a list to switch target."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Select, Static

from workbench.core.gpus import GPU, GPUS, limit_rows


def limits_table(gpu: GPU) -> Table:
    t = Table.grid(padding=(0, 1))
    t.add_column(style="bold")
    t.add_column()
    for row in limit_rows(gpu, compact=True):  # the facts `conv3d-bench limits` shows, compact
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
