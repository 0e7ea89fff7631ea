"""Export: one standalone KernelBench-format file with a config baked in.

The config is written into the source text, so nothing is benchmarked at import or first call:
- a launch keyword that names a module constant (`BLOCK_M=BLOCK_M`, the built-in kernel's config
  block) gets the constant's value rewritten;
- a launch keyword with a literal value (`BLOCK_M=64`) gets the literal rewritten, and missing
  `num_warps`/`num_stages` keywords are added to the launch;
- an `@triton.autotune(configs=[...])` list becomes exactly one `triton.Config` (Triton runs a
  lone config without benchmarking).
`ast` only locates nodes; the text is spliced by position, so comments and layout survive.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench import __version__
from workbench.config import LAUNCH_KEYS, Config, format_config, parse_config, validate
from workbench.errors import WorkbenchError
from workbench.gpus import GPU
from workbench.problem import Problem


class ExportError(WorkbenchError):
    """The kernel cannot be exported as asked (the message says why and what to do)."""


HEADER_FIRST = "# conv3d-bench export"
HEADER_LAST = "# exported by conv3d-bench"
# KernelBench's static checker (kernel_static_checker.py): these reject a file outright.
_BYPASS = (
    (re.compile(r"\btry\s*:"), "try:"),
    (re.compile(r"\bexcept\s*:|\bexcept\s+\w+"), "except"),
    (re.compile(r"\bpass\b"), "the word 'pass'"),
)


# --- text positions -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Edit:
    start: int  # byte offsets into the UTF-8 source (ast columns count bytes)
    end: int
    text: str


class _Source:
    def __init__(self, text: str) -> None:
        self.text = text
        self.data = text.encode("utf-8")
        self.line_starts = [0]
        for i, b in enumerate(self.data):
            if b == 0x0A:
                self.line_starts.append(i + 1)

    def offset(self, lineno: int, col: int) -> int:
        return self.line_starts[lineno - 1] + col

    def span(self, node: ast.AST) -> tuple[int, int]:
        return (
            self.offset(node.lineno, node.col_offset),  # type: ignore[attr-defined]
            self.offset(node.end_lineno, node.end_col_offset),  # type: ignore[attr-defined]
        )

    def segment(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.data[start:end].decode("utf-8")

    def apply(self, edits: list[Edit]) -> str:
        out = self.data
        # From the end backwards; insertions at one offset keep their given order.
        ordered = sorted(enumerate(edits), key=lambda ie: (ie[1].start, ie[0]), reverse=True)
        for _, edit in ordered:
            out = out[: edit.start] + edit.text.encode("utf-8") + out[edit.end :]
        return out.decode("utf-8")


def literal(value: int | str | float | bool) -> str:
    """Python source for a config value; strings in double quotes like the built-in files."""
    return json.dumps(value) if isinstance(value, str) else repr(value)


# --- finding kernels, launches, constants -------------------------------------------------------
def _decorator_name(dec: ast.expr) -> str:
    target = dec.func if isinstance(dec, ast.Call) else dec
    if isinstance(target, ast.Attribute):
        return target.attr
    return target.id if isinstance(target, ast.Name) else ""


def _kernel_defs(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    return {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any(_decorator_name(d) in ("jit", "autotune") for d in node.decorator_list)
    }


def _launches(tree: ast.Module, kernels: set[str]) -> list[ast.Call]:
    """`kernel[grid](...)` calls of this file's kernels, in source order."""
    out = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Subscript)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in kernels
        ):
            out.append(node)
    return sorted(out, key=lambda n: (n.lineno, n.col_offset))


def _module_constants(tree: ast.Module) -> dict[str, ast.Constant]:
    """Module-level `NAME = <literal>` assignments (the config block among them)."""
    out: dict[str, ast.Constant] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and isinstance(value, ast.Constant):
            out[target.id] = value
    return out


def _autotune_call(kernel: ast.FunctionDef) -> ast.Call | None:
    for dec in kernel.decorator_list:
        if isinstance(dec, ast.Call) and _decorator_name(dec) == "autotune":
            return dec
    return None


def _configs_node(call: ast.Call, tree: ast.Module) -> ast.List | ast.Tuple | None:
    node: ast.expr | None = next((k.value for k in call.keywords if k.arg == "configs"), None)
    if node is None and call.args:
        node = call.args[0]
    if isinstance(node, ast.Name):  # configs=CONFIGS defined at module level
        for stmt in tree.body:
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and stmt.targets[0].id == node.id
            ):
                node = stmt.value
    return node if isinstance(node, ast.List | ast.Tuple) else None


# --- baking a config ----------------------------------------------------------------------------
def bake_config(source: str, config: Config, path: str = "kernel") -> str:
    """`source` with `config` written in (see the module docstring). Raises ExportError."""
    src = _Source(source)
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise ExportError(f"{path}:{err.lineno}: syntax error: {err.msg}") from None
    kernels = _kernel_defs(tree)
    if not kernels:
        raise ExportError(
            f"{path}: no @triton.jit or @triton.autotune kernel to bake a config into"
        )
    edits: list[Edit] = []
    remaining = dict(config)

    # Autotuned kernels: the list becomes one Config with the keys it tunes (and launch keys).
    for kernel in kernels.values():
        call = _autotune_call(kernel)
        if call is None:
            continue
        configs = _configs_node(call, tree)
        if configs is None or not configs.elts or not isinstance(configs.elts[0], ast.Call):
            raise ExportError(
                f"{path}:{call.lineno}: @triton.autotune of {kernel.name} has no literal list of"
                " triton.Config(...) to reduce; write the configs as a list literal"
            )
        start, end = src.span(configs)
        one = _one_config(src, configs.elts[0], config)
        if configs.end_lineno != configs.lineno:  # keep a one-config-per-line layout
            lines = src.text.splitlines()
            elt_line = lines[configs.elts[0].lineno - 1]
            close_line = lines[configs.end_lineno - 1]  # type: ignore[index]
            indent = elt_line[: len(elt_line) - len(elt_line.lstrip())]
            close = close_line[: len(close_line) - len(close_line.lstrip())]
            one = f"[\n{indent}{one[1:-1]},\n{close}]"
        edits.append(Edit(start, end, one))
        tuned = _config_kwargs(configs.elts[0])
        for key in [*tuned, *LAUNCH_KEYS]:
            remaining.pop(key, None)

    # Plain launches: rewrite the keyword's literal, or the module constant it names.
    constants = _module_constants(tree)
    launches = _launches(tree, set(kernels))
    done_constants: set[str] = set()
    for key, value in remaining.items():
        found = False
        for launch in launches:
            kw = next((k for k in launch.keywords if k.arg == key), None)
            if kw is None:
                continue
            found = True
            if isinstance(kw.value, ast.Constant):
                edits.append(Edit(*src.span(kw.value), literal(value)))
            elif isinstance(kw.value, ast.Name) and kw.value.id in constants:
                if kw.value.id not in done_constants:
                    done_constants.add(kw.value.id)
                    edits.append(Edit(*src.span(constants[kw.value.id]), literal(value)))
            else:
                raise ExportError(
                    f"{path}:{kw.lineno}: the launch passes {key}={src.segment(kw.value)}, an"
                    f" expression export cannot rewrite; make it a literal or a module constant"
                )
        if not found and key in LAUNCH_KEYS and launches:
            for launch in launches:
                edits.append(_add_keyword(src, launch, key, value))
            found = True
        if not found:
            raise ExportError(
                f"{path}: no kernel launch passes {key}=...; export bakes a config into launch"
                " keywords, the config block, or an @triton.autotune list"
            )
    return src.apply(edits)


def _config_kwargs(node: ast.Call) -> list[str]:
    if node.args and isinstance(node.args[0], ast.Dict):
        return [k.value for k in node.args[0].keys if isinstance(k, ast.Constant)]
    return []


def _one_config(src: _Source, first: ast.Call, config: Config) -> str:
    """`[triton.Config({...}, num_warps=.., num_stages=..)]` from the list's first element."""
    if not (first.args and isinstance(first.args[0], ast.Dict)):
        raise ExportError(
            f"line {first.lineno}: the first autotune config has no literal dict of parameters"
        )
    meta = {}
    for k, v in zip(first.args[0].keys, first.args[0].values):
        if isinstance(k, ast.Constant):
            meta[k.value] = config.get(k.value, _literal_value(v))
    keywords = {}
    for kw in first.keywords:
        if kw.arg in LAUNCH_KEYS and kw.arg in config:
            keywords[kw.arg] = literal(config[kw.arg])
        elif kw.arg is not None:
            keywords[kw.arg] = src.segment(kw.value)
    for key in LAUNCH_KEYS:
        if key in config and key not in keywords:
            keywords[key] = literal(config[key])
    body = ", ".join(f"{literal(k)}: {literal(v)}" for k, v in meta.items())
    kwargs = "".join(f", {k}={v}" for k, v in keywords.items())
    return f"[{src.segment(first.func)}({{{body}}}{kwargs})]"


def _literal_value(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ExportError(
            f"line {node.lineno}: autotune config value is not a literal"  # type: ignore[attr-defined]
        ) from None


def _add_keyword(src: _Source, call: ast.Call, key: str, value: int | str) -> Edit:
    """Insert `key=value` after the launch's last argument, in the call's own layout."""
    items: list[ast.AST] = [*call.args, *call.keywords]
    if not items:
        raise ExportError(f"line {call.lineno}: the launch has no arguments to extend")
    last = items[-1]
    value_node = last.value if isinstance(last, ast.keyword) else last
    end = src.offset(value_node.end_lineno, value_node.end_col_offset)  # type: ignore[arg-type]
    if last.lineno == call.lineno:  # type: ignore[attr-defined]
        return Edit(end, end, f", {key}={literal(value)}")
    line = src.text.splitlines()[last.lineno - 1]  # type: ignore[attr-defined]
    indent = line[: len(line) - len(line.lstrip())]
    return Edit(end, end, f",\n{indent}{key}={literal(value)}")


# --- the header ---------------------------------------------------------------------------------
def header(
    kf_name: str, config: Config, problem: Problem, gpu: GPU, numbers: dict | None
) -> list[str]:
    from workbench.session import problem_id

    pid = problem_id(problem)  # a preset id, or a spec string `--problem` accepts
    lines = [
        f"{HEADER_FIRST} of {kf_name}, tuned for {gpu.name} ({gpu.sm})",
        f"# problem: {problem.label() if pid == problem.name else pid}",
        f"# config: {format_config(config)}",
    ]
    lines += [f"# {line}" for line in describe_numbers(numbers)]
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    lines.append(f"{HEADER_LAST} {__version__} on {today}")
    return lines


def describe_numbers(trial: dict | None) -> list[str]:
    """The measured numbers of a trial, each line naming where they came from."""
    if not trial:
        return ["measured: nothing yet (config given directly, not from a session trial)"]
    device = trial.get("device") or "unknown device"
    timing = trial.get("timing") or {}
    out = []
    median = timing.get("median_ms")
    if trial.get("mode") == "gpu" and isinstance(median, int | float):
        spread = ""
        if isinstance(timing.get("p20_ms"), int | float) and isinstance(
            timing.get("p80_ms"), int | float
        ):
            spread = f" (p20 {timing['p20_ms']:.4g}, p80 {timing['p80_ms']:.4g})"
        method = f", {timing['method']}" if timing.get("method") else ""
        out.append(f"measured on {device}: median {median:.4g} ms{spread}{method}")
        base = (trial.get("baseline") or {}).get("median_ms")
        speedup = trial.get("speedup")
        if isinstance(base, int | float):
            extra = f", speedup {speedup:.2f}x" if isinstance(speedup, int | float) else ""
            out.append(f"cuDNN baseline on {device}: {base:.4g} ms{extra}")
    else:
        out.append(f"checked on {device}: correctness only, not timed")
    corr = trial.get("correctness") or {}
    if corr:
        verdict = {True: "met", False: "NOT met"}.get(corr.get("kernelbench_pass"), "unknown")
        rel, mae = corr.get("rel_error"), corr.get("max_abs_error")
        nums = ", ".join(
            f"{name} {val:.2e}"
            for name, val in (("rel error", rel), ("max abs error", mae))
            if isinstance(val, int | float)
        )
        out.append(f"correctness: {nums or 'no numbers'}; KernelBench fp32 check (1e-4) {verdict}")
    status = trial.get("status")
    if status and status != "ok":
        out.append(f"status: {status}: {trial.get('message') or ''}".rstrip(": "))
    if trial.get("id") is not None:
        out.append(f"session trial {trial['id']} of {trial.get('timestamp') or 'unknown time'}")
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


# --- KernelBench's rules ------------------------------------------------------------------------
def _strip_comments(text: str) -> list[str]:
    # As KernelBench does it: everything after the first '#' on a line goes, even inside strings.
    return [line.split("#", 1)[0] for line in text.splitlines()]


def static_problems(text: str) -> list[str]:
    """What KernelBench's static checker would reject in `text`, each with its line."""
    out = []
    for lineno, line in enumerate(_strip_comments(text), 1):
        for pattern, what in _BYPASS:
            if pattern.search(line):
                out.append(f"line {lineno} has {what}: {line.strip()[:60]}")
    stripped = "\n".join(_strip_comments(text))
    if not out and any(p.search(stripped) for p, _ in _BYPASS[:2]):
        out.append("a try/except split across lines")
    if not re.search(r"@triton\.(jit|autotune)\b", stripped):
        out.append("no @triton.jit or @triton.autotune decorator (written as `@triton.`)")
    if not re.search(r"\btl\.\w+\s*\(", stripped):
        out.append("no tl.* call")
    try:
        tree = ast.parse(text)
    except SyntaxError as err:
        out.append(f"line {err.lineno}: syntax error: {err.msg}")
        return out
    if not any(isinstance(n, ast.ClassDef) and n.name == "ModelNew" for n in tree.body):
        out.append("no module-level class ModelNew")
    return out


def check_exportable(source: str, path: str) -> None:
    """Refuse a source KernelBench would reject, naming the lines to change."""
    problems = static_problems(source)
    if problems:
        raise ExportError(
            f"cannot export {path}: KernelBench's static checker would reject it ("
            + "; ".join(problems[:3])
            + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
            + "); it rejects try/except and the word 'pass' anywhere outside comments,"
            " docstrings included: change those lines and export again"
        )


# --- the API ------------------------------------------------------------------------------------
def export_kernel(
    kf: Any, config: Config, problem: Problem, gpu: GPU, numbers: dict | None = None
) -> str:
    """The text of a standalone kernel file: `kf` with `config` baked in and a header comment.

    `numbers`: the session trial the config comes from (its timings, device, correctness)."""
    path = str(kf.path)
    check_exportable(kf.source, path)
    body = bake_config(_strip_old_header(kf.source), config, path)
    text = _insert_header(body, header(kf.name, config, problem, gpu, numbers))
    problems = static_problems(text)
    if problems:  # our own edits must never break the rules; say so rather than write it
        raise ExportError(f"export of {path} produced a file with: {'; '.join(problems)}")
    return text


def trial_refusal(trial: dict) -> str:
    """Why a trial should not be exported (empty: it may be)."""
    from workbench.session import is_correct

    if is_correct(trial):
        return ""
    status = trial.get("status") or "unknown"
    corr = trial.get("correctness") or {}
    if status == "ok":
        why = "ran but did not meet KernelBench's 1e-4 check"
        if corr.get("kernelbench_pass") is None:
            why = "has no KernelBench verdict"
    else:
        why = f"failed ({status}: {trial.get('message') or 'no message'})"
    return f"trial {trial.get('id')} {why}; export refuses it unless --force"


def export_command(args: Any) -> int:
    from rich.console import Console

    from workbench.gpus import find_gpu
    from workbench.kernelfile import KernelFile
    from workbench.problem import parse_problem
    from workbench.session import Session, atomic_write_text

    console = Console(stderr=True, highlight=False)
    source = args.source
    trial = None
    if source and _looks_like_session(Path(source)):
        session = Session.load(source, readonly=True)
        if args.config:
            raise ExportError(
                "--config goes with a kernel file; from a session, pick a trial with --trial N"
            )
        for flag, given, recorded in (
            ("--problem", args.problem, session.problem),
            ("--gpu", args.gpu, session.gpu),
        ):
            if given and (parse_problem(given) if flag == "--problem" else find_gpu(given)) != (
                recorded
            ):
                console.print(f"note: {flag} {given} ignored: the session's is used")
        if args.trial is not None:
            trial = session.trial(args.trial)
        else:
            trial = session.best()
            if trial is None:
                raise ExportError(
                    f"{source} has no correct trial timed on a GPU; choose one with --trial N"
                    " (interpreter trials are never 'best')"
                )
        refusal = trial_refusal(trial)
        if refusal and not args.force:
            raise ExportError(refusal)
        kf = session.kernel_file()
        if session.warning:
            console.print(f"note: {session.warning}")
        problem, gpu = session.problem, session.gpu
        # A trial records only what it overrode; the file states its whole config.
        config = kf.full_config(problem, dict(trial["config"]))
    else:
        if args.trial is not None:
            raise ExportError("--trial needs a session file as the source")
        kf = KernelFile.load(source)
        problem, gpu = parse_problem(args.problem), find_gpu(args.gpu)
        config = kf.full_config(problem, parse_config(args.config))
        validate(config)  # a config that breaks a hard rule can never run
        if not args.force:
            # Never tried, so at least it must compile and fit on the target.
            from workbench.compile import compile_for_target

            compile_for_target(kf, problem, config, gpu)

    out = Path(args.output)
    if out.resolve() == Path(kf.path).resolve() and out.exists():
        raise ExportError(f"{out} is the kernel being exported; write to another file")
    text = export_kernel(kf, config, problem, gpu, trial)
    _check_reopens(text, out, problem, config)
    if args.output == "-":
        print(text, end="")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, text)
    where = f"trial {trial['id']}" if trial else "the given config"
    console.print(f"wrote {out}: {kf.name} with {format_config(config)} ({where}; {gpu.name})")
    return 0


def _looks_like_session(path: Path) -> bool:
    if path.suffix.lower() == ".json":
        return True
    if not path.is_file():
        return False
    with path.open("rb") as fh:
        return fh.read(64).lstrip().startswith(b"{")


def _check_reopens(text: str, out: Path, problem: Problem, config: Config) -> None:
    """The exported text loads as a kernel file and launches with the baked config."""
    from workbench.kernelfile import KernelFile

    reopened = KernelFile.from_source(text, out)
    baked = reopened.default_config(problem)
    differs = {k: (baked[k], v) for k, v in config.items() if k in baked and baked[k] != v}
    if differs:
        detail = ", ".join(f"{k}={b!r} not {v!r}" for k, (b, v) in differs.items())
        raise ExportError(f"the exported file would launch with {detail}; nothing was written")
