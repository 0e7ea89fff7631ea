"""Facts read from a kernel file's text without running it: its kernels, precision choices."""

from __future__ import annotations

import ast
import re

_HARD_PRECISION = re.compile(r"(allow_tf32\s*=\s*\w+|input_precision\s*=\s*['\"]\w+['\"])")
_DECLARED_PRECISION = re.compile(r"precision\s*==\s*[\"'](\w+)[\"']")
# A module constant the file offers to tune: `PHASES = 1  # tunable: 1, 2, 4 (why)`.
_DECLARED_TUNABLE = re.compile(r"^([A-Z][A-Z0-9_]*)\s*=\s*\S+\s*#\s*tunable:\s*([\w\s,]+)", re.M)


def is_jit(decorator: ast.expr) -> bool:
    """`@triton.jit`, `@jit` or `@triton.jit(...)`."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(target, ast.Attribute):
        return target.attr == "jit"
    return isinstance(target, ast.Name) and target.id == "jit"


def kernel_names(source: str) -> list[str]:
    """Names of the file's `@triton.jit` functions (ncu names a Triton kernel by its function)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and any(is_jit(d) for d in node.decorator_list)
    ]


def declared_precisions(source: str) -> list[str]:
    """Precision modes a kernel defines itself (`precision == "tf32x3r"` in its source)."""
    return sorted(set(_DECLARED_PRECISION.findall(source)))


def declared_tunables(source: str) -> dict[str, tuple[int | str, ...]]:
    """Module constants a file declares tunable, with their choices (ints where they parse):
    `PHASES = 1  # tunable: 1, 2, 4` offers PHASES in 1, 2, 4 when a kernel takes it as a
    constexpr. Export rewrites the constant as it rewrites the rest of the config block."""
    out: dict[str, tuple[int | str, ...]] = {}
    for name, text in _DECLARED_TUNABLE.findall(source):
        words = [w.strip() for w in text.split(",") if w.strip()]
        out[name] = tuple(int(w) if w.lstrip("-").isdigit() else w for w in words)
    return out


def hard_coded_precision(source: str) -> str:
    """`allow_tf32=True` or `input_precision="tf32"` written into the kernel, or ""."""
    found = _HARD_PRECISION.search(source)
    return found.group(1).replace(" ", "") if found else ""
