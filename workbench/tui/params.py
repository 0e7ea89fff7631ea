"""Parameters pane: one field per tunable, checked as typed, stepped with `[` and `]`.

Numbers are Inputs, words (precision) Selects; a config-block word (TAPS) is an Input, since only
the file's value is known. Checking is the core's `check_rules` plus the
shared-memory estimate (workbench.analysis.estimate) for the tile; the pane shows the verdicts
under each field and tells the screen the config through `ParamsChanged`. Inside a field the
footer shows the field's own keys: Enter runs, `[`/`]` step through the allowed values, Esc
leaves the field (so the letter keys act again).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static

from workbench.analysis.estimate import estimate_shared
from workbench.core.config import Config, check_rules, parse_value, precision_modes
from workbench.core.errors import ConfigError
from workbench.core.gpus import GPU
from workbench.core.problem import Problem
from workbench.tui.messages import ParamsChanged, RunRequested
from workbench.tui.style import tones

if TYPE_CHECKING:
    from workbench.kernel.kernelfile import Tunable

FIELD_KEYS: list[BindingType] = [
    Binding("enter", "run", "Run", tooltip="run this config (compile, check, time)"),
    # priority: an Input would otherwise type the bracket into itself
    Binding("left_square_bracket", "step(-1)", "Prev value", key_display="[", priority=True),
    Binding("right_square_bracket", "step(1)", "Next value", key_display="]", priority=True),
    Binding("escape", "leave", "Leave field", tooltip="leave the field so the letter keys act"),
]


def field_id(name: str) -> str:
    return f"param-{name}"


def step_value(tunable: Tunable, current: Any, direction: int) -> Any:
    """The next (direction 1) or previous allowed value after `current`, clamped at the ends;
    a value between choices steps to the nearest one that way."""
    choices = list(tunable.choices or [])
    if not choices:
        return current
    if current in choices:
        index = choices.index(current) + direction
        return choices[max(0, min(len(choices) - 1, index))]
    ints = [c for c in choices if isinstance(c, int)]
    if len(ints) == len(choices) and isinstance(current, int):
        larger = [c for c in ints if c > current]
        smaller = [c for c in ints if c < current]
        if direction > 0:
            return larger[0] if larger else choices[-1]
        return smaller[-1] if smaller else choices[0]
    return tunable.default


class ParamInput(Input):
    """A number field; its bindings appear in the footer while it has focus."""

    BINDINGS: ClassVar[list[BindingType]] = FIELD_KEYS

    def __init__(self, tunable: Tunable, value: str, **kwargs: Any) -> None:
        super().__init__(value, **kwargs)
        self.tunable = tunable

    def action_run(self) -> None:
        self.post_message(RunRequested())

    def action_leave(self) -> None:
        self.screen.set_focus(None)

    def action_step(self, direction: int) -> None:
        try:
            current: Any = parse_value(self.tunable.name, self.value.strip())
        except ConfigError:
            current = self.tunable.default
        self.value = str(step_value(self.tunable, current, direction))
        self.cursor_position = len(self.value)


class ParamSelect(Select[Any]):
    """A word field (precision): `[`/`]` step through its choices without opening the list."""

    BINDINGS: ClassVar[list[BindingType]] = FIELD_KEYS[1:]

    def __init__(self, tunable: Tunable, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tunable = tunable

    def action_step(self, direction: int) -> None:
        self.value = step_value(self.tunable, self.value, direction)

    def action_leave(self) -> None:
        self.screen.set_focus(None)


class ParamsPane(VerticalScroll, can_focus=False):
    """Not focusable itself: Tab goes from the source straight to the first field."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tunables: list[Tunable] = []
        self.problem: Problem | None = None
        self.gpu: GPU | None = None
        self.config: Config = {}
        self.ok = True
        self.errors: list[str] = []
        self.focused_name = ""
        self.fields_ready = False
        self._shown: dict[str, tuple[str | None, str]] = {}  # name -> mark on screen
        self.messages: dict[str, tuple[str, str]] = {}  # name -> (severity, message)
        self._messages_text = ""

    def compose(self) -> ComposeResult:
        yield Static("loading tunables…", id="params-empty")

    async def set_tunables(
        self,
        tunables: list[Tunable],
        config: Config,
        problem: Problem,
        gpu: GPU,
        untunable: list[str],
    ) -> None:
        """Rebuild the fields for a kernel file's tunables, filled with `config`."""
        self.fields_ready = False  # Changed events from the old or half-built fields: ignored
        self._shown, self.messages, self._messages_text = {}, {}, ""
        self.tunables, self.problem, self.gpu = tunables, problem, gpu
        await self.remove_children()
        rows: list[Widget] = []
        for t in tunables:
            value = config.get(t.name, t.default)
            choices = list(t.choices or [])
            # A host tunable's only known value is the file's: a word is typed, not picked.
            if isinstance(t.default, str) and choices and t.kind != "host":
                field: Widget = ParamSelect(
                    t,
                    [(str(c), c) for c in choices],
                    value=value if value in choices else t.default,
                    allow_blank=False,
                    id=field_id(t.name),
                    compact=True,
                )
            else:
                field = ParamInput(
                    t,
                    str(value),
                    id=field_id(t.name),
                    compact=True,
                    tooltip=f"allowed: {', '.join(map(str, choices))}; [ and ] step"
                    if choices
                    else None,
                )
            mark = Static("", id=f"mark-{t.name}", classes="param-mark")
            rows.append(
                Horizontal(Label(t.name, classes="param-name"), field, mark, classes="param-row")
            )
        # One box of fixed height for every field's message: a message that comes and goes
        # must not change the layout (a relayout of the screen per keystroke made typing lag).
        rows.append(Static("", id="param-messages"))
        if untunable:
            rows.append(Static("\n".join(f"⚠ {u}" for u in untunable), classes="param-untunable"))
        if not tunables:
            rows.append(Static("this kernel file has no tunables the workbench can set"))
        await self.mount_all(rows)
        self.fields_ready = True
        self.validate_fields(announce=True)

    def show_unloaded(self, why: str) -> None:
        """After a failed load: say so, instead of "loading tunables…" forever."""
        for empty in self.query("#params-empty").results(Static):
            empty.update(f"no kernel file loaded: {why}\npress o to open another")

    def set_config(self, config: Config) -> None:
        """Fill the fields from a config (a history row), then check and announce once."""
        if not self.fields_ready:
            return
        for t in self.tunables:
            if t.name not in config:
                continue
            widget = self.query_one(f"#{field_id(t.name)}")
            if isinstance(widget, Input):
                with widget.prevent(Input.Changed):
                    widget.value = str(config[t.name])
            elif isinstance(widget, Select):
                with widget.prevent(Select.Changed):
                    widget.value = config[t.name]
        self.validate_fields(announce=True)

    def read_fields(self) -> tuple[Config, dict[str, str]]:
        """The config typed so far, and a message per field that cannot be read at all."""
        config: Config = {}
        unreadable: dict[str, str] = {}
        for t in self.tunables:
            widget = self.query_one(f"#{field_id(t.name)}")
            if isinstance(widget, Select):
                config[t.name] = widget.value  # type: ignore[assignment]
                continue
            assert isinstance(widget, Input)
            text = widget.value.strip()
            example = _example(t)
            if not text:
                unreadable[t.name] = f"{t.name} needs a value, e.g. {t.name}={example}"
                continue
            try:
                config[t.name] = parse_value(t.name, text)
            except ConfigError:
                unreadable[t.name] = (
                    f"{t.name}={text!r} must be a whole number, e.g. {t.name}={example}"
                )
        return config, unreadable

    def validate_fields(self, announce: bool = True) -> None:
        if not self.fields_ready:
            return
        try:
            self._validate(announce)
        except NoMatches:  # the fields went away under us (the app is closing)
            self.fields_ready = False

    def _validate(self, announce: bool) -> None:
        config, messages = self.read_fields()
        severities = {name: "error" for name in messages}
        gemm = None
        if self.problem is not None:
            gemm = (self.problem.gemm_m, self.problem.gemm_n, self.problem.gemm_k)
        for rule in check_rules(config, gemm, precision_modes(self.tunables)):
            if severities.get(rule.key) == "error":
                continue
            messages[rule.key] = rule.message
            severities[rule.key] = rule.severity
        estimate = estimate_shared(config, self.gpu) if self.gpu is not None else None
        if (
            estimate is not None
            and estimate.verdict != "fits"
            and "error" not in severities.values()
        ):
            # The tile as a whole: shown under BLOCK_M, the usual culprit.
            key = "BLOCK_M" if "BLOCK_M" in config else next(iter(config))
            messages[key] = estimate.message()
            severities[key] = "error" if estimate.verdict == "over" else "warning"
        for t in self.tunables:
            sev = severities.get(t.name)
            shown = (sev, messages.get(t.name, ""))
            if self._shown.get(t.name) == shown:
                continue  # unchanged: leave it alone
            self._shown[t.name] = shown
            mark = self.query_one(f"#mark-{t.name}", Static)
            mark.update({"error": "✖", "warning": "⚠"}.get(sev or "", ""))
            mark.set_class(sev == "error", "-error")
            mark.set_class(sev == "warning", "-warning")
            self.query_one(f"#{field_id(t.name)}").set_class(sev == "error", "-invalid")
        self.messages = {k: (severities[k], messages[k]) for k in messages if k in severities}
        self._show_messages()
        self.config = config
        self.ok = "error" not in severities.values()
        self.errors = [messages[k] for k, sev in severities.items() if sev == "error"]
        if announce:
            self.post_message(ParamsChanged(dict(config), self.ok, self.focused_name, self.errors))

    def _show_messages(self) -> None:
        """The focused field's message first, then errors, then warnings."""
        t = tones(self.app)
        order = sorted(
            self.messages.items(),
            key=lambda kv: (kv[0] != self.focused_name, kv[1][0] != "error"),
        )
        text = Text()
        for _name, (sev, message) in order:
            text.append("✖ " if sev == "error" else "⚠ ", t.bad if sev == "error" else t.warn)
            text.append(message + "\n")
        text.rstrip()
        if text.plain != self._messages_text:
            self._messages_text = text.plain
            self.query_one("#param-messages", Static).update(text)

    @on(Input.Changed)
    @on(Select.Changed)
    def _changed(self, event: Input.Changed | Select.Changed) -> None:
        event.stop()
        self.validate_fields()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        widget = event.widget
        name = getattr(widget, "tunable", None)
        if name is not None and name.name != self.focused_name:
            self.focused_name = name.name
            self._show_messages()
            self.post_message(
                ParamsChanged(dict(self.config), self.ok, self.focused_name, self.errors)
            )


def _example(t: Tunable) -> int | str:
    """A value the field accepts, for messages: the default, which is always in range."""
    return t.default
