"""The command palette's workbench commands: every key's action, named for what it does.

Each hit reads "Export: write a standalone kernel file with this config (key e)", made from the
bindings' descriptions and tooltips, so the palette and the footer never disagree.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider


def key_text(binding: Binding) -> str:
    if binding.key_display:
        return binding.key_display
    return " / ".join(k.replace("question_mark", "?") for k in binding.key.split(","))


class WorkbenchCommands(Provider):
    def _commands(self) -> Iterator[tuple[str, str, Binding]]:
        seen: set[str] = set()
        for binding in [*self.screen.BINDINGS, *self.app.BINDINGS]:
            if not isinstance(binding, Binding) or not binding.description:
                continue
            if binding.action in seen or binding.action in ("cancel", "quit"):
                continue
            seen.add(binding.action)
            help_text = f"{binding.tooltip} (key {key_text(binding)})".strip()
            yield binding.description, help_text, binding

    async def _run(self, action: str) -> None:
        await self.screen.run_action(action)

    async def discover(self) -> Hits:
        for name, help_text, binding in self._commands():
            yield DiscoveryHit(name, partial(self._run, binding.action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, binding in self._commands():
            score = max(matcher.match(name), matcher.match(help_text) * 0.8)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(name), partial(self._run, binding.action),
                    text=name, help=help_text,
                )  # fmt: skip
