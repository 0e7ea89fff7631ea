"""The app's background work: loading, inspecting, trials, export. Thread workers only.

Each job runs the core in a thread (compiles, trials in worker processes, torch imports) and
hands plain results back to the UI thread with `call_from_thread`; failures are reported by
the app's one `Worker.StateChanged` handler, so no job can crash the app.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.worker import get_current_worker

from workbench.core.config import Config, config_key
from workbench.core.records import Status

if TYPE_CHECKING:
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.state import Workspace


class Jobs:
    """Mixed into WorkbenchApp; `self` is the app."""

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def load_workspace(self: WorkbenchApp, *args: Any, **kwargs: Any) -> None:
        from workbench.tui.state import build_workspace

        self.call_from_thread(self.set_activity, "loading the kernel file…")
        try:
            ws = build_workspace(*args, previous=self.ws, **kwargs)
        finally:
            self.call_from_thread(self.set_activity, "")
        self.call_from_thread(self.apply_workspace, ws)

    @work(thread=True, exclusive=True, group="inspect", exit_on_error=False)
    def inspect_config(self: WorkbenchApp, ws: Workspace, config: Config) -> None:
        """Compile in a worker process; a newer edit (or quitting) kills it, ptxas and all."""
        from workbench.runner.local import inspect_in_worker

        worker = get_current_worker()
        cancel = threading.Event()
        self.compile_cancel = cancel
        self.call_from_thread(self.set_activity, f"compiling for {ws.gpu.sm}…")
        try:
            report = inspect_in_worker(ws.kf, ws.problem, config, ws.gpu, cancel=cancel)
        finally:
            self.call_from_thread(self.set_activity, "")
        if not worker.is_cancelled and not cancel.is_set():  # a newer edit superseded this one
            self.call_from_thread(self.apply_report, ws, config, report)

    @work(thread=True, exclusive=True, group="trial", exit_on_error=False)
    def run_config(self: WorkbenchApp, ws: Workspace, config: Config, ncu: bool = False) -> None:
        from workbench.runner.local import run_trial

        cancel = threading.Event()
        self.call_from_thread(self.trial_started, cancel, config, ncu)
        from workbench.runner.device import fingerprint

        previous = ws.session.previous(fingerprint(ws.mode).get("name"))
        try:
            result = run_trial(
                ws.kf,
                ws.problem,
                config,
                gpu=ws.gpu,
                previous=previous,
                ncu=ncu,
                cancel=cancel,
                progress=lambda line: self.call_from_thread(self.set_activity, line),
            )
        finally:
            self.call_from_thread(self.trial_finished)
        if result.status is Status.CANCELLED:  # nothing learned: keep it out of the session
            self.call_from_thread(self.notify, "trial cancelled", severity="warning")
            return
        trial = ws.session.record(result)  # the result carries its inspect report
        self.call_from_thread(self.apply_trial, ws, trial, ncu)

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def export_to(
        self: WorkbenchApp, ws: Workspace, config: Config, path: Path, force: bool = False
    ) -> None:
        """The CLI's export path: the same checks, the same atomic write, never over a file
        unless asked, never over a session."""
        from workbench.session.export import ExportPlan, export_kernel, write_export

        full = ws.kf.full_config(ws.problem, config)
        trials = [t for t in ws.session.trials if ws.kf.full_config(ws.problem, t.config) == full]
        plan = ExportPlan(ws.kf, full, ws.problem, ws.gpu, trials[-1] if trials else None)
        write_export(export_kernel(plan), path, force=force, kernel_path=Path(ws.kf.path))
        self.call_from_thread(self.notify, f"exported {config_key(config)} to {path}")
