"""Source pane: the kernel file, syntax-highlighted, with the tunable parameters' lines marked.

Rich's Syntax renders it (in a scrollable Static) rather than TextArea: it highlights Python with
Pygments, which rich already brings, so it does not depend on tree-sitter being installed, and it
marks whole lines (`highlight_lines`), which is what the tunable markers need.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rich.syntax import Syntax
from textual.containers import VerticalScroll
from textual.widgets import Static


def tunable_lines(source: str, names: Iterable[str]) -> set[int]:
    """1-based lines that assign or pass a tunable: `BLOCK_M = 64`, `num_warps=8`, `"BLOCK_M": 64`."""
    wanted = {n for n in names} | {n.upper() for n in names}
    if not wanted:
        return set()
    alternatives = "|".join(sorted(map(re.escape, wanted), key=len, reverse=True))
    # `NAME = 64` / `NAME=64` (constants, keyword arguments) or `"NAME": 64` (config dicts).
    pattern = re.compile(rf"""(^|[\s,(])({alternatives})\s*=(?!=)|['"]({alternatives})['"]\s*:""")
    return {i for i, line in enumerate(source.splitlines(), 1) if pattern.search(line)}


class SourcePane(VerticalScroll):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._body = Static("loading the kernel file…", id="source-body")

    def compose(self):
        yield self._body

    def show(self, source: str, title: str, tunables: Iterable[str] = ()) -> None:
        marked = tunable_lines(source, tunables)
        syntax = Syntax(
            source,
            "python",
            theme="monokai",
            line_numbers=True,
            highlight_lines=marked,
            word_wrap=False,
            indent_guides=False,
        )
        self._body.update(syntax)
        self.border_title = f"Source · {title}"
        self.border_subtitle = f"{len(marked)} tunable lines marked" if marked else ""
        if marked:
            # Start at the config block so the tunables are in view.
            self.call_after_refresh(self.scroll_to, 0, max(0, min(marked) - 3), animate=False)

    def show_error(self, message: str) -> None:
        self._body.update(
            f"[b red]cannot load the kernel file[/]\n{message}\n\npress o to open another"
        )
