"""The workbench TUI, driven through Textual's Pilot with the real core (compiles, trials, sessions).

Every test runs in its own temporary directory, so sessions and exports land there. The one
trial runs in Triton's interpreter on a tiny problem (about 10-20 s on two cores).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from workbench.core.config import config_key
from workbench.core.gpus import find_gpu
from workbench.core.problem import parse_problem
from workbench.core.records import TrialResult
from workbench.tui.app import WorkbenchApp
from workbench.tui.occupancy_pane import OccupancyPane

TINY = "N=1,Ci=2,Co=4,D=4,H=4,W=4,k=3"
SIZE = (200, 50)
SNAPSHOT_KERNEL = Path(__file__).parent / "snapshots" / "snapshot_kernel.py"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


async def wait_for(pilot: Pilot, cond, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await pilot.pause(0.1)


async def loaded(pilot: Pilot) -> WorkbenchApp:
    """Wait until the kernel file is loaded and the current config's occupancy is shown."""
    app: WorkbenchApp = pilot.app  # type: ignore[assignment]
    await wait_for(pilot, lambda: app.ws is not None, what="the kernel file to load")
    await wait_for(
        pilot,
        lambda: app.report is not None and app.report_key == config_key(app.config),
        what="the occupancy of the current config",
    )
    return app


def pane_text(widget: Static) -> str:
    console = Console(width=120, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(widget.content)
    return console.export_text()


async def set_field(pilot: Pilot, name: str, value: str) -> None:
    field = pilot.app.query_one(f"#param-{name}", Input)
    field.focus()
    field.value = value  # fires Input.Changed, as typing does
    await pilot.pause()


async def test_edit_block_m_shows_core_occupancy() -> None:
    from workbench.analysis.report import inspect_config

    app = WorkbenchApp(problem="L1/66", gpu="4090")
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert app.config["BLOCK_M"] != 64
        await set_field(pilot, "BLOCK_M", "64")
        await loaded(pilot)
        assert app.config["BLOCK_M"] == 64
        expected = inspect_config(app.ws.kf, app.ws.problem, dict(app.config), find_gpu("4090"))
        text = pane_text(app.query_one(OccupancyPane))
        res, occ = expected.resources, expected.occupancy
        assert f"registers {res.registers}/thread" in text
        assert f"{occ.blocks_per_sm} blk/SM" in text
        assert f"{occ.fraction * 100:.0f}%" in text
        assert f"{expected.grid_blocks} blocks" in text
        for limiter in occ.limiters:
            assert f"{occ.limits[limiter]} blk  ◀ binding" in text
        assert "compiled for sm_89" in text


async def test_bad_value_shows_message_and_nothing_crashes() -> None:
    app = WorkbenchApp(problem="L1/66")
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await set_field(pilot, "BLOCK_M", "100")
        message = app.query_one("#msg-BLOCK_M", Static)
        assert message.display
        assert "not a power of two" in str(message.content)
        assert not app.config_ok
        await pilot.press("escape", "r")  # leave the field; running is refused in words
        await pilot.pause()
        assert app.cancel_event is None
        assert any("fix them first" in m for m in app.messages)
        await set_field(pilot, "BLOCK_M", "abc")
        assert "whole number" in str(message.content)
        await set_field(pilot, "BLOCK_M", "64")
        assert not message.display
        await loaded(pilot)
        assert app.is_running


async def test_run_trial_records_session_and_resume_shows_it() -> None:
    app = WorkbenchApp(problem=TINY, gpu="4090")
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await set_field(pilot, "BLOCK_M", "32")
        await loaded(pilot)
        await pilot.press("escape", "r")
        await wait_for(pilot, lambda: app.cancel_event is not None, 10, "the trial to start")
        await wait_for(pilot, lambda: app.cancel_event is None, 120, "the trial to finish")
        await pilot.pause()
        table = app.query_one("#history", DataTable)
        assert table.row_count == 1
        session_path = Path(app.ws.session.path)
        note = str(app.query_one("#bench-note", Static).content)
    assert "timing needs a CUDA GPU" in note
    data = json.loads(session_path.read_text())
    assert len(data["trials"]) == 1
    trial = data["trials"][0]
    assert trial["status"] == "ok", trial.get("message")
    # The trial keeps what the target side looked like (registers, occupancy) for that config.
    assert trial["inspect"]["resources"]["registers"] > 0
    assert trial["inspect"]["occupancy"]["blocks_per_sm"] >= 1
    assert trial["config"]["BLOCK_M"] == 32

    resumed = WorkbenchApp(str(session_path))
    async with resumed.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert resumed.query_one("#history", DataTable).row_count == 1
        assert resumed.config["BLOCK_M"] == 32  # the last trial's config is restored
        assert resumed.ws.problem == parse_problem(TINY)


async def test_export_writes_a_file() -> None:
    app = WorkbenchApp(problem="L1/66")
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("e")
        await pilot.pause()
        dialog_input = app.screen.query_one(Input)
        dialog_input.value = "out/exported.py"
        await pilot.press("enter")
        target = Path("out/exported.py")
        await wait_for(pilot, target.exists, 30, "the export")
        text = target.read_text()
    assert f"BLOCK_M = {app.config['BLOCK_M']}" in text
    assert "class ModelNew" in text


async def test_pickers_and_help_do_not_crash() -> None:
    app = WorkbenchApp(problem="L1/66")
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        for key in ("question_mark", "escape", "p", "escape", "t", "escape", "n"):
            await pilot.press(key)
            await pilot.pause()
        assert "ncu needs a CUDA GPU" in str(app.query_one("#ncu", Static).content)
        await pilot.press("t")
        await pilot.pause()
        await pilot.press("down", "enter")  # the next target in the list
        await wait_for(pilot, lambda: app.ws.gpu.key != "4090", 30, "the target switch")
        await loaded(pilot)
        assert app.report.target.key == app.ws.gpu.key
        await pilot.press("escape", "s")  # save as: the session continues in the new file
        await pilot.pause()
        app.screen.query_one(Input).value = "elsewhere/mine.json"
        await pilot.press("enter")
        await pilot.pause()
        assert Path("elsewhere/mine.json").is_file()
        assert Path(app.ws.session.path) == Path("elsewhere/mine.json")


def test_main_screen_snapshot(snap_compare) -> None:
    async def settle(pilot: Pilot) -> None:
        await loaded(pilot)
        await asyncio.sleep(0.2)
        await pilot.pause()

    app = WorkbenchApp(str(SNAPSHOT_KERNEL), problem="L1/66", gpu="4090")
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)


async def test_resumed_h100_session_says_where_times_came_from(tmp_path: Path) -> None:
    """The shipped H100 session: times name their device, and 'best' is the fastest *correct*
    trial (the tf32 trial is faster but fails KernelBench's check)."""
    shipped = Path(__file__).resolve().parents[1] / "sessions" / "l1-66-h100.json"
    copy = tmp_path / "resumed.json"
    copy.write_text(shipped.read_text())
    trials = [TrialResult.from_json(t) for t in json.loads(copy.read_text())["trials"]]
    correct = [t for t in trials if t.correct and t.measured_ms]
    best = min(correct, key=lambda t: t.measured_ms)
    fastest = min((t for t in trials if t.measured_ms), key=lambda t: t.measured_ms)
    assert fastest.id != best.id  # the point of the test
    app = WorkbenchApp(str(copy))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await wait_for(pilot, lambda: len(app.query_one(DataTable).rows) == len(trials))
        label = pane_text(app.query_one("#plot-label", Static))
        assert f"best correct {best.measured_ms:.4g} ms (trial {best.id})" in label
        summary = pane_text(app.query_one("#bench-summary", Static))
        assert "measured on NVIDIA H100" in summary
