"""The workbench TUI, driven through Textual's Pilot with the real core (compiles, trials, sessions).

Every test runs in its own temporary directory, so sessions and exports land there; compiles
share the session's private compile cache (`bench_cache`). Trials run in Triton's interpreter
on a TINY problem (about 10-20 s on two cores). The other test_tui_*.py files import the helpers
defined here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from rich.console import Console, RenderableType
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable, Input, Select, Static

from workbench.core.config import config_key
from workbench.core.gpus import find_gpu
from workbench.core.problem import parse_problem
from workbench.core.records import TrialResult
from workbench.tui.app import WorkbenchApp
from workbench.tui.occupancy_pane import OccupancyPane
from workbench.tui.params import ParamsPane
from workbench.tui.rendered import RenderedView
from workbench.tui.source import SourcePane
from workbench.tui.tuning_screen import TuningScreen

TINY = "N=1,Ci=2,Co=4,D=4,H=4,W=4,k=3"
SIZE = (200, 50)
ROOT = Path(__file__).resolve().parents[1]
SHIPPED_H100 = ROOT / "sessions" / "l1-66-h100.json"
# A frozen copy of the built-in kernel (BLOCK_M=256, BLOCK_N=64, BLOCK_K=16, 8 warps, 3 stages):
# tuning the built-in kernel must not change what these tests edit and expect.
KERNEL = Path(__file__).resolve().parent / "snapshots" / "snapshot_kernel.py"


def tui(
    path: str | Path | None = KERNEL, problem: str | None = TINY, gpu: str = "4090", **kw: str
) -> WorkbenchApp:
    """The app on the frozen kernel and the TINY problem unless told otherwise."""
    return WorkbenchApp(str(path) if path else None, problem, gpu, **kw)


@pytest.fixture(scope="session")
def tiny_compiled(bench_cache: Path) -> Path:
    """The TINY problem's default config (and BLOCK_M 64 and 32) compiled once into the session's
    cache, so an app that only opens or makes those edits reads them in-process and starts no
    compile worker; the tests of real compiles (test_tui_compile.py) use other configs."""
    from workbench.analysis.report import inspect_config
    from workbench.kernel.kernelfile import KernelFile

    kf = KernelFile.load(KERNEL)
    problem = parse_problem(TINY)
    for block_m in (None, 64, 32):  # the configs the tests edit to and run
        config = kf.default_config(problem)
        if block_m is not None:
            config["BLOCK_M"] = block_m
        inspect_config(kf, problem, config, find_gpu("4090"))
    return bench_cache


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_compiled: Path) -> None:
    monkeypatch.chdir(tmp_path)


# --- helpers (the other TUI test files use them) -----------------------------------------
async def wait_for(
    pilot: Pilot, cond: Callable[[], object], timeout: float = 30.0, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or cond}")
        await pilot.pause(0.05)


def screen_of(app: WorkbenchApp) -> TuningScreen:
    return app.tuning


async def opened(pilot: Pilot) -> TuningScreen:
    """Wait until the kernel file is loaded and its fields are up."""
    s = screen_of(pilot.app)  # type: ignore[arg-type]
    await wait_for(pilot, lambda: s.ws is not None and s.config, 60, "the kernel file to load")
    return s


async def loaded(pilot: Pilot, timeout: float = 90.0) -> TuningScreen:
    """Wait until the current config's occupancy is shown."""
    s = await opened(pilot)
    await wait_for(
        pilot,
        lambda: s.report is not None and s.report_key == config_key(s.config),
        timeout,
        "the occupancy of the current config",
    )
    return s


def render_text(renderable: RenderableType, width: int = 160) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


def pane_text(widget: Widget, width: int = 160) -> str:
    """What a pane shows: drawn lines (source, occupancy, comparison) or a Static's content."""
    if isinstance(widget, RenderedView | SourcePane):
        return widget.rendered_text()
    assert isinstance(widget, Static)
    return render_text(widget.content, width)  # type: ignore[arg-type]


async def set_field(pilot: Pilot, name: str, value: str) -> None:
    field = pilot.app.screen.query_one(f"#param-{name}", Input)
    field.focus()
    field.value = value  # fires Input.Changed, as typing does
    await pilot.pause()


def compile_workers() -> list[psutil.Process]:
    """This test process's worker processes (`python -m workbench.runner.<entry>`) and their
    ptxas children."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "workbench.runner." in cmd or "ptxas" in cmd:
            found.append(child)
    return found


# --- the basic flows ----------------------------------------------------------------------
async def test_edit_block_m_shows_core_occupancy() -> None:
    from workbench.analysis.report import inspect_config

    app = tui()
    async with app.run_test(size=SIZE) as pilot:
        s = await loaded(pilot)
        assert s.config["BLOCK_M"] != 64
        await set_field(pilot, "BLOCK_M", "64")
        s = await loaded(pilot)
        assert s.config["BLOCK_M"] == 64
        assert s.ws is not None
        expected = inspect_config(s.ws.kf, s.ws.problem, dict(s.config), find_gpu("4090"))
        text = pane_text(s.query_one(OccupancyPane))
        res, occ = expected.resources, expected.occupancy
        assert f"registers {res.registers}/thread" in text
        assert f"{occ.blocks_per_sm} blk/SM" in text
        assert f"{occ.fraction * 100:.0f}%" in text
        assert f"{expected.grid_blocks} blocks" in text
        for limiter in occ.limiters:
            assert f"{occ.limits[limiter]} blk  ◀ binding" in text
        assert "compiled for sm_89" in text
        # Labelled axes on both charts: a y scale and the quantity on x.
        assert "occupancy vs registers/thread" in text and "100% ┤" in text
        axes = text.split("└─", 1)[1]  # under the first x axis: its ticks, then its name
        assert str(res.registers) in axes and "registers/thread →" in axes
        assert "shared/block →" in axes and "KiB" in axes


async def test_bad_value_shows_message_and_nothing_crashes() -> None:
    app = tui()
    async with app.run_test(size=SIZE) as pilot:
        s = await opened(pilot)
        await set_field(pilot, "BLOCK_M", "100")
        params = s.query_one(ParamsPane)
        severity, message = params.messages["BLOCK_M"]
        assert severity == "error" and "not a power of two" in message
        shown = str(s.query_one("#param-messages", Static).content)
        assert shown.startswith("✖ BLOCK_M=100 is not a power of two")  # the focused one first
        assert str(s.query_one("#mark-BLOCK_M", Static).content) == "✖"
        assert not s.config_ok
        await pilot.press("escape", "r")  # leave the field; running is refused in words
        await pilot.pause()
        assert s.trial_job is None
        assert any("fix them first" in m for m in app.messages)
        await set_field(pilot, "BLOCK_M", "abc")
        assert "whole number" in params.messages["BLOCK_M"][1]
        await set_field(pilot, "BLOCK_M", "64")
        assert "BLOCK_M" not in params.messages
        assert str(s.query_one("#mark-BLOCK_M", Static).content) == ""
        await loaded(pilot)
        assert app.is_running


async def test_trial_is_recorded_in_its_session_while_switches_are_refused() -> None:
    """Issue 14, defect 2: while a trial runs, the problem, target and kernel cannot change (said
    in words); the trial lands in the session it started in, which the first trial creates; and
    resuming that session shows it with its config."""
    app = tui()
    async with app.run_test(size=SIZE) as pilot:
        s = await opened(pilot)
        await set_field(pilot, "BLOCK_M", "32")
        await loaded(pilot)
        assert s.ws is not None and s.ws.session is None  # nothing on disk before a trial
        planned = s.ws.path
        await pilot.press("escape", "r")
        await wait_for(pilot, lambda: s.trial_job is not None, 10, "the trial to start")
        for key in ("p", "t", "o"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is s, f"{key} opened a dialog during a trial"
        s.query_one("#target-select", Select).value = "h100"  # the list, too
        await pilot.pause()
        refusals = [
            m for m in app.messages if m.startswith("cannot switch now: a trial is running")
        ]
        assert len(refusals) == 4
        assert s.ws.gpu.key == "4090" and s.query_one("#target-select", Select).value == "4090"
        await wait_for(pilot, lambda: s.trial_job is None, 120, "the trial to finish")
        await pilot.pause()
        assert s.query_one("#history", DataTable).row_count == 1
        assert s.ws.path == planned
        compare = pane_text(s.query_one("#compare"))
    assert "timing needs a CUDA GPU" in compare
    data = json.loads(planned.read_text())
    assert len(data["trials"]) == 1
    trial = data["trials"][0]
    assert trial["status"] == "ok", trial.get("message")
    # The trial keeps what the target side looked like (registers, occupancy) for that config.
    assert trial["inspect"]["resources"]["registers"] > 0
    assert trial["inspect"]["occupancy"]["blocks_per_sm"] >= 1
    assert trial["config"]["BLOCK_M"] == 32

    resumed = WorkbenchApp(str(planned))
    async with resumed.run_test(size=SIZE) as pilot:
        s = await opened(pilot)
        await wait_for(pilot, lambda: s.query_one("#history", DataTable).row_count == 1)
        assert s.config["BLOCK_M"] == 32  # the last trial's config is restored
        assert s.ws is not None and s.ws.problem == parse_problem(TINY)


async def test_enter_in_a_field_runs_and_esc_cancels_leaving_no_session_file() -> None:
    app = tui()
    async with app.run_test(size=SIZE) as pilot:
        s = await loaded(pilot)
        s.query_one("#param-BLOCK_M", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: s.trial_job is not None, 10, "Enter to start a trial")
        await pilot.press("escape")  # leaves the field
        await pilot.pause()
        assert s.trial_job is not None and s.focused is None
        await pilot.press("escape")  # cancels
        await wait_for(pilot, lambda: s.trial_job is None, 10, "the cancel")
        assert "trial cancelled (not recorded)" in app.messages
        assert s.ws is not None and s.ws.session is None
    assert not list(Path().rglob("*.json"))  # opened, ran nothing to the end: no session file


async def test_pickers_and_help_do_not_crash() -> None:
    app = tui()
    async with app.run_test(size=SIZE) as pilot:
        s = await opened(pilot)
        for key in ("question_mark", "escape", "p", "escape", "t", "escape", "n"):
            await pilot.press(key)
            await pilot.pause()
        assert "ncu needs a CUDA GPU" in pane_text(s.query_one("#ncu", Static))
        await pilot.press("t")
        await pilot.pause()
        await pilot.press("down", "enter")  # the next target in the list
        await wait_for(pilot, lambda: s.ws is not None and s.ws.gpu.key != "4090", 30, "the switch")
        assert s.ws is not None
        sm = s.ws.gpu.sm
        pane = s.query_one(OccupancyPane)
        await wait_for(
            pilot, lambda: f"for {sm}" in pane.status_text, 30, "a compile for the new target"
        )
        assert s.report is None or s.report.target.key == s.ws.gpu.key  # type: ignore[union-attr]
        await pilot.press("s")  # save as: the session starts (or continues) in the new file
        await pilot.pause()
        app.screen.query_one(Input).value = "elsewhere/mine.json"
        await pilot.press("enter")
        await pilot.pause()
        assert Path("elsewhere/mine.json").is_file()
        assert s.ws.path == Path("elsewhere/mine.json")  # type: ignore[union-attr]


async def test_resumed_h100_session_says_where_times_came_from(tmp_path: Path) -> None:
    """The shipped H100 session: times name their device, and 'best' is the fastest *correct*
    trial (the tf32 trial is faster but fails KernelBench's check)."""
    copy = tmp_path / "resumed.json"
    copy.write_text(SHIPPED_H100.read_text())
    trials = [TrialResult.from_json(t) for t in json.loads(copy.read_text())["trials"]]
    correct = [t for t in trials if t.correct and t.measured_ms]
    best = min(correct, key=lambda t: t.measured_ms or 0.0)
    fastest = min((t for t in trials if t.measured_ms), key=lambda t: t.measured_ms or 0.0)
    assert fastest.id != best.id  # the point of the test
    app = WorkbenchApp(str(copy))
    async with app.run_test(size=SIZE) as pilot:
        s = await opened(pilot)
        await wait_for(pilot, lambda: len(s.query_one(DataTable).rows) == len(trials))
        label = pane_text(s.query_one("#best-line", Static))
        assert f"best correct {best.measured_ms:.4g} ms (trial {best.id})" in label
        compare = pane_text(s.query_one("#compare"))
        assert "measured on NVIDIA H100" in compare
        chart = pane_text(s.query_one("#time-chart", Static))
        assert "time per trial (ms, measured" in chart and f"#{trials[-1].id}" in chart


async def test_config_block_choices_are_fields_of_their_own() -> None:
    """conv3d_fast3's host choices (WG_TILES, TAPS) are fields typed like any other, and the
    config follows them."""
    app = tui(ROOT / "kernels" / "conv3d_fast3.py")
    async with app.run_test(size=SIZE) as pilot:
        s = await opened(pilot)
        assert s.config["WG_TILES"] == 0 and s.config["TAPS"] == "auto"
        assert isinstance(s.query_one("#param-TAPS"), Input)  # a word only the file knows: typed
        await set_field(pilot, "WG_TILES", "2")
        await set_field(pilot, "TAPS", "rows")
        await wait_for(pilot, lambda: s.config.get("WG_TILES") == 2, 10, "WG_TILES=2")
        assert s.config["TAPS"] == "rows"
