"""Every message the app's parts send each other, as small dataclasses (toolong's idiom).

Workers post these from their threads (`post_message` is thread-safe, and a message to a screen
that has gone is dropped, so a worker finishing after quit cannot crash anything); panes post
them to ask the screen for something. Handlers use `@on(Message)` or `on_<name>`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from textual.message import Message

from workbench.core.config import Config
from workbench.core.records import InspectReport, Status, TrialResult

if TYPE_CHECKING:
    from workbench.search.sweep import SweepEvent, SweepResult
    from workbench.tui.state import Workspace
    from workbench.tui.sweep_run import SweepRun


# --- from the workers ------------------------------------------------------------------------
@dataclass
class WorkspaceLoaded(Message):
    """A kernel file, problem, target and session are ready to show."""

    ws: Workspace
    why: str = ""  # "open" | "problem" | "target" | "kernel": what made the switch


@dataclass
class LoadFailed(Message):
    message: str


@dataclass
class CompileStarted(Message):
    key: str  # config_key of the config being compiled
    sm: str
    cached: bool  # True: a cache hit being read, no compiler runs


@dataclass
class CompileDone(Message):
    ws: Workspace
    config: Config
    report: InspectReport
    seconds: float


@dataclass
class CompileFailed(Message):
    ws: Workspace
    config: Config
    message: str
    status: Status | None = None
    detail: str = ""
    seconds: float = 0.0


@dataclass
class CompileCancelled(Message):
    key: str
    seconds: float


@dataclass
class TrialStarted(Message):
    config: Config
    ncu: bool


@dataclass
class TrialProgress(Message):
    line: str


@dataclass
class TrialDone(Message):
    """A trial that ran (ok or failed) and was recorded in the session it started in."""

    ws: Workspace
    trial: TrialResult
    ncu: bool
    warning: str = ""  # e.g. the planned session file was taken and a sibling is used


@dataclass
class TrialEnded(Message):
    """The trial worker has finished, whatever happened (cancelled, failed, recorded)."""

    ws: Workspace
    cancelled: bool = False
    error: str = ""  # the trial could not run or be recorded, in one line


@dataclass
class ParamPoints(Message):
    """Occupancy of each allowed value of one parameter, from compiles already cached."""

    ws: Workspace
    name: str
    points: list[tuple[int | str, float | None]] = field(default_factory=list)


@dataclass
class SweepProgress(Message):
    """A sweep's progress (stage, done, total, best so far; the config that just finished)."""

    run: SweepRun
    event: SweepEvent


@dataclass
class SweepFinished(Message):
    """The sweep's worker has ended: its result (also when cancelled), or why it could not run."""

    run: SweepRun
    result: SweepResult | None
    error: str = ""


@dataclass
class Log(Message):
    """A line for the log pane: compile output, worker messages, notifications."""

    text: str
    kind: str = "info"  # info | compile | worker | warning | error
    detail: str = ""


# --- from the panes --------------------------------------------------------------------------
@dataclass
class ParamsChanged(Message):
    """The config as typed; `ok` is False while any field breaks a hard rule."""

    config: Config
    ok: bool
    focused: str = ""  # the parameter being edited
    errors: list[str] = field(default_factory=list)  # what blocks compiling, in words


@dataclass
class RunRequested(Message):
    """Enter in a field: run the config."""


@dataclass
class RestoreConfig(Message):
    config: Config
    trial_id: int | None = None


@dataclass
class PinBaseline(Message):
    trial_id: int


@dataclass
class TargetPicked(Message):
    key: str
