"""Colours for rich renderables that follow the app's theme, light or dark.

Panes render rich Tables and Text, whose colours are fixed once made; taking them from the
theme's `text-*` variables (Textual's readable-on-background variants) keeps a light theme
readable. Panes re-render when the theme changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import App

DARK_SYNTAX = "monokai"
LIGHT_SYNTAX = "friendly"


@dataclass(frozen=True)
class Tones:
    good: str
    bad: str
    warn: str
    muted: str
    accent: str
    marker: str  # the current point on a chart
    edited: str  # background of source lines the config changed
    dark: bool

    @property
    def syntax_theme(self) -> str:
        return DARK_SYNTAX if self.dark else LIGHT_SYNTAX


DEFAULT = Tones(
    good="green",
    bad="red",
    warn="yellow",
    muted="bright_black",
    accent="cyan",
    marker="bold yellow",
    edited="on #3a3000",
    dark=True,
)


def tones(app: App[object] | None) -> Tones:
    """The current theme's tones (the defaults before the app runs)."""
    if app is None:
        return DEFAULT
    try:
        v = app.theme_variables
        dark = app.current_theme.dark
    except Exception:  # not running yet
        return DEFAULT
    warn = v.get("text-warning", DEFAULT.warn)
    return Tones(
        good=v.get("text-success", DEFAULT.good),
        bad=v.get("text-error", DEFAULT.bad),
        warn=warn,
        muted=v.get("foreground-muted", DEFAULT.muted)[:7],
        accent=v.get("text-primary", DEFAULT.accent),
        marker=f"bold {warn}",
        edited="on #3a3000" if dark else "on #fff2b3",
        dark=dark,
    )


def change_style(t: Tones, change_pct: float | None, lower_is_better: bool = True) -> str:
    """Green for a change the right way, red for the wrong way, muted for none."""
    if change_pct is None or abs(change_pct) < 0.05:
        return t.muted
    better = change_pct < 0 if lower_is_better else change_pct > 0
    return t.good if better else t.bad
