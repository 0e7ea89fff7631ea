"""NCU pane: Nsight Compute's key metrics for the current config, filled on request (key n)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from workbench.core.records import NcuReport, TrialResult
from workbench.runner.ncu import LABELS

HINT = "press n to profile the current config with Nsight Compute (needs a CUDA GPU and ncu)"


def ncu_table(ncu: NcuReport) -> Table:
    metrics, units = ncu.metrics, ncu.units
    t = Table.grid(padding=(0, 1))
    t.add_column(style="bold")
    t.add_column(justify="right")
    for key, value in metrics.items():
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        unit = units.get(key, "")
        t.add_row(LABELS.get(key, key), f"{shown} {unit}".strip() if unit != "%" else f"{shown}%")
    if ncu.kernel:
        t.add_row("kernel", str(ncu.kernel)[:30])
    return t


class NcuPane(Static):
    def on_mount(self) -> None:
        self.update(Text(HINT, style="dim"))

    def show_pending(self, config_text: str) -> None:
        self.update(Text(f"profiling {config_text} …", style="yellow"))

    def show_unavailable(self, why: str) -> None:
        self.update(Text(f"no metrics: {why}", style="yellow"))

    def show(self, trial: TrialResult) -> None:
        """The `ncu` part of a trial; a failed trial or ncu run says why in place."""
        ncu = trial.ncu
        if ncu is None or not ncu.ok or not ncu.metrics:
            why = (ncu.message if ncu else "") or trial.message or "Nsight Compute gave no metrics"
            self.show_unavailable(why)
            return
        self.update(ncu_table(ncu))
        self.border_subtitle = ncu.message
