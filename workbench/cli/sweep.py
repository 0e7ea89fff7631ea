"""The `sweep` verb: find the fastest correct config of a kernel for a target, and keep it all.

Exit status: 0 when a correct winner was found (measured on a GPU, or checked in the interpreter;
`--mode compile`: when a config fits), 1 when none was, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from workbench.analysis.model import DEFAULT_CALIBRATION, Calibration, load_calibration
from workbench.cli.render import err_console, num, out_console, print_json
from workbench.core.config import format_config, short_config
from workbench.core.errors import UsageError
from workbench.core.gpus import find_gpu
from workbench.kernel.kernelfile import KernelFile
from workbench.kernel.problemfile import load_problem
from workbench.runner import device
from workbench.runner.base import Runner
from workbench.runner.local import LocalRunner, keep_warm
from workbench.search.space import PRECISION_NOTES
from workbench.search.sweep import (
    STAGE_LABELS,
    Sweep,
    SweepEvent,
    SweepResult,
    SweepSpec,
    build_space,
    check_spec,
    sweep_mode,
)
from workbench.session.store import Session, default_session_path


def make_runner(args: argparse.Namespace) -> Runner:
    if args.timeout is not None and not args.timeout > 0:
        raise UsageError(f"--timeout {args.timeout} must be more than 0 seconds")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers {args.workers} must be 1 or more")
    if args.backend == "ray":
        from workbench.runner.ray import RayRunner  # optional: needs `pip install -e '.[ray]'`

        return RayRunner(address=args.address, workers=args.workers, timeout_s=args.timeout)
    keep_warm(True)  # one warm worker per mode, config after config
    return LocalRunner(compile_workers=args.workers, timeout_s=args.timeout)


def calibration_arg(value: str | None) -> Calibration | None:
    """--calibration: None keeps the target's shipped calibration."""
    if value is None:
        return None
    if value == "defaults":
        return DEFAULT_CALIBRATION
    if not Path(value).is_file():
        raise UsageError(
            f"--calibration {value}: no such file; give a file from `calibrate` or 'defaults'"
        )
    calibration = load_calibration(value)
    if calibration is None:
        raise UsageError(
            f"--calibration {value}: not a calibration of this model version; refit it with `calibrate`"
        )
    return calibration


def sweep_command(args: argparse.Namespace) -> int:
    kf = KernelFile.load(args.kernel)
    problem = load_problem(args.problem)
    gpu = find_gpu(args.gpu)
    mode = sweep_mode(args.mode)
    spec = SweepSpec(
        space="", strategy=args.strategy, target=gpu.key, mode=mode, budget=args.budget,
        time_budget_s=args.time_budget, top_k=args.top, max_spill_bytes=args.max_spill, seed=args.seed,
    )  # fmt: skip
    check_spec(spec)
    calibration = calibration_arg(args.calibration)  # a bad file fails here, before any work
    space = build_space(kf, problem, args.space)  # a malformed space fails here, before any work
    spec = spec.replace(space=space.text())
    path = Path(args.session) if args.session else default_session_path(problem, gpu, "-sweep")
    console = err_console()
    runner = make_runner(args)
    cancel = threading.Event()
    try:
        with Session.open(path, kf, problem, gpu) as session:
            if args.resume and not any(b.get("state") != "done" for b in session.sweeps):
                raise UsageError(
                    f"--resume: {path} has no unfinished sweep; run without --resume to start one"
                )
            if not args.json:
                _print_header(
                    console, kf, problem.label(), gpu.name, spec, space.size, space.notes, path
                )
            result = _run(kf, problem, gpu, spec, session, runner, cancel, console, quiet=args.json,
                          calibration=calibration)  # fmt: skip
    finally:
        runner.close()
    if args.json:
        print_json({**result.to_json(), "session": str(path)})
    else:
        print_result(result, out_console(), str(path))
    return 0 if result.winner is not None and (result.winner.correct or mode == "compile") else 1


def _run(kf: KernelFile, problem: object, gpu: object, spec: SweepSpec, session: Session, runner: Runner,
         cancel: threading.Event, console: Console, quiet: bool,
         calibration: Calibration | None = None) -> SweepResult:  # fmt: skip
    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[best]}"),
    )  # fmt: skip
    with Progress(*columns, console=console, transient=True, disable=quiet) as progress:
        tasks: dict[str, TaskID] = {}

        def on_event(event: SweepEvent) -> None:
            if event.stage == "done":
                return
            label = STAGE_LABELS[event.stage].format(target=spec.target)
            if event.stage not in tasks:
                tasks[event.stage] = progress.add_task(label, total=event.total, best="")
            best = (
                f"best {event.best.kernelbench_ms or event.best.kernel_only_ms:.3f} ms"
                if event.best and (event.best.kernelbench_ms or event.best.kernel_only_ms)
                else ""
            )
            progress.update(tasks[event.stage], completed=event.done, total=event.total, best=best)

        sweep = Sweep(
            kf,
            problem,  # type: ignore[arg-type]
            gpu,  # type: ignore[arg-type]
            spec,
            session,
            runner,
            calibration=calibration,
            on_event=on_event,
            cancel=cancel,
        )
        try:
            return sweep.run()
        except KeyboardInterrupt:
            cancel.set()
            raise


def _print_header(console: Console, kf: KernelFile, problem: str, gpu: str, spec: SweepSpec, size: int,
                  notes: list[str], path: Path) -> None:  # fmt: skip
    console.print(
        f"[bold]sweep[/] of {kf.name} on {problem} for {gpu}: {size} configs, strategy {spec.strategy}, mode {spec.mode}"
    )
    console.print(f"[dim]space: {spec.space}[/]", highlight=False)
    for mode in (
        spec.space.split("precision=")[-1].split(";")[0].split(",")
        if "precision=" in spec.space
        else []
    ):
        if mode in PRECISION_NOTES:
            console.print(f"[dim]precision={mode}: {PRECISION_NOTES[mode]}[/]")
    for note in notes:
        console.print(f"[yellow]note[/] {note}")
    console.print(
        f"[dim]session: {path}; where trials run: {device.describe(device.fingerprint('gpu' if spec.mode == 'gpu' else 'interpreter'))}[/]"
    )


def print_result(r: SweepResult, console: Console, path: str) -> None:
    timed = r.spec.mode == "gpu"
    t = Table(
        title=f"sweep {r.sweep}: {r.fits} of {r.space_size} configs fit; {r.measured} measured",
        title_justify="left",
    )
    for col in ("#", "config", "status", "predicted ms", "KB ms" if timed else "", "kernel ms" if timed else "",
                "vs cuDNN" if timed else "", "rel err", "regs", "spill", "occ", "limiter"):  # fmt: skip
        if col:
            t.add_column(
                col, justify="right" if col not in ("config", "status", "limiter") else "left"
            )
    for i, row in enumerate(r.ranked[:25], 1):
        cells = [str(i), short_config(row.config), row.status if row.correct or row.status != "ok" else "ok, not checked",
                 num(row.predicted_ms, ".3g")]  # fmt: skip
        if timed:
            cells += [
                num(row.kernelbench_ms, ".4g"),
                num(row.kernel_only_ms, ".4g"),
                f"{row.speedup:.2f}x" if row.speedup else "-",
            ]
        cells += [num(row.rel_error, ".1e"), num(row.registers, "d"), num(row.spill_bytes, "d"),
                  f"{row.occupancy:.0%}" if row.occupancy is not None else "-", row.limiter]  # fmt: skip
        t.add_row(*cells)
    console.print(t)
    if len(r.ranked) > 25:
        console.print(f"[dim]... {len(r.ranked) - 25} more in the session ({path}) and --json[/]")
    if r.dropped:
        console.print(
            "dropped in stage 1: " + ", ".join(f"{n} {why}" for why, n in sorted(r.dropped.items()))
        )
    for note in r.notes:
        console.print(f"[yellow]note[/] {note}")
    predicted = "predicted ms: the performance model (see `inspect` for its calibration); never a measurement"
    console.print(f"[dim]{predicted}[/]")
    if r.rank_correlation is not None:
        console.print(
            f"[dim]ranking check: Spearman {r.rank_correlation:.2f} between predicted and measured times[/]"
        )
    if r.winner is None:
        console.print(
            "[bold red]no correct winner[/]: nothing that fits was checked correct (see the table)"
        )
    else:
        w = r.winner
        console.print(
            f"[bold green]winner[/] {short_config(w.config)}: {w.time_words()}; {r.winner_basis}"
        )
        if w.kernelbench_ms is not None:
            console.print(
                f"export it: conv3d-bench export {path} -o conv3d_tuned.py  (--autotune 3: the top 3 as an autotune list)"
            )
        else:
            console.print(
                f"export it (not measured: check it on a GPU first): conv3d-bench export {r.kernel} -p {r.problem} -g {r.spec.target} -c {format_config(w.config)} -o conv3d_tuned.py"
            )
    cost = (
        f"; {r.seconds_per_config:.2f} s of GPU worker time per measured config"
        if r.seconds_per_config
        else ""
    )
    console.print(f"[dim]wall {r.wall_s:.1f} s{cost}{'; resumed' if r.resumed else ''}[/]")
