"""Export: configs baked into the text, KernelBench's rules, refusals, and exported files that
match nn.Conv3d in Triton's interpreter."""

from __future__ import annotations

import ast
import json
from argparse import Namespace
from pathlib import Path

import pytest
from interp import run_in_interpreter

from workbench.cli import main
from workbench.cli.export import export_command
from workbench.core.errors import WorkbenchError
from workbench.core.gpus import find_gpu
from workbench.core.problem import parse_problem
from workbench.core.records import TrialResult
from workbench.kernel.kernelfile import KernelFile
from workbench.kernel.static_check import static_problems
from workbench.session.export import ExportPlan
from workbench.session.export import export_kernel as export_plan
from workbench.session.store import Session

FIXTURES = Path(__file__).parent / "fixtures" / "export"
pytestmark = pytest.mark.usefixtures("bench_cache")  # kernel sources land in a private cache
GPU = find_gpu("4090")
TINY = parse_problem("N=2,Ci=3,Co=5,D=5,H=6,W=7,k=3,bias=1")
BUILTIN_CONFIG = {
    "BLOCK_M": 32,
    "BLOCK_N": 16,
    "BLOCK_K": 16,
    "precision": "ieee",
    "num_warps": 2,
    "num_stages": 1,
}


def export_kernel(kf: KernelFile, config: dict, problem, gpu, trial=None) -> str:
    return export_plan(ExportPlan(kf, config, problem, gpu, trial))


def changed_lines(before: str, after: str) -> list[str]:
    """Lines of `after` (header dropped) that are not in `before`."""
    body = after.split("\n\n", 1)[1]
    old = set(before.splitlines())
    return [line for line in body.splitlines() if line not in old]


def test_builtin_config_block_rewritten_and_reopens():
    kf = KernelFile.load()
    text = export_kernel(kf, BUILTIN_CONFIG, TINY, GPU)
    assert text.startswith("# conv3d-bench export of conv3d_igemm, tuned for NVIDIA GeForce")
    assert "# exported by conv3d-bench 0.1.0 on " in text
    block = [
        "BLOCK_M = 32",
        "BLOCK_N = 16",
        "BLOCK_K = 16",
        "NUM_WARPS = 2",
        "NUM_STAGES = 1",
        'PRECISION = "ieee"',
    ]
    assert all(f"\n{line}\n" in text for line in block)
    assert set(changed_lines(kf.source, text)) <= set(block)  # nothing else changed
    assert len(text.splitlines()) == len(kf.source.splitlines()) + 6  # the header + a blank
    assert static_problems(text) == []
    reopened = KernelFile.from_source(text, "exported.py")
    assert reopened.default_config(TINY) == BUILTIN_CONFIG
    # Exporting an exported file replaces its header instead of stacking another.
    again = export_kernel(reopened, {**BUILTIN_CONFIG, "BLOCK_M": 64}, TINY, GPU)
    assert again.count("# conv3d-bench export") == 1 and "\nBLOCK_M = 64\n" in again


def test_autotune_list_reduced_to_one_config():
    kf = KernelFile.load(FIXTURES / "autotuned_conv.py")
    config = {"BLOCK_P": 64, "BLOCK_CO": 16, "BLOCK_R": 32, "num_warps": 2, "num_stages": 2}
    text = export_kernel(kf, config, TINY, GPU)
    tree = ast.parse(text)
    kernel = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.decorator_list)
    autotune = kernel.decorator_list[0]
    configs = next(k.value for k in autotune.keywords if k.arg == "configs")
    assert len(configs.elts) == 1
    assert ast.unparse(configs.elts[0]) == (
        "triton.Config({'BLOCK_P': 64, 'BLOCK_CO': 16, 'BLOCK_R': 32}, num_warps=2, num_stages=2)"
    )
    # Only the list changed: comments, key=, the rest of the file are as they were.
    assert changed_lines(kf.source, text) == [
        '        triton.Config({"BLOCK_P": 64, "BLOCK_CO": 16, "BLOCK_R": 32}, num_warps=2, num_stages=2),'
    ]
    assert "# The user's search space (export keeps only the chosen one)." in text
    assert KernelFile.from_source(text, "x.py").default_config(TINY) == config


def test_launch_literals_rewritten_and_launch_keys_added():
    kf = KernelFile.load(FIXTURES / "launch_literals.py")
    config = {"BLOCK_M": 64, "BLOCK_N": 32, "BLOCK_K": 16, "num_warps": 8, "num_stages": 1}
    text = export_kernel(kf, config, TINY, GPU)
    launch = "BLOCK_M=64,\n{0}BLOCK_N=32,\n{0}BLOCK_K=16,\n{0}num_warps=8,\n{0}num_stages=1,\n"
    assert launch.format(" " * 12) in text
    assert "        )  # the user's hand-picked tile" in text
    assert KernelFile.from_source(text, "x.py").default_config(TINY) == config


def test_refuses_what_kernelbench_rejects(tmp_path):
    base = KernelFile.load().source
    for bad, what in (
        ("\n\ndef _unused():\n    pass\n", "the word 'pass'"),
        ("\n\ndef _guard():\n    try:\n        return 1\n    except ValueError:\n        return 2\n", "try:"),
        ('\n\ndef _doc():\n    """Docstrings count: pass."""\n    return 1\n', "the word 'pass'"),
    ):  # fmt: skip
        kf = KernelFile.from_source(base + bad, tmp_path / "bad.py")
        with pytest.raises(WorkbenchError, match="static checker would reject") as info:
            export_kernel(kf, BUILTIN_CONFIG, TINY, GPU)
        assert what in str(info.value) and "\n" not in str(info.value)
    # In a comment the word is fine: KernelBench strips comments first.
    ok = KernelFile.from_source(base + "\n# pass is fine in a comment\n", tmp_path / "ok.py")
    export_kernel(ok, BUILTIN_CONFIG, TINY, GPU)


# --- from a session -----------------------------------------------------------------------------
def _result(
    config: dict, status: str, median: float | None, passed: bool, mode: str = "gpu"
) -> TrialResult:
    return TrialResult.from_json({
        "device": "NVIDIA H100 80GB HBM3" if mode == "gpu" else "Triton interpreter on CPU",
        "mode": mode,
        "config": config,
        "status": status,
        "message": "" if status == "ok" else "max abs error 3e-3 > 1e-4",
        "correctness": {"rel_error": 1e-7, "max_abs_error": 1e-6, "kernelbench_pass": passed},
        "timing": {"median_ms": median, "p20_ms": median, "p80_ms": median, "method": "events"},
        "kernelbench_timing": {"mean_ms": median + 0.2 if median else None, "method": "KernelBench"},
        "baseline": {"median_ms": 3.0, "kernelbench_mean_ms": 3.2},
        "kernelbench_speedup": 3.2 / (median + 0.2) if median else None,
        "kernel_only_speedup": 3.0 / median if median else None,
    })  # fmt: skip


@pytest.fixture()
def session_path(tmp_path) -> Path:
    kf = KernelFile.load()
    path = tmp_path / "s.json"
    with Session.create(path, kf, TINY, GPU) as s:
        s.record(_result(BUILTIN_CONFIG, "ok", 2.0, True))
        s.record(_result({**BUILTIN_CONFIG, "precision": "tf32"}, "wrong_result", 1.0, False))
        s.record(_result({**BUILTIN_CONFIG, "BLOCK_M": 64}, "ok", 1.5, True))
        s.record(_result({**BUILTIN_CONFIG, "BLOCK_M": 16}, "ok", None, True, "interpreter"))
    return path


def _args(source, output, **kw) -> Namespace:
    base = dict(
        problem=None,
        gpu=None,
        config="",
        trial=None,
        force=False,
        autotune=None,
        no_verify=True,
        timeout=None,
    )
    return Namespace(source=str(source), output=str(output), **{**base, **kw})


def test_export_best_trial_from_session(session_path, tmp_path):
    out = tmp_path / "best.py"
    assert export_command(_args(session_path, out)) == 0
    text = out.read_text()
    assert "\nBLOCK_M = 64\n" in text  # trial 3: the fastest correct one
    # KernelBench's protocol first, kernel only beside it, each naming the device.
    assert (
        "# measured on NVIDIA H100 80GB HBM3, KernelBench's protocol (mean of 100, L2 flushed): 1.7 ms"
        in text
    )
    assert "# kernel only on NVIDIA H100 80GB HBM3 (do_bench median): 1.5 ms" in text
    assert "# session trial 3 of " in text
    assert KernelFile.load(out).default_config(TINY)["BLOCK_M"] == 64


def test_export_refuses_failed_trial_unless_forced(session_path, tmp_path):
    out = tmp_path / "wrong.py"
    with pytest.raises(WorkbenchError, match=r"trial 2 failed \(wrong_result.*unless --force"):
        export_command(_args(session_path, out, trial=2))
    assert not out.exists()
    assert main(["export", str(session_path), "--trial", "2", "-o", str(out)]) == 2
    assert export_command(_args(session_path, out, trial=2, force=True)) == 0
    assert '\nPRECISION = "tf32"\n' in out.read_text()
    assert "# status: wrong_result" in out.read_text()
    # Interpreter trials are correct but never "best"; they export when named (over the last
    # export only with --force: an existing file is never replaced silently).
    assert export_command(_args(session_path, out, trial=4, force=True)) == 0


@pytest.mark.slow  # three CLI processes and a checked export: ~14 s cold (`-m slow`, run by CI)
def test_export_from_kernel_file_and_config_via_cli(tmp_path):
    out = tmp_path / "cli.py"
    rc = main(
        ["export", str(FIXTURES / "autotuned_conv.py"), "-p", TINY.spec(), "-c", "BLOCK_P=16",
         "-o", str(out), "--no-verify"]
    )  # fmt: skip
    assert rc == 0
    assert KernelFile.load(out).default_config(TINY)["BLOCK_P"] == 16
    # Unknown keys are refused before anything is written.
    assert main(["export", "-p", TINY.spec(), "-c", "TILE_Q=16", "-o", str(tmp_path / "n.py")]) == 2
    assert not (tmp_path / "n.py").exists()
    # So are configs that break a hard rule, or do not fit on the target (unless forced).
    assert main(["export", "-p", "L1/66", "-c", "BLOCK_M=100", "-o", str(tmp_path / "n.py")]) == 2
    huge = "BLOCK_M=256,BLOCK_N=64,BLOCK_K=64,num_stages=4"
    assert main(["export", "-p", "L1/66", "-c", huge, "-o", str(tmp_path / "n.py")]) == 2
    assert not (tmp_path / "n.py").exists()
    assert (
        main(
            [
                "export",
                "-p",
                "L1/66",
                "-c",
                huge,
                "--force",
                "--no-verify",
                "-o",
                str(tmp_path / "n.py"),
            ]
        )
        == 0
    )


# --- the real check: exported files equal nn.Conv3d under the same seed ---------------------------
_CHECK = r"""
import importlib.util, json, sys
import torch
import torch.nn as nn

shape, files = json.loads(sys.argv[1])
out = {}
for i, (path, init) in enumerate(files):
    spec = importlib.util.spec_from_file_location(f"exported_{i}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    torch.manual_seed(42)
    ref = nn.Conv3d(*init)
    torch.manual_seed(42)
    new = mod.ModelNew(*init)
    worst = 0.0
    for trial in range(2):
        torch.manual_seed(trial)
        x = torch.rand(*shape)
        with torch.no_grad():
            a, b = ref(x), new(x)
        assert a.shape == b.shape, (a.shape, b.shape)
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4), (path, (a - b).abs().max().item())
        worst = max(worst, (a - b).abs().max().item())
    tuners = [v for v in vars(mod).values() if type(v).__name__ == "Autotuner"]
    out[path] = {"max_abs": worst, "configs": [len(t.configs) for t in tuners]}
print(json.dumps(out))
"""


def test_exported_files_equal_conv3d_in_interpreter(tmp_path):
    exports = {
        "builtin.py": (KernelFile.load(), BUILTIN_CONFIG),
        "builtin_tf32x3.py": (KernelFile.load(), {**BUILTIN_CONFIG, "precision": "tf32x3"}),
        "autotuned.py": (
            KernelFile.load(FIXTURES / "autotuned_conv.py"),
            {"BLOCK_P": 16, "BLOCK_CO": 16, "BLOCK_R": 16, "num_warps": 1, "num_stages": 1},
        ),
        "literals.py": (
            KernelFile.load(FIXTURES / "launch_literals.py"),
            {"BLOCK_M": 16, "BLOCK_N": 16, "BLOCK_K": 32, "num_warps": 2, "num_stages": 1},
        ),
    }
    files = []
    for name, (kf, config) in exports.items():
        path = tmp_path / name
        path.write_text(export_kernel(kf, config, TINY, GPU))
        bias = name != "literals.py"
        files.append([str(path), [TINY.ci, TINY.co, 3, 1, 0, 1, 1, bias]])  # nn.Conv3d's order
    report = run_in_interpreter(_CHECK, json.dumps([list(TINY.input_shape), files]), timeout=300)
    assert all(r["max_abs"] < 1e-4 for r in report.values()), report
    assert report[files[2][0]]["configs"] == [
        1
    ]  # the autotuner has one config: nothing to benchmark


def test_bake_config_on_a_one_line_launch_and_bad_launches():
    from workbench.kernel.bake import bake_config

    src = (
        "import triton\n\n\n@triton.jit\ndef k(x, BLOCK: tl.constexpr):\n    return\n\n\n"
        "def run(x):\n    k[(1,)](x, BLOCK=16)  # é: columns are bytes\n"
    )
    out = bake_config(src, {"BLOCK": 64, "num_warps": 2})
    assert "k[(1,)](x, BLOCK=64, num_warps=2)  # é: columns are bytes\n" in out
    with pytest.raises(WorkbenchError, match="no kernel launch passes TILE="):
        bake_config(src, {"TILE": 64})
    expr = src.replace("BLOCK=16", "BLOCK=2 * 8")
    with pytest.raises(WorkbenchError, match="an expression export cannot rewrite"):
        bake_config(expr, {"BLOCK": 64})


def test_config_block_constants_bake_where_the_launch_reads_a_dict(tmp_path):
    """conv3d_fast3 gathers its launch keywords in a dict: export rewrites its config block."""
    kf = KernelFile.load(Path(__file__).resolve().parents[1] / "kernels" / "conv3d_fast3.py")
    problem = parse_problem("L1/66")
    config = kf.full_config(problem, {"BLOCK_K": 16, "num_stages": 2, "num_warps": 8})
    text = export_kernel(kf, config, problem, GPU)
    for line in ("BLOCK_K = 16", "NUM_STAGES = 2", "NUM_WARPS = 8"):
        assert f"\n{line}\n" in text
    assert KernelFile.from_source(text, tmp_path / "f3.py").default_config(problem) == config


def test_export_bakes_a_host_tunable_into_the_config_block(tmp_path):
    """WG_TILES, a choice conv3d_fast3's wrapper makes on the host, lands in the exported file."""
    kf = KernelFile.load(Path(__file__).resolve().parents[1] / "kernels" / "conv3d_fast3.py")
    problem = parse_problem("L1/66")
    config = kf.full_config(problem, {"precision": "bf16x3g", "WG_TILES": 2, "WG_WAIT": 3})
    text = export_kernel(kf, config, problem, GPU)
    for line in ('PRECISION = "bf16x3g"', "WG_TILES = 2", "WG_WAIT = 3"):
        assert f"\n{line}" in text
    assert KernelFile.from_source(text, tmp_path / "f3.py").default_config(problem) == config
