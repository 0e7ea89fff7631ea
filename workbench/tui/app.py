"""The workbench app: the screens over the core; `run_tui(args)` is the `tui` verb.

The app holds what outlives a screen (the log book, the remembered theme, where screenshots go)
and quits cleanly: every compile and trial process is ended before the event loop stops, so `q`
returns at once with nothing left running. The tuning screen (tuning_screen.py) is the default;
other screens (the sweep, issue 12) are added to SCREENS beside it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from workbench.core.errors import WorkbenchError
from workbench.core.gpus import GPUS, find_gpu
from workbench.tui.commands import WorkbenchCommands
from workbench.tui.log_pane import LogBook
from workbench.tui.screen_base import Start
from workbench.tui.settings import Settings
from workbench.tui.sweep_screen import SweepScreen
from workbench.tui.tuning_screen import LETTER_ACTIONS, TuningScreen

SCREENSHOTS_ENV = "CONV3D_BENCH_SCREENSHOTS"


def screenshots_dir() -> Path:
    """`$CONV3D_BENCH_SCREENSHOTS`, else ./screenshots (created on first use; ~/Downloads may
    not exist on a server)."""
    return Path(os.environ.get(SCREENSHOTS_ENV) or "screenshots")


class WorkbenchApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "conv3d-bench"
    COMMANDS = App.COMMANDS | {WorkbenchCommands}
    SCREENS = {"sweep": SweepScreen}
    BINDINGS = [
        Binding("question_mark,f1", "help", "Help", key_display="?", tooltip="keys and how the screen works"),
        Binding("q", "quit", "Quit", tooltip="quit; running compiles and trials end at once (trials are saved as they finish)"),
    ]  # fmt: skip

    def __init__(
        self,
        path: str | None = None,
        problem: str | None = None,
        gpu: str | None = None,
        session: str | None = None,
    ) -> None:
        super().__init__()
        self.start = Start(path, problem, gpu, session)
        self.book = LogBook()
        self.messages: list[str] = []  # every notification, for the log and the tests
        self.settings = Settings.load()
        from_session = path is not None and path.endswith(".json")
        self._gpu0 = GPUS["4090"] if from_session else find_gpu(gpu)
        self._tuning = TuningScreen(self.start, self._gpu0, self.book)
        if self.settings.theme in self.available_themes:
            self.theme = self.settings.theme

    @property
    def tuning(self) -> TuningScreen:
        return self._tuning

    def get_default_screen(self) -> Screen[Any]:
        return self._tuning

    def watch_theme(self, theme: str) -> None:
        if theme != self.settings.theme:
            self.settings.theme = theme
            self.settings.save()
        if self.is_running and self._tuning.is_mounted:
            self.call_after_refresh(self._tuning.redraw)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in LETTER_ACTIONS | {"quit"} and self.screen is self._tuning:
            return self._tuning.check_action(action, parameters)
        return True

    def notify(self, message: str, *args: Any, **kwargs: Any) -> None:
        self.messages.append(str(message))
        severity = str(kwargs.get("severity", "information"))
        kind = {"error": "error", "warning": "warning"}.get(severity, "notice")
        if self._tuning.is_mounted:
            self._tuning.log_line(kind, str(message))
        else:
            self.book.add(kind, str(message))
        super().notify(message, *args, **kwargs)

    def action_help(self) -> None:
        self._tuning.action_help()

    async def action_quit(self) -> None:
        self.end_all_work()
        self.exit(0)

    def on_unmount(self) -> None:
        self.end_all_work()  # every way out (q, Ctrl-C, a test's end), not only q

    def end_all_work(self) -> None:
        self._tuning.stop_all_work()  # every worker's thread gives up now ...
        for screen in self.screen_stack:
            if isinstance(screen, SweepScreen):
                screen.stop_all_work()  # a running sweep too
        from workbench.runner.local import keep_warm
        from workbench.runner.process import end_all

        keep_warm(False)
        end_all()  # ... and every worker process (ptxas and all) is killed here, not at exit

    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        """Save an SVG of the screen where it can be written, and say where (or why not)."""
        folder = Path(path) if path else screenshots_dir()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            saved = self.save_screenshot(filename, str(folder), time_format)
        except OSError as err:
            self.notify(
                f"cannot save the screenshot in {folder}: {err.strerror or err}; set"
                f" ${SCREENSHOTS_ENV} to a folder you can write to",
                severity="error",
            )
            return None
        self.notify(f"screenshot saved: {saved}")
        return saved


def run_tui(args: argparse.Namespace) -> int:
    """The `conv3d-bench tui` verb. Bad arguments fail here, before the screen opens."""
    path = getattr(args, "path", None)
    if path and Path(path).is_dir():
        raise WorkbenchError(f"{path} is a directory: give a kernel file or a session .json in it")
    if path and not Path(path).is_file():
        raise WorkbenchError(f"{path} does not exist: give a kernel file or a session .json")
    if not (path or "").endswith(".json"):
        from workbench.kernel.problemfile import load_problem

        load_problem(args.problem)
        find_gpu(args.gpu)
    app = WorkbenchApp(path, args.problem, args.gpu, getattr(args, "session", None))
    app.run()
    code = app.return_code or 0
    # app.run() returns once every worker thread has ended (asyncio waits for them), the
    # session is saved and unlocked and the terminal restored. What is left is the
    # interpreter's teardown of torch and Triton, about a second here: `q` must not wait for it.
    from workbench.runner.process import end_all

    end_all()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
