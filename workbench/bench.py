"""The `bench` verb: one trial of a config, printed with rich or as `--json`.

Exit status: 0 when the trial is ok, 1 when it failed or was wrong, 2 on a usage error
(including a config that breaks a hard rule, `invalid_config`).
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

from rich.console import Console
from rich.table import Table

from workbench import device
from workbench.config import format_config, parse_config
from workbench.gpus import find_gpu
from workbench.problem import parse_problem

STATUS_STYLE = {"ok": "bold green", "wrong_result": "bold red", "cancelled": "yellow"}


def bench_command(args: argparse.Namespace) -> int:
    from workbench.kernelfile import KernelFile
    from workbench.run import run_trial

    kf = KernelFile.load(args.kernel)
    problem = parse_problem(args.problem)
    gpu = find_gpu(args.gpu)
    config = parse_config(args.config)
    previous = _previous_from_session(args.session, kf, problem, gpu) if args.session else None
    console = Console(stderr=True)
    if args.json:
        result = run_trial(
            kf, problem, config, gpu=gpu, mode=args.mode, timeout_s=args.timeout,
            previous=previous, ncu=args.ncu,
        )  # fmt: skip
    else:
        with console.status("starting", spinner="dots") as status:
            result = run_trial(
                kf, problem, config, gpu=gpu, mode=args.mode, timeout_s=args.timeout,
                previous=previous, ncu=args.ncu,
                progress=lambda text: status.update(text),
            )  # fmt: skip
    if args.session:
        _record(args, kf, problem, gpu, config, result, console)
    if args.json:
        from workbench.cli import print_json

        print_json(result)
    else:
        print_result(result, Console())
    return exit_code(result)


def exit_code(result: dict) -> int:
    status = result.get("status")
    if status == "ok":
        return 0
    return 2 if status == "invalid_config" else 1


# --- sessions ---------------------------------------------------------------------------------
def _previous_from_session(path: str, kf: Any, problem: Any, gpu: Any) -> dict | None:
    """The session's last timed trial (else its last trial); refuses a mismatched session now,
    before a trial is spent on it."""
    from pathlib import Path

    from workbench.errors import SessionError
    from workbench.session import Session

    if not Path(path).exists():
        return None
    session = Session.load(path, readonly=True)
    mismatch = session.mismatch(kf, problem, gpu)
    if mismatch:
        raise SessionError(mismatch)
    timed = [t for t in session.trials if (t.get("timing") or {}).get("median_ms")]
    return timed[-1] if timed else session.latest()


def _record(args: argparse.Namespace, kf: Any, problem: Any, gpu: Any, config: dict, result: dict,
            console: Console) -> None:  # fmt: skip
    from workbench.session import append_trial

    trial = append_trial(
        args.session, kf, problem, gpu, result.get("config") or config, result.get("inspect"),
        result, args.note or "",
    )  # fmt: skip
    result["session"] = {"path": str(args.session), "trial_id": trial.get("id")}
    if not args.json:
        console.print(f"recorded as trial {trial.get('id')} in {args.session}")


# --- printing ---------------------------------------------------------------------------------
def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f} ms"


def _num(v: Any, fmt: str = ".3g") -> str:
    return "-" if v is None else format(v, fmt)


def print_result(r: dict, console: Console) -> None:
    fp = r.get("device_fingerprint") or {}
    problem = r.get("problem") or {}
    status = r.get("status") or "?"
    console.print(
        f"[{STATUS_STYLE.get(status, 'bold red')}]{status.upper()}[/] {r.get('message') or ''}"
    )
    head = Table(show_header=False, box=None, pad_edge=False)
    head.add_column(style="bold", no_wrap=True)
    head.add_column(overflow="fold")
    ran = device.describe(fp)
    if problem.get("reduced"):
        ran += ": correctness only, on the reduced problem"
    head.add_row("ran on", ran)
    head.add_row("problem", problem.get("label", ""))
    head.add_row("kernel", f"{r['kernel']['path']} (sha256 {r['kernel']['sha256'][:12]})")
    head.add_row("config", format_config(r.get("config") or {}) or "(the file's defaults)")
    res = r.get("resources")
    if res:
        head.add_row(
            f"compiled for {r.get('target')}",
            f"{res.get('registers')} registers, {res.get('spill_bytes', 0)} B spilled,"
            f" {res.get('shared_bytes', 0) / 1024:.1f} KB shared ({res.get('source', '')})",
        )
    console.print(head)
    for rule in (r.get("inspect") or {}).get(
        "rules"
    ) or []:  # the config's rule breaks, as inspect shows
        console.print(f"[yellow]{rule['severity']}[/] {rule['message']}", highlight=False)
    _correctness(r, console)
    _timing(r, console)
    _ncu(r, console)
    if r.get("detail") and status != "ok":
        last = [ln for ln in str(r["detail"]).splitlines() if ln.strip()][-3:]
        console.print("[dim]worker said (last lines; --json has more):[/]")
        for line in last:
            console.print(f"[dim]  {line}[/]", markup=False, highlight=False)
    console.print(f"[dim]wall time {r.get('wall_s', 0):.1f} s[/]")


def _correctness(r: dict, console: Console) -> None:
    c = r.get("correctness")
    if not c:
        return
    t = Table(title="correctness", title_justify="left", show_header=False)
    t.add_column(style="bold")
    t.add_column()
    t.add_row("vs fp64 reference", f"rel error {_num(c.get('rel_error'), '.2e')}, max abs"
              f" {_num(c.get('max_abs_error'), '.2e')}")  # fmt: skip
    verdict = "[green]pass[/]" if c.get("kernelbench_pass") else "[red]FAIL[/]"
    t.add_row("KernelBench check", f"{verdict} (allclose atol={c.get('atol')} rtol={c.get('rtol')}"
              " vs fp32 F.conv3d)")  # fmt: skip
    t.add_row(
        "NaN / Inf / never written",
        f"{c.get('nan_count')} / {c.get('inf_count')} / {c.get('unwritten_count')}",
    )
    if c.get("caveat"):
        t.add_row("caveat", f"[yellow]{c['caveat']}[/]")
    console.print(t)


def _timing(r: dict, console: Console) -> None:
    tm = r.get("timing") or {}
    if tm.get("median_ms") is None:
        console.print(f"timing: [dim]{tm.get('reason') or 'not measured'}[/]")
        return
    t = Table(title="timing", title_justify="left")
    for col in ("", "median", "p20 - p80", "mean", "TFLOP/s", "GB/s", "% peak"):
        t.add_column(col)
    pct = f"{_num(tm.get('pct_peak_compute'), '.1f')} {tm.get('peak_basis', '')} /"
    pct += f" {_num(tm.get('pct_peak_bandwidth'), '.1f')} bw"
    t.add_row(
        "kernel",
        _ms(tm["median_ms"]),
        f"{_ms(tm.get('p20_ms'))} - {_ms(tm.get('p80_ms'))}",
        _ms(tm.get("mean_ms")),
        _num(tm.get("tflops"), ".1f"),
        _num(tm.get("gbs"), ".0f"),
        pct,
    )
    base = r.get("baseline") or {}
    if base.get("median_ms"):
        t.add_row(
            "cuDNN" + (" (cached)" if base.get("cached") else ""),
            _ms(base["median_ms"]),
            f"{_ms(base.get('p20_ms'))} - {_ms(base.get('p80_ms'))}",
            _ms(base.get("mean_ms")),
            "",
            "",
            "",
        )
    console.print(t)
    console.print(f"[dim]{tm.get('method')}[/]")
    kb = r.get("kernelbench_timing") or {}
    if kb.get("mean_ms"):
        line = f"KernelBench method ({kb.get('method')}): {_ms(kb['mean_ms'])}"
        if base.get("kernelbench_mean_ms"):
            line += f", cuDNN {_ms(base['kernelbench_mean_ms'])}"
        console.print(line)
    if r.get("speedup"):
        console.print(f"[bold]speedup over cuDNN: {r['speedup']:.2f}x[/] (medians)")
    vs = r.get("vs_previous")
    if vs:
        if vs.get("change_pct") is None:
            console.print(f"vs previous: [dim]{vs.get('reason')}[/]")
        else:
            console.print(
                f"vs previous ({_ms(vs.get('previous_median_ms'))}): {vs['change_pct']:+.1f}%,"
                f" [bold]{vs['verdict']}[/]"
                + ("" if vs.get("same_device", True) else " [yellow](another device)[/]")
            )


def _ncu(r: dict, console: Console) -> None:
    from workbench.ncu import LABELS

    n = r.get("ncu")
    if not n:
        return
    if not n.get("ok"):
        console.print(f"ncu: [yellow]{n.get('message')}[/]")
        return
    t = Table(title=f"Nsight Compute: {n.get('kernel')}", title_justify="left")
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_column("ncu name", style="dim")
    for name, value in (n.get("metrics") or {}).items():
        with contextlib.suppress(TypeError, ValueError):
            value = f"{value:,}" if isinstance(value, int) else f"{value:.1f}"
        t.add_row(LABELS.get(name, name), str(value), name)
    console.print(t)
