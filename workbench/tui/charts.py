"""Text charts for the panes: bars, and column charts with labelled axes (no plotting library).

Every chart says what it plots: a y axis with its scale at the top and bottom, an x axis with
ticks under the columns, and a title line naming both quantities.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text

_EIGHTHS = " ▁▂▃▄▅▆▇█"


def hbar(value: float, maximum: float, width: int, style: str = "cyan", rest: str = "dim") -> Text:
    """A bar of `width` cells filled to value/maximum, in whole and eighth-cell steps."""
    width = max(1, width)
    frac = 0.0 if maximum <= 0 else max(0.0, min(1.0, value / maximum))
    eighths = round(frac * width * 8)
    full, part = divmod(eighths, 8)
    partial = "▏▎▍▌▋▊▉"[part - 1] if part else ""
    bar = "█" * full + partial
    return Text.assemble((bar, style), ("·" * (width - len(bar)), rest))


def axis_chart(
    values: Sequence[float | None],
    *,
    title: str,
    x_title: str,
    y_max: float,
    y_label: Callable[[float], str],
    x_ticks: dict[int, str],
    height: int = 4,
    marker: int | None = None,
    col_width: int = 1,
    style: str = "green",
    marker_style: str = "bold yellow",
    muted: str = "bright_black",
) -> Text:
    """Columns of height value/y_max over a y axis from 0 to `y_max`, with `x_ticks` (column
    index -> label) under them. A None value is a column with no data (drawn `·`); the column
    at `marker` (the current point) is highlighted."""
    top, bottom = y_label(y_max), y_label(0.0)
    pad = max(len(top), len(bottom))
    levels = [
        None if v is None else round(max(0.0, min(1.0, v / y_max if y_max > 0 else 0)) * height * 8)
        for v in values
    ]
    text = Text(title, style="bold")
    text.append("\n")
    for row in range(height - 1, -1, -1):
        label = top if row == height - 1 else bottom if row == 0 else ""
        text.append(f"{label:>{pad}} ┤", style=muted)
        for i, level in enumerate(levels):
            if level is None:
                cell = "·" if row == 0 else " "
                text.append(cell * col_width, style=muted)
                continue
            char = _EIGHTHS[max(0, min(8, level - row * 8))]
            if i == marker:
                text.append((char if char != " " else "│") * col_width, style=marker_style)
            else:
                text.append(char * col_width, style=style)
        text.append("\n")
    width = len(values) * col_width
    text.append(" " * pad + " └" + "─" * width + "\n", style=muted)
    text.append(" " * (pad + 2) + _tick_line(x_ticks, width, col_width) + "\n", style=muted)
    text.append(" " * (pad + 2) + f"{x_title + ' →':>{width}}", style=muted)  # the x axis's name
    return text


def _tick_line(ticks: dict[int, str], width: int, col_width: int) -> str:
    """Labels under their columns: the two ends first, then the others where they fit."""
    cells = [" "] * width
    taken = [False] * (width + 1)
    ends = [i for i in (min(ticks, default=0), max(ticks, default=0)) if i in ticks]
    for index in dict.fromkeys([*ends, *sorted(ticks)]):
        label = ticks[index]
        start = index * col_width + max(0, (col_width - len(label)) // 2)
        start = max(0, min(start, width - len(label)))
        span = range(max(0, start - 1), min(width, start + len(label) + 1))
        if any(taken[i] for i in span):
            continue
        cells[start : start + len(label)] = list(label)
        for i in range(start, start + len(label)):
            taken[i] = True
    return "".join(cells).rstrip()


def pct(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def kib(value: int | float | None) -> str:
    if value is None:
        return "—"
    value = int(value)
    return f"{value / 1024:.1f} KiB" if value % 1024 else f"{value // 1024} KiB"


def num(value: float | None, fmt: str = ".3g") -> str:
    return "—" if value is None else format(value, fmt)
