"""Export: one standalone KernelBench-format file with a config baked in, written safely.

The one export path, for the CLI and the TUI alike: choose what to export (a session's best or
named trial, or a config given directly), bake it into the source (kernel/bake.py), add a header
that says where every number came from, check the text against KernelBench's static checker,
write it atomically without ever replacing an existing file unless asked (and never a session),
then judge the written file the KernelBench way.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from workbench import __version__
from workbench.core.config import Config, format_config, validate
from workbench.core.errors import ExportError
from workbench.core.gpus import GPU
from workbench.core.jsonio import atomic_write_text
from workbench.core.problem import Problem
from workbench.core.records import TrialResult
from workbench.kernel.bake import add_init_adapter, bake_autotune, bake_config
from workbench.kernel.kernelfile import KernelFile
from workbench.kernel.static_check import check_exportable, static_problems
from workbench.session.store import Session, looks_like_session, problem_id

HEADER_FIRST = "# conv3d-bench export"
HEADER_LAST = "# exported by conv3d-bench"


@dataclass
class ExportPlan:
    """What to export: a kernel with a config (or K configs for @triton.autotune), and the trial
    whose numbers go into the header."""

    kf: KernelFile
    config: Config
    problem: Problem
    gpu: GPU
    trial: TrialResult | None = None
    autotune: list[Config] | None = None
    autotune_key: list[str] | None = None  # the launch's shape arguments


# --- choosing -----------------------------------------------------------------------------------
def trial_refusal(trial: TrialResult) -> str:
    """Why a trial should not be exported (empty: it may be)."""
    if trial.correct:
        return ""
    status = trial.status.value if trial.status else "unknown"
    corr = trial.correctness
    if trial.ok:
        why = "ran but did not meet KernelBench's 1e-4 check"
        if corr is None or corr.kernelbench_pass is None:
            why = "has no KernelBench verdict"
    else:
        why = f"failed ({status}: {trial.message or 'no message'})"
    return f"trial {trial.id} {why}; export refuses it unless --force"


def plan_from_session(
    session: Session, trial_id: int | None = None, force: bool = False, autotune: int | None = None
) -> ExportPlan:
    """The session's best correct trial (or `trial_id`), its kernel and its whole config."""
    trial: TrialResult | None
    if trial_id is not None:
        trial = session.trial(trial_id)
    else:
        trial = session.best()
        if trial is None:
            raise ExportError(
                f"{session.path} has no correct trial timed on a GPU; choose one with --trial N"
                " (interpreter trials are never 'best')"
            )
    refusal = trial_refusal(trial)
    if refusal and not force:
        raise ExportError(refusal)
    kf = session.kernel_file()
    problem, gpu = session.problem, session.gpu
    # A trial records only what it overrode; the file states its whole config.
    config = kf.full_config(problem, dict(trial.config))
    configs = key = None
    if autotune is not None:
        configs = top_configs(session, autotune, kf, problem)
        launch = kf.capture_launch(problem)
        key = [n for n, v in launch.args.items() if n not in launch.constexprs and type(v) is int]
    return ExportPlan(kf, config, problem, gpu, trial, configs, key)


def top_configs(session: Session, k: int, kf: KernelFile, problem: Problem) -> list[Config]:
    """The K fastest correct configs timed on a GPU, fastest first (the user's rule: 2-3)."""
    if k < 1:
        raise ExportError(f"--autotune {k}: give the number of configs to keep, e.g. --autotune 3")
    seen: list[Config] = []
    for trial in session.ranked():  # by KernelBench's protocol, as best() ranks them
        full = kf.full_config(problem, dict(trial.config))
        if full not in seen:
            seen.append(full)
        if len(seen) == k:
            break
    if not seen:
        raise ExportError(
            f"{session.path} has no correct trial timed on a GPU to make an autotune list from"
        )
    return seen


def plan_from_kernel(kf: KernelFile, problem: Problem, gpu: GPU, config: Config) -> ExportPlan:
    full = kf.full_config(problem, config)
    validate(full)  # a config that breaks a hard rule can never run
    return ExportPlan(kf, full, problem, gpu)


# --- the text -----------------------------------------------------------------------------------
def export_kernel(plan: ExportPlan) -> str:
    """The text of a standalone kernel file: the plan's config baked in, a header comment, and
    where the reference maps its init inputs its own way, a ModelNew that does the same."""
    kf, path = plan.kf, str(plan.kf.path)
    check_exportable(kf.source, path)
    body = _strip_old_header(kf.source)
    if plan.autotune:
        body = bake_autotune(body, plan.autotune, path, plan.autotune_key)
    else:
        body = bake_config(body, plan.config, path)
    if kf.for_problem(plan.problem) is not kf:
        body = add_init_adapter(body, plan.problem, path)
    text = _insert_header(body, header(kf.name, plan))
    problems = static_problems(text)
    if problems:  # our own edits must never break the rules; say so rather than write it
        raise ExportError(f"export of {path} produced a file with: {'; '.join(problems)}")
    return text


def header(kf_name: str, plan: ExportPlan) -> list[str]:
    pid = problem_id(plan.problem)  # a preset id, or what `--problem` accepts
    lines = [
        f"{HEADER_FIRST} of {kf_name}, tuned for {plan.gpu.name} ({plan.gpu.sm})",
        f"# problem: {plan.problem.label() if pid == plan.problem.name else pid}",
    ]
    if plan.autotune:
        lines.append(
            f"# configs (@triton.autotune, fastest first): {'; '.join(format_config(c) for c in plan.autotune)}"
        )
    else:
        lines.append(f"# config: {format_config(plan.config)}")
    lines += [f"# {line}" for line in describe_numbers(plan.trial)]
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    lines.append(f"{HEADER_LAST} {__version__} on {today}")
    return lines


def describe_numbers(trial: TrialResult | None) -> list[str]:
    """The measured numbers of a trial, KernelBench's first, each line naming where they came from."""
    if trial is None:
        return ["measured: nothing yet (config given directly, not from a session trial)"]
    device = trial.device or "unknown device"
    out = []
    kb, kernel_only = trial.kernelbench_ms, trial.kernel_only_ms
    base = trial.baseline
    if kb is not None:
        speed = f", {trial.kernelbench_speedup:.2f}x cuDNN" if trial.kernelbench_speedup else ""
        ref = (
            f" (cuDNN {base.kernelbench_mean_ms:.4g} ms)"
            if base and base.kernelbench_mean_ms
            else ""
        )
        out.append(
            f"measured on {device}, KernelBench's protocol (mean of 100, L2 flushed): {kb:.4g} ms{speed}{ref}"
        )
    if kernel_only is not None and trial.timing is not None:
        t = trial.timing
        spread = f" (p20 {t.p20_ms:.4g}, p80 {t.p80_ms:.4g})" if t.p20_ms and t.p80_ms else ""
        speed = f", {trial.kernel_only_speedup:.2f}x cuDNN" if trial.kernel_only_speedup else ""
        out.append(
            f"kernel only on {device} (do_bench median): {kernel_only:.4g} ms{spread}{speed}"
        )
    if kb is None and kernel_only is None:
        out.append(f"checked on {device}: correctness only, not timed")
    corr = trial.correctness
    if corr is not None:
        verdict = {True: "met", False: "NOT met", None: "not checked"}[corr.kernelbench_pass]
        nums = ", ".join(
            f"{name} {val:.2e}"
            for name, val in (("rel error", corr.rel_error), ("max abs error", corr.max_abs_error))
            if isinstance(val, int | float)
        )
        out.append(
            f"correctness vs fp64: {nums or 'no numbers'}; KernelBench's fp32 check (1e-4) {verdict}"
        )
    if trial.status is not None and not trial.ok:
        out.append(f"status: {trial.status}: {trial.message}".rstrip(": "))
    if trial.id is not None:
        out.append(f"session trial {trial.id} of {trial.timestamp or 'unknown time'}")
    return out


def _strip_old_header(text: str) -> str:
    """Drop a previous export's header, so exporting an exported file does not stack them."""
    lines = text.splitlines(keepends=True)
    start = 0
    while start < len(lines) and _is_preamble(lines[start], start):
        start += 1
    if start >= len(lines) or not lines[start].startswith(HEADER_FIRST):
        return text
    end = start
    while end < len(lines) and lines[end].startswith("#"):
        end += 1
        if lines[end - 1].startswith(HEADER_LAST):
            break
    if end < len(lines) and not lines[end].strip():
        end += 1
    return "".join(lines[:start] + lines[end:])


def _is_preamble(line: str, index: int) -> bool:
    # A shebang or an encoding cookie must stay on the first two lines.
    return index < 2 and (line.startswith("#!") or re.match(r"#.*coding[:=]", line) is not None)


def _insert_header(text: str, lines: list[str]) -> str:
    parts = text.splitlines(keepends=True)
    at = 0
    while at < len(parts) and _is_preamble(parts[at], at):
        at += 1
    block = "".join(line + "\n" for line in lines) + "\n"
    return "".join(parts[:at]) + block + "".join(parts[at:])


# --- writing ------------------------------------------------------------------------------------
def check_output(out: Path, force: bool, kernel_path: Path | None = None) -> None:
    """Refuse an output path that would lose something, in one line that says what to do."""
    if out.is_dir():
        raise ExportError(
            f"{out} is a directory: give a file name such as {out / 'conv3d_tuned.py'}"
        )
    if kernel_path is not None and out.exists() and out.resolve() == kernel_path.resolve():
        raise ExportError(f"{out} is the kernel being exported; write to another file")
    if out.exists() and looks_like_session(out):
        raise ExportError(
            f"{out} is a session file; export never writes over a session, even with --force"
        )
    if out.exists() and not force:
        raise ExportError(
            f"{out} already exists: pass --force to replace it, or choose another file name"
        )


def write_export(
    text: str, out: Path, force: bool = False, kernel_path: Path | None = None
) -> None:
    """Write `text` to `out` atomically (temp file, then rename), after check_output."""
    check_output(out, force, kernel_path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, text)
    except OSError as err:
        raise ExportError(
            f"cannot write {out}: {err.strerror or err}; choose a folder you can write to"
        ) from None


def reopened_config(text: str, out: Path, problem: Problem, config: Config) -> None:
    """The exported text loads as a kernel file and launches with the baked config."""
    reopened = KernelFile.from_source(text, out)
    baked = reopened.default_config(problem)
    differs = {k: (baked[k], v) for k, v in config.items() if k in baked and baked[k] != v}
    if differs:
        detail = ", ".join(f"{k}={b!r} not {v!r}" for k, (b, v) in differs.items())
        raise ExportError(f"the exported file would launch with {detail}; nothing was written")
