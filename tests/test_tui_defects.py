"""Issue 14's defects 4 and 6, each with a Pilot test: the source shows the edited values, and
the list of small defects (screenshot folder, palette labels, Tab focus, click on a history row,
dialogs that keep their text, export that asks before replacing, the parameter reset said on a
problem switch, a failed load that says so, the light theme, examples in range, the theme
remembered, no session file from opening and quitting)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_tui import (
    KERNEL,
    SHIPPED_H100,
    SIZE,
    opened,
    pane_text,
    render_text,
    set_field,
    tiny_compiled,  # noqa: F401 (a fixture)
    tui,
    wait_for,
)
from textual.command import CommandList, CommandPalette
from textual.widgets import DataTable, Input, RichLog, Select, Static, Tabs

from workbench.session.export import ExportPlan, export_kernel
from workbench.tui.app import WorkbenchApp
from workbench.tui.dialogs import AskText, PickOne
from workbench.tui.ncu_pane import NcuPane
from workbench.tui.params import ParamInput, ParamsPane
from workbench.tui.settings import settings_path
from workbench.tui.source import EDITED, SourcePane
from workbench.tui.status import StatusLine
from workbench.tui.style import DARK_SYNTAX, LIGHT_SYNTAX, tones

pytestmark = pytest.mark.usefixtures("tiny_compiled")


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


async def test_source_pane_shows_the_edited_values_as_export_writes_them() -> None:
    app = tui()
    async with app.run_test(size=SIZE) as pilot:
        s = await opened(pilot)
        source = s.query_one(SourcePane)
        assert "BLOCK_M = 256" in source.text and not source.edited
        await set_field(pilot, "BLOCK_M", "64")
        await wait_for(pilot, lambda: source.edited, 5, "the source to follow the edit")
        lines = source.text.splitlines()
        (edited,) = source.edited
        assert lines[edited - 1] == "BLOCK_M = 64"
        shown = source.rendered_text().splitlines()
        row = next(r for r in shown if "BLOCK_M = 64" in r)
        assert row.startswith(EDITED)  # marked in the gutter
        assert "edited line" in str(source.border_subtitle)
        assert s.ws is not None
        exported = export_kernel(ExportPlan(s.ws.kf, dict(s.config), s.ws.problem, s.ws.gpu))
        assert lines[edited - 1] in exported.splitlines()  # the very line export writes


async def test_screenshot_folder_palette_labels_and_tab_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three of defect 6's items, each read off one app: a screenshot goes to a folder that
    exists (there is no ~/Downloads here), the palette says what each command does (not "key
    e"), and Tab from the source lands on a control, never on a container."""
    monkeypatch.setenv("HOME", str(tmp_path / "home-without-downloads"))
    app = tui()
    async with app.run_test(size=SIZE) as pilot:
        s = await opened(pilot)
        # The screenshot.
        app.action_screenshot()
        await pilot.pause()
        shots = list(Path("screenshots").glob("*.svg"))
        assert len(shots) == 1 and shots[0].read_text().startswith("<svg")
        assert any(m.startswith("screenshot saved: screenshots/") for m in app.messages)
        # The palette.
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        listing = app.screen.query_one(CommandList)
        await wait_for(pilot, lambda: listing.option_count > 5, 5, "the commands")
        texts = [
            render_text(listing.get_option_at_index(i).prompt) for i in range(listing.option_count)
        ]
        joined = "\n".join(texts)
        assert (
            "Export" in joined
            and "write a standalone kernel file with this config (key e)" in joined
        )
        assert "Pin" not in joined or "baseline" in joined
        assert not any(t.strip().startswith("key ") for t in texts), texts
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is s, 5, "the palette to close")
        # Tab order.
        s.query_one(SourcePane).focus()
        controls = (Input, Select, DataTable, RichLog, Tabs, SourcePane)  # things that take keys
        for _ in range(12):  # from the source, and on round the whole screen
            await pilot.press("tab")
            assert isinstance(s.focused, controls), s.focused


async def test_a_click_on_a_history_row_restores_its_config(tmp_path: Path) -> None:
    copy = tmp_path / "h100.json"
    copy.write_text(SHIPPED_H100.read_text())
    app = WorkbenchApp(str(copy))
    async with app.run_test(size=SIZE) as pilot:
        s = await opened(pilot)
        table = s.query_one("#history", DataTable)
        await wait_for(pilot, lambda: table.row_count == 8)
        assert s.config["precision"] == "tf32x3"  # trial 8's, the last
        table.scroll_home(animate=False)  # the last row has the cursor: the table shows it
        await pilot.pause()
        await pilot.click(table, offset=(20, 2))  # the header row, then trial 1 (ieee), 2 (tf32)
        await pilot.pause(0.2)
        assert s.config["precision"] == "tf32"
        assert any(m.startswith("restored trial 2") for m in app.messages)


async def test_dialogs_keep_what_was_typed_and_export_asks_before_replacing() -> None:
    """Defect 6: a dialog that fails says why inside itself and keeps the text; export asks
    before replacing a file (Enter again) and never writes over a session."""
    app = tui()
    async with app.run_test(size=SIZE) as pilot:
        s = await opened(pilot)
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, AskText))
        app.screen.query_one(Input).value = "no/such/kernel.py"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, AskText)  # still open ...
        assert app.screen.query_one(Input).value == "no/such/kernel.py"  # ... with the text
        assert "is not a file" in str(app.screen.query_one(".dialog-message", Static).content)
        await pilot.press("escape", "p")
        await wait_for(pilot, lambda: isinstance(app.screen, PickOne))
        app.screen.query_one("#pick-free", Input).focus()
        app.screen.query_one("#pick-free", Input).value = "N=1,Ci=2,Co=bad"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PickOne)
        assert app.screen.query_one("#pick-free", Input).value == "N=1,Ci=2,Co=bad"
        assert str(app.screen.query_one(".dialog-message", Static).content)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is s, 5, "the picker to close")
        # Export.
        Path("out.py").write_text("# mine\n")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, AskText))
        app.screen.query_one(Input).value = "out.py"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, AskText)
        assert "exists: Enter again replaces it" in str(
            app.screen.query_one(".dialog-message", Static).content
        )
        assert Path("out.py").read_text() == "# mine\n"
        await pilot.press("enter")  # confirmed
        await wait_for(pilot, lambda: not isinstance(app.screen, AskText))
        assert "class ModelNew" in Path("out.py").read_text()
        Path("a-session.json").write_text(SHIPPED_H100.read_text())
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, AskText))
        app.screen.query_one(Input).value = "a-session.json"
        await pilot.press("enter", "enter")
        await pilot.pause()
        assert isinstance(app.screen, AskText)
        assert "never writes over a session" in str(
            app.screen.query_one(".dialog-message", Static).content
        )
        assert Path("a-session.json").read_text() == SHIPPED_H100.read_text()


async def test_switching_problem_says_the_parameters_were_reset() -> None:
    app = tui()
    async with app.run_test(size=SIZE) as pilot:
        s = await opened(pilot)
        await set_field(pilot, "BLOCK_M", "64")
        await pilot.press("escape", "p")
        await wait_for(pilot, lambda: isinstance(app.screen, PickOne))
        app.screen.query_one("#pick-free", Input).value = "N=1,Ci=2,Co=4,D=5,H=5,W=5,k=3"
        app.screen.query_one("#pick-free", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: s.ws is not None and s.ws.problem.d == 5, 30, "the switch")
        await pilot.pause()
        notes = [
            m
            for m in app.messages
            if m.startswith("parameters reset to the kernel file's defaults")
        ]
        assert notes and "BLOCK_M 64→256" in notes[0]
        assert s.config["BLOCK_M"] == 256


async def test_a_failed_load_says_so_instead_of_loading_forever(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text(KERNEL.read_text().replace("class ModelNew", "class ModelNew(:"))
    app = tui(broken)
    async with app.run_test(size=SIZE) as pilot:
        s = app.tuning
        await wait_for(pilot, lambda: any("load failed" in t for t in app.book.texts("error")), 60)
        await pilot.pause()
        params = str(s.query_one("#params-empty", Static).content)
        assert (
            "loading" not in params and "no kernel file loaded" in params and "broken.py" in params
        )
        assert "cannot load the kernel file" in pane_text(s.query_one(SourcePane))
        assert "loading" not in s.query_one(StatusLine).plain


async def test_light_theme_is_readable_and_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONV3D_BENCH_CACHE", str(tmp_path / "cache"))  # the settings file
    app = tui()
    async with app.run_test(size=SIZE) as pilot:
        s = await opened(pilot)
        source = s.query_one(SourcePane)
        assert source.theme_name == DARK_SYNTAX
        app.theme = "textual-light"
        await pilot.pause(0.3)
        assert source.theme_name == LIGHT_SYNTAX
        segments = [seg for strip in source.strips for seg in strip]
        backgrounds = {
            str(seg.style.bgcolor) for seg in segments if seg.style and seg.style.bgcolor
        }
        assert not any("272822" in b for b in backgrounds), backgrounds  # no monokai slab
        hint = s.query_one(NcuPane).content
        assert str(hint.style) == tones(app).muted  # type: ignore[union-attr]
        assert not tones(app).dark
    assert json.loads(settings_path().read_text())["theme"] == "textual-light"
    again = tui()
    async with again.run_test(size=SIZE) as pilot:
        await opened(pilot)
        assert again.theme == "textual-light"


async def test_messages_give_examples_within_each_field_range() -> None:
    app = tui()
    async with app.run_test(size=SIZE) as pilot:
        s = await opened(pilot)
        fields = list(s.query(ParamInput).results(ParamInput))
        assert {f.tunable.name for f in fields} >= {"BLOCK_M", "num_warps", "num_stages"}
        for field in fields:
            t = field.tunable
            for typed in ("abc", ""):
                await set_field(pilot, t.name, typed)
                message = s.query_one(ParamsPane).messages[t.name][1]
                example = message.rsplit(f"e.g. {t.name}=", 1)[1].split()[0]
                assert int(example) in t.choices, (t.name, message)
            await set_field(pilot, t.name, str(t.default))


async def test_opening_and_quitting_leaves_no_session_file() -> None:
    app = tui()
    async with app.run_test(size=SIZE) as pilot:
        s = await opened(pilot)
        assert s.ws is not None and s.ws.session is None
        assert "not created yet" in s.query_one(StatusLine).plain
        await pilot.press("q")
    assert not Path("sessions").exists() or not list(Path("sessions").iterdir())
