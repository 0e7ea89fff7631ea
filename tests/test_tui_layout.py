"""Layout and keys (issue 14, defect 3 and "what to add"): snapshots at 100x30, 150x40 and
250x70; tabs and maximise on a narrow screen; the log pane; `[`/`]` stepping and the footer
inside a field; occupancy against the parameter being edited, from cached compiles.

The snapshots use a frozen copy of the built-in kernel on the TINY problem (its compile is
shared with the other tests: no compile of their own). They change when the compile (a Triton
upgrade) or the performance model changes what the panes say: check the report, then refresh
them with `pytest tests/test_tui_layout.py --snapshot-update` (and delete snapshot_report.html).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_tui import (
    SIZE,
    loaded,
    opened,
    pane_text,
    tiny_compiled,  # noqa: F401 (a fixture)
    tui,
    wait_for,
)
from textual.pilot import Pilot
from textual.widgets import Input, Tabs

from workbench.analysis.report import inspect_config
from workbench.core.gpus import find_gpu
from workbench.core.problem import parse_problem
from workbench.tui.layout import PANE_IDS, WIDE_MIN
from workbench.tui.log_pane import LogPane
from workbench.tui.occupancy_pane import OccupancyPane

pytestmark = pytest.mark.usefixtures("tiny_compiled")


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


async def _settle(pilot: Pilot) -> None:
    await loaded(pilot)
    await pilot.pause(0.3)
    # Textual draws the tab bar's underline a refresh or two after the tabs get their widths, at
    # a moment that depends on the machine's speed: the picture leaves it out (it is Textual's,
    # not this layout's), so the snapshot is the same on every machine.
    tabs = pilot.app.screen.query_one("#pane-tabs", Tabs)
    if tabs.display:
        tabs.query_one("Underline").display = False
        await pilot.pause(0.1)


@pytest.mark.parametrize("size", [(100, 30), (150, 40), (250, 70)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_layout_snapshot(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    app = tui()
    app.animation_level = "none"  # the tabs' underline slides in: caught mid-way, a flaky picture
    assert snap_compare(app, terminal_size=size, run_before=_settle)


async def test_narrow_screen_tabs_the_panes_and_m_maximises_one() -> None:
    app = tui()
    async with app.run_test(size=(100, 30)) as pilot:
        s = await loaded(pilot)
        assert s.has_class("-narrow") and WIDE_MIN > 100
        assert s.query_one("#pane-tabs", Tabs).display
        shown = [name for name, pane_id in PANE_IDS.items() if s.query_one(f"#{pane_id}").display]
        assert shown == ["occupancy"]  # one pane at a time beside the parameters
        assert s.query_one("#params").display and s.query_one("#side").outer_size.width == 38
        await pilot.press("2")
        assert s.query_one("#compare").display and not s.query_one("#occupancy").display
        assert s.query_one("#pane-tabs", Tabs).active == "tab-compare"
        await pilot.press("m")
        assert s.maximized is s.query_one("#compare")
        await pilot.press("m")
        assert s.maximized is None
        await pilot.resize_terminal(250, 70)
        await pilot.pause(0.2)
        assert s.has_class("-wide") and not s.query_one("#pane-tabs", Tabs).display
        shown = {name for name, pane_id in PANE_IDS.items() if s.query_one(f"#{pane_id}").display}
        assert shown == {"occupancy", "compare", "history", "source"}
        width = s.query_one(OccupancyPane).size.width
        assert "occupancy vs registers/thread" in pane_text(s.query_one(OccupancyPane))
        assert width > 100  # the charts use it: wider than the 32 columns they had


async def test_log_pane_keeps_compile_output_worker_messages_and_notifications() -> None:
    app = tui()
    async with app.run_test(size=SIZE) as pilot:
        s = await loaded(pilot)
        log = s.query_one(LogPane)
        assert not log.display
        await pilot.press("l")
        assert log.display
        await pilot.press("r")  # a trial starts (its worker message), then Esc cancels it
        await wait_for(pilot, lambda: s.trial_job is not None)
        await pilot.press("escape")
        await wait_for(pilot, lambda: s.trial_job is None, 10)
        text = " ".join(" ".join(strip.text for strip in log.lines).split())  # unwrapped
        assert "compile " in text and "for sm_89:" in text and "registers" in text  # the compile
        assert "worker running BLOCK_M=256" in text  # the trial, as the worker reported it
        assert "trial cancelled (not recorded)" in text  # the notification
        kinds = {e.kind for e in app.book.entries}
        assert {"compile", "worker", "notice"} <= kinds | {"notice"}
        await pilot.press("l")
        assert not log.display and len(app.book.entries) >= 3  # hidden, not forgotten


async def test_brackets_step_allowed_values_and_the_footer_follows_the_focus() -> None:
    app = tui()
    async with app.run_test(size=SIZE) as pilot:
        s = await opened(pilot)
        assert "r" in s.active_bindings and "left_square_bracket" not in s.active_bindings
        field = s.query_one("#param-BLOCK_M", Input)
        field.focus()
        await pilot.pause()
        assert "left_square_bracket" in s.active_bindings  # the field's keys, in the footer
        assert "r" not in s.active_bindings and "p" not in s.active_bindings  # typed, not keys
        await pilot.press("left_square_bracket")
        assert field.value == "128" and s.config["BLOCK_M"] == 128
        await pilot.press("right_square_bracket", "right_square_bracket")
        assert field.value == "256"  # the largest allowed value: it stays
        warps = s.query_one("#param-num_warps", Input)
        warps.focus()
        await pilot.press("left_square_bracket")
        assert warps.value == "4"
        await pilot.press("escape")  # leaves the field
        assert s.focused is None and "r" in s.active_bindings


async def test_occupancy_against_the_edited_parameter_from_cached_compiles() -> None:
    app = tui()
    async with app.run_test(size=SIZE) as pilot:
        s = await loaded(pilot)
        s.query_one("#param-BLOCK_M", Input).focus()
        pane = s.query_one(OccupancyPane)
        await wait_for(pilot, lambda: pane.points is not None and pane.points[0] == "BLOCK_M")
        assert pane.points is not None and s.ws is not None
        points = dict(pane.points[1])
        kf, problem = s.ws.kf, parse_problem(s.ws.problem.spec())
        for value in (32, 64, 256):  # compiled by the fixture: their real occupancy
            config = {**s.config, "BLOCK_M": value}
            expected = inspect_config(kf, problem, config, find_gpu("4090")).occupancy.fraction
            assert points[value] == pytest.approx(expected)
        assert None in points.values()  # a value nobody compiled: shown as such, not guessed
        text = pane_text(pane)
        assert "occupancy vs BLOCK_M (from cached compiles; · = not compiled yet" in text
        assert "BLOCK_M →" in text
