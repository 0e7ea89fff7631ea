"""Bake a config into a kernel file's source, so the file launches with it and nothing else.

- a launch keyword that names a module constant (`BLOCK_M=BLOCK_M`, the built-in kernel's config
  block) gets the constant's value rewritten;
- a launch keyword with a literal value (`BLOCK_M=64`) gets the literal rewritten, and missing
  `num_warps`/`num_stages` keywords are added to the launch;
- an `@triton.autotune(configs=[...])` list becomes exactly one `triton.Config` (Triton runs a
  lone config without benchmarking), or the top K configs of a sweep (`bake_autotune`);
- where KernelBench's reference Model maps its init inputs to the conv in its own way (L1/59's
  `(k, k, 1)`, Level 2's extra arguments), `add_init_adapter` adds a ModelNew that does the same.
`ast` only locates nodes; the text is spliced by position, so comments and layout survive.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from typing import Any

from workbench.core.config import LAUNCH_KEYS, Config
from workbench.core.errors import ExportError
from workbench.core.problem import Problem


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


def _module_constants(tree: ast.Module) -> dict[str, ast.expr]:
    """Module-level `NAME = <literal>` assignments (the config block among them; `-1` too)."""
    out: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        negative = (
            isinstance(value, ast.UnaryOp)
            and isinstance(value.op, ast.USub)
            and isinstance(value.operand, ast.Constant)
        )
        if isinstance(target, ast.Name) and (isinstance(value, ast.Constant) or negative):
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
                and stmt.targets[0].id == node.id  # type: ignore[attr-defined]
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
            close_line = lines[(configs.end_lineno or configs.lineno) - 1]
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
        block = key.upper()
        if not found and block in constants and block not in done_constants:
            # The config block: a module constant of the key's name in capitals, which the
            # launch reads however it likes (conv3d_fast3 gathers its keywords in a dict).
            done_constants.add(block)
            edits.append(Edit(*src.span(constants[block]), literal(value)))
            found = True
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
        return [str(k.value) for k in node.args[0].keys if isinstance(k, ast.Constant)]
    return []


def _one_config(src: _Source, first: ast.Call, config: Config) -> str:
    """`[triton.Config({...}, num_warps=.., num_stages=..)]` from the list's first element."""
    if not (first.args and isinstance(first.args[0], ast.Dict)):
        raise ExportError(
            f"line {first.lineno}: the first autotune config has no literal dict of parameters"
        )
    meta: dict[str, Any] = {}
    for k, v in zip(first.args[0].keys, first.args[0].values):
        if isinstance(k, ast.Constant):
            meta[str(k.value)] = config.get(str(k.value), _literal_value(v))
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
        raise ExportError(f"line {node.lineno}: autotune config value is not a literal") from None


def _add_keyword(src: _Source, call: ast.Call, key: str, value: int | str) -> Edit:
    """Insert `key=value` after the launch's last argument, in the call's own layout."""
    items: list[ast.expr | ast.keyword] = [*call.args, *call.keywords]
    if not items:
        raise ExportError(f"line {call.lineno}: the launch has no arguments to extend")
    last = items[-1]
    value_node = last.value if isinstance(last, ast.keyword) else last
    end = src.span(value_node)[1]
    if last.lineno == call.lineno:
        return Edit(end, end, f", {key}={literal(value)}")
    line = src.text.splitlines()[last.lineno - 1]
    indent = line[: len(line) - len(line.lstrip())]
    return Edit(end, end, f",\n{indent}{key}={literal(value)}")


# --- ModelNew built from KernelBench's init inputs ----------------------------------------------
ADAPTER_BASE = "_Conv3dModelNew"
ADAPTER_MARK = "# conv3d-bench: KernelBench builds ModelNew(*get_init_inputs())"
_NAME = "ModelNew"


def add_init_adapter(source: str, problem: Problem, path: str = "kernel") -> str:
    """`source` with its ModelNew renamed and a ModelNew added that maps KernelBench's init inputs
    the way the problem's reference Model does (L1/59: `(kernel_size, kernel_size, 1)`; Level 2:
    the conv's arguments among the Model's own). Every use of the name inside the file follows
    the rename, so `super(ModelNew, self)` keeps working."""
    if ADAPTER_MARK in source:
        return source  # already adapted (an exported file exported again)
    src = _Source(source)
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise ExportError(f"{path}:{err.lineno}: syntax error: {err.msg}") from None
    lines = source.splitlines(keepends=True)
    edits: list[Edit] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == _NAME:
            edits.append(Edit(*src.span(node), ADAPTER_BASE))
        elif isinstance(node, ast.ClassDef) and node.name == _NAME:
            line = lines[node.lineno - 1]
            col = line.encode("utf-8").find(b"class " + _NAME.encode())
            if col < 0:
                raise ExportError(f"{path}:{node.lineno}: cannot find `class ModelNew` to rename")
            start = src.offset(node.lineno, col + len("class "))
            edits.append(Edit(start, start + len(_NAME), ADAPTER_BASE))
    text = src.apply(edits).rstrip("\n") + "\n\n\n" + adapter_source(problem) + "\n"
    return text


def adapter_source(problem: Problem) -> str:
    """The ModelNew class that maps `get_init_inputs()` onto the conv module as the reference does."""
    params, conv = problem.constructor()
    literal_defaults = all(_default_is_literal(p) for p in params)
    if problem.file_sha256 or not literal_defaults:
        signature, call = "*init_inputs", ", ".join(_render(v) for v in problem.conv_args())
    else:
        signature = ", ".join(params)
        call = ", ".join(_render(item) for item in conv)
    init = ", ".join(repr(v) for v in problem.model_init_inputs())
    where = problem.origin or problem.name or "the problem"
    conv_text = "nn.Conv3d(" + ", ".join(_render(v) for v in problem.conv_args()) + ")"
    return (
        f"{ADAPTER_MARK} = ModelNew({init});\n"
        f"# the reference Model of {where} builds {conv_text} from them,\n"
        f"# so this ModelNew maps its arguments onto the conv module above in the same way.\n"
        f"class ModelNew({ADAPTER_BASE}):\n"
        f"    def __init__(self, {signature}):\n"
        f"        super().__init__({call})\n"
    )


def _default_is_literal(param: str) -> bool:
    _, sep, default = param.partition("=")
    if not sep:
        return True
    try:
        ast.literal_eval(default)
    except (ValueError, SyntaxError):
        return False
    return True


def _render(item: Any) -> str:
    """Source text of one constructor item: a parameter name, a literal, or a tuple of those."""
    if isinstance(item, str):
        return item
    if isinstance(item, tuple):
        inner = ", ".join(_render(v) for v in item)
        return f"({inner},)" if len(item) == 1 else f"({inner})"
    return repr(item)


# --- the top K configs as an @triton.autotune list ----------------------------------------------
def bake_autotune(
    source: str, configs: list[Config], path: str = "kernel", key: list[str] | None = None
) -> str:
    """`source` with the kernel tuned over `configs` by `@triton.autotune` (fastest first).

    An autotuned kernel gets its list replaced; a plain `@triton.jit` launch gets the decorator,
    keyed on `key` (the launch's shape arguments), and loses the launch keywords the configs now
    set (Triton refuses a launch that passes a tuned parameter)."""
    if not configs:
        raise ExportError("no configs to write as an @triton.autotune list")
    src = _Source(source)
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise ExportError(f"{path}:{err.lineno}: syntax error: {err.msg}") from None
    kernels = _kernel_defs(tree)
    tuned = [k for k in configs[0] if k not in LAUNCH_KEYS]
    edits: list[Edit] = []
    autotuned = [k for k in kernels.values() if _autotune_call(k) is not None]
    if autotuned:
        for kernel in autotuned:
            call = _autotune_call(kernel)
            assert call is not None
            node = _configs_node(call, tree)
            if node is None or not node.elts or not isinstance(node.elts[0], ast.Call):
                raise ExportError(
                    f"{path}:{call.lineno}: @triton.autotune of {kernel.name} has no literal config list to replace"
                )
            indent = " " * (node.elts[0].col_offset)
            items = ",\n".join(
                indent + _config_text(src.segment(node.elts[0].func), c) for c in configs
            )
            edits.append(Edit(*src.span(node), "[\n" + items + ",\n" + " " * node.col_offset + "]"))
        return src.apply(edits)
    launches = [
        call for call in _launches(tree, set(kernels))
        if any(kw.arg in tuned for kw in call.keywords)
    ]  # fmt: skip
    if not launches:
        raise ExportError(
            f"{path}: no launch passes {', '.join(tuned)}; cannot make an @triton.autotune list for it"
        )
    names = {
        c.func.value.id
        for c in launches
        if isinstance(c.func, ast.Subscript) and isinstance(c.func.value, ast.Name)
    }
    for name in names:
        kernel = kernels[name]
        first = min(kernel.decorator_list, key=lambda d: d.lineno)
        line_start = src.offset(first.lineno, 0)
        indent = " " * (first.col_offset - 1)
        items = "".join(f"{indent}        {_config_text('triton.Config', c)},\n" for c in configs)
        keys = ", ".join(json.dumps(k) for k in (key or []))
        block = f"{indent}@triton.autotune(\n{indent}    configs=[\n{items}{indent}    ],\n{indent}    key=[{keys}],\n{indent})\n"
        edits.append(Edit(line_start, line_start, block))
    for call in launches:
        args: list[ast.expr | ast.keyword] = [*call.args, *call.keywords]
        for i, kw in enumerate(call.keywords):
            if kw.arg in tuned or kw.arg in LAUNCH_KEYS:
                prev = args[len(call.args) + i - 1]
                prev_node = prev.value if isinstance(prev, ast.keyword) else prev
                edits.append(Edit(src.span(prev_node)[1], src.span(kw.value)[1], ""))
    return src.apply(edits)


def _config_text(ctor: str, config: Config) -> str:
    meta = ", ".join(
        f"{json.dumps(k)}: {literal(v)}" for k, v in config.items() if k not in LAUNCH_KEYS
    )
    launch = "".join(f", {k}={literal(config[k])}" for k in LAUNCH_KEYS if k in config)
    return f"{ctor}({{{meta}}}{launch})"
