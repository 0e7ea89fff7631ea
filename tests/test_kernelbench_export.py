"""Exported files judged the KernelBench way: written by the export path (session/export.py, what
`conv3d-bench export` and the TUI use), loaded from a temp file with
importlib.util.spec_from_file_location, built as `torch.manual_seed(42); ModelNew(*get_init_inputs())`,
and compared with the problem file's own Model (built the same way) on a reduced input in
Triton's interpreter, tl.dot rounded as on a GPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from interp import run_in_interpreter

from workbench.cli.main import main
from workbench.core import kernelbench
from workbench.core.config import parse_config
from workbench.core.gpus import find_gpu
from workbench.kernel.bake import ADAPTER_MARK
from workbench.kernel.kernelfile import KernelFile
from workbench.kernel.problemfile import load_problem
from workbench.kernel.static_check import static_problems
from workbench.session.export import export_kernel, plan_from_kernel, write_export

ROOT = Path(__file__).resolve().parents[1]
KB = Path(__file__).resolve().parent / "fixtures" / "kernelbench"
FILES = {f.id: KB / f.file for f in kernelbench.FACTS}
PROBLEMS = ("L1/54", "L1/59", "L1/60", "L1/66")
KERNELS = {  # small tiles: the interpreter is slow
    "conv3d_igemm": "BLOCK_M=32,BLOCK_N=16,BLOCK_K=16,num_warps=4,num_stages=2,precision=tf32x3",
    "conv3d_fast2": "BLOCK_M=32,BLOCK_N=16,BLOCK_K=16,num_warps=4,num_stages=2",
}
GPU = find_gpu("4090")
pytestmark = pytest.mark.usefixtures("bench_cache")

# The judge: KernelBench's loading, seeding and check, in a child under TRITON_INTERPRET=1.
_JUDGE = r"""
import importlib.util, json, sys, tempfile
import torch
from workbench.runner.tf32 import emulating_gpu_dot

cases = json.loads(sys.argv[1])
report = {}
for case in cases:
    context = {}
    src = open(case["problem"]).read()
    exec(compile(src, "<string>", "exec"), context)  # KernelBench execs the reference source
    torch.manual_seed(42)
    init = context["get_init_inputs"]()
    with torch.no_grad():
        torch.manual_seed(42)
        ref = context["Model"](*init)
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as tmp:
        tmp.write(open(case["export"]).read())
    spec = importlib.util.spec_from_file_location("temp_module", tmp.name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with torch.no_grad():
        torch.manual_seed(42)
        new = module.ModelNew(*init)
    mine = {tuple(t.shape): t for t in new.parameters()}
    same = all(
        tuple(t.shape) in mine and torch.equal(mine[tuple(t.shape)], t) for t in ref.parameters()
    )
    torch.manual_seed(42)
    seeds = [torch.randint(0, 2**32 - 1, (1,)).item() for _ in range(5)][:1]  # the interpreter is slow
    worst, shapes, ok = 0.0, [], True
    for seed in seeds:
        torch.manual_seed(seed)
        x = torch.rand(*case["input"])  # reduced: batch and spatial sizes, channels kept
        with torch.no_grad(), emulating_gpu_dot() as dots:
            a = ref(x)
            b = new(x)
        shapes.append([list(a.shape), list(b.shape)])
        ok = ok and a.shape == b.shape and torch.allclose(a, b, atol=1e-4, rtol=1e-4)
        if a.shape == b.shape:
            worst = max(worst, (a - b).abs().max().item())
    report[case["export"]] = {
        "weights_equal": same, "n_ref_params": len(list(ref.parameters())), "shapes": shapes,
        "pass": bool(ok), "max_abs": worst, "dots": sorted(dots.seen),
    }
print("JUDGE " + json.dumps(report))
"""


def _small(pid: str) -> list[int]:
    """A reduced input for the problem: one image, its channels, an output of 2x2x3."""
    problem = load_problem(str(FILES[pid]))
    return [1, problem.ci, *(k + extra for k, extra in zip(problem.kernel, (1, 1, 2)))]


def _export(kernel: str, problem: str, out: Path) -> str:
    """The one export path the CLI and the TUI share (session/export.py), written to `out`."""
    kf = KernelFile.load(ROOT / "kernels" / f"{kernel}.py")
    plan = plan_from_kernel(kf, load_problem(problem), GPU, parse_config(KERNELS[kernel]))
    write_export(export_kernel(plan), out)
    return out.read_text()


def _export_cli(kernel: str, problem: str, out: Path) -> str:
    """`conv3d-bench export` itself (it compiles the config for the target first)."""
    rc = main(
        ["export", str(ROOT / "kernels" / f"{kernel}.py"), "--problem", problem, "--gpu", "4090",
         "--config", KERNELS[kernel], "-o", str(out), "--no-verify"]
    )  # fmt: skip
    assert rc == 0
    return out.read_text()


def test_exported_files_pass_the_kernelbench_way(tmp_path: Path) -> None:
    cases = []
    for kernel in KERNELS:
        for pid in PROBLEMS:
            # From the problem file (what a KernelBench user has) and, for L1/59, the preset too.
            for source in [str(FILES[pid])] + (["L1/59"] if pid == "L1/59" else []):
                tag = "preset" if source == pid else "file"
                out = tmp_path / f"{kernel}-{pid.replace('/', '_')}-{tag}.py"
                text = _export(kernel, source, out)
                assert static_problems(text) == [], (out, static_problems(text))
                assert (ADAPTER_MARK in text) == (pid == "L1/59"), out  # the adapter case only
                cases.append({"problem": str(FILES[pid]), "export": str(out), "input": _small(pid)})
    report = run_in_interpreter(_JUDGE, json.dumps(cases), timeout=280, prefix="JUDGE ")
    assert len(report) == len(cases) == 10
    for case in cases:
        r = report[case["export"]]
        assert r["weights_equal"] and r["n_ref_params"] == 1, (case, r)  # L1: weight, no bias
        assert all(a == b for a, b in r["shapes"]), (case, r)
        assert r["pass"] and r["max_abs"] < 1e-5, (case, r)
        assert r["dots"], (case, r)  # tl.dot ran under the GPU-like rounding


def test_the_l1_59_adapter_builds_k_k_1(tmp_path: Path) -> None:
    """The preset's adapter takes the Model's own parameters; the file's takes *init_inputs."""
    preset = _export("conv3d_igemm", "L1/59", tmp_path / "preset.py")
    from_file = _export_cli("conv3d_igemm", str(FILES["L1/59"]), tmp_path / "file.py")
    assert "(kernel_size, kernel_size, 1)" in preset
    assert "def __init__(self, *init_inputs):" in from_file
    # Sizes equal in every dimension are written as one int, as KernelBench's files pass them.
    assert "super().__init__(3, 64, (3, 3, 1), 1, 0, 1, 1, False)" in from_file
