"""The TUI screenshots in docs/screenshots/, made by the real app under Textual's Pilot.

    python bench/tui_screenshots.py [--out docs/screenshots]

- tui-compare.svg (200x55): the shipped H100 session (real measurements), trial 3 pinned as the
  baseline: the current trial beside the baseline and the previous one.
- tui-narrow-100x30.svg: the same session at 100x30, the narrow layout, on the Compare tab.
- tui-narrow-occupancy-100x30.svg: the frozen built-in kernel on L1/66 for the 4090 at 100x30,
  BLOCK_M focused (occupancy against its values from cached compiles).
- ../tui-cpu.svg (200x50): the same, wide, as it opens on a machine without a GPU.
Works on a copy of the session in a temporary folder; compiles go to the usual compile cache.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path

from textual.widgets import Input

from workbench.core.config import config_key
from workbench.tui.app import WorkbenchApp
from workbench.tui.history_pane import HistoryTable

ROOT = Path(__file__).resolve().parents[1]
SESSION = ROOT / "sessions" / "l1-66-h100.json"
KERNEL = ROOT / "tests" / "snapshots" / "snapshot_kernel.py"


async def until(pilot, cond, timeout: float = 300.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not get there")
        await pilot.pause(0.1)


async def shoot_session(out: Path, work: Path, size: tuple[int, int], name: str, tab: str) -> None:
    copy = work / f"{name}.json"
    shutil.copy(SESSION, copy)
    app = WorkbenchApp(str(copy))
    app.animation_level = "none"  # the tabs' underline where it ends, not on its way
    async with app.run_test(size=size) as pilot:
        s = app.tuning
        await until(pilot, lambda: s.ws is not None and s.report_key == config_key(s.config))
        table = s.query_one(HistoryTable)
        await until(pilot, lambda: table.row_count == 8)
        table.focus()
        table.move_cursor(row=2)
        await pilot.press("b")  # pin trial 3
        if tab:
            await pilot.press(tab)
        s.set_focus(None)
        await pilot.pause(1.0)
        app.save_screenshot(f"{name}.svg", str(out))


async def shoot_kernel(path: Path, size: tuple[int, int], focus: bool) -> None:
    app = WorkbenchApp(str(KERNEL), "L1/66", "4090")
    app.animation_level = "none"
    async with app.run_test(size=size) as pilot:
        s = app.tuning
        await until(pilot, lambda: s.ws is not None and s.report_key == config_key(s.config))
        if focus:
            await until(pilot, lambda: s.query("#param-BLOCK_M"))  # the fields are built
            s.query_one("#param-BLOCK_M", Input).focus()
        await pilot.pause(2.0)  # the chart of BLOCK_M's values
        app.save_screenshot(path.name, str(path.parent))


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="conv3d-bench-shots-"))
    os.chdir(work)  # sessions and the theme file of this run stay out of the checkout
    await shoot_session(out, work, (200, 55), "tui-compare", "")
    await shoot_session(out, work, (100, 30), "tui-narrow-100x30", "2")
    await shoot_kernel(out / "tui-narrow-occupancy-100x30.svg", (100, 30), True)
    await shoot_kernel(out.parent / "tui-cpu.svg", (200, 50), False)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    asyncio.run(main(Path(parser.parse_args().out).resolve()))
