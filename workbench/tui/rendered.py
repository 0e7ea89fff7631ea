"""A pane whose rich content is rendered into lines once per change, not at every layout pass.

The source (a whole highlighted file), the occupancy report and the comparison are large rich
renderables; as auto-height Statics they were rendered again on every layout of the screen (a
status-line update, a compile's elapsed-time tick), which made typing lag. Here the renderable
is drawn once into strips at the pane's width (RichLog's machinery) and only the visible lines
are painted; a width change draws it again (charts and tables fit the new width).
"""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from textual import events
from textual.widgets import RichLog


class RenderedView(RichLog):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            wrap=False, markup=False, highlight=False, auto_scroll=False, min_width=20, **kwargs
        )
        self._renderable: RenderableType | None = None
        self._drawn_width = 0

    @property
    def view_width(self) -> int:
        """The width content is drawn at (a default before the first layout)."""
        return self.scrollable_content_region.width or 80

    def show_renderable(self, renderable: RenderableType, keep_scroll: bool = True) -> None:
        self._renderable = renderable
        y = self.scroll_y if keep_scroll else 0
        self.clear()
        width = self.scrollable_content_region.width
        self.write(renderable, width=width if width > 0 else None, scroll_end=False)
        self._drawn_width = width
        if y:
            self.call_after_refresh(self.scroll_to, 0, y, animate=False)

    def rebuild(self) -> None:
        """Draw again for the current width and theme (panes that fit their width override)."""
        if self._renderable is not None:
            self.show_renderable(self._renderable)

    def rendered_text(self) -> str:
        """What the pane shows, as plain text (the tests read it)."""
        return "\n".join(strip.text.rstrip() for strip in self.lines)

    def on_resize(self, event: events.Resize) -> None:
        super().on_resize(event)  # RichLog's: draws what was written before the size was known
        if self.scrollable_content_region.width != self._drawn_width:
            self.rebuild()
