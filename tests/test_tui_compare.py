"""The comparison (issue 14, defect 5 and "pin a baseline"): the previous trial is the session's
one definition (the last that ran and was checked on the same device; failed ones skipped), a
pinned baseline sits beside it, and every figure carries its change, from the shipped H100
session's real measurements."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_tui import (
    SHIPPED_H100,
    SIZE,
    opened,
    pane_text,
    tiny_compiled,  # noqa: F401 (a fixture)
    wait_for,
)
from textual.widgets import DataTable

from workbench.core.config import changed_keys
from workbench.runner.local import compare
from workbench.session.store import Session
from workbench.tui.app import WorkbenchApp
from workbench.tui.compare_pane import CHANGED, ComparePane
from workbench.tui.history_pane import PINNED, PREVIOUS, HistoryTable


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bench_cache: Path) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def h100_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "l1-66-h100.json"
    copy.write_text(SHIPPED_H100.read_text())
    return copy


def row(text: str, label: str) -> str:
    return next(line for line in text.splitlines() if line.strip().startswith(label))


async def test_previous_skips_the_failed_trial_and_every_figure_has_its_change(
    h100_copy: Path,
) -> None:
    session = Session.load(h100_copy, readonly=True)
    current = session.trials[-1]
    assert current.id == 8 and session.trials[-2].status.value == "out_of_resources"
    previous = session.previous(current.device, before=current.id)
    assert previous is not None and previous.id == 6  # the one definition, in the core
    app = WorkbenchApp(str(h100_copy))
    async with app.run_test(size=SIZE) as pilot:
        s = await opened(pilot)
        table = s.query_one("#history", DataTable)
        await wait_for(pilot, lambda: table.row_count == 8)
        text = pane_text(s.query_one(ComparePane))
        assert "current #8" in text and "previous #6" in text and "#7" not in text
        assert str(table.get_row_at(5)[0]) == f"{PREVIOUS}6"  # marked in the history
        # The headline: the core's comparison of the two, with the parameters that changed.
        expected = compare(current, previous)
        assert expected.change_pct is not None
        assert s.ws is not None
        full_now, full_then = s.ws.kf_full(current.config), s.ws.kf_full(previous.config)
        changed = changed_keys(full_now, full_then)
        assert changed  # trial 8 runs the file's defaults, trial 6 its own tile
        headline = next(line for line in text.splitlines() if line.startswith("vs previous #6"))
        assert f"{expected.change_pct:+.1f}% {expected.verdict}" in headline
        assert f"changed {', '.join(changed)}" in headline
        for name in changed:  # each changed parameter marked in its row
            assert f"{full_then[name]} {CHANGED}" in row(text, name)
        # Change figures: registers (difference), occupancy (points), error (ratio), times (%).
        r_now, r_then = current.resources.registers, previous.resources.registers  # type: ignore[union-attr]
        assert row(text, "registers/thr").split()[1:][:2] == [str(r_now), str(r_then)]
        if r_now != r_then:
            assert f"{r_now - r_then:+d}" in row(text, "registers/thr")
        occ_now = current.inspect.occupancy.fraction  # type: ignore[union-attr]
        occ_then = previous.inspect.occupancy.fraction  # type: ignore[union-attr]
        if round(occ_now * 100) != round(occ_then * 100):
            assert f"{(occ_now - occ_then) * 100:+.0f} pts" in row(text, "occupancy")
        e_now, e_then = current.correctness.rel_error, previous.correctness.rel_error  # type: ignore[union-attr]
        assert e_now is not None and e_then is not None
        assert f"×{e_now / e_then:.2g}" in row(text, "rel error") or e_now == e_then
        kb = row(text, "KB ms")
        assert f"{current.kernelbench_ms:.4g}" in kb and f"{expected.change_pct:+.1f}%" in kb
        # Where each number came from; the prediction is labelled as one, with its calibration.
        assert "measured on NVIDIA H100 80GB HBM3: KB = KernelBench's protocol" in text
        assert "predicted ms: a model, not a measurement;" in text
        assert len(row(text, "predicted ms").split()) >= 3  # a number for both trials


async def test_b_on_a_history_row_pins_the_baseline_beside_current_and_previous(
    h100_copy: Path,
) -> None:
    app = WorkbenchApp(str(h100_copy))
    async with app.run_test(size=SIZE) as pilot:
        s = await opened(pilot)
        table = s.query_one(HistoryTable)
        await wait_for(pilot, lambda: table.row_count == 8)
        assert "no baseline pinned" in pane_text(s.query_one(ComparePane))
        table.focus()
        table.move_cursor(row=2)  # trial 3 (tf32x3 on the file's defaults)
        await pilot.press("b")
        await pilot.pause()
        assert json.loads(h100_copy.read_text())["baseline_trial"] == 3  # saved at once
        text = pane_text(s.query_one(ComparePane))
        assert "baseline #3" in text and "previous #6" in text  # side by side with current #8
        header = next(line for line in text.splitlines() if "current #8" in line)
        assert header.index("baseline #3") < header.index("previous #6")
        assert s.ws is not None and s.ws.session is not None
        baseline = s.ws.session.trial(3)
        current = s.ws.session.trial(8)
        expected = compare(current, baseline)
        assert f"vs baseline #3: {expected.change_pct:+.1f}%" in text
        assert str(table.get_row_at(2)[0]) == f"{PINNED}3"
        # Too narrow for three trials side by side (100 columns): the previous one leaves the
        # table, and says so, rather than every column being cut off with an ellipsis.
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        s.action_show_pane("compare")  # the 2 key: the Compare tab of the narrow layout
        await pilot.pause()
        await wait_for(pilot, lambda: "too narrow" in pane_text(s.query_one(ComparePane)))
        narrow = pane_text(s.query_one(ComparePane))
        header = next(line for line in narrow.splitlines() if "current #8" in line)
        assert "baseline #3" in header and "previous #6" not in header
        assert "previous #6: too narrow to show side by side" in narrow
        assert "vs previous #6: " in narrow  # its change is still said
        table_rows = narrow.split("previous #6: too narrow")[0]
        assert "…" not in table_rows, table_rows
        await pilot.resize_terminal(*SIZE)
        await pilot.pause()
        await wait_for(pilot, lambda: "too narrow" not in pane_text(s.query_one(ComparePane)))
        table.focus()
        table.move_cursor(row=2)
        await pilot.press("b")  # again: unpinned
        await pilot.pause()
        assert json.loads(h100_copy.read_text())["baseline_trial"] is None
        assert "no baseline pinned" in pane_text(s.query_one(ComparePane))
        assert any(m.startswith("baseline unpinned") for m in app.messages)
