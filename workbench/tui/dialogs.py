"""Modal screens: ask for a path or a spec, pick from a list, and the help screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Markdown, OptionList
from textual.widgets.option_list import Option


class AskText(ModalScreen[str | None]):
    """One line of input; Enter answers it, Esc answers None."""

    BINDINGS = [Binding("escape", "dismiss(None)", "cancel")]

    def __init__(self, title: str, value: str = "", hint: str = "") -> None:
        super().__init__()
        self._title, self._value, self._hint = title, value, hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self._title, classes="dialog-title")
            yield Input(self._value, id="ask-input")
            if self._hint:
                yield Label(self._hint, classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)


class PickOne(ModalScreen[str | None]):
    """A list of (label, value); Enter or a click picks; an optional free-text line at the bottom."""

    BINDINGS = [Binding("escape", "dismiss(None)", "cancel")]

    def __init__(
        self, title: str, options: list[tuple[str, str]], current: str = "", free_text: str = ""
    ) -> None:
        super().__init__()
        self._title, self._options, self._current, self._free = title, options, current, free_text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self._title, classes="dialog-title")
            yield OptionList(*[Option(label, id=value) for label, value in self._options])
            if self._free:
                yield Label(self._free, classes="dialog-hint")
                yield Input(id="pick-free", placeholder="N=1,Ci=2,Co=4,D=4,H=4,W=4,k=3")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        values = [v for _, v in self._options]
        if self._current in values:
            options.highlighted = values.index(self._current)
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss(None)", "close"),
        Binding("q", "dismiss(None)", "close", show=False),
    ]

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Markdown(self._text)
