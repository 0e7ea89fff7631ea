"""The `sweep-many` verb: sweep many kernel files for one problem and target, one session each,
over one runner (one Ray cluster with `--backend ray`): a pipeline's batch of files.

DIR_OR_LIST is a folder (its *.py files) or a text file listing kernel paths, one a line (blank
lines and `#` comments skipped; relative paths are relative to the list). Sessions go to
<sessions-dir>/<kernel>-<problem>-<gpu>-sweep.json. Rerunning the same command continues: a file
whose session already holds this sweep, finished, is not swept again (its recorded winner is
reported); an unfinished one is resumed. A file that cannot be swept (it does not load, the space
does not fit its tunables, its session belongs to another kernel) is a failed row; the rest run.

Exit status: 0 when every file got a correct winner (`--mode compile`: a config that fits), 1 when
one did not, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from workbench.cli.render import err_console, out_console, print_json
from workbench.cli.sweep import _run, calibration_arg, make_runner
from workbench.core.config import short_config
from workbench.core.errors import UsageError, WorkbenchError
from workbench.core.gpus import GPU, find_gpu
from workbench.core.problem import Problem
from workbench.kernel.kernelfile import KernelFile
from workbench.kernel.problemfile import load_problem
from workbench.search.sweep import Ranked, SweepSpec, build_space, sweep_mode
from workbench.session.store import Session, problem_id, problem_slug


@dataclass
class Row:
    """One kernel file's outcome, as the table and `--json` show it."""

    kernel: str
    session: str
    status: str  # "ok" | "no correct winner" | "error"
    message: str = ""
    winner: dict[str, Any] | None = None
    shown: str = "-"  # the winner's time, or its prediction, saying which
    basis: str = ""
    wall_s: float = 0.0
    swept: bool = True  # False: finished earlier, read from its session

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def kernel_files(text: str) -> list[Path]:
    """The kernel files a folder or a list file names (checked: they exist, no two share a name)."""
    path = Path(text)
    if path.is_dir():
        files = sorted(p for p in path.glob("*.py") if not p.name.startswith("__"))
        if not files:
            raise UsageError(
                f"{path} has no .py kernel files: give a folder of them or a list file"
            )
    elif path.is_file():
        if path.suffix == ".py":
            raise UsageError(
                f"{path} is one kernel file: sweep it with `conv3d-bench sweep {path}`, or list it"
                " in a text file"
            )
        files = []
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        for number, line in enumerate(lines, 1):
            entry = line.split("#", 1)[0].strip()
            if not entry:
                continue
            file = Path(entry) if Path(entry).is_absolute() else path.parent / entry
            if not file.is_file():
                raise UsageError(f"{path}:{number}: {entry} is not a file: fix or remove the line")
            files.append(file)
        if not files:
            raise UsageError(f"{path} lists no kernel files: one path a line")
    else:
        raise UsageError(f"{path} is neither a folder of kernel files nor a list of them")
    seen: dict[str, Path] = {}
    for file in files:
        other = seen.setdefault(file.stem, file)
        if other != file:
            raise UsageError(
                f"{other} and {file} share the name {file.stem}: their sessions would collide;"
                " rename one or sweep them in two batches"
            )
    return files


def session_path(folder: Path, kernel: Path, problem: Problem, gpu: GPU) -> Path:
    return folder / f"{kernel.stem}-{problem_slug(problem)}-{gpu.key}-sweep.json"


def sweep_many_command(args: argparse.Namespace) -> int:
    if args.kernel is not None:
        raise UsageError(
            f"sweep-many takes one DIR_OR_LIST, got also {args.kernel!r}: list the files instead"
        )
    if args.session:
        raise UsageError(
            "sweep-many writes one session per file: use --sessions-dir, not --session"
        )
    if args.resume:
        raise UsageError("sweep-many resumes by itself: rerun the same command, without --resume")
    for flag, value in (("--budget", args.budget), ("--top", args.top)):
        if value is not None and value < 1:
            raise UsageError(f"{flag} {value} must be 1 or more")
    if args.strategy == "random" and args.budget is None:
        raise UsageError("--strategy random needs --budget N (how many configs to measure)")
    if args.time_budget is not None and not args.time_budget > 0:
        raise UsageError(f"--time-budget {args.time_budget} must be more than 0 seconds")
    calibration_arg(args.calibration)  # a bad file is the batch's one-line error, before any work
    files = kernel_files(args.kernels)
    problem = load_problem(args.problem)
    gpu = find_gpu(args.gpu)
    mode = sweep_mode(args.mode) if args.backend == "local" else ""
    folder = Path(args.sessions_dir)
    console = err_console()
    started = time.monotonic()
    rows: list[Row] = []
    runner = make_runner(args)  # one runner (one cluster) for every file
    cancel = threading.Event()
    try:
        mode = mode or _cluster_mode(args.mode, runner)
        for number, file in enumerate(files, 1):
            if not args.json:
                console.print(f"[bold]{number}/{len(files)}[/] {file}")
            rows.append(_one(args, file, problem, gpu, mode, folder, runner, cancel, console))
    finally:
        runner.close()
    ok = sum(1 for r in rows if r.status == "ok")
    wall = time.monotonic() - started
    if args.json:
        print_json(
            {
                "problem": problem_id(problem),
                "gpu": gpu.key,
                "mode": mode,
                "backend": args.backend,
                "files": len(rows),
                "ok": ok,
                "failed": len(rows) - ok,
                "wall_s": wall,
                "kernels": [r.to_json() for r in rows],
            }
        )
    else:
        _print_rows(rows, wall, mode)
    return 0 if ok == len(rows) else 1


def _cluster_mode(text: str, runner: Any) -> str:
    """--mode for a Ray cluster: its GPUs decide (the driver may have none), not this machine's."""
    gpus = int(getattr(runner, "gpus", 0))
    if text == "auto":
        return "gpu" if gpus else "interpreter"
    if text == "gpu" and not gpus:
        raise UsageError(
            "--mode gpu: the Ray cluster has no GPU; use --mode interpreter or compile"
        )
    return text


def _one(
    args: argparse.Namespace,
    file: Path,
    problem: Problem,
    gpu: GPU,
    mode: str,
    folder: Path,
    runner: Any,
    cancel: threading.Event,
    console: Any,
) -> Row:
    """Sweep one file; every error of the file's own making is its row, not the batch's end."""
    path = session_path(folder, file, problem, gpu)
    row = Row(kernel=str(file), session=str(path), status="error", swept=False)
    started = time.monotonic()
    try:
        kf = KernelFile.load(file)
        space = build_space(kf, problem, args.space)
        spec = SweepSpec(
            space=space.text(), strategy=args.strategy, target=gpu.key, mode=mode,
            budget=args.budget, time_budget_s=args.time_budget, top_k=args.top,
            max_spill_bytes=args.max_spill, seed=args.seed,
        )  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        with Session.open(path, kf, problem, gpu) as session:
            earlier = _finished(session, spec)
            if earlier is not None:
                earlier.kernel, earlier.session = str(file), str(path)
                return earlier
            result = _run(kf, problem, gpu, spec, session, runner, cancel, console, quiet=args.json,
                          calibration=calibration_arg(args.calibration))  # fmt: skip
    except WorkbenchError as err:
        row.message = str(err)
        row.wall_s = time.monotonic() - started
        return row
    winner = result.winner
    good = winner is not None and (winner.correct or mode == "compile")
    row.status = "ok" if good else "no correct winner"
    row.winner = winner.to_json() if winner is not None else None
    row.shown = _shown(winner)
    row.basis = result.winner_basis
    row.message = "; ".join(result.notes)
    row.wall_s = result.wall_s
    return row


def _finished(session: Session, spec: SweepSpec) -> Row | None:
    """The row of this sweep where the session holds it finished already (not swept again)."""
    block = next(
        (
            b
            for b in reversed(session.sweeps)
            if b.get("spec_key") == spec.key() and b.get("state") == "done"
        ),
        None,
    )
    if block is None:
        return None
    row = Row(kernel="", session="", status="no correct winner", swept=False)
    row.basis = "finished earlier: read from its session (delete the session to sweep again)"
    row.wall_s = float((block.get("summary") or {}).get("wall_s") or 0.0)
    trial_id = block.get("winner_trial")
    if trial_id is None:
        return row
    trial = session.trial(int(trial_id))
    row.winner = {"config": trial.config, "trial": trial.id, "correct": trial.correct}
    row.status = "ok" if trial.correct or spec.mode == "compile" else "no correct winner"
    ms = trial.kernelbench_ms
    row.shown = f"{ms:.4g} ms measured" if ms is not None else "-"
    return row


def _shown(w: Ranked | None) -> str:
    if w is None:
        return "-"
    if w.kernelbench_ms is not None:
        return f"{w.kernelbench_ms:.4g} ms measured"
    if w.predicted_ms is not None:
        return f"predicted {w.predicted_ms:.3g} ms"
    return "-"


def _print_rows(rows: list[Row], wall: float, mode: str) -> None:
    console = out_console()
    ok = sum(1 for r in rows if r.status == "ok")
    table = Table(
        title=f"sweep-many: {ok} of {len(rows)} kernel files got a correct winner (mode {mode})",
        title_justify="left",
    )
    for col in ("kernel", "winner", "time or prediction", "status", "session"):
        table.add_column(col)
    for r in rows:
        config = short_config(r.winner["config"]) if r.winner else "-"
        status = r.status if r.swept else f"{r.status} (earlier)"
        if r.status == "error":
            status = f"error: {r.message}"
        table.add_row(Path(r.kernel).name, config, r.shown, status, r.session)
    console.print(table)
    bases = sorted({r.basis for r in rows if r.basis and r.swept})
    for basis in bases:
        console.print(f"[dim]winner basis: {basis}[/]")
    console.print(f"[dim]wall {wall:.1f} s[/]")
