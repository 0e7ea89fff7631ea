"""Benchmark pane: current vs previous vs cuDNN, the trial history, time per trial.

Trials are the dicts `run_trial` returns (as stored in the session, with their `config`);
selecting a history row asks the app to restore that trial's config.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Sparkline, Static

from workbench.tui.charts import num

NO_GPU = "timing needs a CUDA GPU: correctness ran in Triton's interpreter on the reduced problem"
STATUS_STYLE = {"ok": "green", "wrong_result": "bold red", "cancelled": "dim"}


def short_config(config: dict) -> str:
    """`BLOCK_M=128,num_warps=8,...` -> `M128 N64 K32 w8 s3 tf32x3`: fits a table column."""
    parts = []
    for key, value in config.items():
        if key.upper().startswith("BLOCK_"):
            parts.append(f"{key[6:]}{value}")
        elif key in ("num_warps", "num_stages"):
            parts.append(f"{key[4]}{value}")
        else:
            parts.append(str(value))
    return " ".join(parts)


def _ms(trial: dict | None) -> float | None:
    return ((trial or {}).get("timing") or {}).get("median_ms")


def _verdict(trial: dict) -> Text:
    corr = trial.get("correctness") or {}
    passed = corr.get("kernelbench_pass")
    if passed is None:
        return Text(trial.get("status", "?"), style=STATUS_STYLE.get(trial.get("status"), "red"))
    return Text("pass", style="green") if passed else Text("FAIL", style="bold red")


def summary_table(trials: list[dict]) -> Table:
    current = trials[-1] if trials else None
    previous = trials[-2] if len(trials) > 1 else None
    t = Table(box=None, padding=(0, 1), expand=True)
    for col in ("", "time ms", "change", "TFLOP/s", "rel err", "KernelBench"):
        t.add_column(col, justify="right" if col else "left")
    for label, trial in (("current", current), ("previous", previous)):
        if trial is None:
            t.add_row(label, "—", "—", "—", "—", "—")
            continue
        timing = trial.get("timing") or {}
        vs = trial.get("vs_previous") or {}
        change = vs.get("change_pct")
        change_text = "—" if change is None else f"{change:+.1f}% {vs.get('verdict', '')}".strip()
        t.add_row(
            label,
            num(timing.get("median_ms"), ".4g"),
            change_text if label == "current" else "",
            num(timing.get("tflops"), ".3g"),
            num((trial.get("correctness") or {}).get("rel_error"), ".1e"),
            _verdict(trial),
        )
    base = ((current or {}).get("baseline") or {}).get("median_ms")
    speedup = (current or {}).get("speedup")
    t.add_row("cuDNN", num(base, ".4g"), f"×{speedup:.2f}" if speedup else "", "", "", "reference")
    if _ms(current) is not None:  # every time says where it was measured
        method = (current.get("timing") or {}).get("method") or "median"
        t.caption = f"times measured on {current.get('device', '?')}: {method}"
    return t


def _correct(trial: dict) -> bool:
    passed = (trial.get("correctness") or {}).get("kernelbench_pass")
    return trial.get("status") == "ok" and passed is True


class BenchPane(Vertical):
    class Restore(Message):
        def __init__(self, config: dict) -> None:
            super().__init__()
            self.config = config

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.trials: list[dict] = []

    def compose(self) -> ComposeResult:
        yield Static(summary_table([]), id="bench-summary")
        yield Static("", id="bench-note")
        table: DataTable = DataTable(id="history", cursor_type="row", zebra_stripes=True)
        table.add_columns("#", "config", "status", "ms", "TFLOP/s", "rel err", "KB")
        yield table
        yield Static("time per trial: no timings yet", id="plot-label")
        plot = Sparkline([], id="time-plot")
        plot.display = False  # until a trial has a time
        yield plot

    def show_trials(self, trials: list[dict]) -> None:
        self.trials = list(trials)
        self.query_one("#bench-summary", Static).update(summary_table(self.trials))
        table = self.query_one(DataTable)
        table.clear()
        for i, trial in enumerate(self.trials):
            timing = trial.get("timing") or {}
            table.add_row(
                str(trial.get("id", i + 1)),
                short_config(trial.get("config") or {}),
                Text(trial.get("status", "?"), style=STATUS_STYLE.get(trial.get("status"), "red")),
                num(timing.get("median_ms"), ".4g"),
                num(timing.get("tflops"), ".3g"),
                num((trial.get("correctness") or {}).get("rel_error"), ".1e"),
                _verdict(trial),
                key=str(i),
            )
        if self.trials:
            table.move_cursor(row=len(self.trials) - 1, animate=False)
        self._show_note_and_plot()

    def _show_note_and_plot(self) -> None:
        current = self.trials[-1] if self.trials else {}
        note = self.query_one("#bench-note", Static)
        if current and _ms(current) is None:
            reason = (current.get("timing") or {}).get("reason")
            text = NO_GPU if current.get("mode") == "interpreter" else reason or "no timing"
            caveat = (current.get("correctness") or {}).get("caveat")
            note.update(Text(f"{text}\n{caveat}" if caveat else text, style="bold yellow"))
        elif current and current.get("status") != "ok":
            note.update(Text(current.get("message") or current.get("status", ""), style="red"))
        else:
            note.update("")
        times = [t for t in (_ms(tr) for tr in self.trials) if t is not None]
        label = self.query_one("#plot-label", Static)
        if times:
            # "best" is the fastest trial that is also correct, as sessions define it.
            correct = [tr for tr in self.trials if _ms(tr) is not None and _correct(tr)]
            best = min(correct, key=_ms) if correct else None
            best_text = (
                f"best correct {_ms(best):.4g} ms (trial {best.get('id', '?')})"
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
        if 0 <= index < len(self.trials) and self.trials[index].get("config"):
            self.post_message(self.Restore(dict(self.trials[index]["config"])))
