"""KernelBench's static checker, as the workbench applies it before writing a file.

KernelBench (kernel_static_checker.py) rejects a Triton submission outright for try/except, the
word `pass`, timer patching, threads or processes, a lazy Tensor subclass, and a file without
`@triton.jit` / `@triton.autotune` or without any `tl.*` operation. It cuts every line at the first
`#` and the first `//` (so Python's `a // b` hides the rest of its line) and keeps docstrings.
"""

from __future__ import annotations

import ast
import re

from workbench.core import kernelbench
from workbench.core.errors import ExportError

_ERRORS = [(re.compile(p), what) for p, what in kernelbench.STATIC_ERRORS]
_REQUIRED = [(re.compile(p), what) for p, what in kernelbench.TRITON_REQUIRED]


def _strip_comments(text: str) -> list[str]:
    # As KernelBench does it: everything after the first '#' or '//' on a line goes, even
    # inside strings.
    return [line.split("#", 1)[0].split("//", 1)[0] for line in text.splitlines()]


def static_problems(text: str) -> list[str]:
    """What KernelBench's static checker would reject in `text`, each with its line."""
    out = []
    lines = _strip_comments(text)
    for lineno, line in enumerate(lines, 1):
        for pattern, what in _ERRORS:
            if pattern.search(line):
                out.append(f"line {lineno} has {what}: {line.strip()[:60]}")
    stripped = "\n".join(lines)
    if not out and any(p.search(stripped) for p, _ in _ERRORS[:2]):
        out.append("a try/except split across lines")
    for pattern, what in _REQUIRED:
        if not pattern.search(stripped):
            out.append(what)
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
            + "); it rejects try/except, threads and the word 'pass' anywhere outside comments,"
            " docstrings included: change those lines and export again"
        )
