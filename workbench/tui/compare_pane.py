"""Comparison pane: the current trial side by side with the pinned baseline and the previous one.

Every parameter (a value that differs from the current trial's is marked ●), registers, spills,
shared memory, occupancy and its limiter (from each trial's own compile for the target), the
predicted time (the performance model, labelled with its calibration: a prediction, never a
measurement), the measured times both ways (KernelBench's protocol and kernel only, with the
device named), the error against fp64 and KernelBench's verdict; beside each, the change from
that trial to the current one, green when it went the right way, red when it did not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from workbench.core.config import Config, changed_keys
from workbench.core.records import Comparison, Prediction, TrialResult
from workbench.tui.charts import kib, num
from workbench.tui.rendered import RenderedView
from workbench.tui.style import Tones, change_style, tones

CHANGED = "●"
NO_GPU = "timing needs a CUDA GPU: correctness ran in Triton's interpreter on the reduced problem"


@dataclass
class Column:
    """One trial as the table shows it, with what the screen works out for it."""

    label: str  # "current" | "baseline" | "previous"
    trial: TrialResult
    config: Config  # full config (defaults filled in)
    prediction: Prediction | None = None
    prediction_note: str = ""  # why there is none


def verdict_text(trial: TrialResult, t: Tones) -> Text:
    status = trial.status.value if trial.status else "?"
    if not trial.ok:
        return Text(status, style=f"bold {t.bad}")
    passed = trial.correctness.kernelbench_pass if trial.correctness else None
    if passed is None:
        return Text("not checked", style=t.warn)
    return Text("pass", style=t.good) if passed else Text("FAIL", style=f"bold {t.bad}")


def _pct_change(now: float | None, then: float | None) -> float | None:
    if now is None or then is None or then == 0:
        return None
    return 100.0 * (now - then) / then


def _delta(
    t: Tones, now: float | None, then: float | None, kind: str, lower_is_better: bool | None
) -> Text:
    """The change from `then` to `now`: percent, points (occupancy), plain difference or ratio."""
    if now is None or then is None:
        return Text("")
    if kind == "pct":
        change = _pct_change(now, then)
        shown = "" if change is None else f"{change:+.1f}%"
    elif kind == "pts":
        change = (now - then) * 100
        shown = f"{change:+.0f} pts"
    elif kind == "bytes":
        change = now - then
        shown = f"{'+' if change > 0 else '-'}{kib(abs(change))}"
    elif kind == "ratio":
        change = None if then == 0 else (now / then - 1) * 100
        shown = "" if then == 0 else f"×{now / then:.2g}"
    else:
        change = now - then
        shown = f"{change:+g}"
    if change is not None and abs(change) < 1e-9:
        return Text("=", style=t.muted)
    style = t.muted if lower_is_better is None else change_style(t, change, lower_is_better)
    return Text(shown, style=style)


Getter = Callable[[Column], float | None]


def _rows(t: Tones) -> list[tuple[str, Getter, Callable[[float | None], str], str, bool | None]]:
    def res(attr: str) -> Getter:
        return lambda c: getattr(c.trial.resources, attr) if c.trial.resources else None

    def occ(c: Column) -> float | None:
        return c.trial.inspect.occupancy.fraction if c.trial.inspect else None

    def err(c: Column) -> float | None:
        return c.trial.correctness.rel_error if c.trial.correctness else None

    return [
        ("registers/thr", res("registers"), lambda v: num(v, "g"), "abs", True),
        ("spills B/thr", res("spill_bytes"), lambda v: num(v, "g"), "abs", True),
        ("shared/block", res("shared_bytes"), kib, "bytes", None),
        ("occupancy", occ, lambda v: "—" if v is None else f"{v * 100:.0f}%", "pts", False),
        ("predicted ms", lambda c: c.prediction.ms if c.prediction else None,
         lambda v: num(v, ".3g"), "pct", True),
        ("KB ms", lambda c: c.trial.kernelbench_ms, lambda v: num(v, ".4g"), "pct", True),
        ("kernel ms", lambda c: c.trial.kernel_only_ms, lambda v: num(v, ".4g"), "pct", True),
        ("rel error", err, lambda v: num(v, ".1e"), "ratio", True),
    ]  # fmt: skip


def comparison_table(columns: list[Column], t: Tones) -> Table:
    """Columns: what | current | for each other trial: its value and the change to current."""
    current = columns[0]
    table = Table(box=None, padding=(0, 1), expand=False, show_edge=False)
    table.add_column("", style="bold", no_wrap=True)
    table.add_column(f"current #{current.trial.id}", justify="right", no_wrap=True)
    for other in columns[1:]:
        table.add_column(f"{other.label} #{other.trial.id}", justify="right", no_wrap=True)
        table.add_column("change", justify="right", no_wrap=True)
    others = columns[1:]
    for name in current.config:
        cells: list[Any] = [str(current.config.get(name, "—"))]
        for other in others:
            value = other.config.get(name)
            differs = value != current.config.get(name)
            cells.append(
                Text(
                    f"{value} {CHANGED}" if differs else str(value),
                    style=t.accent if differs else "",
                )
            )
            cells.append(Text("changed", style=t.accent) if differs else Text(""))
        table.add_row(name, *cells)
    for label, get, fmt, kind, lower in _rows(t):
        now = get(current)
        cells = [fmt(now)]
        for other in others:
            then = get(other)
            cells += [fmt(then), _delta(t, now, then, kind, lower)]
        table.add_row(label, *cells)
    limiter = [
        ", ".join(c.trial.inspect.occupancy.limiters) if c.trial.inspect else "—" for c in columns
    ]
    table.add_row("limiter", limiter[0], *[x for v in limiter[1:] for x in (v, "")])
    verdicts = [verdict_text(c.trial, t) for c in columns]
    table.add_row("KernelBench", verdicts[0], *[x for v in verdicts[1:] for x in (v, Text(""))])
    return table


def table_width(columns: list[Column], t: Tones) -> int:
    return Console(width=10_000).measure(comparison_table(columns, t)).maximum


def fitting_columns(
    columns: list[Column], t: Tones, width: int
) -> tuple[list[Column], list[Column]]:
    """The columns whose table fits `width` (the current trial and the baseline are kept last),
    and those left out: a table cut off with … is not readable."""
    shown = list(columns)
    while len(shown) > 2 and table_width(shown, t) > width:
        shown.pop()  # the previous trial goes first: the baseline is what the user pinned
    return shown, [c for c in columns if c not in shown]


def headline(current: Column, other_column: Column, compared: Comparison, t: Tones) -> Text:
    """ "vs baseline #2: 12.5% faster (changed BLOCK_M, num_warps)" in the change's colour."""
    other, label = other_column.trial, other_column.label
    changed = changed_keys(current.config, other_column.config)  # whole configs, defaults in
    what = f" (changed {', '.join(changed)})" if changed else " (same parameters)"
    if compared.change_pct is None:
        why = compared.reason or "no timing to compare"
        return Text(f"vs {label} #{other.id}: {why}{what}", style=t.muted)
    word = compared.verdict or ""
    style = t.muted if word == "within noise" else change_style(t, compared.change_pct)
    return Text(
        f"vs {label} #{other.id}: {compared.change_pct:+.1f}% {word}{what}", style=f"bold {style}"
    )


def failure_text(trial: TrialResult, t: Tones) -> Text:
    return Text(f"trial {trial.id} {trial.status}: {trial.message}".rstrip(": "), style=t.bad)


def provenance(columns: list[Column], t: Tones) -> Text:
    """Where each kind of number came from, in words."""
    current = columns[0].trial
    lines = []
    res = current.resources
    if res is not None:
        lines.append(f"registers, shared, occupancy: {res.source} (each trial's own compile)")
    timed = [c.trial for c in columns if c.trial.measured_ms is not None]
    if timed:
        devices = sorted({tr.device for tr in timed})
        lines.append(
            f"measured on {', '.join(devices)}: KB = KernelBench's protocol (mean of 100, L2"
            " flushed); kernel = do_bench median"
        )
    elif current.mode == "interpreter":
        lines.append(NO_GPU)
    else:
        reason = current.timing.reason if current.timing else ""
        lines.append(f"not timed: {reason or 'no timing'}")
    caveat = current.correctness.caveat if current.correctness else ""
    if caveat:
        lines.append(caveat)
    pred = next((c.prediction for c in columns if c.prediction is not None), None)
    if pred is not None:
        typical = f", typical error {pred.typical_error_pct:.0f}%" if pred.typical_error_pct else ""
        lines.append(f"predicted ms: a model, not a measurement; {pred.calibration}{typical}")
    else:
        note = next((c.prediction_note for c in columns if c.prediction_note), "")
        if note:
            lines.append(f"predicted ms: none ({note})")
    return Text("\n".join(lines), style=t.muted)


class ComparePane(RenderedView):
    """Redrawn by the screen after each trial, pin and theme change."""

    def show_columns(self, columns: list[Column], comparisons: dict[str, Comparison]) -> None:
        self._last = (columns, comparisons)
        self.rebuild()

    def rebuild(self) -> None:
        t = tones(self.app)
        columns, comparisons = getattr(self, "_last", ([], {}))
        if not columns:
            self.show_renderable(
                Text(
                    "no trial yet: press r to run the current config; then b on a history row"
                    " pins it as the baseline to compare with",
                    style=t.muted,
                )
            )
            self._subtitle("")
            return
        current = columns[0]
        heads = [
            headline(current, c, comparisons[c.label], t)
            for c in columns[1:]
            if c.label in comparisons
        ]
        if not any(c.label == "baseline" for c in columns):
            heads.append(Text("no baseline pinned: b on a history row pins one", style=t.muted))
        failed = [] if current.trial.ok else [failure_text(current.trial, t)]
        shown, left_out = fitting_columns(columns, t, self.view_width)
        body: list[RenderableType] = [comparison_table(shown, t)]
        if left_out:
            body.append(Text(
                f"{', '.join(f'{c.label} #{c.trial.id}' for c in left_out)}: too narrow to show"
                " side by side here (m maximises the pane); its change is in the line below",
                style=t.muted,
            ))  # fmt: skip
        body += [Text(""), *failed, *heads]
        body.append(provenance(columns, t))
        self.show_renderable(Group(*body))
        self._subtitle(
            f"current #{current.trial.id}"
            + "".join(f" vs {c.label} #{c.trial.id}" for c in columns[1:])
        )

    def _subtitle(self, text: str) -> None:
        self.border_subtitle = text
