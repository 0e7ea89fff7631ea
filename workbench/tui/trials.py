"""Trials: run the current config, record it in the session it started in, compare, pin.

A trial runs in its own worker thread (which drives the worker processes) with a cancel flag
the core watches; while it runs the problem, target and kernel cannot change (the trial belongs
to its session, and the switch is refused in words). The comparison puts the newest trial beside
the pinned baseline and the previous one (the session's one meaning: the last trial that ran
and was checked on the same device).
"""

from __future__ import annotations

from typing import Any

from textual import on, work

from workbench.core.config import format_config, short_config
from workbench.core.errors import WorkbenchError
from workbench.core.records import Comparison, Status, TrialResult
from workbench.tui.compare_pane import Column, ComparePane
from workbench.tui.compiling import Compiling
from workbench.tui.history_pane import HistoryPane
from workbench.tui.messages import (
    PinBaseline,
    RestoreConfig,
    RunRequested,
    TrialDone,
    TrialEnded,
    TrialProgress,
    TrialStarted,
)
from workbench.tui.ncu_pane import NcuPane
from workbench.tui.params import ParamsPane
from workbench.tui.screen_base import Job
from workbench.tui.state import Workspace


class Trials(Compiling):
    # --- running ------------------------------------------------------------------------------
    def action_run(self, ncu: bool = False) -> None:
        ws = self.ws
        if ws is None or self.loading:
            self.app.notify("still loading the kernel file", severity="warning")
            return
        if self.trial_job is not None:
            self.app.notify("a trial is running; Esc cancels it", severity="warning")
            return
        if not self.config_ok:
            self.app.notify(
                "the parameters break a rule (see Parameters); fix them first", severity="error"
            )
            return
        config = dict(self.config)
        if ncu:
            self.query_one(NcuPane).show_pending(format_config(config))
        job = Job("trial", ws=ws, what=short_config(config))
        self.trial_job = job
        self.refresh_bindings()
        self._trial_worker(ws, config, ncu, job)

    def action_ncu(self) -> None:
        if self.ws is not None and self.ws.mode != "gpu":
            # Say it at once rather than after a whole interpreter trial.
            self.query_one(NcuPane).show_unavailable("ncu needs a CUDA GPU; none here")
            return
        self.action_run(ncu=True)

    @on(RunRequested)
    def _run_requested(self) -> None:
        self.action_run()

    def action_cancel(self) -> None:
        """Esc outside a field: the trial first, else the compile."""
        if self.trial_job is not None:
            self.trial_job.cancel.set()
            self.set_activity("cancelling the trial…")
        elif self.cancel_compile("cancelled"):
            self.query_one_pending("compile cancelled: edit a value to compile again")
        else:
            self.app.notify("nothing is running to cancel")

    def query_one_pending(self, text: str) -> None:
        from workbench.tui.occupancy_pane import OccupancyPane

        self.query_one(OccupancyPane).show_pending(text)

    @work(thread=True, exclusive=True, group="trial", exit_on_error=False)
    def _trial_worker(self, ws: Workspace, config: dict[str, Any], ncu: bool, job: Job) -> None:
        from workbench.runner.device import fingerprint
        from workbench.runner.local import run_trial

        self.post_message(TrialStarted(config, ncu))
        try:
            device = fingerprint(ws.mode).get("name")
            previous = ws.session.previous(device) if ws.session is not None else None

            def progress(line: str) -> None:
                self.post_message(TrialProgress(line))

            result = run_trial(
                ws.kf, ws.problem, config, gpu=ws.gpu, previous=previous, ncu=ncu,
                cancel=job.cancel, progress=progress,
            )  # fmt: skip
            if result.status is Status.CANCELLED or job.cancel.is_set():
                self.post_message(TrialEnded(ws, cancelled=True))
                return
            session, warning = ws.ensure_session()  # the session it started in, created now
            trial = session.record(result)  # the result carries its inspect report
        except WorkbenchError as err:
            self.post_message(TrialEnded(ws, error=str(err)))
            return
        except Exception as err:
            self.post_message(TrialEnded(ws, error=f"{type(err).__name__}: {err}"))
            return
        self.post_message(TrialDone(ws, trial, ncu, warning))
        self.post_message(TrialEnded(ws))

    @on(TrialStarted)
    def _trial_started(self, event: TrialStarted) -> None:
        what = "profiling" if event.ncu else "running"
        self.set_activity(f"{what} {format_config(event.config)} (Esc cancels)")
        self.log_line("worker", f"{what} {format_config(event.config)}")

    @on(TrialProgress)
    def _trial_progress(self, event: TrialProgress) -> None:
        seconds = f" · {self.trial_job.seconds:.0f} s" if self.trial_job else ""
        self.set_activity(f"{event.line}{seconds} (Esc cancels)")
        self.log_line("worker", event.line)

    @on(TrialDone)
    def _trial_done(self, event: TrialDone) -> None:
        trial = event.trial
        if event.warning:
            self.app.notify(event.warning, severity="warning", timeout=10)
        if event.ws is self.ws:
            self.show_trials()
            if event.ncu:
                self.query_one(NcuPane).show(trial)
        where = event.ws.path.name
        text = f"trial {trial.id}: {trial.status} {trial.message}".rstrip()
        if trial.correct:
            self.app.notify(f"{text} (recorded in {where})")
        else:
            self.app.notify(f"{text} (recorded in {where})", severity="warning")

    @on(TrialEnded)
    def _trial_ended(self, event: TrialEnded) -> None:
        self.trial_job = None
        self.set_activity("")
        self.refresh_bindings()
        if event.cancelled:
            self.app.notify("trial cancelled (not recorded)", severity="warning")
        if event.error:
            self.app.notify(event.error, title="trial failed", severity="error", timeout=12)
        self.show_session_status()

    # --- history, comparison, baseline ----------------------------------------------------
    def workspace_shown(self) -> None:
        self.show_trials()

    def show_trials(self) -> None:
        ws = self.ws
        if ws is None:
            return
        trials = ws.trials
        current = trials[-1] if trials else None
        baseline = ws.session.baseline_trial() if ws.session is not None else None
        previous = None
        if current is not None and ws.session is not None:
            previous = ws.session.previous(current.device, before=current.id)
        self.query_one(HistoryPane).show_trials(
            trials, baseline.id if baseline else None, previous.id if previous else None
        )
        columns: list[Column] = []
        comparisons: dict[str, Comparison] = {}
        if current is not None:
            columns.append(self._column("current", current))
            for label, other in (("baseline", baseline), ("previous", previous)):
                if other is not None and other.id != current.id:
                    columns.append(self._column(label, other))
                    comparisons[label] = _compare(current, other)
        self.query_one(ComparePane).show_columns(columns, comparisons)
        self.show_session_status()

    def _column(self, label: str, trial: TrialResult) -> Column:
        assert self.ws is not None
        ws = self.ws
        config = ws.kf_full(trial.config)
        column = Column(label, trial, config)
        if trial.inspect is None:
            column.prediction_note = "the trial has no compile record"
            return column
        try:
            from workbench.analysis.model import predict_trial

            column.prediction = predict_trial(trial, ws.problem, ws.gpu, source=ws.kf.source)
        except Exception as err:  # the model refuses what it cannot predict (0 blocks/SM, ...)
            column.prediction_note = str(err).split("\n")[0][:120]
        return column

    @on(RestoreConfig)
    def _restore(self, event: RestoreConfig) -> None:
        self.query_one(ParamsPane).set_config(event.config)
        self.app.notify(f"restored trial {event.trial_id}: {format_config(event.config)}")

    @on(PinBaseline)
    def _pin(self, event: PinBaseline) -> None:
        ws = self.ws
        if ws is None or ws.session is None:
            return
        unpin = ws.session.baseline_id == event.trial_id
        try:
            ws.session.pin_baseline(None if unpin else event.trial_id)
        except WorkbenchError as err:
            self.app.notify(str(err), severity="error")
            return
        self.show_trials()
        if unpin:
            self.app.notify(f"baseline unpinned (was trial {event.trial_id})")
        else:
            self.app.notify(f"trial {event.trial_id} pinned as the baseline (saved in the session)")


def _compare(current: TrialResult, other: TrialResult) -> Comparison:
    """The core's comparison (the same as the one recorded at trial time), for any two trials."""
    from workbench.runner.local import compare

    return compare(current, other)
