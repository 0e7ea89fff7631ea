"""The sweep screen (issue 12): sweep the current kernel, problem and target GPU from the TUI.

A thin layer over `workbench.search.sweep`, the core the `sweep` verb drives: the form builds a
`SweepSpec` (space, strategy, budget, top K, mode) with the core's own checks, the sweep runs in
a worker thread with a `LocalRunner`, and its `SweepEvent`s come back as messages that move the
progress bar and fill the ranked table as configs compile and are measured. Esc cancels at once
(the runner kills its worker processes; the trials that finished stay in the session, and
starting the same sweep again resumes it). Enter on a row puts its config in the tuning screen's
editor.

The trials go into the tuning screen's own session (the same `Session` object and writer lock;
created now if the sweep is its first trial). A prediction is never shown as a measurement: the
table's headers say which columns are predicted and which measured, and the winner line says
its basis.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import (
    Button,
    DataTable,
    Footer,
    Header,
    Input,
    Label,
    ProgressBar,
    Select,
    Static,
)

from workbench.core.config import Config, config_key, format_config, short_config
from workbench.core.errors import WorkbenchError
from workbench.tui.charts import num
from workbench.tui.messages import SweepFinished, SweepProgress
from workbench.tui.params import ParamsPane
from workbench.tui.state import KERNEL_LOCK, Workspace
from workbench.tui.status import short_path
from workbench.tui.sweep_run import SweepRun
from workbench.tui.tuning_screen import TuningScreen

if TYPE_CHECKING:  # they import torch: the first paint must not
    from workbench.search.sweep import Candidate, Ranked, SweepEvent, SweepResult, SweepSpec

STRATEGIES = ("grid", "random", "guided")
# The form's names for the core's checks (the CLI's are its flags).
FIELD_NAMES = {"budget": "budget", "top_k": "top K", "max_spill_bytes": "max spill",
               "time_budget_s": "time budget", "strategy": "strategy"}  # fmt: skip
COLUMNS = (
    ("#", "rank"), ("config", "config"), ("status", "status"),
    ("predicted ms", "predicted"), ("measured KB ms", "kb"), ("measured kernel ms", "kernel"),
    ("vs cuDNN", "speedup"), ("rel err", "error"), ("regs", "regs"), ("spill B", "spill"),
    ("occ", "occ"), ("limiter", "limiter"),
)  # fmt: skip


NUMERIC = {"rank", "predicted", "kb", "kernel", "speedup", "error", "regs", "spill", "occ"}


def status_text(candidate: Candidate | None, row: Ranked | None, mode: str, sm: str) -> str:
    if row is not None and row.status != "predicted":
        if row.correct:
            return "correct (interpreter)" if mode == "interpreter" else "correct"
        return "ok, not checked" if row.status == "ok" else row.status
    if candidate is not None and not candidate.fits:  # the whole reason: the line under the table
        short = re.split(r":| \(", candidate.reason)[0][:24]
        return f"dropped: {short}"
    return f"compiled for {sm}"


def row_cells(
    rank: int | None,
    config: Config,
    candidate: Candidate | None,
    row: Ranked | None,
    mode: str,
    sm: str,
) -> list[str]:
    """One table row from what stage 1 (candidate) and stage 2 (row) know of a config (rank
    None: a config stage 1 dropped, which has no place in the ranking)."""
    src = row if row is not None else candidate
    predicted = (row.predicted_ms if row is not None else None) or (
        candidate.predicted_ms if candidate is not None else None
    )
    occupancy = src.occupancy if src is not None else None
    measured = row if row is not None and row.status != "predicted" else None
    return [
        "—" if rank is None else str(rank),
        short_config(config),
        status_text(candidate, row, mode, sm),
        num(predicted, ".3g"),
        num(measured.kernelbench_ms if measured else None, ".4g"),
        num(measured.kernel_only_ms if measured else None, ".4g"),
        f"{measured.speedup:.2f}x" if measured and measured.speedup else "—",
        num(measured.rel_error if measured else None, ".1e"),
        num(src.registers if src else None, "d"),
        num(src.spill_bytes if src else None, "d"),
        f"{occupancy:.0%}" if occupancy is not None else "—",
        (src.limiter if src else "") or "—",
    ]


def justified(cells: list[str]) -> list[str | Text]:
    """Numbers right-aligned, words left."""
    return [
        Text(cell, justify="right") if key in NUMERIC else cell
        for (_, key), cell in zip(COLUMNS, cells)
    ]


class SweepTable(DataTable[str | Text]):
    BINDINGS = [
        Binding("enter", "select_cursor", "Put in editor",
                tooltip="put this row's config in the tuning screen's editor and go back"),
    ]  # fmt: skip


class SweepScreen(Screen[None]):
    DEFAULT_CSS = """
    SweepScreen #sweep-form {
        height: auto;
        border: round $primary-darken-1;
        border-title-color: $accent;
        border-title-style: bold;
        padding: 0 1;
    }
    SweepScreen .sweep-row { height: 1; }
    SweepScreen .sweep-row Label { padding: 0 1 0 0; }
    SweepScreen .sweep-row Label.-gap { padding: 0 1 0 2; }
    SweepScreen #sweep-space { width: 1fr; }
    SweepScreen #sweep-strategy { width: 12; }
    SweepScreen #sweep-budget, SweepScreen #sweep-spill { width: 7; }
    SweepScreen #sweep-top { width: 5; }
    SweepScreen #sweep-mode { width: 1fr; max-width: 28; }
    SweepScreen #sweep-start { margin: 0 0 0 2; min-width: 9; }
    SweepScreen #sweep-error { height: auto; color: $text-error; display: none; }
    SweepScreen #sweep-error.-shown { display: block; }
    SweepScreen #sweep-info, SweepScreen #sweep-legend { height: auto; color: $text-muted; padding: 0 1; }
    SweepScreen #sweep-progress-row { height: 1; padding: 0 1; }
    SweepScreen #sweep-stage { width: auto; padding: 0 1 0 0; }
    SweepScreen #sweep-best { height: 1; padding: 0 1; }
    SweepScreen #sweep-detail { height: 1; padding: 0 1; color: $text-muted; }
    SweepScreen #sweep-table { height: 1fr; }
    SweepScreen #sweep-winner { height: auto; padding: 0 1; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel sweep",
                tooltip="end the sweep now: its worker processes are killed; finished trials stay in the session"),
        Binding("escape", "back", "Back", tooltip="back to the tuning screen"),
        Binding("ctrl+r", "start", "Start",
                tooltip="start the sweep (or Enter in a field); the same sweep again resumes it"),
    ]  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.current: SweepRun | None = None
        self.shown_for: Workspace | None = None  # the workspace the form was filled for
        self.error = ""

    # --- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Vertical(id="sweep-form"):
            with Horizontal(classes="sweep-row"):
                yield Label("Space")
                yield Input(id="sweep-space", compact=True, placeholder="BLOCK_M=32,64;num_warps=4,8;BLOCK_M*BLOCK_N<=16384")  # fmt: skip
                yield Button("Start", id="sweep-start", compact=True, variant="primary")
            with Horizontal(classes="sweep-row"):
                yield Label("Strategy")
                yield Select([(s, s) for s in STRATEGIES], value="grid", allow_blank=False,
                             compact=True, id="sweep-strategy")  # fmt: skip
                yield Label("Budget", classes="-gap")
                yield Input(id="sweep-budget", compact=True, placeholder="all", restrict=r"[0-9]*")
                yield Label("Top K", classes="-gap")
                yield Input("5", id="sweep-top", compact=True, restrict=r"[0-9]*")
                yield Label("Max spill B", classes="-gap")
                yield Input("0", id="sweep-spill", compact=True, restrict=r"[0-9]*",
                            tooltip="configs spilling more bytes per thread are dropped")  # fmt: skip
                yield Label("Mode", classes="-gap")
                yield Select([("auto", "auto")], value="auto", allow_blank=False, compact=True,
                             id="sweep-mode")  # fmt: skip
            yield Static("", id="sweep-error")
        yield Static("", id="sweep-info")
        with Horizontal(id="sweep-progress-row"):
            yield Label("not started", id="sweep-stage")
            yield ProgressBar(id="sweep-progress", show_eta=True)
        yield Label("", id="sweep-best")
        yield SweepTable(id="sweep-table", cursor_type="row", zebra_stripes=True)
        yield Label("", id="sweep-detail")
        yield Static("", id="sweep-winner")
        yield Static("", id="sweep-legend")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(SweepTable)
        for label, key in COLUMNS:
            table.add_column(label, key=key)

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        ws = self.tuning.ws
        if ws is not None and ws is not self.shown_for and not self.running:
            self.fill_form(ws)
        self.refresh_bindings()

    @property
    def tuning(self) -> TuningScreen:
        return next(s for s in self.app.screen_stack if isinstance(s, TuningScreen))

    @property
    def running(self) -> bool:
        return self.current is not None and not self.current.finished

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.running
        if action in ("back", "start"):
            return not self.running
        return True

    # --- the form -------------------------------------------------------------------------
    def fill_form(self, ws: Workspace) -> None:
        """The kernel's default space for this problem, and the modes this machine has."""
        from workbench.search.sweep import build_space

        self.shown_for = ws
        self.current = None
        form = self.query_one("#sweep-form")
        form.border_title = (
            f"Sweep {ws.kf.name} on {ws.problem.label()} for {ws.gpu.name} ({ws.gpu.sm})"
        )
        with KERNEL_LOCK:  # the tunables come from the launch captured at load
            text = build_space(ws.kf, ws.problem, None).text()
        self.query_one("#sweep-space", Input).value = text
        mode = self.query_one("#sweep-mode", Select)
        mode.set_options([
            (f"auto: {ws.mode}", "auto"), ("compile", "compile"),
            ("interpreter", "interpreter"), ("gpu", "gpu"),
        ])  # fmt: skip
        mode.value = "auto"
        self.query_one(SweepTable).clear()
        self.query_one("#sweep-stage", Label).update("not started")
        self.query_one(ProgressBar).update(total=1, progress=0)
        self.query_one("#sweep-best", Label).update("")
        self.query_one("#sweep-winner", Static).update("")
        self.query_one("#sweep-detail", Label).update("")
        self.show_legend("")
        self.check_space()

    def say(self, text: str) -> None:
        """One line under the form: what is wrong with it ("" when nothing)."""
        self.error = text
        line = self.query_one("#sweep-error", Static)
        line.update(text)
        line.set_class(bool(text), "-shown")

    def show_info(self, size: int | None) -> None:
        ws = self.shown_for
        if ws is None:
            return
        where = (
            f"{short_path(ws.path)} (the tuning screen's session)"
            if ws.session is not None
            else f"{short_path(ws.path)} (created by the sweep's first trial)"
        )
        count = f"{size} configs · " if size is not None else ""
        self.query_one("#sweep-info", Static).update(
            f"{count}trials are recorded in {where} · trials run: {ws.device}"
        )

    @on(Input.Changed, "#sweep-space")
    def check_space(self) -> None:
        """The space's size as typed, or the one-line error naming its bad token."""
        ws = self.shown_for
        if ws is None or self.running:
            return
        from workbench.search.sweep import build_space

        try:
            with KERNEL_LOCK:
                size = build_space(ws.kf, ws.problem, self._space_text()).size
        except WorkbenchError as err:
            self.say(f"space: {err}")
            self.show_info(None)
            return
        self.say("")
        self.show_info(size)

    def _space_text(self) -> str:
        return self.query_one("#sweep-space", Input).value.strip()

    def _number(self, selector: str) -> int | None:
        text = self.query_one(selector, Input).value.strip()
        return int(text) if text else None

    def build_spec(self, ws: Workspace) -> tuple[SweepSpec, int]:
        """The form as a spec, checked by the core the CLI uses; WorkbenchError if it is bad."""
        from workbench.search.sweep import SweepSpec, build_space, check_spec, sweep_mode

        strategy = str(self.query_one("#sweep-strategy", Select).value)
        mode = sweep_mode(str(self.query_one("#sweep-mode", Select).value))
        top, spill = self._number("#sweep-top"), self._number("#sweep-spill")
        spec = SweepSpec(
            space="", strategy=strategy, target=ws.gpu.key, mode=mode,
            budget=self._number("#sweep-budget"), top_k=5 if top is None else top,
            max_spill_bytes=spill or 0,
        )  # fmt: skip
        check_spec(spec, FIELD_NAMES)
        with KERNEL_LOCK:
            space = build_space(ws.kf, ws.problem, self._space_text())
        return spec.replace(space=space.text()), space.size

    # --- starting, cancelling, leaving ------------------------------------------------------
    @on(Input.Submitted)
    @on(Button.Pressed, "#sweep-start")
    def _start_pressed(self) -> None:
        self.action_start()

    def action_start(self) -> None:
        ws = self.tuning.ws
        if self.running:
            self.app.notify("a sweep is running; Esc cancels it", severity="warning")
            return
        if ws is None or ws is not self.shown_for:
            self.say(
                "the tuning screen has no kernel file loaded (or it changed): go back and open one"
            )
            return
        why = self.tuning.busy_reason()
        if why:
            self.say(f"cannot start now: {why}")
            return
        try:
            spec, size = self.build_spec(ws)
            session, warning = ws.ensure_session()  # the tuning screen's session, created now
        except WorkbenchError as err:  # a bad space, budget or mode; a session that is locked
            self.say(str(err))
            return
        if session.readonly:
            self.say(
                f"{session.path} is open read-only: save the session as another file (s) first"
            )
            return
        if warning:
            self.app.notify(warning, severity="warning", timeout=10)
        self.say("")
        self.current = SweepRun(ws, spec, session, size)
        self.query_one(SweepTable).clear()
        self.query_one("#sweep-winner", Static).update("")
        self.query_one(ProgressBar).update(total=1, progress=0)
        self.show_legend(spec.mode)
        self.show_info(size)
        self.refresh_bindings()
        self.tuning.log_line(
            "info",
            f"sweep started: {size} configs, {spec.strategy}, mode {spec.mode}: {spec.space}",
        )
        self._sweep_worker(self.current)

    def action_cancel(self) -> None:
        if self.current is not None and not self.current.finished:
            self.current.cancel.set()  # the runner kills its worker processes at once
            self.query_one("#sweep-stage", Label).update("cancelling…")

    def action_back(self) -> None:
        if not self.running:
            self.app.pop_screen()
            self.tuning.show_trials()

    def stop_all_work(self) -> None:
        """Quit: the sweep's worker processes end now."""
        if self.current is not None:
            self.current.cancel.set()

    # --- the worker -------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="sweep", exit_on_error=False)
    def _sweep_worker(self, run: SweepRun) -> None:
        from workbench.runner.local import LocalRunner
        from workbench.search.sweep import Sweep

        runner = LocalRunner()
        ws = run.ws

        def on_event(event: SweepEvent) -> None:  # on the sweep's threads: post_message is safe
            self.post_message(SweepProgress(run, event))

        try:
            with KERNEL_LOCK:  # the space and the full configs read the kernel's launch
                sweep = Sweep(ws.kf, ws.problem, ws.gpu, run.spec, run.session, runner,
                              on_event=on_event, cancel=run.cancel)  # fmt: skip
            result = sweep.run()
        except WorkbenchError as err:
            self.post_message(SweepFinished(run, None, error=str(err)))
            return
        except Exception as err:
            self.post_message(SweepFinished(run, None, error=f"{type(err).__name__}: {err}"))
            return
        finally:
            runner.close()
        self.post_message(SweepFinished(run, result))

    # --- progress and the table -------------------------------------------------------------
    @on(SweepProgress)
    def _progress(self, message: SweepProgress) -> None:
        run, event = message.run, message.event
        if run is not self.current:
            return  # an old sweep's last words
        if event.stage == "done":
            return
        key = ""
        if event.candidate is not None:
            key = config_key(event.candidate.config)
            run.candidates[key] = event.candidate
            run.configs[key] = event.candidate.config
        if event.row is not None:
            key = config_key(event.row.config)
            run.measured[key] = event.row
            run.configs.setdefault(key, event.row.config)
        if key:
            self._put_row(run, key)
        self._show_stage(run, event)

    def _show_stage(self, run: SweepRun, event: SweepEvent) -> None:
        from workbench.search.sweep import STAGE_LABELS

        label = STAGE_LABELS.get(event.stage, event.stage).format(target=run.ws.gpu.sm)
        self.query_one("#sweep-stage", Label).update(f"{label} · {event.done}/{event.total}")
        bar = self.query_one(ProgressBar)
        if bar.total != event.total or getattr(self, "_stage", "") != event.stage:
            bar.update(total=None)  # a new stage: its own ETA
            bar.update(total=event.total)
        self._stage = event.stage
        bar.update(progress=event.done)
        self.query_one("#sweep-best", Label).update(self._best_text(run, event))

    def _best_text(self, run: SweepRun, event: SweepEvent) -> str:
        best = event.best
        if best is not None and (best.kernelbench_ms or best.kernel_only_ms):
            how = "KernelBench's protocol" if best.kernelbench_ms else "kernel-only screen"
            ms = best.kernelbench_ms or best.kernel_only_ms
            return f"best so far {short_config(best.config)}: {ms:.4g} ms measured ({how})"
        if event.stage == "check":
            ok = sum(r.correct for r in run.measured.values())
            return (
                f"checked in the interpreter so far: {ok} of {len(run.measured)} correct"
                " (reduced problem, not timed)"
            )
        fits = [c for c in run.candidates.values() if c.fits and c.predicted_ms is not None]
        if not fits:
            return ""
        top = min(fits, key=lambda c: c.predicted_ms or 0.0)
        return (
            f"best predicted {short_config(top.config)}: {top.predicted_ms:.3g} ms (not measured)"
        )

    def _put_row(self, run: SweepRun, key: str) -> None:
        table = self.query_one(SweepTable)
        keys = [k.value for k in table.rows]
        rank = keys.index(key) + 1 if key in keys else len(keys) + 1
        cells = row_cells(rank, run.configs[key], run.candidates.get(key), run.measured.get(key),
                          run.spec.mode, run.ws.gpu.sm)  # fmt: skip
        if key in keys:
            for (_, column), value in zip(COLUMNS, justified(cells)):
                table.update_cell(key, column, value)
        else:
            table.add_row(*justified(cells), key=key)

    def show_legend(self, mode: str) -> None:
        """Which columns are predictions and which measurements, for this mode."""
        ws = self.shown_for
        sm = ws.gpu.sm if ws else "the target"
        measured = {
            "gpu": "measured KB ms: KernelBench's protocol on this machine's GPU; kernel ms: the"
            " kernel alone (screened); — = not measured",
            "interpreter": "mode interpreter checks the top K's correctness on the reduced problem"
            " and times nothing: the measured columns stay —",
            "compile": "mode compile stops after stage 1: nothing is measured",
        }.get(mode, "")
        self.query_one("#sweep-legend", Static).update(
            " · ".join(
                filter(
                    None,
                    [
                        f"predicted ms: the performance model for {sm}, never a measurement",
                        measured,
                    ],
                )
            )
        )

    @on(DataTable.RowHighlighted, "#sweep-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The whole of the row under the cursor: its config, its trial, why it was dropped."""
        run, key = self.current, event.row_key.value
        if run is None or key is None or key not in run.configs:
            return
        candidate, row = run.candidates.get(key), run.measured.get(key)
        parts = [format_config(run.configs[key])]
        if candidate is not None and not candidate.fits:
            parts.append(f"dropped: {candidate.reason}")
        trial = row.trial if row is not None else candidate.compile_trial if candidate else None
        if trial is not None:
            parts.append(f"trial {trial} in the session")
        self.query_one("#sweep-detail", Label).update(" · ".join(parts))

    @on(SweepFinished)
    def _finished(self, message: SweepFinished) -> None:
        run = message.run
        run.finished = True
        run.result = message.result
        self.refresh_bindings()
        self.tuning.show_trials()  # the tuning screen's history has the sweep's trials
        cancelled = run.cancel.is_set()
        if message.error:
            self.query_one("#sweep-stage", Label).update("failed")
            self.query_one("#sweep-winner", Static).update(f"sweep failed: {message.error}")
            self.app.notify(message.error, title="sweep failed", severity="error", timeout=12)
            return
        result = message.result
        assert result is not None
        self._final_table(run, result)
        if cancelled:
            stage = f"cancelled · {len(run.candidates)} configs compiled this time"
            text = (
                f"cancelled: the finished trials are in {short_path(run.session.path)}; Start again"
                " resumes the sweep without redoing them"
            )
            self.app.notify(
                f"sweep {result.sweep} cancelled; its workers were ended", severity="warning"
            )
        else:
            word = {"gpu": "measured", "interpreter": "checked"}.get(result.spec.mode, "measured")
            stage = f"done · {result.fits} of {result.space_size} fit · {result.measured} {word}"
            text = self._winner_text(result)
            self.app.notify(
                f"sweep {result.sweep} done: {result.fits} of {result.space_size} configs fit"
            )
        self.query_one("#sweep-stage", Label).update(stage)
        if cancelled and result.winner is not None:
            text += "\n" + self._winner_text(result)
        self.query_one("#sweep-winner", Static).update(text)
        for note in result.notes:
            self.tuning.log_line("info", f"sweep {result.sweep}: {note}")

    def _winner_text(self, result: SweepResult) -> str:
        w = result.winner
        if w is None:
            return "no correct winner: nothing that fits was checked correct (see the table)"
        return f"winner {short_config(w.config)}: {w.time_words()}; basis: {result.winner_basis}"

    def _final_table(self, run: SweepRun, result: SweepResult) -> None:
        """The core's ranking, then what stage 1 dropped (with its reason)."""
        table = self.query_one(SweepTable)
        table.clear()
        mode, sm = result.spec.mode, run.ws.gpu.sm
        shown: set[str] = set()
        rank = 0
        for row in result.ranked:
            key = config_key(row.config)
            if key in shown:
                continue
            shown.add(key)
            rank += 1
            run.configs.setdefault(key, row.config)
            if row.status != "predicted":
                run.measured[key] = row
            cells = row_cells(rank, row.config, run.candidates.get(key), row, mode, sm)
            table.add_row(*justified(cells), key=key)
        for key, candidate in run.candidates.items():
            if key not in shown and not candidate.fits:
                cells = row_cells(None, candidate.config, candidate, None, mode, sm)
                table.add_row(*justified(cells), key=key)

    # --- picking a row ----------------------------------------------------------------------
    @on(DataTable.RowSelected, "#sweep-table")
    def _picked(self, event: DataTable.RowSelected) -> None:
        run = self.current
        key = event.row_key.value
        if run is None or key is None or key not in run.configs:
            return
        if self.running:
            self.app.notify("the sweep is running: Esc cancels it first", severity="warning")
            return
        tuning = self.tuning
        if tuning.ws is not run.ws:
            self.app.notify("this table is of another kernel, problem or target", severity="error")
            return
        config = run.configs[key]
        self.app.pop_screen()
        tuning.query_one(ParamsPane).set_config(config)
        tuning.show_trials()
        self.app.notify(f"sweep row in the editor: {format_config(config)}")
