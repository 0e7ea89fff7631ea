"""One sweep started from the sweep screen: what it runs on and what it has shown so far.

Its own module so the screen's messages can carry it without importing the screen."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from workbench.core.config import Config
from workbench.tui.state import Workspace

if TYPE_CHECKING:  # they import torch: the first paint must not
    from workbench.search.sweep import Candidate, Ranked, SweepResult, SweepSpec
    from workbench.session.store import Session


@dataclass
class SweepRun:
    """One sweep started from the screen: what it runs on, its cancel flag, what it showed."""

    ws: Workspace
    spec: SweepSpec
    session: Session
    size: int
    cancel: threading.Event = field(default_factory=threading.Event)
    candidates: dict[str, Candidate] = field(default_factory=dict)  # config_key -> stage 1
    measured: dict[str, Ranked] = field(default_factory=dict)  # config_key -> stage 2
    configs: dict[str, Config] = field(default_factory=dict)  # config_key -> full config
    result: SweepResult | None = None
    finished: bool = False
