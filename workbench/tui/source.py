"""Source pane: the kernel file as export would write it with the current config, highlighted.

The text is `workbench.kernel.bake.bake_config(source, config)`, the same baking the export
does, so the pane shows `BLOCK_M = 64` once BLOCK_M is 64. A gutter marks each line: `✎` a line
the config changed (also on a tinted background), `•` a line that sets a tunable. Rich's Syntax
highlights (Pygments, no tree-sitter needed), in a light or dark style after the app's theme;
only the visible lines are painted.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.syntax import Syntax
from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from workbench.core.config import Config
from workbench.core.errors import WorkbenchError
from workbench.tui.style import tones

EDITED, TUNABLE = "✎", "•"


def tunable_lines(source: str, names: Iterable[str]) -> set[int]:
    """1-based lines that assign or pass a tunable: `BLOCK_M = 64`, `num_warps=8`, `"BLOCK_M": 64`."""
    wanted = {n for n in names} | {n.upper() for n in names}
    if not wanted:
        return set()
    alternatives = "|".join(sorted(map(re.escape, wanted), key=len, reverse=True))
    # `NAME = 64` / `NAME=64` (constants, keyword arguments) or `"NAME": 64` (config dicts).
    pattern = re.compile(rf"""(^|[\s,(])({alternatives})\s*=(?!=)|['"]({alternatives})['"]\s*:""")
    return {i for i, line in enumerate(source.splitlines(), 1) if pattern.search(line)}


def baked(source: str, config: Config, path: str) -> tuple[str, set[int], str]:
    """The text export would write for `config` (without its header), the 1-based lines that
    differ from `source`, and why the config could not be baked ("" when it was)."""
    if not config:
        return source, set(), ""
    from workbench.kernel.bake import bake_config

    try:
        text = bake_config(source, config, path)
    except WorkbenchError as err:
        return source, set(), str(err)
    old, new = source.splitlines(), text.splitlines()
    changed: set[int] = set()
    for tag, _, _, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag in ("replace", "insert"):
            changed.update(range(j1 + 1, j2 + 1))
    return text, changed, ""


class SourcePane(ScrollView, can_focus=True):
    """The file drawn with Textual's line API: highlighted once per file and theme; an edit
    re-highlights only the lines it changed, so typing in a field never waits for Pygments to
    go through the whole file again."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source = ""
        self.names: tuple[str, ...] = ()
        self.edited: set[int] = set()
        self.text = ""
        self.theme_name = ""  # the Pygments style in use (light or dark after the app's theme)
        self._base: tuple[tuple[str, str, tuple[str, ...]], list[Strip]] | None = None  # rows
        self._line_cache: dict[tuple[int, int, int], Strip] = {}
        self._number_style = Style()
        self.strips: list[Strip] = []
        self._message: Text | None = Text("loading the kernel file…")

    def show(
        self, source: str, title: str, tunables: Iterable[str] = (), config: Config | None = None
    ) -> None:
        first = self.source != source
        self.source, self.names = source, tuple(tunables)
        text, edited, why = baked(source, dict(config or {}), title)
        self.text, self.edited, self._message = text, edited, None
        self._draw()
        self.border_title = f"Source · {title}"
        marked = tunable_lines(text, self.names)
        if why:
            self.border_subtitle = f"config not shown in the source: {why}"[:100]
        elif edited:
            lines = ", ".join(map(str, sorted(edited)[:6]))
            self.border_subtitle = f"{EDITED} edited line {lines}: as export would write it"
        else:
            self.border_subtitle = f"{TUNABLE} {len(marked)} tunable lines" if marked else ""
        if first and marked:  # start at the config block so the tunables are in view
            self.call_after_refresh(self.scroll_to, 0, max(0, min(marked) - 3), animate=False)
        elif edited:
            self.call_after_refresh(self._reveal, min(edited))

    # --- drawing ------------------------------------------------------------------------------
    def _code_strips(self, text: str, theme: str, background: str | None = None) -> list[Strip]:
        """One strip per line of `text` (no extra one for a final newline)."""
        text = "\n".join(text.splitlines())
        syntax = Syntax(
            text, "python", theme=theme, word_wrap=False, indent_guides=False,
            background_color="default",  # the pane's own background, light or dark
        )  # fmt: skip
        if background:
            syntax.stylize_range(background, (1, 0), (text.count("\n") + 2, 0))
        console = self.app.console
        width = max(20, max((len(line) for line in text.splitlines()), default=0) + 1)
        options = console.options.update(width=width, no_wrap=True, overflow="crop", height=None)
        return [Strip(line) for line in console.render_lines(syntax, options, pad=True)]

    def _row(self, number: int, digits: int, mark: Segment, code: Strip) -> Strip:
        gutter = Strip([mark, Segment(f"{number:>{digits}} ", self._number_style)])
        return Strip.join([gutter, code])

    def _rows_for(self, text: str, theme: str, accent: str) -> list[Strip]:
        code = self._code_strips(text, theme)
        marked = tunable_lines(text, self.names)
        digits = len(str(len(code)))
        tunable, blank = Segment(TUNABLE, Style.parse(accent)), Segment(" ")
        return [
            self._row(i, digits, tunable if i in marked else blank, strip)
            for i, strip in enumerate(code, 1)
        ]

    def _draw(self) -> None:
        """Rows of the unedited file are made once per file and theme; an edit makes only the
        rows it changed (typing must not wait for the whole file)."""
        t = tones(self.app)
        self.theme_name = t.syntax_theme
        self._number_style = Style.parse(t.muted)
        key = (self.source, t.syntax_theme, self.names)
        if self._base is None or self._base[0] != key:
            self._base = (key, self._rows_for(self.source, t.syntax_theme, t.accent))
        text_lines = self.text.splitlines()
        if len(text_lines) == len(self._base[1]):  # the usual bake: values rewritten in place
            rows = list(self._base[1])
        else:  # lines added (a launch keyword): the whole baked text
            rows = self._rows_for(self.text, t.syntax_theme, t.accent)
        digits = len(str(len(rows)))
        mark = Segment(EDITED, Style.parse(f"bold {t.warn}"))
        for line in self.edited:
            edited = self._code_strips(text_lines[line - 1], t.syntax_theme, t.edited)[0]
            rows[line - 1] = self._row(line, digits, mark, edited)
        self._set_strips(rows)

    def _set_strips(self, strips: list[Strip]) -> None:
        self.strips = strips
        self._line_cache = {}
        width = max((s.cell_length for s in strips), default=0)
        self.virtual_size = Size(width, len(strips))
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        if index >= len(self.strips):
            return Strip.blank(width)
        key = (index, scroll_x, width)
        cached = self._line_cache.get(key)
        if cached is None:
            cached = self._line_cache[key] = self.strips[index].crop_extend(
                scroll_x, scroll_x + width, None
            )
        return cached

    def _reveal(self, line: int) -> None:
        top, height = self.scroll_y, self.scrollable_content_region.height
        if not top <= line - 1 < top + height:
            self.scroll_to(0, max(0, line - 4), animate=False)

    def rebuild(self) -> None:
        """Again in the current theme's colours."""
        if self._message is not None:
            self._show_message(self._message)
        elif self.text:
            self._draw()

    def rendered_text(self) -> str:
        return "\n".join(s.text.rstrip() for s in self.strips)

    def on_mount(self) -> None:
        if self._message is not None:
            self._show_message(self._message)

    def _show_message(self, message: Text) -> None:
        console = self.app.console
        options = console.options.update(width=max(20, self.scrollable_content_region.width or 80))
        self._set_strips(
            [Strip(line) for line in console.render_lines(message, options, pad=False)]
        )

    def show_error(self, message: str) -> None:
        t = tones(self.app)
        self._message = Text.assemble(
            ("cannot load the kernel file\n", f"bold {t.bad}"),
            f"{message}\n\npress o to open another",
        )
        self._show_message(self._message)
