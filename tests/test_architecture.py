"""The layout's rules, read from the source: imports point down, no circles, front ends on top.

Layers, lowest first: core < kernel < analysis < runner < session < search < cli, tui. A module
may import its own package and any lower one (module-level and function-level imports alike;
`if TYPE_CHECKING:` blocks are type hints, not imports). The trial worker imports neither rich
nor textual.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "workbench"
LAYERS = ["core", "kernel", "analysis", "runner", "session", "search", "cli", "tui"]
FRONT_ENDS = {"cli", "tui"}
ALLOWED_SIDEWAYS = {("cli", "tui")}  # `conv3d-bench tui` starts the app


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def import_graph() -> dict[str, set[str]]:
    """workbench module -> the workbench modules it imports (anywhere in its body)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_lines(tree)
        edges: set[str] = set()
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for target in targets:
                if target in modules and target != name:
                    edges.add(target)
        graph[name] = edges
    return graph


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def test_the_walk_sees_every_package() -> None:
    graph = import_graph()
    assert {layer(m) for m in graph} >= set(LAYERS)
    assert sum(len(v) for v in graph.values()) > 50  # the parser found the imports


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in graph.items():
        here = layer(module)
        for target in targets:
            there = layer(target)
            if here is None or there is None or here == there or (here, there) in ALLOWED_SIDEWAYS:
                continue
            if there in FRONT_ENDS or LAYERS.index(there) > LAYERS.index(here):
                bad.append(f"{module} -> {target}")
    return sorted(bad)


def cycles(graph: dict[str, set[str]]) -> list[str]:
    # A package's __init__ importing its own modules is not a circle: drop those edges.
    edges = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in graph.items()}
    found: list[str] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                found.append(" -> ".join([*stack[stack.index(target) :], target]))
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def test_imports_point_down_and_the_core_never_reaches_a_front_end() -> None:
    bad = upward_imports(import_graph())
    assert not bad, "imports that point up or into a front end:\n" + "\n".join(bad)


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(found)


def test_the_checks_catch_a_planted_cycle_and_upward_import() -> None:
    """The rules are not vacuous: planted edges are what the checks report."""
    graph = import_graph()
    graph["workbench.core.gpus"] = {*graph["workbench.core.gpus"], "workbench.cli.render"}
    assert upward_imports(graph) == ["workbench.core.gpus -> workbench.cli.render"]
    graph = import_graph()
    graph["workbench.core.errors"] = {"workbench.core.records"}
    graph["workbench.core.records"] = {*graph["workbench.core.records"], "workbench.core.errors"}
    assert any(
        "workbench.core.errors" in c and "workbench.core.records" in c for c in cycles(graph)
    )


@pytest.mark.parametrize(
    "module", ["workbench.runner.worker", "workbench.core.records", "workbench.session.store"]
)
def test_worker_and_core_do_not_load_rich_or_textual(module: str) -> None:
    code = f"import sys, json, {module}; print(json.dumps(['rich' in sys.modules, 'textual' in sys.modules]))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rich, textual = json.loads(done.stdout.strip().splitlines()[-1])
    assert not textual, f"{module} loads textual"
    assert not rich, f"{module} loads rich"
