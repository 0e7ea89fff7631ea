"""Which panes the screen shows at a size: all of them side by side when wide, tabs when not.

Wide (160 columns and up): parameters, target and NCU on the left; the source (and the log
when on) in the middle; occupancy, comparison and history stacked on the right. Narrower
(100 columns and up is the design minimum): the left column stays (it is what you edit) and the
rest become tabs, one shown at a time. Any pane can be maximised (m) at any size.
"""

from __future__ import annotations

from dataclasses import dataclass

WIDE_MIN = 160  # columns from which every pane is shown at once
PANES = ("occupancy", "compare", "history", "source", "log")  # the tabs, in order
PANE_IDS = {
    "occupancy": "occupancy",
    "compare": "compare",
    "history": "history-box",
    "source": "source",
    "log": "log",
}
TITLES = {
    "occupancy": "Occupancy",
    "compare": "Compare",
    "history": "History",
    "source": "Source",
    "log": "Log",
}


@dataclass(frozen=True)
class Plan:
    mode: str  # "wide" | "narrow"
    visible: frozenset[str]  # pane names shown
    active: str  # the tab shown when narrow


def plan(width: int, log_on: bool, active: str) -> Plan:
    if active not in PANES:
        active = PANES[0]
    if width >= WIDE_MIN:
        shown = {"occupancy", "compare", "history", "source"} | ({"log"} if log_on else set())
        return Plan("wide", frozenset(shown), active)
    return Plan("narrow", frozenset({active}), active)


def pane_of(widget_ids: list[str]) -> str | None:
    """The pane a widget belongs to, from its own and its ancestors' ids (innermost first)."""
    by_id = {v: k for k, v in PANE_IDS.items()}
    return next((by_id[i] for i in widget_ids if i in by_id), None)
