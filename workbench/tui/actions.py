"""The dialog-driven actions (save as, export, pick a problem or target, open a kernel file, help)
and the layout keys (tabs, log, maximise).

Each dialog is given a `submit` that does the work: an error is shown in the dialog, which keeps
what was typed; export asks before replacing a file (Enter again) and never replaces a session.
"""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.widgets import Tabs

from workbench.core.errors import WorkbenchError
from workbench.core.gpus import GPUS, find_gpu
from workbench.core.problem import PRESETS, Problem
from workbench.tui.dialogs import AskText, Confirm, HelpScreen, Outcome, PickOne
from workbench.tui.layout import PANE_IDS, PANES, pane_of, plan
from workbench.tui.log_pane import LogPane
from workbench.tui.messages import TargetPicked
from workbench.tui.state import KERNEL_LOCK
from workbench.tui.status import help_text
from workbench.tui.target import TargetPane
from workbench.tui.trials import Trials


class Actions(Trials):
    log_on = False
    active_pane = PANES[0]

    # --- session and export -----------------------------------------------------------------
    def action_save_as(self) -> None:
        if self.ws is None:
            return
        self.app.push_screen(
            AskText("Save the session as", str(self.ws.path), submit=self._save_as)
        )

    def _save_as(self, text: str, confirmed: bool) -> Outcome:
        ws = self.ws
        if ws is None:
            return "no kernel file loaded"
        from workbench.session.store import Session

        try:
            if ws.session is None:  # nothing recorded yet: the session starts in that file
                ws.session = Session.create(text, ws.kf, ws.problem, ws.gpu)
                ws.session_path, ws.named_session = ws.session.path, True
            else:
                ws.session.save_as(text)
        except (WorkbenchError, OSError) as err:
            return str(err)
        self.show_session_status()
        self.app.notify(f"session saved as {text}; recording there from now on")
        return None

    def action_export(self) -> None:
        ws = self.ws
        if ws is None:
            return
        if not self.config_ok:
            self.app.notify(
                "the parameters break a rule; fix them before exporting", severity="error"
            )
            return
        default = Path("exports") / f"{ws.kf.name}-{ws.path.stem}.py"
        self.app.push_screen(
            AskText(
                "Export the current config as a standalone kernel file",
                str(default),
                "Enter writes it (asks before replacing a file), Esc cancels",
                submit=self._export,
            )
        )

    def _export(self, text: str, confirmed: bool) -> Outcome:
        """The CLI's export path: the same checks, the same atomic write; an existing file is
        replaced only once confirmed, a session never."""
        ws = self.ws
        if ws is None:
            return "no kernel file loaded"
        from workbench.session.export import ExportPlan, check_output, export_kernel, write_export
        from workbench.session.store import looks_like_session

        out, kernel = Path(text), Path(ws.kf.path)
        try:
            check_output(out, force=True, kernel_path=kernel)  # what no confirmation allows
            if out.exists() and not confirmed and not looks_like_session(out):
                return Confirm(f"{out} exists: Enter again replaces it, or change the name")
            full = ws.kf_full(self.config)
            same = [t for t in ws.trials if ws.kf_full(t.config) == full]
            with KERNEL_LOCK:
                body = export_kernel(
                    ExportPlan(ws.kf, full, ws.problem, ws.gpu, same[-1] if same else None)
                )
            write_export(body, out, force=confirmed, kernel_path=kernel)
        except WorkbenchError as err:
            return str(err)
        self.app.notify(f"exported {text}" + (" (replaced the old file)" if confirmed else ""))
        self.log_line("info", f"exported {self.config} to {out}")
        return None

    # --- switching --------------------------------------------------------------------------
    def _refuse_switch(self) -> bool:
        why = self.busy_reason()
        if why:
            self.app.notify(f"cannot switch now: {why}", severity="warning", timeout=8)
            if self.ws is not None:
                self.query_one(TargetPane).show(self.ws.gpu)  # undo a list pick
            return True
        return False

    def action_pick_problem(self) -> None:
        if self.ws is None or self._refuse_switch():
            return
        options = [(f"{k:<6} {p.label().split(': ', 1)[-1]}", k) for k, p in PRESETS.items()]
        self.app.push_screen(
            PickOne(
                "Problem (switching resets the parameters to that session's last trial or the"
                " kernel's defaults)",
                options,
                self.ws.problem.name,
                "or type a spec (or a KernelBench problem file) and press Enter:",
                submit=self._picked_problem,
                placeholder="N=1,Ci=2,Co=4,D=4,H=4,W=4,k=3",
            )
        )

    def _picked_problem(self, text: str, confirmed: bool) -> Outcome:
        from workbench.kernel.problemfile import load_problem

        try:
            problem = load_problem(text)
        except WorkbenchError as err:
            return str(err)
        return self._switch(problem=problem)

    def action_pick_target(self) -> None:
        if self.ws is None or self._refuse_switch():
            return
        options = [(f"{g.key:<10} {g.name}", g.key) for g in GPUS.values()]
        self.app.push_screen(
            PickOne("Target GPU", options, self.ws.gpu.key, submit=lambda k, _: self._switch(gpu=k))
        )

    @on(TargetPicked)
    def _target_picked(self, event: TargetPicked) -> None:
        if not self._refuse_switch():
            self._switch(gpu=event.key)

    def _switch(self, problem: Problem | None = None, gpu: str | None = None) -> Outcome:
        ws = self.ws
        if ws is None:
            return "no kernel file loaded"
        why = self.busy_reason()
        if why:
            return f"cannot switch now: {why}"
        try:
            target = find_gpu(gpu) if gpu else ws.gpu
        except WorkbenchError as err:
            return str(err)
        self.cancel_compile("switching")
        self.load(
            None, problem=problem or ws.problem, gpu=target, kf=ws.kf,
            why="problem" if problem is not None else "target",
        )  # fmt: skip
        return None

    def action_open_kernel(self) -> None:
        if self.ws is not None and self._refuse_switch():
            return
        current = str(self.ws.kf.path) if self.ws else ""
        self.app.push_screen(
            AskText("Open a kernel file (KernelBench format)", current, submit=self._open)
        )

    def _open(self, text: str, confirmed: bool) -> Outcome:
        if not Path(text).is_file():
            return f"{text} is not a file: give the path of a KernelBench-format .py file"
        self.cancel_compile("opening another file")
        if self.ws is None:  # the first load failed: try again with the command line's choices
            start = self.start
            self.load(text, start.problem, start.gpu, start.session, why="kernel")
        else:
            self.load(text, problem=self.ws.problem, gpu=self.ws.gpu, why="kernel")
        return None

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(help_text([*self.BINDINGS, *self.app.BINDINGS])))

    # --- layout -------------------------------------------------------------------------------
    def apply_layout(self) -> None:
        layout = plan(self.size.width, self.log_on, self.active_pane)
        self.set_class(layout.mode == "wide", "-wide")
        self.set_class(layout.mode == "narrow", "-narrow")
        for name, pane_id in PANE_IDS.items():
            self.query_one(f"#{pane_id}").display = name in layout.visible
        tabs = self.query_one("#pane-tabs", Tabs)
        shown = layout.mode == "narrow"
        if shown:
            # Textual places the active tab's underline on mount and on a resize, either of which
            # may come before the tabs have their widths: place it once this layout is on screen.
            tabs.call_after_refresh(tabs._highlight_active, False)
        tabs.display = shown
        self.query_one("#source").set_class(not self.log_on, "-full")

    def action_show_pane(self, name: str) -> None:
        if name not in PANES:
            return
        self.active_pane = name
        tabs = self.query_one("#pane-tabs", Tabs)
        if tabs.active != f"tab-{name}":
            tabs.active = f"tab-{name}"
        self.apply_layout()

    @on(Tabs.TabActivated, "#pane-tabs")
    def _tab(self, event: Tabs.TabActivated) -> None:
        name = (event.tab.id or "").removeprefix("tab-")
        if name in PANES and name != self.active_pane:
            self.active_pane = name
            self.apply_layout()

    def action_toggle_log(self) -> None:
        self.log_on = not self.log_on
        if plan(self.size.width, self.log_on, self.active_pane).mode == "narrow":
            self.action_show_pane("log" if self.log_on else PANES[0])
        else:
            self.apply_layout()
        if self.log_on:
            self.query_one(LogPane).scroll_end(animate=False)

    def action_toggle_maximize(self) -> None:
        if self.maximized is not None:
            self.minimize()
            return
        focused = self.focused
        ids = [w.id or "" for w in ([focused, *focused.ancestors] if focused else [])]
        name = pane_of(ids) or (self.active_pane if self.has_class("-narrow") else None)
        if name is None and focused is not None:
            for pane_id in ("params", "target", "ncu"):
                if pane_id in ids:
                    self.maximize(self.query_one(f"#{pane_id}"), container=False)
                    return
        self.maximize(self.query_one(f"#{PANE_IDS[name or PANES[0]]}"), container=False)
