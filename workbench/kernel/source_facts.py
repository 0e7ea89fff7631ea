"""Facts read from a kernel file's text without running it: its kernels, precision choices and
config block."""

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


def gluon_kernel_names(source: str) -> list[str]:
    """Names of the file's `@gluon.jit` functions (Triton's Gluon dialect), however nested (a
    file defines them under `if gluon is not None:` where Gluon may be missing)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names = [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and any(_is_gluon_jit(d) for d in node.decorator_list)
    ]
    kernels = [n for n in names if n.endswith("kernel")]  # helpers by name left out, if named so
    return kernels or names


def _is_gluon_jit(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return (
        isinstance(target, ast.Attribute)
        and target.attr == "jit"
        and isinstance(target.value, ast.Name)
        and target.value.id == "gluon"
    )


def declared_precisions(source: str) -> list[str]:
    """Precision modes a kernel defines itself (`precision == "tf32x3r"` in its source)."""
    return sorted(set(_DECLARED_PRECISION.findall(source)))


def hard_coded_precision(source: str) -> str:
    """`allow_tf32=True` or `input_precision="tf32"` written into the kernel, or ""."""
    found = _HARD_PRECISION.search(source)
    return found.group(1).replace(" ", "") if found else ""


CONFIG_BLOCK_MARK = "# conv3d-bench config"


def config_block(source: str) -> dict[str, int | str]:
    """The file's config block: the module-level `NAME = <int or str>` lines that follow a
    `# conv3d-bench config` comment, up to the first blank line. Export rewrites them and a
    config sets them (`WG_TILES=2`), so a wrapper's host-side choices are tunables too."""
    lines = source.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(CONFIG_BLOCK_MARK)), None)
    if start is None:
        return {}
    block: dict[str, int | str] = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        try:
            node = ast.parse(line).body
        except SyntaxError:
            continue
        if len(node) != 1 or not isinstance(node[0], ast.Assign) or len(node[0].targets) != 1:
            continue
        target = node[0].targets[0]
        try:
            value = ast.literal_eval(node[0].value)  # -1 is a unary minus, not a constant
        except (ValueError, TypeError):
            continue
        ok = isinstance(value, int | str) and not isinstance(value, bool)
        if isinstance(target, ast.Name) and ok:
            block[target.id] = value
    return block
