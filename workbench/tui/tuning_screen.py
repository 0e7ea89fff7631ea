"""The tuning screen: one config of one kernel file, edited by hand, compiled, run and compared.

Its keys and layout; the behaviour is in the layers below (screen_base, compiling, trials,
actions). Other screens are their own modules beside this one (the sweep screen of issue 12
goes in `sweep_screen.py`, registered in app.py's SCREENS).
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical
from textual.widgets import Footer, Header, Input, Select, Tab, Tabs

from workbench.tui.actions import Actions
from workbench.tui.compare_pane import ComparePane
from workbench.tui.history_pane import HistoryPane
from workbench.tui.layout import PANES, TITLES
from workbench.tui.log_pane import LogPane
from workbench.tui.ncu_pane import NcuPane
from workbench.tui.occupancy_pane import OccupancyPane
from workbench.tui.params import ParamsPane
from workbench.tui.source import SourcePane
from workbench.tui.status import StatusLine
from workbench.tui.target import TargetPane

# Letter keys act outside a field only (inside one they are typed): hidden from the footer there.
LETTER_ACTIONS = {
    "run", "ncu", "save_as", "export", "pick_problem", "pick_target", "open_kernel",
    "toggle_log", "toggle_maximize", "help", "open_sweep",
}  # fmt: skip
NEEDS_WORKSPACE = {"run", "ncu", "export", "save_as", "open_sweep"}


class PaneTab(Tab):
    """Tabs places its underline once its tabs are mounted; a tab not laid out by then has no
    width and the underline sat at column 0 (now and then, at start). The active tab places it
    again when it gets its width."""

    def on_resize(self, event: events.Resize) -> None:
        if self.has_class("-active"):
            self.query_ancestor(Tabs)._highlight_active(animate=False)


class TuningScreen(Actions):
    AUTO_FOCUS = ""  # nothing focused at first: the letter keys act at once (None: the app's)
    BINDINGS = [
        Binding("r", "run", "Run", tooltip="compile, check against PyTorch, time; autosaves"),
        Binding("escape", "cancel", "Cancel", tooltip="cancel the running trial or compile"),
        Binding("s", "save_as", "Save as", tooltip="continue the session in another file"),
        Binding("e", "export", "Export", tooltip="write a standalone kernel file with this config"),
        Binding("n", "ncu", "NCU", tooltip="Nsight Compute's key metrics for this config"),
        Binding("p", "pick_problem", "Problem", tooltip="a KernelBench preset or a custom spec"),
        Binding("t", "pick_target", "Target", tooltip="the GPU to compile and compute occupancy for"),
        Binding("o", "open_kernel", "Open", show=False, tooltip="open another KernelBench-format kernel file"),
        Binding("l", "toggle_log", "Log", tooltip="show or hide the log: compiles, workers, notices"),
        Binding("m", "toggle_maximize", "Maximise", tooltip="the focused pane fills the screen, or back"),
        Binding("w", "open_sweep", "Sweep", tooltip="sweep the space of configs (compile, rank, check or time); pick a row into the editor"),
        *[
            Binding(str(i), f"show_pane('{name}')", f"{TITLES[name]} tab", show=False,
                    tooltip=f"show the {TITLES[name]} pane (narrow layout)")
            for i, name in enumerate(PANES, 1)
        ],
    ]  # fmt: skip

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal(id="main"):
            with Vertical(id="side"):
                yield ParamsPane(id="params")
                yield TargetPane(self.gpu0, id="target")
                yield NcuPane(id="ncu")
            with Vertical(id="work"):
                yield Tabs(
                    *[PaneTab(f"{i} {TITLES[n]}", id=f"tab-{n}") for i, n in enumerate(PANES, 1)],
                    id="pane-tabs",
                )
                with Container(id="panes"):
                    yield SourcePane(id="source")
                    yield OccupancyPane("waiting for the kernel file…", id="occupancy")
                    yield ComparePane(id="compare")
                    yield LogPane(self.book, id="log")
                    yield HistoryPane(id="history-box")
        yield StatusLine(id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        for selector, title in (
            ("#params", "Parameters"),
            ("#target", "Target"),
            ("#ncu", "NCU"),
            ("#occupancy", "Occupancy"),
            ("#compare", "Compare: current · baseline · previous"),
            ("#history-box", "History"),
            ("#log", "Log"),
            ("#source", "Source"),
        ):
            self.query_one(selector).border_title = title
        self.query_one(TargetPane).show(self.gpu0)
        self.query_one(ComparePane).show_columns([], {})
        self.apply_layout()
        start = self.start
        self.load(start.path, start.problem, start.gpu, start.session)

    def on_resize(self, event: events.Resize) -> None:
        self.apply_layout()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in LETTER_ACTIONS and isinstance(self.focused, Input | Select):
            return False  # typed into the field; the footer shows the field's own keys instead
        if action in NEEDS_WORKSPACE and (self.ws is None or self.loading):
            return None  # greyed until the kernel file has loaded
        if action == "cancel":
            return self.trial_job is not None or self.compile_job is not None
        return True

    def action_open_sweep(self) -> None:
        """The sweep screen (sweep_screen.py) over this kernel, problem and target."""
        why = self.busy_reason()
        if why:
            self.app.notify(f"cannot sweep now: {why}", severity="warning")
            return
        self.app.push_screen("sweep")

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self.refresh_bindings()

    def redraw(self) -> None:
        """Everything drawn with rich colours, again in the current theme's."""
        self.query_one(SourcePane).rebuild()
        self.query_one(OccupancyPane).rebuild()
        self.query_one(ComparePane).rebuild()
        self.query_one(HistoryPane).redraw()
        self.query_one(NcuPane).redraw()
        self.query_one(StatusLine).redraw()
        self.query_one(LogPane).refill()

    def on_unmount(self) -> None:
        self.stop_all_work()
        if self.ws is not None:
            self.ws.close()
