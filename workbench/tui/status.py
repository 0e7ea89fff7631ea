"""The status line (device, what is running, where the numbers came from, saved or not) and help."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Static


def _short(path: Path) -> str:
    """Relative to the current directory where that is shorter (and the same on every machine)."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


class StatusLine(Static):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("starting…", **kwargs)
        self.parts = {"device": "device: …", "activity": "", "numbers": "", "session": ""}

    def update_parts(
        self,
        *,
        device: str | None = None,
        activity: str | None = None,
        numbers: str | None = None,
        session: Any = None,
        saved: bool | None = None,
    ) -> None:
        if device is not None:
            self.parts["device"] = device
        if activity is not None:
            self.parts["activity"] = activity
        if numbers is not None:
            self.parts["numbers"] = numbers
        if session is not None:
            state = "saved" if saved else "unsaved"
            n = len(session.trials)
            self.parts["session"] = f"{_short(session.path)} · {n} trial{'s' * (n != 1)} · {state}"
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(self.parts["device"], "bold")
        if self.parts["activity"]:
            text.append("  ▶ " + self.parts["activity"], "bold yellow")
        else:
            text.append("  idle", "dim")
        if self.parts["numbers"]:
            text.append("  │ numbers: " + self.parts["numbers"])
        if self.parts["session"]:
            text.append("  │ session: " + self.parts["session"])
        self.update(text)


FLOW = """\
# conv3d-bench workbench

Edit a parameter on the left: the **Occupancy** pane recompiles for the target in the
background (~0.3 s after you stop typing) and shows registers, spills, shared memory,
blocks per SM per limiter, waves and masked-lane waste. Press **r** to run the config:
compile, check against PyTorch, time it (on a CUDA GPU; without one, Triton's interpreter
checks correctness on the reduced problem). Every trial is saved to the session file at once.
Select a row in the history (Enter or click) to restore its config.

**Esc** leaves a field (so letter keys act) or cancels a running trial.

## Keys
"""


def help_text(bindings: list[Any]) -> str:
    rows = []
    for b in bindings:
        if isinstance(b, Binding):
            keys = " / ".join(k.replace("question_mark", "?") for k in b.key.split(","))
            rows.append(f"- `{keys}` **{b.description}**: {b.tooltip}")
    rows.append("- `ctrl+p` **command palette**: every action above, searchable")
    return FLOW + "\n".join(rows) + "\n"
