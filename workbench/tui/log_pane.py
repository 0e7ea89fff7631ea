"""The log: compile output (resources, warnings, failures with the compiler's own lines), worker
messages (a trial's progress) and every notification, kept for the whole run of the app.

The book lives in the app (it outlasts panes and screens); the pane (toggled with `l`) shows it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual.widgets import RichLog

from workbench.tui.style import Tones, tones

KIND_LABEL = {
    "info": "info",
    "compile": "compile",
    "worker": "worker",
    "warning": "warning",
    "error": "error",
    "notice": "notice",
}


@dataclass
class LogEntry:
    kind: str
    text: str
    detail: str = ""
    clock: str = field(default_factory=lambda: time.strftime("%H:%M:%S"))


class LogBook:
    """Every line of the run, in order (the tests and the pane read it)."""

    MAX = 5000

    def __init__(self) -> None:
        self.entries: list[LogEntry] = []

    def add(self, kind: str, text: str, detail: str = "") -> LogEntry:
        entry = LogEntry(kind, text, detail)
        self.entries.append(entry)
        del self.entries[: -self.MAX]
        return entry

    def texts(self, kind: str | None = None) -> list[str]:
        return [e.text for e in self.entries if kind is None or e.kind == kind]


def entry_text(entry: LogEntry, t: Tones) -> Text:
    style = {"error": t.bad, "warning": t.warn, "compile": t.accent, "worker": ""}.get(
        entry.kind, ""
    )
    text = Text.assemble(
        (f"{entry.clock} ", t.muted), (f"{KIND_LABEL.get(entry.kind, entry.kind):<8}", style)
    )
    text.append(entry.text)
    if entry.detail:
        text.append("\n" + entry.detail.rstrip(), style=t.muted)
    return text


class LogPane(RichLog):
    def __init__(self, book: LogBook, **kwargs: Any) -> None:
        super().__init__(wrap=True, markup=False, highlight=False, max_lines=LogBook.MAX, **kwargs)
        self.book = book

    def on_mount(self) -> None:
        self.refill()

    def refill(self) -> None:
        self.clear()
        t = tones(self.app)
        for entry in self.book.entries:
            self.write(entry_text(entry, t))

    def add(self, entry: LogEntry) -> None:
        self.write(entry_text(entry, tones(self.app)))
