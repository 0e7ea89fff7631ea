"""The status line (device, what is running, where the numbers came from, the session) and help."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widget import Widget

from workbench.tui.style import tones


def short_path(path: Path) -> str:
    """Relative to the current directory where that is shorter (and the same on every machine)."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return rel if len(rel) < len(str(path)) else str(path)


class StatusLine(Widget):
    """One line, redrawn without a layout pass (a Static's update relayouts the whole screen,
    and the elapsed time of a compile updates this five times a second)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.parts = {"device": "device: …", "activity": "", "numbers": "", "session": ""}
        self._text = Text("starting…")

    def render(self) -> Text:
        return self._text

    @property
    def plain(self) -> str:
        return self._text.plain

    def update_parts(
        self,
        *,
        device: str | None = None,
        activity: str | None = None,
        numbers: str | None = None,
        session: str | None = None,
    ) -> None:
        for key, value in (
            ("device", device),
            ("activity", activity),
            ("numbers", numbers),
            ("session", session),
        ):
            if value is not None:
                self.parts[key] = value
        self.redraw()

    def redraw(self) -> None:
        t = tones(self.app)
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(self.parts["device"], "bold")
        if self.parts["activity"]:
            text.append("  ▶ " + self.parts["activity"], f"bold {t.warn}")
        else:
            text.append("  idle", t.muted)
        if self.parts["numbers"]:
            text.append("  │ numbers: " + self.parts["numbers"])
        if self.parts["session"]:
            text.append("  │ session: " + self.parts["session"])
        self._text = text
        self.refresh()


def session_text(path: Path, trials: int, created: bool) -> str:
    if not created:
        return f"{short_path(path)} · not created yet (the first trial creates it)"
    return f"{short_path(path)} · {trials} trial{'s' * (trials != 1)} · saved"


FLOW = """\
# conv3d-bench workbench

Edit a parameter on the left (type, or `[` and `]` to step through its allowed values): the
**Occupancy** pane recompiles for the target in a worker process (~0.3 s after you stop typing;
a compile that is superseded or cancelled is killed at once, ptxas and all). A tile whose
estimated shared memory cannot fit is refused before compiling. **Enter** in a field, or **r**,
runs the config: compile, check against PyTorch, time it (on a CUDA GPU; without one, Triton's
interpreter checks correctness on the reduced problem). Every trial is saved to the session at
once. The **Source** pane shows the file as export would write it, edited lines marked ✎.

Click a row of the history (or Enter on it) to restore its config; **b** on a row pins it as the
baseline: the **Compare** pane then sets the current trial beside it and beside the previous one.

**Esc** leaves a field (so the letter keys act); outside a field it cancels what is running.
On a narrow terminal the panes are tabs (click one, or press its number); **m** maximises the
focused pane. The theme (palette: *Change theme*) is remembered.

## Keys
"""


def help_text(bindings: Iterable[BindingType]) -> str:
    rows = []
    for b in bindings:
        if isinstance(b, Binding) and b.description:
            keys = " / ".join(
                b.key_display or k.replace("question_mark", "?") for k in b.key.split(",")
            )
            rows.append(f"- `{keys}` **{b.description}**: {b.tooltip}")
    rows.append("- `[` / `]` in a field **step** to the previous / next allowed value")
    rows.append("- `Enter` in a field **run**; on a history row **restore**; `b` on a row **pin**")
    rows.append("- `ctrl+p` **command palette**: every action above, searchable")
    return FLOW + "\n".join(rows) + "\n"
