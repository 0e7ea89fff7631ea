"""Text charts for the panes: horizontal bars and a small column chart (no plotting dependency)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

_EIGHTHS = " ▁▂▃▄▅▆▇█"


def hbar(value: float, maximum: float, width: int, style: str = "cyan") -> Text:
    """A bar of `width` cells filled to value/maximum, in whole and eighth-cell steps."""
    width = max(1, width)
    frac = 0.0 if maximum <= 0 else max(0.0, min(1.0, value / maximum))
    eighths = round(frac * width * 8)
    full, part = divmod(eighths, 8)
    partial = "▏▎▍▌▋▊▉"[part - 1] if part else ""
    bar = "█" * full + partial
    return Text.assemble((bar, style), ("·" * (width - len(bar)), "dim"))


def column_chart(
    values: Sequence[float],
    *,
    height: int = 4,
    maximum: float = 1.0,
    marker: int | None = None,
    style: str = "green",
    marker_style: str = "bold yellow",
) -> Text:
    """Columns of height value/maximum; the column at `marker` (the current point) is highlighted.

    Returns `height` lines, top row first, each as wide as `values`.
    """
    levels = [
        0 if maximum <= 0 else round(max(0.0, min(1.0, v / maximum)) * height * 8) for v in values
    ]
    text = Text()
    for row in range(height - 1, -1, -1):
        for i, level in enumerate(levels):
            cell = max(0, min(8, level - row * 8))
            char = _EIGHTHS[cell]
            if i == marker:
                text.append(char if cell else "│", marker_style)
            else:
                text.append(char, style)
        text.append("\n")
    text.rstrip()
    return text


def pct(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def kib(value: int | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1024:.1f} KiB" if value % 1024 else f"{value // 1024} KiB"


def num(value: float | None, fmt: str = ".3g") -> str:
    return "—" if value is None else format(value, fmt)
