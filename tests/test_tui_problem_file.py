"""The TUI's problem picker takes a KernelBench problem file as well as a preset or a spec: the
real app under Pilot; a bad file is one line in the picker, a good one becomes the problem."""

from __future__ import annotations

from pathlib import Path

from test_tui import SIZE, TINY, opened, pane_text, wait_for
from textual.widgets import Input, Static

from workbench.tui.app import WorkbenchApp

PROBLEM = """import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size):
        super().__init__()
        self.conv = nn.Conv3d(in_channels, out_channels, kernel_size, bias=False)

    def forward(self, x):
        return self.conv(x)


def get_inputs():
    return [torch.rand(1, 2, 5, 4, 4)]


def get_init_inputs():
    return [2, 4, 3]
"""


async def _pick(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("p")
    await pilot.pause()
    field = pilot.app.screen.query_one("#pick-free", Input)
    field.focus()
    field.value = text
    await pilot.press("enter")
    await pilot.pause(0.3)


async def test_problem_picker_takes_a_problem_file(tmp_path: Path) -> None:
    good = tmp_path / "tiny_problem.py"
    good.write_text(PROBLEM)
    bad = tmp_path / "not_a_problem.py"
    bad.write_text("x = 1\n")
    app = WorkbenchApp(problem=TINY)
    async with app.run_test(size=SIZE) as pilot:
        s = await opened(pilot)
        await _pick(pilot, str(bad))  # a one-line error in the picker; nothing switched
        said = pane_text(app.screen.query_one(".dialog-message", Static))
        assert "no class Model(nn.Module)" in " ".join(said.split())
        assert s.ws is not None and not s.ws.problem.file_sha256
        await pilot.press("escape")
        await pilot.pause()
        await _pick(pilot, str(good))
        await wait_for(
            pilot, lambda: s.ws is not None and s.ws.problem.file_sha256, 60, "the switch"
        )
        assert s.ws is not None and s.ws.problem.origin == str(good)
        assert s.ws.problem.input_shape == (1, 2, 5, 4, 4)
        assert s.ws.problem.label().startswith("tiny_problem")  # what the panes and session say
        # (its compile is not waited for: a compile of a new problem is test_tui.py's business)
