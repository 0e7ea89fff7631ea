"""History pane: the session's trials, and their time per trial as a chart with axes.

A click or Enter on a row restores that trial's config; `b` on a row pins it as the baseline
(again to unpin). The pinned row is marked ◆, the one the current trial is compared with ◇.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static

from workbench.core.config import short_config
from workbench.core.records import TrialResult
from workbench.tui.charts import axis_chart, num
from workbench.tui.compare_pane import verdict_text
from workbench.tui.messages import PinBaseline, RestoreConfig
from workbench.tui.style import Tones, tones

PINNED, PREVIOUS = "◆", "◇"


class HistoryTable(DataTable[Any]):
    BINDINGS = [
        Binding("enter", "select_cursor", "Restore", tooltip="restore this trial's config"),
        Binding("b", "pin", "Pin baseline", tooltip="compare every trial with this one"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.trials: list[TrialResult] = []

    async def _on_click(self, event: events.Click) -> None:
        """A click on a row restores it (DataTable alone only moves the cursor there)."""
        before = self.cursor_coordinate
        await super()._on_click(event)
        row, column = event.style.meta.get("row"), event.style.meta.get("column")
        if not (isinstance(row, int) and row >= 0 and isinstance(column, int)):
            return
        if Coordinate(row, column) != before:  # DataTable selects only on a second click
            self.action_select_cursor()

    def action_pin(self) -> None:
        if 0 <= self.cursor_row < len(self.trials):
            trial_id = self.trials[self.cursor_row].id
            if trial_id is not None:
                self.post_message(PinBaseline(trial_id))


def time_chart(trials: list[TrialResult], width: int, t: Tones) -> Text:
    """Measured time per trial (KernelBench's protocol where measured), in order, with axes."""
    shown = trials[-max(4, width - 12) :]
    values = [tr.measured_ms for tr in shown]
    timed = [v for v in values if v is not None]
    if not timed:
        return Text("time per trial: no timings yet (timing needs a CUDA GPU)", style=t.muted)
    top = max(timed)
    ticks = {0: f"#{shown[0].id}", len(shown) - 1: f"#{shown[-1].id}"}
    return axis_chart(
        values,
        title="time per trial (ms, measured; · = not timed)",
        x_title="trial",
        y_max=top,
        y_label=lambda v: f"{v:.3g}",
        x_ticks=ticks,
        height=3,
        marker=len(shown) - 1,
        style=t.accent,
        marker_style=t.marker,
        muted=t.muted,
    )


class HistoryPane(Vertical):
    def compose(self) -> ComposeResult:
        table = HistoryTable(id="history")
        table.add_columns("#", "config", "status", "KB ms", "kernel ms", "rel err", "KernelBench")
        yield table
        yield Static("", id="best-line")
        yield Static("", id="time-chart")

    def show_trials(
        self, trials: list[TrialResult], baseline_id: int | None, previous_id: int | None
    ) -> None:
        self._last = (list(trials), baseline_id, previous_id)
        t = tones(self.app)
        table = self.query_one(HistoryTable)
        table.trials = list(trials)
        table.clear()
        for i, trial in enumerate(trials):
            mark = (
                PINNED if trial.id == baseline_id else PREVIOUS if trial.id == previous_id else ""
            )
            status = trial.status.value if trial.status else "?"
            table.add_row(
                f"{mark}{trial.id or i + 1}",
                short_config(trial.config),
                Text(status, style=t.good if trial.ok else t.bad),
                num(trial.kernelbench_ms, ".4g"),
                num(trial.kernel_only_ms, ".4g"),
                num(trial.correctness.rel_error if trial.correctness else None, ".1e"),
                verdict_text(trial, t),
                key=str(i),
            )
        if trials:
            table.move_cursor(row=len(trials) - 1, animate=False)
        self.query_one("#best-line", Static).update(best_line(trials, t))
        self.redraw_chart()

    def redraw_chart(self) -> None:
        trials: list[TrialResult] = getattr(self, "_last", ([], None, None))[0]
        width = max(20, self.content_size.width or 60)
        self.query_one("#time-chart", Static).update(time_chart(trials, width, tones(self.app)))

    def redraw(self) -> None:
        if hasattr(self, "_last"):
            self.show_trials(*self._last)

    def on_resize(self, event: events.Resize) -> None:
        self.redraw_chart()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        trials = self.query_one(HistoryTable).trials
        index = int(event.row_key.value or 0)
        if 0 <= index < len(trials) and trials[index].config:
            self.post_message(RestoreConfig(dict(trials[index].config), trials[index].id))


def best_line(trials: list[TrialResult], t: Tones) -> Text:
    """ "best" is the fastest trial that is also correct, as sessions define it."""
    timed = [tr for tr in trials if tr.measured_ms is not None]
    if not timed:
        return Text("")
    correct = [tr for tr in timed if tr.correct]
    if not correct:
        return Text(f"{len(timed)} timed, no correct trial yet", style=t.warn)
    best = min(correct, key=lambda tr: tr.measured_ms or 0.0)
    return Text(
        f"{len(timed)} timed: best correct {best.measured_ms:.4g} ms (trial {best.id}),"
        f" last {timed[-1].measured_ms:.4g} ms"
    )
