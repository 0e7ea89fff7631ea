"""The `replay` verb: re-run a session's trials here and compare them with what was recorded.

A real replay runs each trial again (run_trial) and judges correctness and time against the
recording. `--simulate` needs no GPU: it recompiles each trial for the session's target and
compares resources, checks correctness in Triton's interpreter on the reduced problem, and shows
the recorded timings as recorded. A trial recorded as failed is expected to fail again.

Exit status: 0 all correct and within tolerance, 1 a regression or a wrong result, 2 an error.
"""

from __future__ import annotations

import math
import re
from typing import Any

from workbench.errors import CompileError, ConfigError, OutOfResources, SessionError
from workbench.session import Session, is_correct, measured_ms, plain

# Failures decided when compiling for the target; replayable without a GPU.
COMPILE_FAILURES = ("compile_error", "out_of_resources", "invalid_config")
# Failures only a GPU shows (or that would only waste the interpreter's time).
GPU_FAILURES = ("runtime_fault", "timeout", "cancelled")
RESOURCE_KEYS = ("registers", "spill_bytes", "shared_bytes")


def select_trials(session: Session, which: str) -> list[dict]:
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


# --- judging ------------------------------------------------------------------------------------
def _summary(trial: dict) -> dict:
    corr = trial.get("correctness") or {}
    fp = trial.get("device_fingerprint") or {}
    return {
        "status": trial.get("status"),
        "message": trial.get("message") or "",
        "mode": trial.get("mode"),
        "device": trial.get("device") or fp.get("name"),
        "cc": fp.get("cc"),
        "median_ms": measured_ms(trial),
        "kernelbench_pass": corr.get("kernelbench_pass"),
        "rel_error": corr.get("rel_error"),
        "correct": is_correct(trial),
    }


def _device_differs(recorded: dict, now: dict) -> bool:
    return (recorded.get("device"), recorded.get("cc")) != (now.get("device"), now.get("cc"))


def judge_run(recorded: dict, now: dict, tolerance: float) -> dict:
    """Compare a recorded trial with its re-run (both trial/result dicts)."""
    rec, cur = _summary(recorded), _summary(now)
    out: dict[str, Any] = {
        "recorded": rec,
        "now": cur,
        "change_pct": None,
        "device_differs": _device_differs(rec, cur),
        "regression": False,
    }
    if not rec["correct"]:
        out.update(_judge_recorded_failure(rec, cur))
        return out
    if not cur["correct"]:
        wrong = cur["status"] in ("ok", "wrong_result")
        verdict = "wrong result" if wrong else f"now fails: {cur['status']}"
        return {**out, "verdict": verdict, "detail": cur["message"], "regression": True}
    if rec["median_ms"] is None or cur["median_ms"] is None:
        reason = (now.get("timing") or {}).get("reason") or "not timed here"
        detail = "not timed when recorded" if rec["median_ms"] is None else reason
        return {**out, "verdict": "correct", "detail": detail}
    change = (cur["median_ms"] / rec["median_ms"] - 1.0) * 100.0
    out["change_pct"] = change
    if out["device_differs"]:
        detail = f"recorded on {rec['device']}, now on {cur['device']}: time not judged"
        return {**out, "verdict": "other device", "detail": detail}
    if change > tolerance:
        detail = f"{change:+.1f}% is over the {tolerance:g}% tolerance"
        return {**out, "verdict": "slower", "detail": detail, "regression": True}
    verdict = "faster" if change < -tolerance else "ok"
    return {
        **out,
        "verdict": verdict,
        "detail": f"within {tolerance:g}%" if verdict == "ok" else "",
    }


def _judge_recorded_failure(rec: dict, cur: dict) -> dict:
    if cur["correct"]:
        return {"verdict": "now passes", "detail": f"recorded {rec['status']}"}
    if cur["status"] == rec["status"]:
        return {"verdict": "failed as recorded", "detail": cur["message"] or rec["message"]}
    return {
        "verdict": "still fails",
        "detail": f"recorded {rec['status']}, now {cur['status']}: {cur['message']}",
    }


def _failure_class(err: Exception) -> str:
    if isinstance(err, OutOfResources):
        return "out_of_resources"
    if isinstance(err, ConfigError):
        return "invalid_config"
    return "compile_error"


def _resources_diff(recorded: dict | None, now: dict) -> tuple[list[str], list[str]]:
    """(differences, unchecked keys) between recorded and recompiled resources."""
    recorded = recorded or {}
    diffs, unchecked = [], []
    for key in RESOURCE_KEYS:
        a, b = recorded.get(key), now.get(key)
        if a is None or b is None:
            unchecked.append(key)
        elif a != b:
            diffs.append(f"{key} {a} -> {b}")
    return diffs, unchecked


def simulate_trial(kf: Any, session: Session, trial: dict, timeout: float | None) -> dict:
    """Recompile for the session's target, check resources, run the interpreter where useful."""
    from workbench.compile import compile_for_target
    from workbench.run import run_trial

    rec = _summary(trial)
    problem, gpu, config = session.problem, session.gpu, dict(trial.get("config") or {})
    recorded_res = (trial.get("inspect") or {}).get("resources") or trial.get("resources") or {}
    out: dict[str, Any] = {
        "recorded": {**rec, "resources": {k: recorded_res.get(k) for k in RESOURCE_KEYS}},
        "now": {"compile": None, "resources": None, "interpreter": None},
        "change_pct": None,
        "device_differs": None,
        "regression": False,
    }
    try:
        resources, _launch = compile_for_target(kf, problem, config, gpu)
        res = resources.to_dict()
        out["now"]["resources"] = {k: res.get(k) for k in (*RESOURCE_KEYS, "source")}
        compiled = ""
    except (CompileError, OutOfResources, ConfigError) as err:
        compiled = _failure_class(err)
        out["now"]["compile"] = {"status": compiled, "message": str(err)}
    recorded_status = rec["status"]

    if not rec["correct"] and recorded_status in COMPILE_FAILURES:
        if compiled == recorded_status:
            return {**out, "verdict": "failed as recorded", "detail": str(err_msg(out))}
        if compiled:
            detail = f"recorded {recorded_status}, now {compiled}: {err_msg(out)}"
            return {**out, "verdict": "still fails", "detail": detail}
        return {**out, "verdict": "now compiles", "detail": f"recorded {recorded_status}"}
    if compiled:
        if rec["correct"]:
            detail = f"no longer compiles for {gpu.sm}: {err_msg(out)}"
            return {
                **out,
                "verdict": "now fails: " + compiled,
                "detail": detail,
                "regression": True,
            }
        detail = f"recorded {recorded_status}, now {compiled} when compiling: {err_msg(out)}"
        return {**out, "verdict": "still fails", "detail": detail}
    if not rec["correct"] and recorded_status in GPU_FAILURES:
        detail = f"recorded {recorded_status} on {rec['device']}; needs a GPU to reproduce"
        return {**out, "verdict": "failed as recorded", "detail": detail}

    diffs, _unchecked = _resources_diff(recorded_res, out["now"]["resources"])
    result = run_trial(kf, problem, config, gpu=gpu, mode="interpreter", timeout_s=timeout)
    cur = _summary(result)
    out["now"]["interpreter"] = cur
    if not rec["correct"]:  # recorded wrong_result (or ok without a pass)
        if not cur["correct"]:
            return {**out, "verdict": "failed as recorded", "detail": cur["message"]}
        detail = f"recorded {recorded_status} on {rec['device']}; correct in the interpreter"
        caveat = (result.get("correctness") or {}).get("caveat")  # e.g. tf32 is not emulated
        if caveat:
            detail += f" ({caveat})"
        return {**out, "verdict": "not reproduced", "detail": detail}
    if not cur["correct"]:
        wrong = cur["status"] in ("ok", "wrong_result")
        verdict = "wrong result" if wrong else f"now fails: {cur['status']}"
        return {**out, "verdict": verdict, "detail": cur["message"], "regression": True}
    if diffs:
        detail = f"compiled for {gpu.sm}: " + ", ".join(diffs)
        then, now = _compiler(recorded_res), _compiler(out["now"]["resources"])
        if then and now and then != now:
            # Another Triton makes other code: a difference is information, not a regression.
            detail = f"recorded with Triton {then}, recompiled with Triton {now}: " + ", ".join(
                diffs
            )
            return {**out, "verdict": "ok (other Triton)", "detail": detail}
        return {**out, "verdict": "resources differ", "detail": detail, "regression": True}
    return {**out, "verdict": "ok", "detail": ""}


def _compiler(resources: dict | None) -> str | None:
    """The Triton version that produced `resources`: its own field, or, in sessions recorded
    before resources carried it (the shipped ones), the `source` text."""
    resources = resources or {}
    if resources.get("triton_version"):
        return str(resources["triton_version"])
    found = re.search(r"Triton (\S+)", str(resources.get("source") or ""))
    return found.group(1) if found else None


def err_msg(out: dict) -> str:
    return ((out["now"].get("compile") or {}).get("message")) or ""


# --- the verb -----------------------------------------------------------------------------------
def replay(session: Session, trials: list[dict], *, simulate: bool, tolerance: float,
           timeout: float | None, on_progress: Any = None) -> list[dict]:  # fmt: skip
    """Replay `trials`; returns one outcome dict per trial (id, config, verdict, ...)."""
    kf = session.kernel_file()
    outcomes = []
    for trial in trials:
        if on_progress:
            on_progress(trial, "start")
        if simulate:
            outcome = simulate_trial(kf, session, trial, timeout)
        else:
            from workbench.run import run_trial

            def progress(*args: Any, _trial: dict = trial, **_kw: Any) -> None:
                if on_progress and args and isinstance(args[0], str):
                    on_progress(_trial, args[0])

            result = run_trial(
                kf,
                session.problem,
                dict(trial.get("config") or {}),
                gpu=session.gpu,
                mode="auto",
                timeout_s=timeout,
                progress=progress,
            )
            outcome = judge_run(trial, result, tolerance)
        outcomes.append({"id": trial.get("id"), "config": trial.get("config"), **outcome})
        if on_progress:
            on_progress(trial, "done")
    return outcomes


def replay_command(args: Any) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from workbench.cli import print_json

    err = Console(stderr=True, highlight=False)
    session = Session.load(args.session, readonly=True)
    trials = select_trials(session, args.trials)
    tolerance = float(args.tolerance)
    if tolerance < 0 or math.isnan(tolerance):
        raise SessionError(f"--tolerance {args.tolerance} must be a percentage >= 0")
    session.kernel_file()
    if session.warning:
        err.print(f"note: {session.warning}")

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("replaying", total=len(trials))

        def on_progress(trial: dict, stage: str) -> None:
            if stage == "done":
                progress.advance(task)
            else:
                label = "starting" if stage == "start" else stage
                progress.update(task, description=f"trial {trial.get('id')}: {label}")

        outcomes = replay(
            session,
            trials,
            simulate=args.simulate,
            tolerance=tolerance,
            timeout=args.timeout,
            on_progress=on_progress,
        )
    code = 1 if any(o["regression"] for o in outcomes) else 0
    if args.json:
        print_json(
            plain(
                {
                    "session": str(session.path),
                    "simulate": bool(args.simulate),
                    "tolerance_pct": tolerance,
                    "target": session.data["target"],
                    "problem": session.problem_id,
                    "kernel_warning": session.warning or None,
                    "trials": outcomes,
                    "exit": code,
                }
            )
        )
        return code
    _print_table(session, outcomes, simulate=args.simulate, tolerance=tolerance)
    return code


# --- printing -----------------------------------------------------------------------------------
def _ms(value: Any) -> str:
    return f"{value:.4g} ms" if isinstance(value, int | float) else "-"


def _correct_word(summary: dict | None) -> str:
    if not summary:
        return "-"
    if summary.get("correct"):
        rel = summary.get("rel_error")
        return f"yes ({rel:.1e})" if isinstance(rel, int | float) else "yes"
    return summary.get("status") or "-"


def _yes_no(summary: dict) -> str:
    if summary.get("correct"):
        return "yes"
    return "no" if summary.get("status") in ("ok", "wrong_result") else "-"


def _verdict_style(outcome: dict) -> str:
    if outcome["regression"]:
        return "bold red"
    return (
        "green"
        if outcome["verdict"] in ("ok", "ok (other Triton)", "faster", "correct")
        else "yellow"
    )


def short_config(config: dict) -> str:
    """`64x64x32 w4 s2 tf32x3` for the usual keys; key=value for anything else."""
    config = dict(config or {})
    parts = []
    if all(k in config for k in ("BLOCK_M", "BLOCK_N", "BLOCK_K")):
        parts.append("x".join(str(config.pop(k)) for k in ("BLOCK_M", "BLOCK_N", "BLOCK_K")))
    for key, prefix in (("num_warps", "w"), ("num_stages", "s")):
        if key in config:
            parts.append(f"{prefix}{config.pop(key)}")
    if "precision" in config:
        parts.append(str(config.pop("precision")))
    parts.extend(f"{k}={v}" for k, v in config.items())
    return " ".join(parts) or "(defaults)"


def _resources_cell(recorded: dict, now: dict | None) -> str:
    if not now:
        return "-"
    names = {"registers": "reg", "spill_bytes": "B spill", "shared_bytes": "B smem"}
    cells = []
    for key, name in names.items():
        a, b = recorded.get(key), now.get(key)
        cells.append(f"{b} {name}" if a in (None, b) else f"[red]{a}->{b}[/] {name}")
    same = all(recorded.get(k) in (None, now.get(k)) for k in names)
    return ", ".join(cells) + ("" if not same else " [dim](as recorded)[/]")


def _print_table(session: Session, outcomes: list[dict], *, simulate: bool, tolerance: float):
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    target = session.data["target"]
    title = (
        f"{'simulated replay' if simulate else 'replay'} of {session.path}:"
        f" {session.problem_id} for {target.get('name')} ({target.get('sm')})"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("config")
    if simulate:
        for name in ("resources now", "interpreter", "recorded time", "verdict"):
            table.add_column(name)
    else:
        for name in ("recorded", "now", "change", "correct", "device", "verdict"):
            table.add_column(name)
    for o in outcomes:
        verdict = f"[{_verdict_style(o)}]{o['verdict']}[/]"
        config = short_config(o.get("config") or {})
        rec = o["recorded"]
        if simulate:
            res = _resources_cell(rec["resources"], o["now"].get("resources"))
            interp = _correct_word(o["now"].get("interpreter"))
            if rec["median_ms"] is not None:
                timed = f"{_ms(rec['median_ms'])} [dim]recorded on {rec['device']}[/]"
            else:
                timed = "[dim]not timed[/]"
            table.add_row(str(o["id"]), config, res, interp, timed, verdict)
        else:
            cur = o["now"]
            change = f"{o['change_pct']:+.1f}%" if o["change_pct"] is not None else "-"
            rec_t = _ms(rec["median_ms"]) if rec["correct"] else rec["status"]
            cur_t = _ms(cur["median_ms"]) if cur["correct"] else cur["status"]
            device = "same" if not o["device_differs"] else f"differs: {cur['device']}"
            both = f"{_yes_no(rec)} / {_yes_no(cur)}"
            table.add_row(str(o["id"]), config, rec_t, cur_t, change, both, device, verdict)
    console.print(table)
    for o in outcomes:
        if o.get("detail"):
            style = "red" if o["regression"] else "dim"
            console.print(f"[{style}]trial {o['id']}: {o['verdict']}: {o['detail']}[/]")
    bad = [o for o in outcomes if o["regression"]]
    if bad:
        ids = ", ".join(str(o["id"]) for o in bad)
        console.print(f"[bold red]regression[/] in trial {ids} (tolerance {tolerance:g}%)")
    else:
        what = "as recorded" if simulate else f"correct and within {tolerance:g}%"
        console.print(f"[green]all {len(outcomes)} trial(s) {what}[/]")
