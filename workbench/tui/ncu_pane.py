"""NCU pane: Nsight Compute's key metrics for the current config, filled on request (key n)."""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from workbench.core.records import NcuReport, TrialResult
from workbench.runner.ncu import LABELS
from workbench.tui.style import tones

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
    """Colours come from the theme at each redraw, so the text stays readable when it changes."""

    def on_mount(self) -> None:
        self._what: tuple[str, str | NcuReport] = ("hint", HINT)
        self.redraw()

    def _set(self, kind: str, value: str | NcuReport) -> None:
        self._what = (kind, value)
        self.redraw()

    def redraw(self) -> None:
        t = tones(self.app)
        kind, value = getattr(self, "_what", ("hint", HINT))
        body: RenderableType
        if isinstance(value, NcuReport):
            body = ncu_table(value)
        elif kind == "pending":
            body = Text(f"profiling {value} …", style=t.warn)
        elif kind == "unavailable":
            body = Text(f"no metrics: {value}", style=t.warn)
        else:
            body = Text(str(value), style=t.muted)
        self.update(body)

    def show_pending(self, config_text: str) -> None:
        self._set("pending", config_text)

    def show_unavailable(self, why: str) -> None:
        self._set("unavailable", why)

    def show(self, trial: TrialResult) -> None:
        """The `ncu` part of a trial; a failed trial or ncu run says why in place."""
        ncu = trial.ncu
        if ncu is None or not ncu.ok or not ncu.metrics:
            why = (ncu.message if ncu else "") or trial.message or "Nsight Compute gave no metrics"
            self.show_unavailable(why)
            return
        self._set("table", ncu)
        self.border_subtitle = ncu.message
