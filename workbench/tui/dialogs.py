"""Modal screens: ask for a path or a spec, pick from a list, confirm, and the help screen.

A dialog that acts (save as, export, open, pick a problem) is given a `submit` callback that
does the work and answers with what happened: None (done: the dialog closes), an error line
(shown in the dialog, which stays open with what was typed), or a Confirm (a question shown in
the dialog: Enter again with the same text answers yes, e.g. to replace an existing file).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Markdown, OptionList, Static
from textual.widgets.option_list import Option


@dataclass(frozen=True)
class Confirm:
    question: str  # "out.py exists: Enter again replaces it, or change the name"


Outcome = str | Confirm | None
Submit = Callable[[str, bool], Outcome]  # (text, confirmed) -> outcome


class _Acting(ModalScreen[str | None]):
    """What the acting dialogs share: the message line and the confirm handshake."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, submit: Submit | None) -> None:
        super().__init__()
        self._submit = submit
        self._pending: str | None = None  # text awaiting a second Enter (Confirm)

    def answer(self, text: str) -> None:
        text = text.strip()
        if not text:
            self._say("type something first, or Esc to cancel", "-error")
            return
        if self._submit is None:
            self.dismiss(text)
            return
        confirmed = self._pending == text
        outcome = self._submit(text, confirmed)
        if outcome is None:
            self.dismiss(text)
        elif isinstance(outcome, Confirm):
            self._pending = text
            self._say(outcome.question, "-warning")
        else:
            self._pending = None
            self._say(outcome, "-error")

    def _say(self, text: str, cls: str) -> None:
        line = self.query_one(".dialog-message", Static)
        line.update(text)
        line.set_classes(f"dialog-message {cls}")
        line.display = True


class AskText(_Acting):
    """One line of input; Enter submits it, Esc cancels."""

    def __init__(
        self, title: str, value: str = "", hint: str = "", submit: Submit | None = None
    ) -> None:
        super().__init__(submit)
        self._title, self._value, self._hint = title, value, hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self._title, classes="dialog-title")
            yield Input(self._value, id="ask-input")
            yield Static("", classes="dialog-message")
            yield Label(self._hint or "Enter confirms, Esc cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(".dialog-message").display = False

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.answer(event.value)

    def on_input_changed(self, event: Input.Changed) -> None:
        self._pending = None  # a changed name needs its own confirmation


class PickOne(_Acting):
    """A list of (label, value); Enter or a click picks; an optional free-text line below."""

    def __init__(
        self,
        title: str,
        options: list[tuple[str, str]],
        current: str = "",
        free_text: str = "",
        submit: Submit | None = None,
        placeholder: str = "",
    ) -> None:
        super().__init__(submit)
        self._title, self._options, self._current = title, options, current
        self._free, self._placeholder = free_text, placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self._title, classes="dialog-title")
            yield OptionList(*[Option(label, id=value) for label, value in self._options])
            if self._free:
                yield Label(self._free, classes="dialog-hint")
                yield Input(id="pick-free", placeholder=self._placeholder)
            yield Static("", classes="dialog-message")

    def on_mount(self) -> None:
        self.query_one(".dialog-message").display = False
        options = self.query_one(OptionList)
        values = [v for _, v in self._options]
        if self._current in values:
            options.highlighted = values.index(self._current)
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.answer(event.option.id)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.answer(event.value)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Close"),
        Binding("q", "dismiss(None)", "Close", show=False),
    ]

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Markdown(self._text)
