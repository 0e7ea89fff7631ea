"""The `replay` verb: re-run a session's trials here and compare with the recording.

Exit status: 0 all as recorded (correct and within tolerance), 1 a regression or a wrong
result, 2 an error.
"""

from __future__ import annotations

import argparse

from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from workbench.cli.render import err_console, out_console, print_json
from workbench.core.config import short_config
from workbench.core.records import TrialResult
from workbench.session.replay import Outcome, Summary, check_tolerance, replay, select_trials
from workbench.session.store import Session


def replay_command(args: argparse.Namespace) -> int:
    err = err_console()
    session = Session.load(args.session, readonly=True)
    trials = select_trials(session, args.trials)
    tolerance = check_tolerance(float(args.tolerance))
    session.kernel_file()
    if session.warning:
        err.print(f"note: {session.warning}")
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("replaying", total=len(trials))

        def on_progress(trial: TrialResult, stage: str) -> None:
            if stage == "done":
                progress.advance(task)
            else:
                label = "starting" if stage == "start" else stage
                progress.update(task, description=f"trial {trial.id}: {label}")

        outcomes = replay(
            session,
            trials,
            simulate=args.simulate,
            tolerance=tolerance,
            timeout=args.timeout,
            on_progress=on_progress,
        )
    code = 1 if any(o.regression for o in outcomes) else 0
    if args.json:
        print_json(
            {
                "session": str(session.path),
                "simulate": bool(args.simulate),
                "tolerance_pct": tolerance,
                "target": session.target,
                "problem": session.problem_id,
                "kernel_warning": session.warning or None,
                "trials": outcomes,
                "exit": code,
            }
        )
        return code
    _print_table(session, outcomes, simulate=args.simulate, tolerance=tolerance)
    return code


def _ms(value: float | None) -> str:
    return f"{value:.4g} ms" if isinstance(value, int | float) else "-"


def _correct_word(s: Summary | None) -> str:
    if s is None:
        return "-"
    if s.correct:
        return f"yes ({s.rel_error:.1e})" if isinstance(s.rel_error, int | float) else "yes"
    return s.status or "-"


def _yes_no(s: Summary) -> str:
    if s.correct:
        return "yes"
    return "no" if s.status in ("ok", "wrong_result") else "-"


def _verdict_style(o: Outcome) -> str:
    if o.regression:
        return "bold red"
    return "green" if o.ok else "yellow"


def _resources_cell(recorded: dict[str, object], now: dict[str, object] | None) -> str:
    if not now:
        return "-"
    names = {"registers": "reg", "spill_bytes": "B spill", "shared_bytes": "B smem"}
    cells = []
    for key, name in names.items():
        a, b = recorded.get(key), now.get(key)
        cells.append(f"{b} {name}" if a in (None, b) else f"[red]{a}->{b}[/] {name}")
    same = all(recorded.get(k) in (None, now.get(k)) for k in names)
    return ", ".join(cells) + (" [dim](as recorded)[/]" if same else "")


def _print_table(
    session: Session, outcomes: list[Outcome], *, simulate: bool, tolerance: float
) -> None:
    console = out_console()
    target = session.target
    title = (
        f"{'simulated replay' if simulate else 'replay'} of {session.path}:"
        f" {session.problem_id} for {target.get('name')} ({target.get('sm')})"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("config")
    names = (
        ("resources now", "interpreter", "recorded time", "verdict")
        if simulate
        else ("recorded", "now", "change", "correct", "device", "verdict")
    )
    for name in names:
        table.add_column(name)
    for o in outcomes:
        verdict = f"[{_verdict_style(o)}]{o.verdict}[/]"
        config = short_config(o.config)
        rec = o.recorded
        if simulate:
            res = _resources_cell(rec.resources, o.compile.get("resources"))
            timed = (
                f"{_ms(rec.measured_ms)} [dim]recorded on {rec.device}[/]"
                if rec.measured_ms is not None
                else "[dim]not timed[/]"
            )
            table.add_row(str(o.id), config, res, _correct_word(o.now), timed, verdict)
        else:
            cur = o.now or Summary(status=None)
            change = f"{o.change_pct:+.1f}%" if o.change_pct is not None else "-"
            rec_t = _ms(rec.measured_ms) if rec.correct else (rec.status or "-")
            cur_t = _ms(cur.measured_ms) if cur.correct else (cur.status or "-")
            where = "same" if not o.device_differs else f"differs: {cur.device}"
            table.add_row(
                str(o.id),
                config,
                rec_t,
                cur_t,
                change,
                f"{_yes_no(rec)} / {_yes_no(cur)}",
                where,
                verdict,
            )
    console.print(table)
    for o in outcomes:
        if o.detail:
            style = "red" if o.regression else "dim"
            console.print(f"[{style}]trial {o.id}: {o.verdict}: {o.detail}[/]")
    bad = [o for o in outcomes if o.regression]
    if bad:
        ids = ", ".join(str(o.id) for o in bad)
        console.print(f"[bold red]regression[/] in trial {ids} (tolerance {tolerance:g}%)")
    else:
        what = "as recorded" if simulate else f"correct and within {tolerance:g}%"
        console.print(f"[green]all {len(outcomes)} trial(s) {what}[/]")
