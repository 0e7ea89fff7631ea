"""`--help` tells a user what the tool does for them, and every verb and option says what it is."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.cli.main import DEFAULT_TIMEOUTS, DESCRIPTION, build_parser

ROOT = Path(__file__).resolve().parents[1]


def verbs() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_help_opens_with_what_the_tool_does() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "workbench", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert lines[0].startswith("usage: conv3d-bench")
    assert lines[1] == DESCRIPTION.splitlines()[0]  # right after the usage line
    first = DESCRIPTION.split(":")[0].lower()  # what it does, in the user's words
    assert "fastest correct config" in first and "target gpu" in first
    for verb in verbs():
        assert verb in proc.stdout


@pytest.mark.parametrize("verb", sorted(verbs()))
def test_every_option_has_help(verb: str) -> None:
    parser = verbs()[verb]
    assert parser.description, f"{verb} --help does not open with what it does"
    assert parser.format_help().split("\n\n")[1].strip().startswith(parser.description[:30])
    missing = [
        "/".join(a.option_strings) or a.dest
        for a in parser._actions
        if not a.help or a.help == argparse.SUPPRESS
    ]
    assert not missing, f"{verb}: no help for {missing}"


def test_every_verb_has_a_one_line_summary() -> None:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    summaries = {c.dest: c.help for c in sub._choices_actions}
    assert set(summaries) == set(verbs())
    assert all(h and "\n" not in h for h in summaries.values()), summaries


@pytest.mark.parametrize("verb", ["inspect", "bench", "replay", "export", "sweep"])
def test_default_time_limits_are_in_help(verb: str) -> None:
    text = verbs()[verb].format_help()
    assert "--timeout" in text
    assert " ".join(DEFAULT_TIMEOUTS.split()) in " ".join(text.split())
