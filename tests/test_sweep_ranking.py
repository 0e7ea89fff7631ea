"""How a sweep chooses among its confirmed configs: the mean of every full run, ties said plainly,
and the calibration a user hands it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.analysis.model import DEFAULT_CALIBRATION, calibration_path
from workbench.cli.sweep import calibration_arg
from workbench.core.errors import UsageError
from workbench.search.sweep import Ranked, tie_break_note, tie_note


def ranked(config: dict[str, int | str], runs: list[float]) -> Ranked:
    return Ranked(
        config=config, status="ok", trial=1, predicted_ms=None, kernelbench_ms=sum(runs) / len(runs),
        kernel_only_ms=None, speedup=None, rel_error=None, correct=True, runs_ms=runs,
    )  # fmt: skip


def test_runner_up_within_the_runs_spread_is_a_tie() -> None:
    # The H200's Ray check: one config ran 1.056 then 1.241 ms, the other 1.099 then 1.052 ms.
    a = ranked({"BLOCK_M": 128}, [1.099, 1.052])
    b = ranked({"BLOCK_M": 256}, [1.056, 1.241])
    note = tie_note(a, b)
    assert note is not None and "a tie" in note and "BLOCK_M=256" in note, note


def test_runner_up_beyond_the_spread_is_no_tie() -> None:
    a = ranked({"BLOCK_M": 128}, [1.00, 1.01])
    b = ranked({"BLOCK_M": 256}, [1.20, 1.21])
    assert tie_note(a, b) is None


def test_more_runs_separate_what_the_spread_of_one_noisy_run_would_call_a_tie() -> None:
    # The H200's conv3d_fast3 L1/66 sweep: 8.8 % apart on five runs each, one of the runner-up's
    # runs 10.8 % off the others (the old max-minus-min rule called it a tie).
    a = ranked({"BLOCK_K": 32}, [0.777, 0.781, 0.763, 0.762, 0.768])
    b = ranked({"BLOCK_K": 16}, [0.850, 0.795, 0.878, 0.833, 0.833])
    assert tie_note(a, b) is None
    # 0.3 % apart, a 1 % noise on the difference: a tie.
    c = ranked({"BLOCK_K": 32}, [0.676, 0.674, 0.684, 0.671, 0.669])
    d = ranked({"BLOCK_M": 128}, [0.674, 0.675, 0.677, 0.685, 0.673])
    note = tie_note(c, d)
    assert note is not None and "standard error" in note, note


def test_a_single_run_says_nothing_about_ties() -> None:
    a = ranked({"BLOCK_M": 128}, [1.00])
    b = ranked({"BLOCK_M": 256}, [1.001])
    assert tie_note(a, b) is None


def test_a_tie_break_names_the_winner_or_says_it_is_still_a_tie() -> None:
    # Five runs each: the spread shrinks below the gap, so the tie is broken.
    a = ranked({"BLOCK_M": 128}, [1.00, 1.02, 1.01, 1.00, 1.01])
    b = ranked({"BLOCK_M": 256}, [1.04, 1.05, 1.045, 1.05, 1.04])
    broken = tie_break_note(a, b)
    assert "within noise after two runs" in broken and "5 and 5 full runs" in broken, broken
    assert "3.7 % faster" in broken and "BLOCK_M=256" in broken, broken
    # Still overlapping: a tie, said with the number of runs.
    c = ranked({"BLOCK_M": 256}, [1.06, 0.99, 1.02, 1.00, 1.03])
    still = tie_break_note(a, c)
    assert still.startswith("a tie") and "after 5 and 5 full runs" in still, still


def test_calibration_argument(tmp_path: Path) -> None:
    assert calibration_arg(None) is None
    assert calibration_arg("defaults") is DEFAULT_CALIBRATION
    shipped = calibration_arg(str(calibration_path("h100")))
    assert shipped is not None and shipped.device, "the shipped H100 calibration loads"
    for path, words in (
        (tmp_path / "missing.json", "no such file"),
        (tmp_path / "bad.json", "not a calibration"),
    ):
        if path.name == "bad.json":
            path.write_text(json.dumps({"model": "something else"}))
        with pytest.raises(UsageError) as caught:
            calibration_arg(str(path))
        message = str(caught.value)
        assert words in message and "\n" not in message, message


def test_the_winners_time_says_measured_or_predicted_never_both() -> None:
    measured = ranked({"BLOCK_M": 128}, [1.0, 1.2])
    assert measured.time_words() == "1.1 ms measured (mean of 2 runs: 1, 1.2 ms)"
    predicted = Ranked(
        config={"BLOCK_M": 64}, status="predicted", trial=None, predicted_ms=0.75, kernelbench_ms=None,
        kernel_only_ms=None, speedup=None, rel_error=None, correct=False,
    )  # fmt: skip
    assert predicted.time_words() == "predicted 0.75 ms"
    predicted.predicted_ms = None
    assert predicted.time_words() == "no time"
