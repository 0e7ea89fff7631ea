"""Benchmark pane: current vs previous vs cuDNN, the trial history, time per trial.

Trials are the session's TrialResults; selecting a history row asks the app to restore that
trial's config. Times are KernelBench's protocol first, kernel only beside it.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Sparkline, Static

from workbench.core.config import short_config
from workbench.core.records import TrialResult
from workbench.tui.charts import num

NO_GPU = "timing needs a CUDA GPU: correctness ran in Triton's interpreter on the reduced problem"
STATUS_STYLE = {"ok": "green", "wrong_result": "bold red", "cancelled": "dim"}


def _ms(trial: TrialResult | None) -> float | None:
    return trial.measured_ms if trial is not None else None


def _verdict(trial: TrialResult) -> Text:
    passed = trial.correctness.kernelbench_pass if trial.correctness else None
    status = trial.status.value if trial.status else "?"
    if trial.correctness is None:
        return Text(status, style=STATUS_STYLE.get(status, "red"))
    if passed is None:
        return Text("not checked", style="yellow")
    return Text("pass", style="green") if passed else Text("FAIL", style="bold red")


def summary_table(trials: list[TrialResult], previous: TrialResult | None = None) -> Table:
    current = trials[-1] if trials else None
    t = Table(box=None, padding=(0, 1), expand=True)
    for col in ("", "KB ms", "kernel ms", "change", "rel err", "KernelBench"):
        t.add_column(col, justify="right" if col else "left")
    for label, trial in (("current", current), ("previous", previous)):
        if trial is None:
            t.add_row(label, "—", "—", "—", "—", "—")
            continue
        vs = trial.vs_previous
        change = vs.change_pct if vs else None
        change_text = "—" if change is None else f"{change:+.1f}% {vs.verdict or ''}".strip()  # type: ignore[union-attr]
        t.add_row(
            label,
            num(trial.kernelbench_ms, ".4g"),
            num(trial.kernel_only_ms, ".4g"),
            change_text if label == "current" else "",
            num(trial.correctness.rel_error if trial.correctness else None, ".1e"),
            _verdict(trial),
        )
    base = current.baseline if current else None
    speedup = current.kernelbench_speedup if current else None
    t.add_row(
        "cuDNN", num(base.kernelbench_mean_ms if base else None, ".4g"), num(base.median_ms if base else None, ".4g"),
        f"×{speedup:.2f}" if speedup else "", "", "reference",
    )  # fmt: skip
    if current is not None and _ms(current) is not None:  # every time says where it was measured
        t.caption = f"measured on {current.device}: KB = KernelBench's protocol (mean of 100, L2 flushed); kernel = do_bench median"
    return t


class BenchPane(Vertical):
    class Restore(Message):
        def __init__(self, config: dict[str, int | str]) -> None:
            super().__init__()
            self.config = config

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.trials: list[TrialResult] = []
        self.previous: TrialResult | None = None

    def compose(self) -> ComposeResult:
        yield Static(summary_table([]), id="bench-summary")
        yield Static("", id="bench-note")
        table: DataTable = DataTable(id="history", cursor_type="row", zebra_stripes=True)
        table.add_columns("#", "config", "status", "KB ms", "kernel ms", "rel err", "KernelBench")
        yield table
        yield Static("time per trial: no timings yet", id="plot-label")
        plot = Sparkline([], id="time-plot")
        plot.display = False  # until a trial has a time
        yield plot

    def show_trials(self, trials: list[TrialResult], previous: TrialResult | None = None) -> None:
        self.trials = list(trials)
        self.previous = previous
        self.query_one("#bench-summary", Static).update(summary_table(self.trials, previous))
        table = self.query_one(DataTable)
        table.clear()
        for i, trial in enumerate(self.trials):
            status = trial.status.value if trial.status else "?"
            table.add_row(
                str(trial.id or i + 1),
                short_config(trial.config),
                Text(status, style=STATUS_STYLE.get(status, "red")),
                num(trial.kernelbench_ms, ".4g"),
                num(trial.kernel_only_ms, ".4g"),
                num(trial.correctness.rel_error if trial.correctness else None, ".1e"),
                _verdict(trial),
                key=str(i),
            )
        if self.trials:
            table.move_cursor(row=len(self.trials) - 1, animate=False)
        self._show_note_and_plot()

    def _show_note_and_plot(self) -> None:
        current = self.trials[-1] if self.trials else None
        note = self.query_one("#bench-note", Static)
        if current is not None and _ms(current) is None:
            reason = current.timing.reason if current.timing else ""
            text = NO_GPU if current.mode == "interpreter" else reason or "no timing"
            caveat = current.correctness.caveat if current.correctness else ""
            note.update(Text(f"{text}\n{caveat}" if caveat else text, style="bold yellow"))
        elif current is not None and not current.ok:
            note.update(Text(current.message or str(current.status), style="red"))
        else:
            note.update("")
        times = [t for t in (_ms(tr) for tr in self.trials) if t is not None]
        label = self.query_one("#plot-label", Static)
        if times:
            # "best" is the fastest trial that is also correct, as sessions define it.
            correct = [tr for tr in self.trials if _ms(tr) is not None and tr.correct]
            best = min(correct, key=lambda tr: _ms(tr) or 0.0) if correct else None
            best_text = (
                f"best correct {_ms(best):.4g} ms (trial {best.id})"
                if best
                else "no correct trial yet"
            )
            label.update(
                f"time per trial ({len(times)} timed): {best_text}, last {times[-1]:.4g} ms"
            )
        else:
            label.update("time per trial: no timings yet")
        plot = self.query_one(Sparkline)
        plot.data = times
        plot.display = bool(times)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        index = int(event.row_key.value or 0)
        if 0 <= index < len(self.trials) and self.trials[index].config:
            self.post_message(self.Restore(dict(self.trials[index].config)))
