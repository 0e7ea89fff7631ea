"""What the app remembers between runs (the theme), in the workbench's cache folder.

`<cache_root>/tui.json`; a missing or unreadable file means the defaults, and a failed write is
only a lost preference, never an error on screen.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from workbench.core.jsonio import read_json, write_json
from workbench.core.paths import cache_root

DEFAULT_THEME = "textual-dark"


def settings_path() -> Path:
    return cache_root() / "tui.json"


@dataclass
class Settings:
    theme: str = DEFAULT_THEME

    @classmethod
    def load(cls) -> Settings:
        data = read_json(settings_path())
        theme = data.get("theme") if isinstance(data, dict) else None
        return cls(theme=theme if isinstance(theme, str) and theme else DEFAULT_THEME)

    def save(self) -> None:
        with contextlib.suppress(OSError):
            write_json(settings_path(), {"theme": self.theme})
