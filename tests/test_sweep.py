"""The sweep: its space language, stage 1 on real sm_89 compiles, the interpreter stage on a tiny
problem, resume after a SIGKILL of a real sweep process, and the autotune export."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workbench.core.errors import SpaceError
from workbench.core.gpus import find_gpu
from workbench.core.problem import parse_problem
from workbench.core.records import TrialResult
from workbench.kernel.kernelfile import KernelFile
from workbench.kernel.static_check import static_problems
from workbench.runner.local import run_trial
from workbench.search.space import Space, default_space, parse_space
from workbench.search.sweep import build_space
from workbench.session.store import Session

ROOT = Path(__file__).resolve().parents[1]
TINY = "N=1,Ci=2,Co=8,D=4,H=4,W=5,k=3,pad=1"
SMALL = "BLOCK_M=32,64;BLOCK_N=16;BLOCK_K=16;num_warps=2,4;num_stages=1;precision=tf32x3"


def cli(
    *args: str, cache: Path, cwd: Path, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONV3D_BENCH_CACHE": str(cache), "COLUMNS": "160"}
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )


# --- the space language ---------------------------------------------------------------------------
def test_space_values_ranges_and_restrictions() -> None:
    values, restrictions = parse_space(
        "BLOCK_M=32..256;BLOCK_N=64;num_warps=4,8;precision=ieee,tf32x3;BLOCK_M*BLOCK_N<=8192"
    )
    assert values["BLOCK_M"] == (32, 64, 128, 256) and values["precision"] == ("ieee", "tf32x3")
    space = Space(values, restrictions)
    configs = list(space.configs())
    assert len(configs) == 3 * 2 * 2  # BLOCK_M 32, 64, 128 meet BLOCK_M * 64 <= 8192; 256 does not
    assert all(c["BLOCK_M"] * c["BLOCK_N"] <= 8192 for c in configs)
    assert parse_space(space.text()) == (values, restrictions)  # the text round-trips


@pytest.mark.parametrize(
    "text,named",
    [
        ("BLOCK_M=", "'BLOCK_M='"),
        ("BLOCK_M=3..7", "'3..7'"),
        ("BLOCK_M=x", "'x'"),
        ("BLOCK_M=32,,64", "empty value"),
        ("BLOCK_M=1;BLOCK_M=2", "BLOCK_M is given twice"),
        ("colour", "'colour'"),
        ("BLOCK_M<=__import__('os')", "Call is not allowed"),
        ("BLOCK_M ** 2 < 5", "Pow is not allowed"),
        ("BLOCK_M.real < 5", "Attribute is not allowed"),
        ("BLOCK_M < 1.5", "only integers and words"),
        ("BLOCK_M <= (", "cannot read the restriction"),
    ],
)
def test_malformed_space_is_one_line_naming_the_bad_token(text: str, named: str) -> None:
    with pytest.raises(SpaceError) as err:
        parse_space(text)
    assert named in str(err.value) and "\n" not in str(err.value)


def test_restrictions_know_the_kernel_and_evaluate_safely() -> None:
    tunables = {"BLOCK_M": (32, 64), "BLOCK_N": (64,), "num_warps": (4,)}
    with pytest.raises(SpaceError, match="BLOCK_Q is not a tunable"):
        parse_space("BLOCK_Q=32", tunables)
    with pytest.raises(SpaceError, match="names BLOCK_Q"):
        parse_space("BLOCK_M*BLOCK_Q<=3", tunables)
    _, (rule,) = parse_space(
        "not (BLOCK_M // 32 % 2 == 1 and num_warps > 2) or BLOCK_N - 64 != 0", tunables
    )
    assert rule.holds({"BLOCK_M": 64, "BLOCK_N": 64, "num_warps": 4})
    assert not rule.holds({"BLOCK_M": 32, "BLOCK_N": 64, "num_warps": 4})


def test_default_space_follows_the_users_stage_rules() -> None:
    kf = KernelFile.load()
    space = default_space(kf.tunables(parse_problem("L1/66")))
    assert space.values["BLOCK_M"] == (32, 64, 128, 256) and space.values["BLOCK_N"] == (
        32,
        64,
        128,
        256,
    )
    assert space.values["BLOCK_K"] == (16, 32, 64)
    assert space.values["num_warps"] == (2, 4, 8, 16) and space.values["num_stages"] == (2, 3, 4)
    assert "tf32" not in space.values["precision"] and "tf32x3" in space.values["precision"]
    assert any("precision=tf32 left out" in note and "FAILS" in note for note in space.notes)


# --- stage 1: real compiles for the 4090 ----------------------------------------------------------
@pytest.mark.slow  # a --mode compile sweep of a real space for sm_89: ~20 s cold (`-m slow`, run by CI)
def test_compile_sweep_for_the_4090(tmp_path: Path, bench_cache: Path) -> None:
    space = "BLOCK_M=64,128;BLOCK_N=64;BLOCK_K=16,32;num_warps=4,8;num_stages=2,4;precision=tf32x3"
    proc = cli(
        "sweep",
        "--mode",
        "compile",
        "--space",
        space,
        "--session",
        "s.json",
        "--json",
        cache=bench_cache,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["space_size"] == 16 and result["measured"] == 0
    assert result["fits"] + sum(result["dropped"].values()) == 16
    assert result["fits"] >= 1 and "predicted" in result["winner_basis"]
    for row in result["ranked"]:
        assert row["status"] == "predicted" and row["registers"] > 0 and row["spill_bytes"] == 0
        assert row["predicted_ms"] > 0 and row["kernelbench_ms"] is None  # never shown as measured
    predicted = [r["predicted_ms"] for r in result["ranked"]]
    assert predicted == sorted(predicted)
    session = Session.load(tmp_path / "s.json", readonly=True)
    assert len(session.trials) == 16 and {t.mode for t in session.trials} == {"compile"}
    assert {t.sweep for t in session.trials} == {1} and session.sweeps[0]["state"] == "done"
    assert all(
        t.inspect is not None and t.inspect.resources.target_sm == "sm_89"
        for t in session.trials
        if t.ok
    )


def test_bad_sweep_arguments_are_one_line(tmp_path: Path, bench_cache: Path) -> None:
    for args, words in (
        (["--space", "BLOCK_M=48"], "not a power of two"),
        (["--space", "BLOCK_Z=32"], "BLOCK_Z is not a tunable"),
        (["--strategy", "random"], "needs --budget"),
        (["--budget", "0"], "--budget 0 must be 1 or more"),
        (["--space", "BLOCK_M=32;BLOCK_M>64"], "no config left"),
    ):
        proc = cli(
            "sweep",
            "--mode",
            "compile",
            *args,
            "--session",
            "b.json",
            cache=bench_cache,
            cwd=tmp_path,
        )
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        err = proc.stderr.strip()
        assert (
            err.startswith("error: ")
            and words in err
            and "\n" not in err
            and "Traceback" not in err
        ), err


# --- stage 2 without a GPU: the interpreter checks the top K -------------------------------------
def test_interpreter_sweep_checks_the_top_k(tmp_path: Path, bench_cache: Path) -> None:
    space = "BLOCK_M=32;BLOCK_N=16;BLOCK_K=16;num_warps=2,4;num_stages=1;precision=tf32,tf32x3"
    proc = cli("sweep", "--problem", TINY, "--space", space, "--top", "4", "--session", "i.json", "--json",
               cache=bench_cache, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    checked = [r for r in result["ranked"] if r["status"] != "predicted"]
    assert len(checked) == 4
    verdicts = {r["config"]["precision"]: r["correct"] for r in checked}
    assert verdicts == {"tf32": False, "tf32x3": True}  # tf32 fails in the interpreter as on a GPU
    assert result["winner"]["correct"] and result["winner"]["config"]["precision"] == "tf32x3"
    assert "interpreter" in result["winner_basis"] and result["winner"]["kernelbench_ms"] is None


# --- resume after SIGKILL -------------------------------------------------------------------------
@pytest.mark.slow  # cold compiles by design (the kill must land mid-stage): ~20 s here
def test_sigkilled_sweep_resumes_with_exactly_the_space(tmp_path: Path) -> None:
    cache = tmp_path / "cold-cache"  # cold compiles, so the kill lands mid-stage
    space = (
        "BLOCK_M=32,64,128;BLOCK_N=32,64;BLOCK_K=16,32;num_warps=4;num_stages=2;precision=tf32x3"
    )
    argv = ["sweep", "--mode", "compile", "--space", space, "--session", "r.json", "--json"]
    env = {**os.environ, "CONV3D_BENCH_CACHE": str(cache)}
    child = subprocess.Popen([sys.executable, "-m", "workbench", *argv], cwd=tmp_path, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    session_file = tmp_path / "r.json"
    deadline = time.monotonic() + 180
    recorded = 0
    while time.monotonic() < deadline and child.poll() is None:
        if session_file.exists():
            try:
                recorded = len(json.loads(session_file.read_text())["trials"])
            except (ValueError, KeyError):
                recorded = 0
            if recorded >= 2:
                break
        time.sleep(0.1)
    assert child.poll() is None, (
        "the sweep finished before it could be killed: make the space bigger"
    )
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert 2 <= recorded < 12
    proc = cli(*argv, cache=cache, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["resumed"] is True and result["space_size"] == 12
    session = Session.load(session_file, readonly=True)
    keys = [json.dumps(t.config, sort_keys=True) for t in session.trials]
    assert len(keys) == 12 and len(set(keys)) == 12  # every config once, none twice


# --- export --autotune ----------------------------------------------------------------------------
def _timed(config: dict, ms: float) -> TrialResult:
    return TrialResult.from_json({
        "status": "ok", "mode": "gpu", "device": "NVIDIA H200", "config": config,
        "correctness": {"kernelbench_pass": True, "rel_error": 1e-7, "max_abs_error": 1e-6},
        "timing": {"median_ms": ms}, "kernelbench_timing": {"mean_ms": ms + 0.1},
    })  # fmt: skip


@pytest.mark.slow  # an interpreter sweep, an export and its interpreter run: ~18 s (`-m slow`, run by CI)
def test_autotune_export_lists_the_top_k_and_runs_in_the_interpreter(
    tmp_path: Path, bench_cache: Path
) -> None:
    kf = KernelFile.load()
    problem = parse_problem(TINY)
    gpu = find_gpu("4090")
    base = {"BLOCK_N": 16, "BLOCK_K": 16, "precision": "ieee", "num_stages": 1}
    path = tmp_path / "a.json"
    with Session.create(path, kf, problem, gpu) as s:
        s.record(_timed({**base, "BLOCK_M": 32, "num_warps": 2}, 1.0))
        s.record(_timed({**base, "BLOCK_M": 64, "num_warps": 4}, 2.0))
        s.record(_timed({**base, "BLOCK_M": 64, "num_warps": 2}, 3.0))
    out = tmp_path / "tuned.py"
    proc = cli(
        "export",
        str(path),
        "--autotune",
        "2",
        "-o",
        str(out),
        "--no-verify",
        cache=bench_cache,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert text.count("triton.Config(") == 2 and "@triton.autotune(" in text and "key=[" in text
    assert static_problems(text) == []
    exported = KernelFile.load(out)
    launch = exported.capture_launch(problem)
    assert launch.autotuned and [c["BLOCK_M"] for c in launch.autotune_configs] == [
        32,
        64,
    ]  # fastest first
    result = run_trial(exported, problem, {}, gpu=gpu, mode="interpreter")
    assert result.correct, result.message


def test_host_tunables_enter_the_space_only_where_named() -> None:
    """conv3d_fast3's config-block choices stay at the file's value unless --space names them."""
    kf = KernelFile.load(Path(__file__).resolve().parents[1] / "kernels" / "conv3d_fast3.py")
    problem = parse_problem("L1/66")
    assert "WG_TILES" not in build_space(kf, problem, None).values
    space = build_space(kf, problem, "WG_TILES=0,2;BLOCK_M=128;num_warps=4")
    assert space.values["WG_TILES"] == (0, 2) and space.values["BLOCK_M"] == (128,)
    with pytest.raises(SpaceError, match="WG_TILE is not a tunable"):
        build_space(kf, problem, "WG_TILE=2")
