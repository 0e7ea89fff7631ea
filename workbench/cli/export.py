"""The `export` verb: a session's best (or named) trial, or a config given directly, baked into a
standalone KernelBench-format file, written safely and then judged the KernelBench way.

Exit status: 0 written (and, unless --no-verify, correct when judged), 1 written but the check
of the written file failed, 2 nothing written (a usage error, a refused trial or output path).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from workbench.cli.render import err_console
from workbench.core.config import Config, format_config, parse_config
from workbench.core.errors import ExportError
from workbench.core.gpus import GPU, find_gpu
from workbench.core.paths import BUILTIN_KERNEL
from workbench.core.problem import Problem
from workbench.core.records import Status
from workbench.kernel.kernelfile import KernelFile
from workbench.kernel.problemfile import ProblemFile, load_problem
from workbench.runner.local import InspectFailed, inspect_in_worker, run_trial
from workbench.session.export import (
    ExportPlan,
    check_output,
    export_kernel,
    plan_from_kernel,
    plan_from_session,
    reopened_config,
    write_export,
)
from workbench.session.store import Session, looks_like_session


def export_command(args: argparse.Namespace) -> int:
    console = err_console()
    out = Path(args.output)
    if args.output != "-":  # before any work is spent on it
        check_output(out, args.force, _given_kernel(args.source))
    notes: list[str] = []  # said once the file is written: a refusal stays one line
    plan = _plan(args, notes)
    if args.output != "-":
        check_output(out, args.force, Path(plan.kf.path))
    if not args.no_verify:  # the check runs the problem file's Model: refuse a changed one now
        ProblemFile.for_problem(plan.problem)
    text = export_kernel(plan)
    if not plan.autotune:
        reopened_config(text, out, plan.problem, plan.config)
    if args.output == "-":
        print(text, end="")
        for note in notes:
            console.print(f"note: {note}", soft_wrap=True)
        return 0
    write_export(text, out, args.force, Path(plan.kf.path))
    where = f"trial {plan.trial.id}" if plan.trial else "the given config"
    what = f"{len(plan.autotune)} autotune configs" if plan.autotune else format_config(plan.config)
    console.print(f"wrote {out}: {plan.kf.name} with {what} ({where}; {plan.gpu.name})")
    for note in notes:
        console.print(f"note: {note}", soft_wrap=True)
    if args.no_verify:
        return 0
    return _verify(out, plan, args.timeout, console)


def _plan(args: argparse.Namespace, notes: list[str]) -> ExportPlan:
    source = args.source
    if source and looks_like_session(Path(source)):
        if args.config:
            raise ExportError(
                "--config goes with a kernel file; from a session, pick a trial with --trial N"
            )
        session = Session.load(source, readonly=True)
        for flag, given in (("--problem", args.problem), ("--gpu", args.gpu)):
            if given:
                notes.append(f"{flag} {given} ignored: the session's is used")
        plan = plan_from_session(session, args.trial, args.force, args.autotune)
        if session.warning:
            notes.append(session.warning)
        return plan
    if args.trial is not None:
        raise ExportError("--trial needs a session file as the source")
    if args.autotune is not None:
        raise ExportError(
            "--autotune needs a session (its fastest correct trials); give the session .json"
        )
    kf = KernelFile.load(source)
    problem, gpu = load_problem(args.problem), find_gpu(args.gpu)
    config = parse_config(args.config)
    _compile_in_worker(kf, problem, config, gpu, args.timeout, args.force)
    return plan_from_kernel(kf, problem, gpu, config)


def _given_kernel(source: str | None) -> Path | None:
    """The kernel file named on the command line (None: a session, whose kernel comes later)."""
    if source is None:
        return BUILTIN_KERNEL
    return None if looks_like_session(Path(source)) else Path(source)


def _compile_in_worker(
    kf: KernelFile, problem: Problem, config: Config, gpu: GPU, timeout: float | None, force: bool
) -> None:
    """The user's wrapper runs first in a worker under the time limit (a host loop that never
    ends is ended there, not here); a config never tried must at least fit the target, unless
    --force."""
    try:
        inspect_in_worker(kf, problem, config, gpu, timeout_s=timeout)
    except InspectFailed as err:
        if not (force and err.status in (Status.COMPILE_ERROR, Status.OUT_OF_RESOURCES)):
            raise


def _verify(out: Path, plan: ExportPlan, timeout: float | None, console: Console) -> int:
    """Judge the written file as KernelBench would: loaded from its path, ModelNew(*get_init_inputs())
    under seed 42, its own baked config, against the reference (interpreter here, GPU where present)."""
    written = KernelFile.load(out)
    result = run_trial(written, plan.problem, {}, gpu=plan.gpu, mode="auto", timeout_s=timeout)
    where = result.device + (
        " (reduced problem)" if result.problem is not None and result.problem.reduced else ""
    )
    if result.correct:
        timed = (
            f"; KernelBench's protocol {result.kernelbench_ms:.3f} ms"
            if result.kernelbench_ms
            else ""
        )
        console.print(f"checked {out} the KernelBench way on {where}: {result.message}{timed}")
        return 0
    console.print(
        f"[red]{out} was written, but fails when judged the KernelBench way on {where}: {result.message}[/]"
    )
    return 1
