"""The TUI's sweep screen (issue 12) under Pilot: the real app, real compiles for sm_89 in real
worker processes, the real session.

The flow test sweeps configs the `tiny_compiled` fixture has in the shared compile cache (fast);
the cancel test sweeps configs nothing else compiles, so its workers are really compiling when
Esc ends them.
"""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest
from test_tui import (
    KERNEL,
    TINY,
    compile_workers,
    opened,
    tiny_compiled,  # noqa: F401 (a fixture)
    tui,
    wait_for,
)
from textual.pilot import Pilot
from textual.widgets import Input, Label, ProgressBar, Select, Static

from workbench.core.problem import parse_problem
from workbench.core.records import Status
from workbench.kernel.kernelfile import KernelFile
from workbench.search.sweep import build_space
from workbench.session.store import Session
from workbench.tui.sweep_screen import SweepScreen, SweepTable
from workbench.tui.tuning_screen import TuningScreen

pytestmark = pytest.mark.usefixtures("tiny_compiled")
SIZE = (100, 30)  # the design minimum
# The fixture's three cached configs of the frozen kernel on TINY (BLOCK_M 32, 64 and its 256).
CACHED = "BLOCK_M=32,64,256;BLOCK_N=64;BLOCK_K=16;precision=tf32x3;num_warps=8;num_stages=3"
# Configs no other test compiles (num_warps=2, num_stages=2): cold compiles, a few seconds each.
COLD = "BLOCK_M=32,64;BLOCK_N=32,64;BLOCK_K=16,32;precision=tf32x3;num_warps=2;num_stages=2"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def text_of(screen: SweepScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def sweep_screen(pilot: Pilot) -> SweepScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, SweepScreen), 5, "the sweep screen")
    screen = pilot.app.screen
    assert isinstance(screen, SweepScreen)
    await wait_for(pilot, lambda: screen.shown_for is not None, 5, "the form to fill")
    return screen


async def fill(pilot: Pilot, screen: SweepScreen, space: str, mode: str = "compile") -> None:
    field = screen.query_one("#sweep-space", Input)
    field.focus()
    field.value = space  # fires Input.Changed, as typing does
    screen.query_one("#sweep-mode", Select).value = mode
    await pilot.pause()


def workers() -> list[psutil.Process]:
    """This test process's sweep workers (`python -m workbench.runner.entry`)."""
    found = []
    for proc in compile_workers():
        try:
            if "workbench.runner.entry" in " ".join(proc.cmdline()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


async def test_sweep_from_the_palette_compiles_ranks_and_puts_a_row_in_the_editor() -> None:
    app = tui()
    async with app.run_test(size=SIZE) as pilot:
        tuning = await opened(pilot)
        assert tuning.config["BLOCK_M"] == 256
        await pilot.press("ctrl+p", *"sweep", "enter")  # the palette's command
        screen = await sweep_screen(pilot)
        problem = parse_problem(TINY)
        default = build_space(KernelFile.load(KERNEL), problem, None)
        assert screen.query_one("#sweep-space", Input).value == default.text()
        assert f"{default.size} configs" in text_of(screen, "#sweep-info")

        # A malformed space: one line naming the bad value, and nothing starts.
        await fill(pilot, screen, "BLOCK_M=48")
        assert "not a power of two" in screen.error and "\n" not in screen.error
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert screen.current is None and not workers() and tuning.ws is not None
        assert tuning.ws.session is None and not tuning.ws.session_path.exists()
        screen.query_one("#sweep-budget", Input).value = "0"
        await fill(pilot, screen, CACHED)
        await pilot.press("enter")
        assert screen.error == "budget 0 must be 1 or more" and screen.current is None
        screen.query_one("#sweep-budget", Input).value = ""

        # Stage 1 for the 4090 (sm_89): compiled, ranked by prediction, nothing called measured.
        screen.query_one("#sweep-spill", Input).value = "8"  # BLOCK_M=64 spills 8 B, 256 88 B
        await fill(pilot, screen, CACHED)
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.current and screen.current.finished, 60, "the sweep")
        run = screen.current
        assert run is not None and run.result is not None and not run.cancel.is_set()
        bar = screen.query_one(ProgressBar)
        assert bar.total == 3 and bar.progress == 3
        table = screen.query_one(SweepTable)
        headers = [str(c.label) for c in table.columns.values()]
        assert "predicted ms" in headers and "measured KB ms" in headers
        assert table.row_count == 3
        cells = [dict(zip(headers, map(str, table.get_row_at(i)))) for i in range(3)]
        # 256x64x16 spills 88 B on TINY: dropped with its reason, after the ranked rows, unranked.
        fits = [c for c in cells if c["status"] == "compiled for sm_89"]
        assert sorted(c["config"].split("x")[0] for c in fits) == ["32", "64"]
        assert cells[2]["config"].startswith("256x") and cells[2]["#"] == "—"
        assert cells[2]["status"] == "dropped: spills 88 B per thread"
        for c in cells:
            assert int(c["regs"]) > 0
            assert c["measured KB ms"] == c["measured kernel ms"] == "—"  # nothing measured
        predicted = [float(c["predicted ms"]) for c in fits]
        assert predicted == sorted(predicted) and predicted[0] > 0  # ranked by the prediction
        assert [c["#"] for c in fits] == ["1", "2"]
        table.focus()
        table.move_cursor(row=2)  # the line under the table has the whole row
        await pilot.pause()
        detail = text_of(screen, "#sweep-detail")
        assert "BLOCK_M=256" in detail and "spills 88 B per thread (limit 8 B" in detail
        # At 100x30 everything is on screen, the table with room for its rows.
        for selector in ("#sweep-form", "#sweep-progress-row", "#sweep-best", "#sweep-table",
                         "#sweep-detail", "#sweep-winner", "#sweep-legend"):  # fmt: skip
            region = screen.query_one(selector).region
            assert region.height > 0 and region.bottom <= SIZE[1] - 1, (selector, region)
        assert table.region.height >= 8
        winner = text_of(screen, "#sweep-winner")
        assert (
            winner.startswith("winner ")
            and "basis: predicted (stage 1 only, compiled for sm_89)" in winner
        )
        assert "never a measurement" in text_of(screen, "#sweep-legend")

        # The trials are in the tuning screen's session (its Session object, its file).
        session = tuning.ws.session
        assert session is not None and run.session is session
        saved = json.loads(session.path.read_text())
        assert [t["mode"] for t in saved["trials"]] == ["compile"] * 3
        assert saved["sweeps"][0]["state"] == "done"

        # Mode interpreter, top 1: the best predicted config is checked on the reduced problem;
        # nothing is timed, and the winner line says so.
        screen.query_one("#sweep-top", Input).value = "1"
        await fill(pilot, screen, CACHED, mode="interpreter")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.current is not run, 5, "the second sweep to start")
        await wait_for(pilot, lambda: screen.current and screen.current.finished, 90, "the check")
        assert table.row_count == 3
        cells = [dict(zip(headers, map(str, table.get_row_at(i)))) for i in range(3)]
        assert (
            cells[0]["config"].startswith("32x") and cells[0]["status"] == "correct (interpreter)"
        )
        assert cells[0]["measured KB ms"] == "—" and cells[0]["rel err"] != "—"
        assert cells[1]["status"] == "compiled for sm_89"  # not checked: beyond the top 1
        winner = text_of(screen, "#sweep-winner")
        assert "checked correct in the interpreter" in winner and "no time was measured" in winner
        assert "1 checked" in str(screen.query_one("#sweep-stage", Label).render())
        assert [t.mode for t in session.trials].count("interpreter") == 1

        # Enter on a row: its config goes into the tuning screen's editor.
        target = next(i for i, c in enumerate(cells) if c["config"].startswith("32x"))
        table.focus()
        table.move_cursor(row=target)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TuningScreen), 5, "the tuning screen")
        await wait_for(pilot, lambda: tuning.config.get("BLOCK_M") == 32, 5, "the picked config")
        assert any(m.startswith("sweep row in the editor: BLOCK_M=32") for m in app.messages)


async def test_esc_cancels_the_sweep_at_once_and_start_again_resumes_it() -> None:
    app = tui()
    async with app.run_test(size=SIZE) as pilot:
        tuning = await opened(pilot)
        await pilot.press("w")
        screen = await sweep_screen(pilot)
        await fill(pilot, screen, COLD)
        await pilot.press("enter")
        table = screen.query_one(SweepTable)
        # A row shows as soon as its config has compiled, while the others still compile.
        await wait_for(pilot, lambda: table.row_count >= 1, 90, "the first compiled config")
        procs = workers()
        assert procs and not (screen.current and screen.current.finished), (
            "the sweep finished before it could be cancelled: make COLD bigger"
        )
        await pilot.press("escape")
        alive = psutil.wait_procs(procs, timeout=2.0)[1]
        assert not alive, f"still running 2 s after Esc: {alive}"
        await wait_for(pilot, lambda: screen.current and screen.current.finished, 10, "the end")
        run = screen.current
        assert run is not None and run.result is not None
        assert "cancelled" in text_of(screen, "#sweep-winner") and not workers()
        assert tuning.ws is not None and tuning.ws.session is not None
        path = tuning.ws.session.path
        on_disk = Session.load(path, readonly=True)
        finished = [t for t in on_disk.trials if t.sweep == run.result.sweep]
        assert finished and len(finished) == len(run.candidates) < 8
        assert all(t.status is not Status.CANCELLED for t in finished)  # only what finished
        assert on_disk.sweeps[0]["state"] == "cancelled"

        # Start again: the same sweep resumes from what finished; then q quits mid-sweep.
        screen.query_one("#sweep-space", Input).focus()
        await pilot.press("enter")
        stage = screen.query_one("#sweep-stage", Label)
        resumed = f"compiling for sm_89 · {len(finished)}/8"
        await wait_for(pilot, lambda: resumed in str(stage.render()), 10, "the resumed sweep")
        await wait_for(pilot, workers, 30, "the resumed sweep's workers")
        procs = workers()
        assert len(tuning.ws.session.sweeps) == 1  # the same block, not a new sweep
        table.focus()  # q in a field is typed; here it quits
        await pilot.press("q")
    alive = psutil.wait_procs(procs, timeout=2.0)[1]
    assert not alive and not workers(), f"still running after q: {alive}"
    on_disk = Session.load(path, readonly=True)
    keys = [json.dumps(t.config, sort_keys=True) for t in on_disk.trials]
    assert len(keys) == len(set(keys)) >= len(finished)  # nothing done twice
    assert all(t.status is not Status.CANCELLED for t in on_disk.trials)
