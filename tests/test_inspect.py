"""inspect_config and the `inspect` verb on this GPU-less machine (real compiles for the target),
and the layering rule: no core module imports textual."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.analysis.report import inspect_config
from workbench.cli import main
from workbench.core.errors import ConfigError
from workbench.core.gpus import GPUS
from workbench.core.problem import PRESETS
from workbench.kernel.kernelfile import KernelFile

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "kernels"
L1_66 = PRESETS["L1/66"]
ISSUE_CONFIG = "BLOCK_M=128,BLOCK_N=64,BLOCK_K=32,num_warps=8,num_stages=2"
ISSUE_DICT = {"BLOCK_M": 128, "BLOCK_N": 64, "BLOCK_K": 32, "num_warps": 8, "num_stages": 2}


def test_inspect_report_for_the_issue_example(bench_cache):
    report = inspect_config(KernelFile.load(), L1_66, ISSUE_DICT, GPUS["4090"])
    assert report.target is not None and report.target.to_json() == {
        "key": "4090",
        "name": "NVIDIA GeForce RTX 4090",
        "cc": "8.9",
        "sm": "sm_89",
        "sms": 128,
    }
    assert report.problem is not None and report.problem.id == "L1/66"
    assert report.problem.gemm == {"m": 1694336, "n": 64, "k": 315}
    assert report.problem.output_shape == [8, 64, 14, 124, 122]
    assert report.kernel is not None and report.kernel.name == "conv3d_igemm_kernel"
    # Defaults fill what the config leaves out (precision here).
    assert report.config["precision"] in ("ieee", "tf32", "tf32x3")
    assert {k: report.config[k] for k in ISSUE_DICT} == ISSUE_DICT
    res, occ = report.resources, report.occupancy
    assert res.source.startswith("compiled for sm_89 by Triton")
    assert 0 < occ.fraction <= 1 and occ.limiters
    assert occ.warps_per_block == 8
    assert report.grid == [13237, 1, 1] and report.grid_blocks == 13237
    assert report.waves.blocks_per_wave == occ.blocks_per_sm * 128
    assert report.waste is not None and report.waste.n == 0 and 0 < report.waste.total < 0.05
    assert isinstance(report.rules, list)
    assert report.provenance[0].endswith("(no GPU needed)")
    data = report.to_json()
    json.dumps(data)  # plain data all the way down
    assert type(report).from_json(data).to_json() == data


def test_cli_json_for_h100(bench_cache, capsys):
    argv = ["inspect", "--problem", "L1/66", "--config", ISSUE_CONFIG, "--gpu", "h100", "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["target"]["sm"] == "sm_90" and report["target"]["cc"] == "9.0"
    assert report["occupancy"]["max_warps"] == 64
    assert report["resources"]["source"].startswith("compiled for sm_90")


def test_cli_rich_view(bench_cache, capsys):
    argv = ["inspect", "--problem", "L1/66", "--config", ISSUE_CONFIG, "--gpu", "4090"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    for words in ("registers / thread", "occupancy (theoretical)", "binding", "13237", "waste"):
        assert words in out


def test_cli_user_file_default_config(bench_cache, capsys):
    path = FIXTURES / "user_autotuned.py"
    assert main(["inspect", str(path), "--problem", "L1/66", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["config"] == {
        "TILE_P": 32,
        "TILE_CO": 64,
        "TILE_R": 32,
        "num_warps": 4,
        "num_stages": 3,
    }
    assert report["grid"] == [6619, 1, 8]
    assert report["waste"] is None and "BLOCK_M" in report["waste_note"]
    assert "precision" in report["untunable"]


@pytest.mark.parametrize(
    "config,words",
    [
        ("BLOCK_M=48", "BLOCK_M=48 is not a power of two"),
        ("BLOCK_Q=64", "unknown parameter BLOCK_Q"),
        ("num_warps=3", "num_warps=3 must be a power of two"),
    ],
)
def test_cli_config_errors_are_one_line(capsys, config, words):
    assert main(["inspect", "--problem", "L1/66", "--config", config]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1


def test_fixed_grid_block_is_refused_with_the_reason():
    with pytest.raises(ConfigError, match="grid is a tuple computed outside META"):
        inspect_config(
            KernelFile.load(FIXTURES / "user_fixed_grid.py"), L1_66, {"BLOCK_M": 128}, GPUS["4090"]
        )


def test_core_modules_do_not_import_textual():
    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for p in (ROOT / "workbench").rglob("*.py")
        if p.stem not in ("__init__", "__main__") and "tui" not in p.parts
    )
    assert len(modules) > 20  # the walk found the packages
    child = (
        "import importlib, json, sys\n"
        "bad = {}\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as err:\n"
        "        bad[name] = f'import failed: {err}'\n"
        "    if 'textual' in sys.modules:\n"
        "        bad[name] = 'imports textual'\n"
        "        break\n"
        "print(json.dumps(bad))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", child, *modules], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    bad = json.loads(done.stdout.strip().splitlines()[-1])
    assert not {k: v for k, v in bad.items() if v == "imports textual"}, bad


def test_kernel_defined_precision_is_offered_and_not_flagged():
    """conv3d_fast2 defines `precision == "tf32x3r"` itself: a choice, not a rule break."""
    from workbench.core.problem import parse_problem

    kf = KernelFile.load(Path(__file__).resolve().parents[1] / "kernels" / "conv3d_fast2.py")
    problem = parse_problem("L1/66")
    modes = next(t.choices for t in kf.tunables(problem) if t.name == "precision")
    assert "tf32x3r" in modes and "tf32x3" in modes
    report = inspect_config(kf, problem, {}, GPUS["h100"])
    assert [r for r in report.rules if r.key == "precision"] == []


def test_a_file_with_gluon_kernels_says_what_the_compile_saw(bench_cache):
    """conv3d_fast3's bf16x3g runs a Gluon kernel on Hopper only: the sm_90 report is of the
    Triton kernel the file launches in its place here, and its provenance says so."""
    kf = KernelFile.load(ROOT / "kernels" / "conv3d_fast3.py")
    report = inspect_config(kf, L1_66, {"precision": "bf16x3g", "WG_TILES": 2}, GPUS["h200"])
    assert report.kernel is not None and report.kernel.name == "_conv3d_fast3_kernel"
    (note,) = [p for p in report.provenance if "Gluon" in p]
    assert "_conv3d_wgmma_kernel" in note and "only a GPU measurement" in note
    plain = inspect_config(KernelFile.load(), L1_66, ISSUE_DICT, GPUS["4090"])
    assert not [p for p in plain.provenance if "Gluon" in p]
