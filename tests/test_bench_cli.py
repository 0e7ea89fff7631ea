"""The `bench` verb as a user runs it: a real `conv3d-bench` process, output parsed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TINY = "N=1,Ci=2,Co=8,D=4,H=4,W=5,k=3,pad=1"
CONFIG = "BLOCK_M=32,BLOCK_N=16,BLOCK_K=16,num_warps=4,num_stages=2,precision=tf32x3"


def bench(*args: str, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CONV3D_BENCH_CACHE": str(cache), "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "workbench", "bench", *args],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        env=env,
    )


@pytest.fixture(scope="module")
def cache(bench_cache: Path) -> Path:
    """The run's shared compile cache: CONFIG and its tf32 twin are test_run.py's configs on the
    same problem, so whichever runs first compiles them for both."""
    return bench_cache


def test_bench_json_is_one_parsable_object(cache: Path) -> None:
    proc = bench("--problem", TINY, "--config", CONFIG, "--json", cache=cache)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "ok"
    assert result["mode"] == "interpreter"
    assert result["device"] == "Triton interpreter on CPU"
    assert result["correctness"]["kernelbench_pass"] is True
    assert isinstance(result["correctness"]["rel_error"], float)
    assert isinstance(result["correctness"]["max_abs_error"], float)
    assert result["timing"]["median_ms"] is None and result["timing"]["reason"]
    assert result["baseline"]["median_ms"] is None
    assert result["kernelbench_speedup"] is None and result["kernel_only_speedup"] is None


def test_bench_invalid_config_exits_2_with_a_result(cache: Path) -> None:
    proc = bench("--problem", TINY, "--config", "BLOCK_M=48", "--json", cache=cache)
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["status"] == "invalid_config"


def test_bench_tf32_fails_the_check_and_exits_1(cache: Path) -> None:
    """A trial that runs but fails KernelBench's 1e-4 check is wrong_result, exit 1 (not "OK")."""
    config = CONFIG.replace("tf32x3", "tf32")
    proc = bench("--problem", TINY, "--config", config, "--json", cache=cache)
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "wrong_result"
    assert result["correctness"]["kernelbench_pass"] is False
    assert result["correctness"]["rel_error"] > 3e-4  # the fp64 error is still shown


def test_bench_wrong_kernel_prints_and_exits_1(
    cache: Path, measure_kernels: dict[str, Path]
) -> None:
    kernel = str(measure_kernels["wrong_scale"])
    proc = bench(kernel, "--problem", TINY, cache=cache)
    assert proc.returncode == 1
    assert "WRONG_RESULT" in proc.stdout
    assert "Triton interpreter on CPU" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_bench_session_records_and_compares(cache: Path, tmp_path: Path) -> None:
    session = tmp_path / "s.json"
    first = bench("--problem", TINY, "--config", CONFIG, "--session", str(session), "--json",
                  "--note", "first", cache=cache)  # fmt: skip
    assert first.returncode == 0, first.stderr
    second = bench("--problem", TINY, "--config", CONFIG, "--session", str(session), "--json",
                   cache=cache)  # fmt: skip
    assert second.returncode == 0, second.stderr
    result = json.loads(second.stdout)
    assert result["session"]["trial_id"] == 2
    assert result["vs_previous"]["verdict"] is None  # nothing timed in the interpreter
    data = json.loads(session.read_text())
    assert [t["note"] for t in data["trials"]] == ["first", ""]
    assert data["trials"][0]["status"] == "ok"
