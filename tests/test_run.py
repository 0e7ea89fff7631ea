"""run_trial(): real worker processes, real Triton interpreter, no mocks.

Interpreter trials take ~3 s each here (two workers: compile for the target, then run), so the
problems are tiny and the cases few. GPU-only checks skip cleanly where there is no CUDA GPU.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psutil
import pytest
import torch

from workbench.core.gpus import find_gpu
from workbench.core.problem import parse_problem
from workbench.core.records import Timing, TrialResult
from workbench.kernel.kernelfile import KernelFile
from workbench.runner import ncu
from workbench.runner.local import compare, keep_warm, run_trial

HERE = Path(__file__).resolve().parent
TINY = parse_problem("N=1,Ci=2,Co=8,D=4,H=4,W=5,k=3,pad=1")
SMALL_TILES = {"BLOCK_M": 32, "BLOCK_N": 16, "BLOCK_K": 16, "num_warps": 4, "num_stages": 2}
gpu_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(autouse=True)
def _cache(bench_cache: Path) -> Path:
    return bench_cache


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _check_shape(result: TrialResult) -> None:
    """Every trial result has the documented keys and a one-line message, never a traceback."""
    data = result.to_json()
    for key in ("device", "device_fingerprint", "mode", "status", "message", "problem",
                "correctness", "timing", "baseline", "kernelbench_speedup", "kernel_only_speedup",
                "vs_previous", "wall_s"):  # fmt: skip
        assert key in data, key
    assert "\n" not in result.message
    assert "Traceback" not in result.message


@pytest.mark.parametrize("precision", ["ieee", "tf32x3"])
def test_builtin_kernel_correct_in_interpreter(precision: str) -> None:
    result = run_trial(
        KernelFile.load(), TINY, {**SMALL_TILES, "precision": precision}, mode="auto"
    )
    _check_shape(result)
    assert result.status == "ok", result.message
    assert result.correct
    assert result.mode == "interpreter"
    assert result.device == "Triton interpreter on CPU"
    assert result.problem.reduced is True
    c = result.correctness
    assert c.kernelbench_pass is True
    assert c.rel_error < 1e-5
    assert c.nan_count == c.inf_count == c.unwritten_count == 0
    assert c.weights.startswith("equal")  # ModelNew drew the reference's weights under seed 42
    assert result.timing.median_ms is None
    assert "CUDA GPU" in result.timing.reason
    assert result.baseline.median_ms is None
    assert result.resources.registers > 0
    assert result.config["precision"] == precision


def test_tf32_fails_in_the_interpreter_as_on_a_gpu() -> None:
    """tl.dot rounds its operands to TF32 (truncated, as the H200 does) in the interpreter, so a
    tf32 config errs ~7e-4 and fails KernelBench's 1e-4 check here as it does on a GPU."""
    result = run_trial(KernelFile.load(), TINY, {**SMALL_TILES, "precision": "tf32"}, mode="auto")
    _check_shape(result)
    assert result.status == "wrong_result" and not result.correct
    assert result.correctness.kernelbench_pass is False
    assert 3e-4 < result.correctness.rel_error < 2e-3
    assert "FAILS KernelBench" in result.message and "rounded as on an NVIDIA GPU" in result.message
    assert result.correctness.emulated == ["tf32"]


def test_wrong_kernel_is_wrong_result(measure_kernels: dict[str, Path]) -> None:
    result = run_trial(KernelFile.load(measure_kernels["wrong_scale"]), TINY, {})
    _check_shape(result)
    assert result.status == "wrong_result"
    assert result.correctness.kernelbench_pass is False
    assert result.correctness.rel_error == pytest.approx(0.1, rel=1e-3)


def test_never_written_outputs_are_caught_by_the_poison(measure_kernels: dict[str, Path]) -> None:
    result = run_trial(KernelFile.load(measure_kernels["unwritten"]), TINY, {"BLOCK_SIZE": 16})
    assert result.status == "wrong_result"
    assert result.correctness.unwritten_count == 16
    assert "never written" in result.message


def test_hanging_worker_is_ended_and_the_next_trial_runs(
    tmp_path, monkeypatch, measure_kernels: dict[str, Path]
) -> None:
    pid_file = tmp_path / "pids"
    monkeypatch.setenv("CONV3D_TEST_PID_FILE", str(pid_file))
    started = time.monotonic()
    result = run_trial(KernelFile.load(measure_kernels["hang"]), TINY, {}, timeout_s=12)
    elapsed = time.monotonic() - started
    _check_shape(result)
    assert result.status == "timeout"
    assert elapsed < 12 + 3
    worker, child = map(int, pid_file.read_text().split())
    assert not _alive(worker), "the worker outlived its time limit"
    assert not _alive(child), "the worker's child process outlived it"
    after = run_trial(KernelFile.load(measure_kernels["copy_ok"]), TINY, {})
    assert after.status == "ok", after.message


def test_cancel_ends_the_worker(tmp_path, monkeypatch, measure_kernels: dict[str, Path]) -> None:
    pid_file = tmp_path / "pids"
    monkeypatch.setenv("CONV3D_TEST_PID_FILE", str(pid_file))
    cancel = threading.Event()
    seen: list[str] = []

    def cancel_once_hanging() -> None:  # as the TUI's Esc would, from another thread
        while not pid_file.exists():
            time.sleep(0.05)
        cancel.set()

    def progress(text: str) -> None:
        seen.append(text)

    threading.Thread(target=cancel_once_hanging, daemon=True).start()

    result = run_trial(
        KernelFile.load(measure_kernels["hang"]),
        TINY,
        {},
        timeout_s=60,
        cancel=cancel,
        progress=progress,
    )
    assert result.status == "cancelled"
    assert result.wall_s < 30
    assert seen, "no progress reported"
    worker, child = map(int, pid_file.read_text().split())
    assert not _alive(worker) and not _alive(child)


def test_warm_spares_run_trials_and_are_ended(measure_kernels: dict[str, Path]) -> None:
    keep_warm(True)
    try:
        crashed = run_trial(KernelFile.load(measure_kernels["abort"]), TINY, {})
        after = run_trial(KernelFile.load(measure_kernels["copy_ok"]), TINY, {})
        spares = psutil.Process().children()
        assert spares, "keep_warm started no spare worker"
    finally:
        keep_warm(False)
    assert crashed.status == "runtime_fault"
    assert after.status == "ok", after.message
    assert not any(_alive(p.pid) for p in spares)


def test_abort_is_runtime_fault(measure_kernels: dict[str, Path]) -> None:
    result = run_trial(KernelFile.load(measure_kernels["abort"]), TINY, {})
    _check_shape(result)
    assert result.status == "runtime_fault"
    assert "SIGABRT" in result.message


def test_shared_memory_hog_is_out_of_resources() -> None:
    # 112 KB of shared memory in a tile that compiles in seconds (a big ieee tile took 86 s cold):
    # test_bad_inputs.py's SHARED_HOG, so one compile serves both
    config = {"BLOCK_M": 16, "BLOCK_N": 16, "BLOCK_K": 128, "num_warps": 4, "num_stages": 8,
              "precision": "tf32"}  # fmt: skip
    result = run_trial(KernelFile.load(), TINY, config, gpu="4090")
    _check_shape(result)
    assert result.status == "out_of_resources", result.message
    assert "shared" in result.message.lower()


def test_non_power_of_two_block_is_invalid_config_without_a_worker() -> None:
    result = run_trial(KernelFile.load(), TINY, {"BLOCK_M": 48})
    _check_shape(result)
    assert result.status == "invalid_config"
    assert "power of two" in result.message
    assert result.wall_s < 1.0


def test_unknown_parameter_is_invalid_config() -> None:
    result = run_trial(KernelFile.load(), TINY, {"BLOCK_Q": 32})
    assert result.status == "invalid_config"
    assert "BLOCK_Q" in result.message


def test_compile_error_names_file_and_line() -> None:
    result = run_trial(
        KernelFile.load(HERE / "fixtures" / "kernels" / "user_compile_error.py"), TINY, {}
    )
    _check_shape(result)
    assert result.status == "compile_error"
    assert "user_compile_error.py:" in result.message
    assert result.detail  # the traceback is kept for debugging, out of the message


# --- pure parts -----------------------------------------------------------------------------
def _timed(median: float, p20: float, p80: float) -> TrialResult:
    return TrialResult(
        device="gpu", mode="gpu", timing=Timing(median_ms=median, p20_ms=p20, p80_ms=p80)
    )


def test_compare_words() -> None:
    assert compare(_timed(1.0, 0.95, 1.05), _timed(1.02, 1.0, 1.1)).verdict == "within noise"
    faster = compare(_timed(0.8, 0.78, 0.82), _timed(1.0, 0.98, 1.02))
    assert faster.verdict == "faster"
    assert faster.change_pct == pytest.approx(-20.0)
    assert compare(_timed(1.2, 1.18, 1.22), _timed(1.0, 0.98, 1.02)).verdict == "slower"
    none = compare(TrialResult(timing=Timing(reason="no GPU")), _timed(1.0, 1.0, 1.0))
    assert none.verdict is None and "no GPU" in none.reason


NCU_CSV = """==PROF== Connected to process 4242
"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size","Grid Size","Device","CC","Section Name","Metric Name","Metric Unit","Metric Value"
"0","4242","python","127.0.0.1","conv3d_igemm_kernel","1","7","(256, 1, 1)","(13237, 1, 1)","0","9.0","Command line profiler metrics","launch__grid_size","","13,237"
"0","4242","python","127.0.0.1","conv3d_igemm_kernel","1","7","(256, 1, 1)","(13237, 1, 1)","0","9.0","Command line profiler metrics","launch__registers_per_thread","register/thread","179"
"0","4242","python","127.0.0.1","conv3d_igemm_kernel","1","7","(256, 1, 1)","(13237, 1, 1)","0","9.0","Command line profiler metrics","sm__throughput.avg.pct_of_peak_sustained_elapsed","%","64.61"
"""


def test_ncu_csv_parsing() -> None:
    parsed = ncu.parse_csv(NCU_CSV)
    assert parsed["kernel"] == "conv3d_igemm_kernel"
    assert parsed["metrics"]["launch__grid_size"] == 13237
    assert parsed["metrics"]["launch__registers_per_thread"] == 179
    assert parsed["metrics"]["sm__throughput.avg.pct_of_peak_sustained_elapsed"] == 64.61
    assert ncu.failure("==ERROR== ERR_NVGPUCTRPERM - no permission", 1) == ncu.NO_PERMISSION
    assert ncu.kernel_names(KernelFile.load().source) == ["conv3d_igemm_kernel"]


def test_ncu_missing_says_so(monkeypatch) -> None:
    from workbench.runner.local import make_request, run_ncu

    monkeypatch.setenv("PATH", "/nonexistent")
    request = make_request(KernelFile.load(), TINY, {}, find_gpu("4090"), "gpu", phase="ncu")
    assert run_ncu(KernelFile.load(), request).message == ncu.MISSING


# --- GPU ------------------------------------------------------------------------------------
@pytest.mark.gpu
@gpu_only
def test_gpu_trial_times_and_compares() -> None:
    problem = parse_problem("N=2,Ci=3,Co=16,D=8,H=16,W=16,k=3")
    config = {**SMALL_TILES, "precision": "tf32x3"}
    first = run_trial(KernelFile.load(), problem, config, mode="gpu")
    assert first.status == "ok", first.message
    assert first.mode == "gpu" and first.problem.reduced is False
    assert first.correctness.kernelbench_pass is True and first.correctness.trials == 5
    t = first.timing
    assert 0 < t.p20_ms <= t.median_ms <= t.p80_ms
    assert first.kernelbench_timing.mean_ms > 0 and first.kernelbench_timing.runs == 100
    assert first.baseline.median_ms > 0 and first.kernelbench_speedup > 0
    second = run_trial(KernelFile.load(), problem, config, mode="gpu", previous=first)
    assert second.baseline.cached is True
    assert second.vs_previous.verdict in ("faster", "slower", "within noise")


@pytest.mark.slow  # a whole interpreter trial in worker processes (~8 s); the mechanism has a unit test
def test_a_config_that_the_wrapper_reads_on_the_host_is_what_runs() -> None:
    """conv3d_fast3 splits x once per call on the host for precision=bf16x3p, reading its config
    block (PRECISION); a trial's config must reach the host side too, as the exported file would
    (a kernel fed unsplit floats as split words computes garbage, and the check would fail)."""
    kf = KernelFile.load(HERE.parent / "kernels" / "conv3d_fast3.py")
    tiny = parse_problem("N=1,Ci=3,Co=4,D=3,H=4,W=9,k=2x3x5")
    config = {**SMALL_TILES, "precision": "bf16x3p"}
    result = run_trial(kf, tiny, config, mode="interpreter")
    assert result.status == "ok", result.message
    assert result.correct and result.correctness.kernelbench_pass is True
    assert result.correctness.rel_error < 5e-5  # three bf16 products: ~1.5e-5 (garbage: >> 1)
    assert result.config["precision"] == "bf16x3p"
