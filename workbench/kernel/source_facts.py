"""Facts read from a kernel file's text without running it: its kernels, precision choices."""

from __future__ import annotations

import ast
import re

_HARD_PRECISION = re.compile(r"(allow_tf32\s*=\s*\w+|input_precision\s*=\s*['\"]\w+['\"])")
_DECLARED_PRECISION = re.compile(r"precision\s*==\s*[\"'](\w+)[\"']")


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


def hard_coded_precision(source: str) -> str:
    """`allow_tf32=True` or `input_precision="tf32"` written into the kernel, or ""."""
    found = _HARD_PRECISION.search(source)
    return found.group(1).replace(" ", "") if found else ""
