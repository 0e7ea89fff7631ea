"""Replay: re-run a session's trials here and compare them with what was recorded.

A real replay runs each trial again (run_trial) and judges correctness and time against the
recording. `simulate` needs no GPU: it recompiles each trial for the session's target and
compares resources, checks correctness in Triton's interpreter on the reduced problem, and shows
the recorded timings as recorded. A trial recorded as failed is expected to fail again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from workbench.core.errors import CompileError, ConfigError, OutOfResources, SessionError
from workbench.core.records import OMIT, Record, Status, TrialResult
from workbench.kernel.compile import compile_for_target
from workbench.kernel.kernelfile import KernelFile
from workbench.runner.local import run_trial
from workbench.session.store import Session

# Failures decided when compiling for the target; replayable without a GPU.
COMPILE_FAILURES = (Status.COMPILE_ERROR, Status.OUT_OF_RESOURCES, Status.INVALID_CONFIG)
# Failures only a GPU shows (or that would only waste the interpreter's time).
GPU_FAILURES = (Status.RUNTIME_FAULT, Status.TIMEOUT, Status.CANCELLED)
RESOURCE_KEYS = ("registers", "spill_bytes", "shared_bytes")
OK_VERDICTS = ("ok", "ok (other Triton)", "faster", "correct")


@dataclass
class Summary(Record):
    """One side of a comparison: what a trial did."""

    status: str | None
    message: str = ""
    mode: str = ""
    device: str = ""
    cc: str | None = None
    measured_ms: float | None = None  # KernelBench's protocol where measured, else kernel only
    kernelbench_pass: bool | None = None
    rel_error: float | None = None
    correct: bool = False
    resources: dict[str, Any] = field(default_factory=dict, metadata=OMIT)


def summary(trial: TrialResult) -> Summary:
    res = trial.resources
    return Summary(
        status=trial.status.value if trial.status else None,
        message=trial.message,
        mode=trial.mode,
        device=trial.device or str(trial.device_fingerprint.get("name") or ""),
        cc=trial.device_fingerprint.get("cc"),
        measured_ms=trial.measured_ms,
        kernelbench_pass=trial.correctness.kernelbench_pass if trial.correctness else None,
        rel_error=trial.correctness.rel_error if trial.correctness else None,
        correct=trial.correct,
        resources={k: getattr(res, k) for k in (*RESOURCE_KEYS, "triton_version")} if res else {},
    )


@dataclass
class Outcome(Record):
    """A replayed trial: recorded vs now, and the verdict."""

    id: int | None
    config: dict[str, Any]
    recorded: Summary
    now: Summary | None = None
    verdict: str = ""
    detail: str = ""
    change_pct: float | None = None
    device_differs: bool | None = None
    regression: bool = False
    compile: dict[str, Any] = field(default_factory=dict, metadata=OMIT)  # simulate: the recompile

    @property
    def ok(self) -> bool:
        return self.verdict in OK_VERDICTS


def select_trials(session: Session, which: str) -> list[TrialResult]:
    """`all`, `best`, or ids like `1,3,4` (ranges `2-5` too)."""
    which = (which or "all").strip().lower()
    if which == "all":
        if not session.trials:
            raise SessionError(f"{session.path} has no trials to replay")
        return list(session.trials)
    if which == "best":
        best = session.best()
        if best is None:
            raise SessionError(
                f"{session.path} has no correct trial timed on a GPU; replay ids instead, e.g. --trials 1"
            )
        return [best]
    ids: list[int] = []
    for part in filter(None, (p.strip() for p in which.split(","))):
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise SessionError(f"--trials {which!r}: write all, best, or ids like 1,3,4 or 2-5")
        ids.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    return [session.trial(i) for i in dict.fromkeys(ids)]


def check_tolerance(tolerance: float) -> float:
    if tolerance < 0 or math.isnan(tolerance):
        raise SessionError(f"--tolerance {tolerance} must be a percentage >= 0")
    return tolerance


# --- judging ----------------------------------------------------------------------------------
def _device_differs(recorded: Summary, now: Summary) -> bool:
    return (recorded.device, recorded.cc) != (now.device, now.cc)


def judge_run(recorded: TrialResult, now: TrialResult, tolerance: float) -> Outcome:
    """Compare a recorded trial with its re-run."""
    rec, cur = summary(recorded), summary(now)
    out = Outcome(id=recorded.id, config=dict(recorded.config), recorded=rec, now=cur)
    out.device_differs = _device_differs(rec, cur)
    if not rec.correct:
        out.verdict, out.detail = _judge_recorded_failure(rec, cur)
        return out
    if not cur.correct:
        wrong = cur.status in ("ok", "wrong_result")
        out.verdict = "wrong result" if wrong else f"now fails: {cur.status}"
        out.detail, out.regression = cur.message, True
        return out
    if rec.measured_ms is None or cur.measured_ms is None:
        reason = (now.timing.reason if now.timing else "") or "not timed here"
        out.verdict = "correct"
        out.detail = "not timed when recorded" if rec.measured_ms is None else reason
        return out
    change = (cur.measured_ms / rec.measured_ms - 1.0) * 100.0
    out.change_pct = change
    if out.device_differs:
        out.verdict = "other device"
        out.detail = f"recorded on {rec.device}, now on {cur.device}: time not judged"
    elif change > tolerance:
        out.verdict, out.detail, out.regression = (
            "slower",
            f"{change:+.1f}% is over the {tolerance:g}% tolerance",
            True,
        )
    elif change < -tolerance:
        out.verdict = "faster"
    else:
        out.verdict, out.detail = "ok", f"within {tolerance:g}%"
    return out


def _judge_recorded_failure(rec: Summary, cur: Summary) -> tuple[str, str]:
    if cur.correct:
        return "now passes", f"recorded {rec.status}"
    if cur.status == rec.status:
        return "failed as recorded", cur.message or rec.message
    return "still fails", f"recorded {rec.status}, now {cur.status}: {cur.message}"


def _failure_class(err: Exception) -> str:
    if isinstance(err, OutOfResources):
        return Status.OUT_OF_RESOURCES.value
    if isinstance(err, ConfigError):
        return Status.INVALID_CONFIG.value
    return Status.COMPILE_ERROR.value


def resources_moved(recorded: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """`registers 140 -> 254 (+114)` for every resource that differs."""
    out = []
    for key in RESOURCE_KEYS:
        a, b = recorded.get(key), now.get(key)
        if isinstance(a, int) and isinstance(b, int) and a != b:
            out.append(f"{key.replace('_', ' ')} {a} -> {b} ({b - a:+d})")
    return out


def simulate_trial(
    kf: KernelFile, session: Session, trial: TrialResult, timeout: float | None
) -> Outcome:
    """Recompile for the session's target, check resources, run the interpreter where useful."""
    rec = summary(trial)
    problem, gpu, config = session.problem, session.gpu, dict(trial.config)
    out = Outcome(id=trial.id, config=config, recorded=rec)
    now_resources: dict[str, Any] = {}
    compiled = ""
    message = ""
    try:
        resources, _launch = compile_for_target(kf, problem, kf.full_config(problem, config), gpu)
        now_resources = {k: getattr(resources, k) for k in (*RESOURCE_KEYS, "triton_version")}
        out.compile = {"resources": now_resources, "source": resources.source}
    except (CompileError, OutOfResources, ConfigError) as err:
        compiled, message = _failure_class(err), str(err)
        out.compile = {"status": compiled, "message": message}
    recorded_status = rec.status

    if not rec.correct and recorded_status in COMPILE_FAILURES:
        if compiled == recorded_status:
            out.verdict, out.detail = "failed as recorded", message
        elif compiled:
            out.verdict, out.detail = (
                "still fails",
                f"recorded {recorded_status}, now {compiled}: {message}",
            )
        else:
            out.verdict, out.detail = "now compiles", f"recorded {recorded_status}"
        return out
    if compiled:
        if rec.correct:
            out.verdict, out.regression = "now fails: " + compiled, True
            out.detail = f"no longer compiles for {gpu.sm}: {message}"
        else:
            out.verdict = "still fails"
            out.detail = f"recorded {recorded_status}, now {compiled} when compiling: {message}"
        return out
    if not rec.correct and recorded_status in GPU_FAILURES:
        out.verdict = "failed as recorded"
        out.detail = f"recorded {recorded_status} on {rec.device}; needs a GPU to reproduce"
        return out

    result = run_trial(kf, problem, config, gpu=gpu, mode="interpreter", timeout_s=timeout)
    cur = summary(result)
    out.now = cur
    if not rec.correct:  # recorded wrong_result (or ok without a pass)
        if not cur.correct:
            out.verdict, out.detail = "failed as recorded", cur.message
        else:
            out.verdict = "not reproduced"
            out.detail = f"recorded {recorded_status} on {rec.device}; correct in the interpreter"
        return out
    if not cur.correct:
        wrong = cur.status in ("ok", "wrong_result")
        out.verdict = "wrong result" if wrong else f"now fails: {cur.status}"
        out.detail, out.regression = cur.message, True
        return out
    moved = resources_moved(rec.resources, now_resources)
    if moved:
        then, now = rec.resources.get("triton_version"), now_resources.get("triton_version")
        if then and now and then != now:
            # Another Triton makes other code: the move is information, not a regression.
            out.verdict = "ok (other Triton)"
            out.detail = (
                f"resources moved with the Triton version (Triton {then} -> Triton {now}) for {gpu.sm}: "
                + ", ".join(moved)
            )
        else:
            out.verdict, out.regression = "resources differ", True
            out.detail = f"compiled for {gpu.sm} with the recorded Triton {now}: " + ", ".join(
                moved
            )
        return out
    out.verdict = "ok"
    return out


def replay(
    session: Session,
    trials: list[TrialResult],
    *,
    simulate: bool,
    tolerance: float,
    timeout: float | None,
    on_progress: Callable[[TrialResult, str], None] | None = None,
) -> list[Outcome]:
    """Replay `trials`; one outcome per trial."""
    kf = session.kernel_file()
    outcomes = []
    for trial in trials:
        if on_progress:
            on_progress(trial, "start")
        if simulate:
            outcome = simulate_trial(kf, session, trial, timeout)
        else:

            def progress(text: str, _trial: TrialResult = trial) -> None:
                if on_progress is not None:
                    on_progress(_trial, text)

            result = run_trial(
                kf, session.problem, dict(trial.config), gpu=session.gpu, mode="auto", timeout_s=timeout,
                progress=progress,
            )  # fmt: skip
            outcome = judge_run(trial, result, tolerance)
        outcomes.append(outcome)
        if on_progress:
            on_progress(trial, "done")
    return outcomes
