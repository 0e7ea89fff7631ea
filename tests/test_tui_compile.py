"""Compiles in the TUI (issue 14, defect 1): one process at a time, killed when superseded or on
quit, elapsed time and a cancel key, the shared-memory estimate before compiling, cached configs
read without a compiler, and the compiler's output kept off the terminal.

The configs these tests compile and cancel (BLOCK_N=16, 32, 128 on the TINY problem) are never
finished by any test, so they stay uncached and each edit really starts a compiler.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import psutil
import pytest
from test_tui import (
    KERNEL,
    SIZE,
    compile_workers,
    loaded,
    opened,
    pane_text,
    set_field,
    tiny_compiled,  # noqa: F401 (a fixture)
    tui,
    wait_for,
)

from workbench.core.config import config_key
from workbench.tui.occupancy_pane import OccupancyPane
from workbench.tui.params import ParamsPane

pytestmark = pytest.mark.usefixtures("tiny_compiled")


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


class Sampler:
    """Counts this process's compile workers and ptxas every 20 ms, in a thread."""

    def __init__(self) -> None:
        self.workers = self.ptxas = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            procs = compile_workers()
            names = []
            for p in procs:
                try:
                    names.append(" ".join(p.cmdline()))
                except psutil.Error:
                    continue
            self.workers = max(self.workers, sum("workbench.runner." in n for n in names))
            self.ptxas = max(self.ptxas, sum("ptxas" in n for n in names))
            time.sleep(0.02)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def test_twenty_fast_edits_leave_at_most_one_compile_process() -> None:
    app = tui()
    async with app.run_test(size=SIZE) as pilot:
        s = await loaded(pilot)
        default_n = str(s.config["BLOCK_N"])
        started = len(app.book.texts("compile"))
        with Sampler() as sampler:
            # In bursts of three: two edits faster than the debounce (nothing may start), then
            # a pause longer than it, so a compile really starts that the next edit must kill.
            # The last edit goes back to the default (cached) config.
            for i in range(20):
                value = ("16", "32", "128", "16")[i % 4] if i < 19 else default_n
                await set_field(pilot, "BLOCK_N", value)
                await pilot.pause(0.45 if i % 3 == 2 else 0.1)
            await loaded(pilot, timeout=30)
        assert sampler.workers <= 1, f"{sampler.workers} compile processes alive at once"
        assert sampler.ptxas <= 1
        compiles = app.book.texts("compile")[started:]
        begun = [t for t in compiles if t.startswith("compiling")]
        ended = [t for t in compiles if "ended after" in t]
        assert len(begun) >= 3, compiles  # real compiles were started ...
        assert len(ended) >= len(begun) - 1  # ... and all but the last were killed
        assert s.report_key == config_key(s.config) and str(s.config["BLOCK_N"]) == default_n
    assert not compile_workers()


async def test_q_during_a_compile_exits_at_once_with_no_child_left() -> None:
    app = tui()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await set_field(pilot, "BLOCK_N", "16")  # uncached: a real compile starts
        await wait_for(pilot, compile_workers, 30, "a compile process")
        procs = compile_workers()
        await pilot.press("escape", "q")  # leave the field, then quit
        pressed = time.monotonic()
    exited = time.monotonic() - pressed
    assert exited < 2.0, f"the app took {exited:.2f} s to exit"
    gone = psutil.wait_procs(procs, timeout=2.0)[1]
    assert not gone, f"still running after quit: {gone}"
    assert not compile_workers()


async def test_elapsed_time_is_shown_and_esc_cancels_the_compile() -> None:
    app = tui()
    async with app.run_test(size=SIZE) as pilot:
        s = await loaded(pilot)
        await set_field(pilot, "BLOCK_N", "32")
        await wait_for(pilot, compile_workers, 30, "a compile process")
        pane = s.query_one(OccupancyPane)
        await wait_for(pilot, lambda: re.search(r"\d\.\d s \(Esc cancels\)", pane.status_text), 5)
        assert "compiling" in pane.status_text
        procs = compile_workers()
        await pilot.press("escape")  # leaves the field: the compile goes on
        await pilot.pause(0.3)
        assert s.compile_job is not None and compile_workers()
        await pilot.press("escape")  # outside a field: cancels
        assert not psutil.wait_procs(procs, timeout=2.0)[1]
        await wait_for(pilot, lambda: any("ended after" in t for t in app.book.texts("compile")))
        assert s.compile_job is None and "cancelled" in pane.status_text


async def test_a_tile_that_cannot_fit_is_an_error_at_once_and_never_compiles() -> None:
    app = tui()
    async with app.run_test(size=SIZE) as pilot:
        s = await loaded(pilot)
        await set_field(pilot, "BLOCK_M", "4096")
        await pilot.pause(0.1)
        severity, message = s.query_one(ParamsPane).messages["BLOCK_M"]
        assert severity == "error" and "cannot fit" in message and "estimate" in message
        assert "1024 KiB" in message  # 4096 x 64 x 4 B: the accumulator alone
        pane = s.query_one(OccupancyPane)
        assert pane.state == "failed" and "cannot fit" in pane_text(pane)
        await pilot.pause(1.0)  # longer than the debounce: still nothing compiles
        assert s.compile_job is None and not compile_workers()
        await pilot.press("escape", "r")
        await pilot.pause()
        assert s.trial_job is None and any("fix them first" in m for m in app.messages)


async def test_a_tile_close_to_the_limit_is_a_warning_and_compiles() -> None:
    """256x128x32 with 2 stages: estimated 128 KiB of the 4090's 99 KiB, within the band where
    the estimate may be high (conv3d_fast2 needs half the estimate), so it compiles."""
    app = tui()
    async with app.run_test(size=SIZE) as pilot:
        s = await loaded(pilot)
        for name, value in (("num_stages", "2"), ("BLOCK_K", "32"), ("BLOCK_N", "128")):
            await set_field(pilot, name, value)
        severity, message = s.query_one(ParamsPane).messages["BLOCK_M"]
        assert severity == "warning" and "may not fit" in message
        assert s.config_ok
        await wait_for(pilot, compile_workers, 30, "its compile to start")  # the compile decides
        assert s.compile_job is not None and s.compile_job.key == config_key(s.config)


async def test_a_cached_config_is_read_without_starting_a_compiler() -> None:
    app = tui()  # its config is cached (tiny_compiled)
    async with app.run_test(size=SIZE) as pilot:
        with Sampler() as sampler:
            await opened(pilot)
            await loaded(pilot, timeout=20)
        assert sampler.workers == 0  # read in this process: no worker, no ptxas
        assert any("cache hit" in t for t in app.book.texts("compile"))


async def test_compiler_output_stays_off_the_terminal(
    capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A kernel whose tile fails Triton's static_assert: the error is one line in place, the
    compiler's own lines go to the log pane, and nothing reaches stdout or stderr."""
    source = KERNEL.read_text()
    marker = "    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)\n"
    assert marker in source
    bad = source.replace(marker, '    tl.static_assert(BLOCK_M <= 8, "tile too tall")\n' + marker)
    path = tmp_path / "too_tall.py"
    path.write_text(bad)
    capfd.readouterr()
    app = tui(path)
    async with app.run_test(size=SIZE) as pilot:
        s = await opened(pilot)
        pane = s.query_one(OccupancyPane)
        await wait_for(pilot, lambda: pane.state == "failed", 90, "the compile error")
        text = pane_text(pane)
        assert "too_tall.py:" in text and "tile too tall" in text
        errors = [e for e in app.book.entries if e.kind == "error"]
        assert errors and "compile_error" in errors[-1].text
    out, err = capfd.readouterr()
    assert "tile too tall" not in out + err and "Traceback" not in out + err
