"""The `bench` verb: one trial of a config, printed with rich or as `--json`.

Exit status: 0 only for a correct trial (it ran and passed KernelBench's 1e-4 check), 1 for a
trial that failed, was wrong or could not be checked, 2 for a usage error (including a config
that breaks a hard rule, `invalid_config`). With `--session` the session is locked before the
trial runs, so a trial is never spent on a session it cannot be recorded in.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from rich.console import Console
from rich.table import Table

from workbench.cli.render import (
    STATUS_STYLE,
    err_console,
    headline,
    ms,
    num,
    out_console,
    prediction_text,
    print_json,
)
from workbench.core.config import format_config, parse_config
from workbench.core.errors import WorkbenchError
from workbench.core.gpus import find_gpu
from workbench.core.records import Status, TrialResult
from workbench.kernel.kernelfile import KernelFile
from workbench.kernel.problemfile import load_problem
from workbench.runner import device
from workbench.runner.local import resolve_mode, run_trial
from workbench.runner.ncu import LABELS
from workbench.session.store import Session


def bench_command(args: argparse.Namespace) -> int:
    kf = KernelFile.load(args.kernel)
    problem = load_problem(args.problem)
    gpu = find_gpu(args.gpu)
    config = parse_config(args.config)
    mode = resolve_mode(args.mode)
    console = err_console()
    with contextlib.ExitStack() as stack:
        session = (
            stack.enter_context(Session.open(args.session, kf, problem, gpu))
            if args.session
            else None
        )
        where = device.fingerprint(mode).get("name")
        previous = session.previous(where) if session else None
        if args.json:
            result = run_trial(
                kf, problem, config, gpu=gpu, mode=mode, timeout_s=args.timeout, previous=previous,
                ncu=args.ncu,
            )  # fmt: skip
        else:
            with console.status("starting", spinner="dots") as status:
                result = run_trial(
                    kf, problem, config, gpu=gpu, mode=mode, timeout_s=args.timeout,
                    previous=previous, ncu=args.ncu, progress=lambda text: status.update(text),
                )  # fmt: skip
        recorded = session.record(result, args.note or "") if session else None
    if args.json:
        data = result.to_json()
        if recorded is not None:
            data["session"] = {"path": str(args.session), "trial_id": recorded.id}
        print_json(data)
    else:
        print_result(result, out_console())
        if recorded is not None:
            console.print(f"recorded as trial {recorded.id} in {args.session}")
    code = exit_code(result)
    if code:  # the result went to stdout; scripts and people reading stderr get the one line
        print(f"error: {failure_line(result)}", file=sys.stderr)
    return code


VERDICT_TEXT = {
    True: "[green]pass[/]",
    False: "[red]FAIL[/]",
    None: "[yellow]not checked on CPU[/]",
}


def exit_code(result: TrialResult) -> int:
    if result.correct:
        return 0
    return 2 if result.status is Status.INVALID_CONFIG else 1


def failure_line(result: TrialResult) -> str:
    """Why a trial is not a correct one, in one line."""
    status = result.status.value if result.status else "unknown"
    return f"{status}: {' '.join((result.message or 'no message').split())}"


# --- printing ---------------------------------------------------------------------------------
def print_result(r: TrialResult, console: Console) -> None:
    status = r.status.value if r.status else "?"
    console.print(f"[{STATUS_STYLE.get(status, 'bold red')}]{status.upper()}[/] {r.message}")
    head = Table(show_header=False, box=None, pad_edge=False)
    head.add_column(style="bold", no_wrap=True)
    head.add_column(overflow="fold")
    ran = device.describe(r.device_fingerprint)
    if r.problem is not None and r.problem.reduced:
        ran += ": correctness only, on the reduced problem"
    head.add_row("ran on", ran)
    if r.problem is not None:
        head.add_row(
            "problem",
            r.problem.label + (f" ({r.problem.reduction})" if r.problem.reduction else ""),
        )
    if r.kernel is not None:
        head.add_row("kernel", f"{r.kernel.path} (sha256 {r.kernel.sha256[:12]})")
    head.add_row("config", format_config(r.config) or "(the file's defaults)")
    res = r.resources
    if res is not None:
        head.add_row(
            f"compiled for {r.target}",
            f"{res.registers} registers, {res.spill_bytes} B spilled, {res.shared_bytes / 1024:.1f} KB shared ({res.source})",
        )
    console.print(head)
    for rule in r.inspect.rules if r.inspect else []:
        console.print(f"[yellow]{rule.severity}[/] {rule.message}", highlight=False)
    for line in r.inspect.provenance if r.inspect else []:
        if line.startswith("ModelNew"):
            console.print(f"[cyan]note[/] {line}", highlight=False)
    _correctness(r, console)
    _timing(r, console)
    _ncu(r, console)
    if r.detail and not r.ok:
        last = [ln for ln in r.detail.splitlines() if ln.strip()][-3:]
        console.print("[dim]worker said (last lines; --json has more):[/]")
        for line in last:
            console.print(f"  {line}", style="dim", markup=False, highlight=False)
    console.print(f"[dim]wall time {r.wall_s or 0:.1f} s[/]")


def _correctness(r: TrialResult, console: Console) -> None:
    c = r.correctness
    if c is None:
        return
    t = Table(title="correctness", title_justify="left", show_header=False)
    t.add_column(style="bold")
    t.add_column()
    t.add_row(
        "vs fp64 reference",
        f"rel error {num(c.rel_error, '.2e')}, max abs {num(c.max_abs_error, '.2e')}",
    )
    verdict = VERDICT_TEXT[c.kernelbench_pass]
    trials = f", {c.trials} trial{'s' * (c.trials != 1)}"
    t.add_row(
        "KernelBench check",
        f"{verdict} (allclose atol={c.atol:g} rtol={c.rtol:g} vs the fp32 reference{trials})",
    )
    t.add_row("NaN / Inf / never written", f"{c.nan_count} / {c.inf_count} / {c.unwritten_count}")
    if c.weights:
        t.add_row("ModelNew's weights", c.weights)
    if c.caveat:
        t.add_row("note", f"[yellow]{c.caveat}[/]")
    console.print(t)


def _timing(r: TrialResult, console: Console) -> None:
    tm = r.timing
    if tm is None or tm.median_ms is None:
        console.print(f"timing: [dim]{(tm.reason if tm else '') or 'not measured'}[/]")
        _prediction(r, console)
        return
    line = headline(r)
    if line:
        console.print(line)
    _prediction(r, console)
    kb = r.kernelbench_timing
    base = r.baseline
    t = Table(title="timing", title_justify="left")
    for col in (
        "",
        "KernelBench mean",
        "kernel only median",
        "p20 - p80 (kernel only)",
        "TFLOP/s",
        "GB/s",
        "% peak",
    ):
        t.add_column(col)
    pct = f"{num(tm.pct_peak_compute, '.1f')} {tm.peak_basis} / {num(tm.pct_peak_bandwidth, '.1f')} bw"
    t.add_row(
        "kernel", ms(kb.mean_ms if kb else None), ms(tm.median_ms), f"{ms(tm.p20_ms)} - {ms(tm.p80_ms)}",
        num(tm.tflops, ".1f"), num(tm.gbs, ".0f"), pct,
    )  # fmt: skip
    if base is not None and base.median_ms:
        t.add_row(
            "cuDNN" + (" (cached)" if base.cached else ""), ms(base.kernelbench_mean_ms), ms(base.median_ms),
            f"{ms(base.p20_ms)} - {ms(base.p80_ms)}", "", "", "",
        )  # fmt: skip
    console.print(t)
    console.print(f"[dim]{kb.method if kb else ''}[/]")
    console.print(f"[dim]{tm.method}[/]")
    vs = r.vs_previous
    if vs is not None:
        if vs.change_pct is None:
            console.print(f"vs previous: [dim]{vs.reason}[/]")
        else:
            changed = f"; changed {', '.join(vs.changed)}" if vs.changed else ""
            console.print(
                f"vs previous trial {vs.previous_id} ({ms(vs.previous_median_ms)}): {vs.change_pct:+.1f}%,"
                f" [bold]{vs.verdict}[/]{changed}"
                + ("" if vs.same_device else " [yellow](another device)[/]")
            )


def _prediction(r: TrialResult, console: Console) -> None:
    """The model's prediction for the target, beside the measurement when they are of one GPU."""
    p = r.inspect.prediction if r.inspect else None
    if p is None:
        return
    target = r.inspect.target.name if r.inspect and r.inspect.target else r.target
    console.print(
        f"[cyan]model[/] (KernelBench's protocol) {prediction_text(p, target)}"
        " [dim](not a measurement)[/]"
    )
    measured = r.kernelbench_ms
    if measured is None:
        return
    try:
        same = find_gpu(r.device).key == r.target
    except WorkbenchError:
        same = False
    if same:
        console.print(
            f"[cyan]model[/] vs measured (KernelBench's protocol {measured:.3f} ms):"
            f" prediction {100 * (p.ms / measured - 1):+.0f}%"
        )
    else:
        console.print(
            f"[dim]model: predicted for {target}, measured on {r.device}: not compared[/]"
        )


def _ncu(r: TrialResult, console: Console) -> None:
    n = r.ncu
    if n is None:
        return
    if not n.ok:
        console.print(f"ncu: [yellow]{n.message}[/]")
        return
    t = Table(title=f"Nsight Compute: {n.kernel}", title_justify="left")
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_column("ncu name", style="dim")
    for name, value in n.metrics.items():
        shown = (
            f"{value:,}"
            if isinstance(value, int)
            else (f"{value:.1f}" if isinstance(value, float) else str(value))
        )
        t.add_row(LABELS.get(name, name), shown, name)
    console.print(t)
