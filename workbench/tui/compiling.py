"""Compiles for the target, as the user edits: debounced, superseded, cancellable, one at a time.

- Each edit cancels the compile in flight (its worker process is killed, ptxas and all) and
  starts a new one ~0.3 s after the last keystroke; a process slot lets a new compile start only
  once the old process is gone, so at most one compile process is ever alive.
- A config the compile cache already holds is read in this process (no compiler runs); only a
  real compile goes to a worker process, whose output stays in its log file, off the terminal.
- The tile's shared memory is estimated before compiling: a tile that cannot fit is an error at
  once (see workbench.analysis.estimate); one close to the limit is a warning and compiles.
- The Occupancy pane's subtitle shows what is compiling and for how long; Esc cancels.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from textual import on, work
from textual.timer import Timer
from textual.worker import get_current_worker

from workbench.analysis.estimate import estimate_shared
from workbench.core.config import Config, config_key, short_config
from workbench.core.errors import WorkbenchError
from workbench.core.records import InspectReport, Status
from workbench.tui.charts import kib
from workbench.tui.messages import (
    CompileCancelled,
    CompileDone,
    CompileFailed,
    CompileStarted,
    ParamPoints,
    ParamsChanged,
)
from workbench.tui.occupancy_pane import OccupancyPane
from workbench.tui.screen_base import Job, ScreenBase
from workbench.tui.source import SourcePane
from workbench.tui.state import KERNEL_LOCK, Workspace
from workbench.tui.status import StatusLine

DEBOUNCE_S = 0.3  # after the last keystroke
SOURCE_DEBOUNCE_S = 0.15
KNOWN_DELAY_S = 0.12  # a config compiled this run: drawn when typing pauses, not per keystroke
TICK_S = 0.2  # elapsed-time refresh
COMPILE_SLOT = threading.Lock()  # held while a compile (and its process) is alive
CAPTURE_LIMIT_S = 10.0  # for the kernel's wrapper to make its launch in this process


def cached_report(
    ws: Workspace, config: Config, stop: Callable[[], bool] = lambda: False
) -> InspectReport | None:
    """The report of a config whose compile is cached, made here without a compiler; None on a
    miss, or when the kernel's wrapper does not answer within CAPTURE_LIMIT_S (then this
    workspace sends every config to a worker, which has a time limit), or once `stop()` (the
    caller was cancelled: quit must not wait). Raises the WorkbenchError the cached compile
    implies (out of resources)."""
    if not ws.in_process:
        return None
    box: list[InspectReport | None | BaseException] = []

    def read() -> None:
        from workbench.analysis.report import report_from_compile
        from workbench.kernel.compile import cached_compile

        try:
            with KERNEL_LOCK:  # capturing a launch patches module state: one at a time
                full = ws.kf.full_config(ws.problem, config)
                hit = cached_compile(ws.kf, ws.problem, full, ws.gpu)
                box.append(
                    None
                    if hit is None
                    else report_from_compile(ws.kf, ws.problem, full, ws.gpu, *hit)
                )
        except BaseException as err:  # handed to the caller's thread
            box.append(err)

    # The wrapper runs on meta tensors here, as loading did; a daemon thread, so a wrapper that
    # never returns can neither hold up the screen nor keep the app from exiting.
    reader = threading.Thread(target=read, daemon=True, name="conv3d-bench cached read")
    reader.start()
    deadline = time.monotonic() + CAPTURE_LIMIT_S
    while reader.is_alive() and time.monotonic() < deadline and not stop():
        reader.join(0.05)
    if not box:
        if not stop():
            ws.in_process = False
        return None
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


def _predicted(ws: Workspace, report: InspectReport) -> str:
    """The model's time for this compile, said as a prediction with its calibration."""
    from workbench.analysis.model import predict

    try:
        p = predict(report, ws.problem, ws.gpu)
    except Exception as err:  # the model refuses what it cannot predict (0 blocks/SM, ...)
        return f"no prediction: {str(err).splitlines()[0][:100]}"
    typical = f", typical error {p.typical_error_pct:.0f}%" if p.typical_error_pct else ""
    return (
        f"{p.ms:.3g} ms ({p.low_ms:.2g}-{p.high_ms:.2g}) KernelBench protocol on {ws.gpu.name},"
        f" predicted, not measured: {p.calibration}{typical}"
    )


class Compiling(ScreenBase):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._compile_timer: Timer | None = None
        self._source_timer: Timer | None = None
        self._ticker: Timer | None = None
        self.config_errors: list[str] = []

    # --- edits --------------------------------------------------------------------------------
    @on(ParamsChanged)
    def _params_changed(self, event: ParamsChanged) -> None:
        if self.ws is None:
            return
        same = event.config == self.config and event.ok == self.config_ok
        moved = event.focused != self.focused_param
        self.config, self.config_ok, self.focused_param = event.config, event.ok, event.focused
        self.config_errors = event.errors
        if moved:
            self.request_points()
        if same and self.report_key == config_key(self.config):
            return  # only the focus moved
        if self._source_timer is not None:
            self._source_timer.stop()
        self._source_timer = self.set_timer(SOURCE_DEBOUNCE_S, self._show_source)
        self.schedule_compile()

    def _show_source(self) -> None:
        ws = self.ws
        if ws is not None:
            names = [t.name for t in ws.tunables]
            pane = self.query_one(SourcePane)
            pane.show(ws.kf.source, ws.kf.path.name, names, self.config if self.config_ok else {})

    def schedule_compile(self) -> None:
        ws = self.ws
        if ws is None:
            return
        key = config_key(self.config)
        pane = self.query_one(OccupancyPane)
        if self.compile_job is not None and self.compile_job.key != key:
            self.cancel_compile("superseded")
        if self._compile_timer is not None:
            self._compile_timer.stop()
            self._compile_timer = None
        if not self.config_ok:
            estimate = estimate_shared(self.config, ws.gpu)
            first = self.config_errors[0] if self.config_errors else "fix the parameters"
            if estimate is not None and self.config_errors == [estimate.message()]:
                pane.show_error(first, "not compiled: the tile cannot fit (estimate)")
                self.log_line("warning", f"not compiling {short_config(self.config)}: {first}")
            else:
                pane.show_pending(f"not compiled: {first}")
            return
        known = ws.reports.get(key)
        if known is not None and key == self.report_key and pane.state != "failed":
            pane.show_current()  # back to the config on screen (typing went through a bad one)
            return
        if known is not None:  # compiled earlier this run: no worker; shown once typing pauses
            config = dict(self.config)
            self._compile_timer = self.set_timer(
                KNOWN_DELAY_S, lambda: self._show_report(ws, config, known)
            )
            return
        if self.compile_job is not None and self.compile_job.key == key:
            return  # already compiling this very config
        pane.show_pending(f"compiling {short_config(self.config)} for {ws.gpu.sm}…")
        self._compile_timer = self.set_timer(DEBOUNCE_S, self._compile_now)

    def _compile_now(self) -> None:
        ws, config = self.ws, dict(self.config)
        if ws is None or not self.config_ok:
            return
        job = Job(config_key(config), ws=ws, what=short_config(config))
        self.compile_job = job
        self._start_ticker()
        self._compile_worker(ws, config, job)

    def cancel_compile(self, why: str = "cancelled") -> bool:
        job = self.compile_job
        if job is None:
            return False
        job.what = f"{job.what} ({why})"
        job.cancel.set()  # the worker process dies now, ptxas and all
        self.compile_job = None
        self.set_activity("")
        return True

    def stop_all_work(self) -> None:
        """Quitting: every process this screen started ends now, every thread gives up."""
        self.cancel_compile("quit")
        self.workers.cancel_group(self, "points")
        if self.trial_job is not None:
            self.trial_job.cancel.set()

    # --- the worker -------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="compile", exit_on_error=False)
    def _compile_worker(self, ws: Workspace, config: Config, job: Job) -> None:
        from workbench.runner.local import InspectFailed, inspect_in_worker

        while not COMPILE_SLOT.acquire(timeout=0.05):  # the old process is still going away
            if job.cancel.is_set():
                self.post_message(CompileCancelled(job.key, job.seconds))
                return
        try:
            if job.cancel.is_set():
                self.post_message(CompileCancelled(job.key, job.seconds))
                return
            try:
                report = cached_report(ws, config, job.cancel.is_set)
                cached = report is not None
                if report is None:
                    self.post_message(CompileStarted(job.key, ws.gpu.sm, cached=False))
                    report = inspect_in_worker(ws.kf, ws.problem, config, ws.gpu, cancel=job.cancel)
            except InspectFailed as err:
                if err.status is Status.CANCELLED or job.cancel.is_set():
                    self.post_message(CompileCancelled(job.key, job.seconds))
                    return
                self.post_message(
                    CompileFailed(ws, config, str(err), err.status, err.detail, job.seconds)
                )
                return
            except WorkbenchError as err:
                self.post_message(CompileFailed(ws, config, str(err), None, "", job.seconds))
                return
            if job.cancel.is_set():
                self.post_message(CompileCancelled(job.key, job.seconds))
                return
            if cached:
                report.resources.cached = True
            self.post_message(CompileDone(ws, config, report, job.seconds))
        finally:
            COMPILE_SLOT.release()

    # --- results ------------------------------------------------------------------------------
    def _start_ticker(self) -> None:
        if self._ticker is None:
            self._ticker = self.set_interval(TICK_S, self._tick)
        self._tick()

    def _tick(self) -> None:
        job = self.compile_job
        if job is None:
            if self._ticker is not None:
                self._ticker.stop()
                self._ticker = None
            return
        text = f"compiling {job.what} for {job.ws.gpu.sm if job.ws else '?'}… {job.seconds:.1f} s (Esc cancels)"
        self.query_one(OccupancyPane).show_pending(text)
        if self.trial_job is None:
            self.set_activity(text)

    def _finished(self, key: str) -> bool:
        """Clear the job if it is this compile's; True when the result is still wanted."""
        job = self.compile_job
        if job is not None and job.key == key:
            self.compile_job = None
            if self.trial_job is None:
                self.set_activity("")
        return key == config_key(self.config)

    @on(CompileStarted)
    def _compile_started(self, event: CompileStarted) -> None:
        self.log_line("compile", f"compiling {event.key} for {event.sm} in a worker process")

    @on(CompileDone)
    def _compile_done(self, event: CompileDone) -> None:
        key = config_key(event.config)
        event.ws.reports[key] = event.report
        res = event.report.resources
        how = "cache hit" if res.cached else f"{res.compile_s or event.seconds:.1f} s compile"
        self.log_line(
            "compile",
            f"{short_config(event.config)} for {res.target_sm}: {res.registers} registers,"
            f" {res.spill_bytes} B spills, {res.shared_bytes} B shared, occupancy"
            f" {event.report.occupancy.fraction * 100:.0f}% ({how}, {event.seconds:.1f} s in all)",
        )
        for rule in event.report.rules:
            if rule.severity != "ok":
                self.log_line("warning" if rule.severity == "warning" else "error", rule.message)
        if not self._finished(key) or event.ws is not self.ws:
            return  # the user moved on; kept for the charts and for coming back
        self._show_report(event.ws, event.config, event.report)

    def _show_report(self, ws: Workspace, config: Config, report: InspectReport) -> None:
        self.report, self.report_key = report, config_key(config)
        estimate = estimate_shared(config, ws.gpu)
        note = f"estimated {kib(estimate.bytes)} before compiling" if estimate is not None else ""
        self.query_one(OccupancyPane).show_report(report, ws.gpu.arch, note, _predicted(ws, report))
        self.query_one(StatusLine).update_parts(
            numbers=f"{ws.gpu.sm} compile · {report.resources.source}"
        )
        self.request_points()

    @on(CompileFailed)
    def _compile_failed(self, event: CompileFailed) -> None:
        key = config_key(event.config)
        status = event.status.value if event.status else "error"
        self.log_line(
            "error", f"{short_config(event.config)}: {status}: {event.message}", event.detail
        )
        if self._finished(key) and event.ws is self.ws:
            self.report, self.report_key = None, ""
            self.query_one(OccupancyPane).show_error(
                event.message, f"{status} after {event.seconds:.1f} s"
            )

    @on(CompileCancelled)
    def _compile_cancelled(self, event: CompileCancelled) -> None:
        self.log_line(
            "compile",
            f"compile of {event.key} ended after {event.seconds:.1f} s (superseded or cancelled)",
        )
        if self.compile_job is None and config_key(self.config) == event.key:
            self.query_one(OccupancyPane).show_pending(
                "compile cancelled: edit a value to compile again"
            )

    # --- occupancy against the parameter being edited ------------------------------------------
    def request_points(self) -> None:
        ws, name = self.ws, self.focused_param
        if ws is None or not name or not self.config_ok:
            return
        tunable = next((t for t in ws.tunables if t.name == name), None)
        if tunable is None or len(tunable.choices) < 2:
            return
        self._points_worker(ws, dict(self.config), name, list(tunable.choices))

    @work(thread=True, exclusive=True, group="points", exit_on_error=False)
    def _points_worker(self, ws: Workspace, config: Config, name: str, choices: list[Any]) -> None:
        worker = get_current_worker()
        points: list[tuple[int | str, float | None]] = []
        for value in choices:
            if worker.is_cancelled:  # a newer request, or quitting
                return
            cfg = {**config, name: value}
            key = config_key(cfg)
            report = ws.reports.get(key)
            if report is None and key not in ws.peeked:
                estimate = estimate_shared(cfg, ws.gpu)
                try:
                    found = (
                        None
                        if estimate and estimate.verdict == "over"
                        else cached_report(ws, cfg, lambda: worker.is_cancelled)
                    )
                except WorkbenchError:
                    found = None
                if worker.is_cancelled:
                    return  # not read to the end: not known to be missing either
                ws.peeked[key] = found.occupancy.fraction if found is not None else None
                if found is not None:
                    ws.reports[key] = found
            fraction = report.occupancy.fraction if report is not None else ws.peeked.get(key)
            points.append((value, fraction))
        self.post_message(ParamPoints(ws, name, points))

    @on(ParamPoints)
    def _points(self, event: ParamPoints) -> None:
        if event.ws is self.ws and event.name == self.focused_param:
            self.query_one(OccupancyPane).show_points(
                event.name, event.points, self.config.get(event.name)
            )
