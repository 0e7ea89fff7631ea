"""Parameters pane: one Input (numbers) or Select (words) per tunable, checked as typed.

Checking is the core's `check_rules`; the pane only shows its verdicts next to each field and
tells the app the config (and whether it can be compiled) through a `Changed` message.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, Select, Static

from workbench.core.config import Config, check_rules, parse_value, precision_modes
from workbench.core.errors import ConfigError
from workbench.core.problem import Problem


def _field_id(name: str) -> str:
    return f"param-{name}"


class ParamsPane(VerticalScroll):
    class Changed(Message):
        """The config as typed; `ok` is False while any field breaks a hard rule."""

        def __init__(self, config: Config, ok: bool) -> None:
            super().__init__()
            self.config = config
            self.ok = ok

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.tunables: list[Any] = []
        self.problem: Problem | None = None
        self.config: Config = {}
        self.ok = True

    def compose(self) -> ComposeResult:
        yield Static("loading tunables…", id="params-empty")

    async def set_tunables(
        self, tunables: list[Any], config: Config, problem: Problem, untunable: list[str]
    ) -> None:
        """Rebuild the fields for a kernel file's tunables, filled with `config`."""
        self.tunables, self.problem = tunables, problem
        await self.remove_children()
        rows = []
        for t in tunables:
            value = config.get(t.name, t.default)
            choices = list(t.choices or [])
            if isinstance(t.default, str) and choices:
                field: Input | Select = Select(
                    [(str(c), c) for c in choices],
                    value=value if value in choices else t.default,
                    allow_blank=False,
                    id=_field_id(t.name),
                    compact=True,
                )
            else:
                field = Input(
                    str(value),
                    id=_field_id(t.name),
                    compact=True,
                    tooltip=f"choices: {', '.join(map(str, choices))}" if choices else None,
                )
            rows.append(Horizontal(Label(t.name, classes="param-name"), field, classes="param-row"))
            rows.append(Static("", id=f"msg-{t.name}", classes="param-msg"))
        if untunable:
            rows.append(Static("\n".join(f"⚠ {u}" for u in untunable), classes="param-untunable"))
        if not tunables:
            rows.append(Static("this kernel file has no tunables the workbench can set"))
        await self.mount_all(rows)
        self.validate_fields(announce=True)

    def set_config(self, config: Config) -> None:
        """Fill the fields from a config (a history row), then check and announce once."""
        for t in self.tunables:
            if t.name not in config:
                continue
            widget = self.query_one(f"#{_field_id(t.name)}")
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
            widget = self.query_one(f"#{_field_id(t.name)}")
            if isinstance(widget, Select):
                config[t.name] = widget.value  # type: ignore[assignment]
                continue
            text = widget.value.strip()  # type: ignore[union-attr]
            if not text:
                unreadable[t.name] = f"{t.name} needs a value (default {t.default})"
                continue
            try:
                config[t.name] = parse_value(t.name, text)
            except ConfigError as err:
                unreadable[t.name] = str(err)
        return config, unreadable

    def validate_fields(self, announce: bool = True) -> None:
        config, messages = self.read_fields()
        severities = {name: "error" for name in messages}
        gemm = None
        if self.problem is not None:
            gemm = (self.problem.gemm_m, self.problem.gemm_n, self.problem.gemm_k)
        for rule in check_rules(config, gemm, precision_modes(self.tunables)):
            if rule.key in messages and severities.get(rule.key) == "error":
                continue
            messages[rule.key] = rule.message
            severities[rule.key] = rule.severity
        for t in self.tunables:
            msg = self.query_one(f"#msg-{t.name}", Static)
            field = self.query_one(f"#{_field_id(t.name)}")
            sev = severities.get(t.name)
            msg.update(f"{'✖' if sev == 'error' else '⚠'} {messages[t.name]}" if sev else "")
            msg.set_class(sev == "error", "-error")
            msg.set_class(sev == "warning", "-warning")
            msg.display = sev is not None
            field.set_class(sev == "error", "-invalid")
        self.config = config
        self.ok = "error" not in severities.values()
        if announce:
            self.post_message(self.Changed(dict(config), self.ok))

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.validate_fields()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.validate_fields()
