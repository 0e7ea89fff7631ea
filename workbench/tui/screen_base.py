"""The tuning screen's state, loading, and the helpers every part of it uses.

The screen is built in layers, each a module (imports point down): screen_base (state and
loading) < compiling (compiles for the target) < trials (trials, history, comparison, baseline)
< actions (dialogs, switching, layout keys) < tuning_screen (bindings and layout).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from workbench.core.config import Config
from workbench.core.errors import WorkbenchError
from workbench.core.gpus import GPU
from workbench.core.records import InspectReport
from workbench.tui.log_pane import LogBook, LogPane
from workbench.tui.messages import LoadFailed, Log, WorkspaceLoaded
from workbench.tui.occupancy_pane import OccupancyPane
from workbench.tui.params import ParamsPane
from workbench.tui.source import SourcePane
from workbench.tui.state import KERNEL_LOCK, Workspace, build_workspace, reset_note
from workbench.tui.status import StatusLine, session_text
from workbench.tui.target import TargetPane

if TYPE_CHECKING:
    from workbench.core.problem import Problem
    from workbench.kernel.kernelfile import KernelFile


@dataclass
class Job:
    """A compile or trial in flight: what it is for, its cancel flag, when it started."""

    key: str
    cancel: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.monotonic)
    ws: Workspace | None = None
    what: str = ""

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


@dataclass(frozen=True)
class Start:
    """What the command line asked for."""

    path: str | None = None
    problem: str | None = None
    gpu: str | None = None
    session: str | None = None


class ScreenBase(Screen[None]):
    def __init__(self, start: Start, gpu0: GPU, book: LogBook) -> None:
        super().__init__()
        self.start = start
        self.gpu0 = gpu0  # shown before the kernel loads, so the first paint needs no torch
        self.book = book
        self.ws: Workspace | None = None
        self.config: Config = {}
        self.config_ok = False
        self.focused_param = ""
        self.report: InspectReport | None = None
        self.report_key = ""
        self.compile_job: Job | None = None
        self.trial_job: Job | None = None
        self.loading = False

    # --- helpers ----------------------------------------------------------------------------
    def log_line(self, kind: str, text: str, detail: str = "") -> None:
        entry = self.book.add(kind, text, detail)
        for pane in self.query(LogPane).results(LogPane):
            pane.add(entry)

    @on(Log)
    def _log_message(self, event: Log) -> None:
        self.log_line(event.kind, event.text, event.detail)

    def set_activity(self, text: str) -> None:
        for line in self.query(StatusLine).results(StatusLine):  # none while unmounting
            line.update_parts(activity=text)

    def show_session_status(self) -> None:
        if self.ws is not None:
            ws = self.ws
            text = session_text(ws.path, len(ws.trials), ws.session is not None)
            self.query_one(StatusLine).update_parts(session=text)

    def busy_reason(self) -> str:
        """Why the workspace may not change now ("" when it may)."""
        if self.trial_job is not None:
            return (
                "a trial is running (its result goes to the session it started in); Esc cancels it"
            )
        if self.loading:
            return "still loading the kernel file"
        return ""

    # --- loading ----------------------------------------------------------------------------
    def load(
        self,
        path: str | None,
        problem_text: str | None = None,
        gpu_text: str | None = None,
        session: str | None = None,
        *,
        problem: Problem | None = None,
        gpu: GPU | None = None,
        kf: KernelFile | None = None,
        why: str = "open",
    ) -> None:
        self.loading = True
        self.refresh_bindings()
        self.set_activity("loading the kernel file…")
        self._load_worker(path, problem_text, gpu_text, session, problem, gpu, kf, why)

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _load_worker(
        self,
        path: str | None,
        problem_text: str | None,
        gpu_text: str | None,
        session: str | None,
        problem: Problem | None,
        gpu: GPU | None,
        kf: KernelFile | None,
        why: str,
    ) -> None:
        try:
            with KERNEL_LOCK:
                ws = build_workspace(
                    path, problem_text, gpu_text, session, problem=problem, gpu=gpu, kf=kf,
                    previous=self.ws, keep_config=why == "target",
                )  # fmt: skip
        except WorkbenchError as err:
            self.post_message(LoadFailed(str(err)))
            return
        except Exception as err:  # a user's module can raise anything while it loads
            self.post_message(LoadFailed(f"{type(err).__name__}: {err}"))
            return
        self.post_message(WorkspaceLoaded(ws, why))

    @on(LoadFailed)
    def _load_failed(self, event: LoadFailed) -> None:
        self.loading = False
        self.set_activity("")
        self.refresh_bindings()
        self.log_line("error", f"load failed: {event.message}")
        if self.ws is None:  # nothing on screen yet: say why there, not "loading…" forever
            self.query_one(SourcePane).show_error(event.message)
            self.query_one(ParamsPane).show_unloaded(event.message)
            self.query_one(OccupancyPane).show_error("no kernel file loaded")
        self.app.notify(event.message, title="load failed", severity="error", timeout=12)

    @on(WorkspaceLoaded)
    async def _loaded(self, event: WorkspaceLoaded) -> None:
        old, ws = self.ws, event.ws
        self.loading = False
        self.set_activity("")
        self.ws = ws
        self.report, self.report_key = None, ""  # numbers of the old target/problem are void
        if old is not None and old.session is not None and old.session is not ws.session:
            old.session.close()
        self.refresh_bindings()
        self.app.sub_title = f"{ws.kf.name} · {ws.problem.label()} · {ws.gpu.name}"
        names = [t.name for t in ws.tunables]
        self.query_one(SourcePane).show(ws.kf.source, Path(ws.kf.path).name, names, ws.config)
        self.query_one(TargetPane).show(ws.gpu)
        self.query_one(TargetPane).show_local(ws.mode, ws.device)
        self.query_one(StatusLine).update_parts(device=ws.device)
        self.show_session_status()
        self.workspace_shown()
        for warning in ws.warnings:
            self.app.notify(warning, severity="warning", timeout=10)
        self.log_line("info", f"opened {ws.kf.name} on {ws.problem.label()} for {ws.gpu.name}")
        if old is not None and event.why == "problem":
            note = reset_note(self.config, ws.config, ws.config_origin)  # what was on screen
            if note:
                self.app.notify(note, title="problem switched", severity="warning", timeout=10)
        await self.query_one(ParamsPane).set_tunables(
            ws.tunables, ws.config, ws.problem, ws.gpu, ws.untunable
        )

    def workspace_shown(self) -> None:
        """Layers above refresh what depends on the workspace (history, comparison)."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one net under every worker: a failure becomes a line on screen, never a crash."""
        if event.state != WorkerState.ERROR:
            return
        err = event.worker.error
        message = str(err) if isinstance(err, WorkbenchError) else repr(err)
        self.log_line("error", f"{event.worker.group} failed: {message}")
        self.app.notify(message, title=f"{event.worker.group} failed", severity="error", timeout=12)
        self.set_activity("")
