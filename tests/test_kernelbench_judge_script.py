"""bench/kernelbench_judge.py, the independent judge, checked on the CPU as far as it goes there:
it imports nothing from the workbench, draws KernelBench's trial seeds, applies KernelBench's
static checker, and judges an exported file against a problem file in Triton's interpreter
(correctness only: its timing needs CUDA and is run on the lent GPU)."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from workbench.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
JUDGE = ROOT / "bench" / "kernelbench_judge.py"
L1_59 = (
    ROOT
    / "tests/fixtures/kernelbench/level1/59_conv_standard_3D__asymmetric_input__square_kernel.py"
)
SMALL = "BLOCK_M=32,BLOCK_N=16,BLOCK_K=16,num_warps=4,num_stages=2,precision=tf32x3"


def load_judge() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kernelbench_judge", JUDGE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_judge(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, str(JUDGE), *args],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=cwd,
        env=env,
    )


def test_the_judge_imports_nothing_of_the_workbench() -> None:
    tree = ast.parse(JUDGE.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add((node.module or "").split(".")[0])
    assert "workbench" not in names
    assert names <= {
        "__future__", "argparse", "hashlib", "importlib", "json", "os", "platform", "re",
        "sys", "tempfile", "traceback", "pathlib", "typing", "torch", "triton", "numpy",
    }, names  # fmt: skip


def test_trial_seeds_and_static_checker() -> None:
    judge = load_judge()
    assert judge.trial_seeds(torch) == [734796314, 576165995, 2197670066, 839703249, 2584932063]
    ok = "import triton\nimport triton.language as tl\n@triton.jit\ndef k(x):\n    tl.load(x)\n"
    assert judge.static_check(ok) == ([], [])
    errors, _ = judge.static_check(ok + 'def f():\n    """first pass"""\n')
    assert errors and errors[0].startswith("code_bypass")  # a docstring is not a comment
    assert judge.static_check(ok + "y = a // b  # try: pass\n")[0] == []  # cut at '//', '#'
    errors, _ = judge.static_check("import torch\nclass ModelNew: ...\n")
    assert [e.split(":")[0] for e in errors] == ["triton_impl", "triton_impl"]
    _, warnings = judge.static_check(ok + "m = torch.nn.Conv3d(3, 4, 3)\n")
    assert warnings and warnings[0].startswith("pytorch_wrap")


@pytest.mark.usefixtures("bench_cache")
def test_judges_an_exported_file_on_the_cpu(tmp_path: Path) -> None:
    exported = tmp_path / "exported_59.py"
    rc = main(["export", "-p", "L1/59", "-c", SMALL, "-o", str(exported), "--no-verify"])
    assert rc == 0
    verdict = tmp_path / "verdict.json"
    shape = "--input-shape", "1,3,5,5,3"
    proc = run_judge(str(exported), str(L1_59), "--device", "cpu", *shape, "--json", str(verdict),
                     cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(verdict.read_text())
    assert result["verdict"] == "pass" and result["correct"] and result["compiled"]
    assert result["passed_trials"] == 5 and result["weights_equal"] is True
    assert result["max_abs_err"] < 1e-5
    assert result["static_errors"] == []
    assert result["ref_ms"] is None and "timing needs CUDA" in " ".join(result["notes"])
    assert "not KernelBench's get_inputs()" in " ".join(result["notes"])
    # The built-in kernel as it is: ModelNew(3, 64, 3) builds 3x3x3, KernelBench's L1/59 wants
    # (3, 3, 1): the judge rejects it on the shapes, as KernelBench does.
    raw = run_judge(str(ROOT / "kernels" / "conv3d_igemm.py"), str(L1_59), "--device", "cpu",
                    *shape, cwd=tmp_path)  # fmt: skip
    assert raw.returncode == 1, raw.stdout + raw.stderr
    assert raw.stdout.startswith("FAIL") and "output shape mismatch" in raw.stdout
    missing = run_judge(str(tmp_path / "none.py"), str(L1_59), cwd=tmp_path)
    assert missing.returncode == 2 and "is not a file" in missing.stderr
