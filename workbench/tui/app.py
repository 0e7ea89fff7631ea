"""The workbench app: one screen of panes over the core; `run_tui(args)` is the `tui` verb.

The screen paints before anything heavy is imported: the kernel file (and torch with it) loads
in a worker, compiles run in an exclusive worker debounced after each edit, trials run in a
worker that passes a cancel Event down to the core.
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header
from textual.worker import Worker, WorkerState

from workbench.core.config import Config, config_key, format_config
from workbench.core.errors import WorkbenchError
from workbench.core.gpus import GPUS, find_gpu
from workbench.core.records import InspectReport, TrialResult
from workbench.tui.actions import Actions
from workbench.tui.bench_pane import BenchPane
from workbench.tui.jobs import Jobs
from workbench.tui.ncu_pane import NcuPane
from workbench.tui.occupancy_pane import OccupancyPane
from workbench.tui.params import ParamsPane
from workbench.tui.source import SourcePane
from workbench.tui.state import Workspace
from workbench.tui.status import StatusLine
from workbench.tui.target import TargetPane

DEBOUNCE_S = 0.3


class WorkbenchApp(Actions, Jobs, App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "conv3d-bench"
    BINDINGS = [
        Binding("r", "run", "Run", tooltip="compile, check against PyTorch, time; autosaves"),
        Binding(
            "escape",
            "escape",
            "Cancel",
            show=False,
            tooltip="cancel the running trial, or leave a field so the letter keys act",
        ),
        Binding("s", "save_as", "Save as", tooltip="continue the session in another file"),
        Binding("e", "export", "Export", tooltip="write a standalone kernel file with this config"),
        Binding("n", "ncu", "NCU", tooltip="Nsight Compute's key metrics for this config"),
        Binding("p", "pick_problem", "Problem", tooltip="a KernelBench preset or a custom spec"),
        Binding(
            "t", "pick_target", "Target", tooltip="the GPU to compile and compute occupancy for"
        ),
        Binding("o", "open_kernel", "Open", tooltip="open another KernelBench-format kernel file"),
        Binding("question_mark,f1", "help", "Help", tooltip="this screen"),
        Binding("q", "quit", "Quit", tooltip="quit (the session is already saved)"),
    ]

    def __init__(
        self,
        path: str | None = None,
        problem: str | None = None,
        gpu: str | None = None,
        session: str | None = None,
    ) -> None:
        super().__init__()
        self._start = (path, problem, gpu, session)
        self.ws: Workspace | None = None
        self.config: Config = {}
        self.config_ok = False
        self.report: InspectReport | None = None
        self.compile_cancel: threading.Event | None = None
        self.report_key = ""
        self.cancel_event: threading.Event | None = None
        self._debounce = None
        self.messages: list[str] = []  # every notification, for the status history and tests
        # Shown before the kernel loads, so the first paint needs no torch.
        self._gpu0 = find_gpu(gpu) if path is None or not path.endswith(".json") else GPUS["4090"]

    # --- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal(id="main"):
            yield SourcePane(id="source")
            with Vertical(id="middle"):
                yield ParamsPane(id="params")
                yield TargetPane(self._gpu0, id="target")
                yield NcuPane(id="ncu")
            with Vertical(id="right"):
                yield OccupancyPane("waiting for the kernel file…", id="occupancy")
                yield BenchPane(id="bench")
        yield StatusLine(id="status")
        yield Footer()

    def on_mount(self) -> None:
        for pane, title in (
            ("#params", "Parameters"),
            ("#target", "Target"),
            ("#ncu", "NCU"),
            ("#occupancy", "Occupancy"),
            ("#bench", "Benchmark"),
        ):
            self.query_one(pane).border_title = title
        self.query_one("#source").border_title = "Source"
        self.query_one(TargetPane).show(self._gpu0)
        path, problem, gpu, session = self._start
        self.load_workspace(path, problem, gpu, session)

    def notify(self, message: str, *args: Any, **kwargs: Any) -> None:
        self.messages.append(str(message))
        super().notify(message, *args, **kwargs)

    # --- applying results (UI thread) ------------------------------------------------------
    async def apply_workspace(self, ws: Workspace) -> None:
        old, self.ws = self.ws, ws
        self.report, self.report_key = None, ""  # numbers of the old target/problem are void
        self.refresh_bindings()  # run/export/... were greyed until now
        if old is not None and old.session is not ws.session:
            old.session.close()
        names = [t.name for t in ws.tunables]
        self.sub_title = f"{ws.kf.name} · {ws.problem.label()} · {ws.gpu.name}"
        # The file name only: the full path is in the open dialog (o), and snapshots stay portable.
        self.query_one(SourcePane).show(ws.kf.source, Path(ws.kf.path).name, names)
        self.query_one(TargetPane).show(ws.gpu)
        self.query_one(TargetPane).show_local(ws.mode, ws.device)
        self.query_one(BenchPane).show_trials(ws.session.trials, _previous(ws))
        status = self.query_one(StatusLine)
        status.update_parts(device=ws.device, session=ws.session, saved=True)
        for warning in ws.warnings:
            self.notify(warning, severity="warning", timeout=10)
        await self.query_one(ParamsPane).set_tunables(
            ws.tunables, ws.config, ws.problem, ws.untunable
        )

    def apply_report(self, ws: Workspace, config: Config, report: InspectReport) -> None:
        if ws is not self.ws or config_key(config) != config_key(self.config):
            return  # the user moved on; a newer inspect is on its way
        self.report, self.report_key = report, config_key(config)
        self.query_one(OccupancyPane).show_report(report, ws.gpu.arch)
        source = report.resources.source
        self.query_one(StatusLine).update_parts(numbers=f"{ws.gpu.sm} compile · {source}".strip())

    def apply_trial(self, ws: Workspace, trial: TrialResult, ncu: bool) -> None:
        if ws is not self.ws:
            return
        self.query_one(BenchPane).show_trials(ws.session.trials, _previous(ws))
        self.query_one(StatusLine).update_parts(session=ws.session, saved=True)
        if ncu:
            self.query_one(NcuPane).show(trial)
        severity = "information" if trial.correct else "warning"
        self.notify(f"trial {trial.id}: {trial.status} {trial.message}", severity=severity)

    def set_activity(self, text: str) -> None:
        self.query_one(StatusLine).update_parts(activity=text)

    def trial_started(self, cancel: threading.Event, config: Config, ncu: bool) -> None:
        self.cancel_event = cancel
        what = "profiling" if ncu else "running"
        self.set_activity(f"{what} {format_config(config)} (Esc cancels)")
        self.refresh_bindings()

    def trial_finished(self) -> None:
        self.cancel_event = None
        self.set_activity("")
        self.refresh_bindings()

    # --- messages from panes --------------------------------------------------------------
    def on_params_pane_changed(self, event: ParamsPane.Changed) -> None:
        self.config, self.config_ok = event.config, event.ok
        occupancy = self.query_one(OccupancyPane)
        if not event.ok:
            occupancy.show_pending("fix the parameters to compile")
            return
        occupancy.show_pending("compiling…")
        if self._debounce is not None:
            self._debounce.stop()
        if self.compile_cancel is not None:
            self.compile_cancel.set()  # the compile for the old config dies now, ptxas and all
        self._debounce = self.set_timer(DEBOUNCE_S, self._inspect_now)

    def _inspect_now(self) -> None:
        if self.ws is not None and self.config_ok:
            self.inspect_config(self.ws, dict(self.config))

    def on_bench_pane_restore(self, event: BenchPane.Restore) -> None:
        self.query_one(ParamsPane).set_config(event.config)
        self.notify(f"restored {format_config(event.config)}")

    def on_target_pane_picked(self, event: TargetPane.Picked) -> None:
        self._switch(gpu=event.key)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        err = event.worker.error
        message = str(err) if isinstance(err, WorkbenchError) else repr(err)
        if event.worker.group == "inspect":
            self.query_one(OccupancyPane).show_error(message)
        elif (
            event.worker.group == "load" and self.ws is None
        ):  # nothing on screen yet: say why there
            self.query_one(SourcePane).show_error(message)
            self.query_one(OccupancyPane).show_error("no kernel file loaded")
            self.notify(message, title="load failed", severity="error", timeout=12)
        else:
            self.notify(message, title=f"{event.worker.group} failed", severity="error", timeout=12)
        self.set_activity("")

    # --- actions ----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("run", "ncu", "export", "save_as") and self.ws is None:
            return None  # shown greyed until the kernel file has loaded
        return True

    def _workspace_ready(self) -> Workspace | None:
        if self.ws is None:
            self.notify("still loading the kernel file", severity="warning")
            return None
        if self.cancel_event is not None:
            self.notify("a trial is running; Esc cancels it", severity="warning")
            return None
        return self.ws

    def action_run(self, ncu: bool = False) -> None:
        ws = self._workspace_ready()
        if ws is None:
            return
        if not self.config_ok:
            self.notify(
                "the parameters break a rule (see Parameters); fix them first", severity="error"
            )
            return
        if ncu:
            self.query_one(NcuPane).show_pending(format_config(self.config))
        self.run_config(ws, dict(self.config), ncu)

    def action_ncu(self) -> None:
        if self.ws is not None and self.ws.mode != "gpu":
            # Say it at once rather than after a whole interpreter trial.
            self.query_one(NcuPane).show_unavailable("ncu needs a CUDA GPU; none here")
            return
        self.action_run(ncu=True)

    def action_escape(self) -> None:
        if self.cancel_event is not None:
            self.cancel_event.set()
            self.set_activity("cancelling…")
        else:
            self.screen.set_focus(None)  # leave a field so the letter keys act again

    def on_unmount(self) -> None:
        if self.cancel_event is not None:
            self.cancel_event.set()
        if self.compile_cancel is not None:
            self.compile_cancel.set()
        if self.ws is not None:
            self.ws.session.close()


def run_tui(args: argparse.Namespace) -> int:
    """The `conv3d-bench tui` verb. Bad arguments fail here, before the screen opens."""
    path = getattr(args, "path", None)
    if path and not Path(path).is_file():
        raise WorkbenchError(f"{path} does not exist: give a kernel file or a session .json")
    if not (path or "").endswith(".json"):
        from workbench.kernel.problemfile import load_problem

        load_problem(args.problem)
        find_gpu(args.gpu)
    app = WorkbenchApp(path, args.problem, args.gpu, getattr(args, "session", None))
    app.run()
    return app.return_code or 0


def _previous(ws: Workspace) -> TrialResult | None:
    """The trial the newest one is compared with: the session's one meaning of previous."""
    latest = ws.session.latest()
    return ws.session.previous(before=latest.id) if latest is not None else None
