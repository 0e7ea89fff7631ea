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
from workbench.core.config import format_config, parse_config
from workbench.core.errors import ExportError
from workbench.core.gpus import find_gpu
from workbench.kernel.compile import compile_for_target
from workbench.kernel.kernelfile import KernelFile
from workbench.kernel.problemfile import ProblemFile, load_problem
from workbench.runner.local import run_trial
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
    plan = _plan(args, console)
    out = Path(args.output)
    if args.output != "-":
        check_output(out, args.force, Path(plan.kf.path))  # before any work is spent on it
    if not args.no_verify:  # the check runs the problem file's Model: refuse a changed one now
        ProblemFile.for_problem(plan.problem)
    text = export_kernel(plan)
    if not plan.autotune:
        reopened_config(text, out, plan.problem, plan.config)
    if args.output == "-":
        print(text, end="")
        return 0
    write_export(text, out, args.force, Path(plan.kf.path))
    where = f"trial {plan.trial.id}" if plan.trial else "the given config"
    what = f"{len(plan.autotune)} autotune configs" if plan.autotune else format_config(plan.config)
    console.print(f"wrote {out}: {plan.kf.name} with {what} ({where}; {plan.gpu.name})")
    if args.no_verify:
        return 0
    return _verify(out, plan, args.timeout, console)


def _plan(args: argparse.Namespace, console: Console) -> ExportPlan:
    source = args.source
    if source and looks_like_session(Path(source)):
        if args.config:
            raise ExportError(
                "--config goes with a kernel file; from a session, pick a trial with --trial N"
            )
        session = Session.load(source, readonly=True)
        for flag, given in (("--problem", args.problem), ("--gpu", args.gpu)):
            if given:
                console.print(f"note: {flag} {given} ignored: the session's is used")
        plan = plan_from_session(session, args.trial, args.force, args.autotune)
        if session.warning:
            console.print(f"note: {session.warning}")
        return plan
    if args.trial is not None:
        raise ExportError("--trial needs a session file as the source")
    if args.autotune is not None:
        raise ExportError(
            "--autotune needs a session (its fastest correct trials); give the session .json"
        )
    kf = KernelFile.load(source)
    problem, gpu = load_problem(args.problem), find_gpu(args.gpu)
    plan = plan_from_kernel(kf, problem, gpu, parse_config(args.config))
    if not args.force:
        compile_for_target(
            kf, problem, plan.config, gpu
        )  # never tried: at least it must fit the target
    return plan


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
