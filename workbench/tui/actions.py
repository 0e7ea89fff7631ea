"""The dialog-driven actions: save as, export, pick problem or target, open a kernel file, help.

Mixed into WorkbenchApp; each asks in a modal screen, then calls the core or reloads the workspace.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from workbench.core.errors import WorkbenchError
from workbench.core.gpus import GPUS, find_gpu
from workbench.core.problem import PRESETS, Problem
from workbench.tui.dialogs import AskText, HelpScreen, PickOne
from workbench.tui.status import StatusLine, help_text

if TYPE_CHECKING:
    from workbench.tui.app import WorkbenchApp


class Actions:
    """`self` is the app."""

    def action_save_as(self: WorkbenchApp) -> None:
        if (ws := self._workspace_ready()) is not None:
            self.push_screen(
                AskText("Save the session as", str(ws.session.path), "Enter saves, Esc cancels"),
                self._save_as,
            )

    def _save_as(self: WorkbenchApp, path: str | None) -> None:
        if not path or self.ws is None:
            return
        try:
            self.ws.session.save_as(path)
        except (WorkbenchError, OSError) as err:
            self.notify(str(err), title="save failed", severity="error")
            return
        self.query_one(StatusLine).update_parts(session=self.ws.session, saved=True)
        self.notify(f"session saved as {path}")

    def action_export(self: WorkbenchApp) -> None:
        if (ws := self._workspace_ready()) is None:
            return
        default = Path("exports") / f"{ws.kf.name}-{Path(ws.session.path).stem}.py"
        self.push_screen(
            AskText("Export the current config as a standalone kernel file", str(default)),
            lambda path: path and self.export_to(ws, dict(self.config), Path(path)),
        )

    def action_pick_problem(self: WorkbenchApp) -> None:
        options = [(f"{k:<6} {p.label().split(': ', 1)[-1]}", k) for k, p in PRESETS.items()]
        current = self.ws.problem.name if self.ws else ""
        free = "or type a spec and press Enter:"
        self.push_screen(PickOne("Problem", options, current, free), self._picked_problem)

    def _picked_problem(self: WorkbenchApp, text: str | None) -> None:
        if text:
            try:
                from workbench.kernel.problemfile import load_problem

                self._switch(problem=load_problem(text))
            except WorkbenchError as err:
                self.notify(str(err), title="problem", severity="error")

    def action_pick_target(self: WorkbenchApp) -> None:
        options = [(f"{g.key:<10} {g.name}", g.key) for g in GPUS.values()]
        current = self.ws.gpu.key if self.ws else ""
        self.push_screen(
            PickOne("Target GPU", options, current), lambda k: k and self._switch(gpu=k)
        )

    def action_open_kernel(self: WorkbenchApp) -> None:
        current = str(self.ws.kf.path) if self.ws else ""
        self.push_screen(AskText("Open a kernel file (KernelBench format)", current), self._open)

    def _open(self: WorkbenchApp, path: str | None) -> None:
        if not path:
            return
        if self.ws is None:  # the first load failed: try again with the command line's choices
            _, problem, gpu, session = self._start
            self.load_workspace(path, problem, gpu, session)
        else:
            self.load_workspace(path, None, None, None, problem=self.ws.problem, gpu=self.ws.gpu)

    def _switch(self: WorkbenchApp, problem: Problem | None = None, gpu: str | None = None) -> None:
        if self.ws is None:
            return
        try:
            target = find_gpu(gpu) if gpu else self.ws.gpu
        except WorkbenchError as err:
            self.notify(str(err), severity="error")
            return
        self.load_workspace(
            None, None, None, None, problem=problem or self.ws.problem, gpu=target, kf=self.ws.kf
        )

    def action_help(self: WorkbenchApp) -> None:
        self.push_screen(HelpScreen(help_text(self.BINDINGS)))

    def get_system_commands(self: WorkbenchApp, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for b in self.BINDINGS:
            if isinstance(b, Binding) and b.action not in ("quit", "escape"):
                yield SystemCommand(
                    b.description, f"key {b.key}", lambda a=b.action: self.run_action(a)
                )
