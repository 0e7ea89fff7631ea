"""The shared-memory estimate the TUI checks before compiling (workbench/analysis/estimate.py):
its formula per architecture, its verdict bands, and one real compile it must agree with."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.analysis.estimate import CLOSE, OVER, estimate_shared
from workbench.core.gpus import find_gpu
from workbench.core.problem import parse_problem

TINY = "N=1,Ci=2,Co=4,D=4,H=4,W=4,k=3"
KERNEL = Path(__file__).resolve().parent / "snapshots" / "snapshot_kernel.py"


def tile(bm: int, bn: int, bk: int, stages: int) -> dict[str, int | str]:
    return {"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk, "num_stages": stages, "num_warps": 4}


def test_pre_hopper_counts_stages_minus_one_and_the_epilogue() -> None:
    ada = find_gpu("4090")
    # The operands: (3 - 1) x (128*64 + 64*64) x 4 B; the accumulator 128*64*4 B is smaller.
    e = estimate_shared(tile(128, 64, 64, 3), ada)
    assert e is not None
    assert e.pipeline == 2 * (128 * 64 + 64 * 64) * 4 == 98304
    assert e.epilogue == 128 * 64 * 4 and e.bytes == 98304
    # One stage still holds one copy; a wide tile is bound by its accumulator.
    one = estimate_shared(tile(256, 64, 16, 1), ada)
    assert one is not None and one.copies == 1 and one.bytes == 256 * 64 * 4


def test_hopper_counts_every_stage() -> None:
    e = estimate_shared(tile(128, 128, 32, 3), find_gpu("h100"))
    assert e is not None and e.hopper and e.copies == 3
    assert e.bytes == 3 * (128 * 32 + 32 * 128) * 4 == 98304
    assert "num_stages x" in e.formula


def test_verdict_bands_around_the_limit() -> None:
    ada = find_gpu("4090")
    limit = ada.arch.max_shared_per_block_optin
    fits = estimate_shared(tile(64, 64, 32, 2), ada)
    close = estimate_shared(tile(256, 128, 32, 2), ada)  # 128 KiB: 1.3x
    over = estimate_shared(tile(4096, 64, 16, 2), ada)  # 1 MiB: 10x
    assert fits is not None and fits.verdict == "fits" and fits.ratio <= CLOSE
    assert close is not None and close.verdict == "close" and 1 < close.ratio <= OVER
    assert over is not None and over.verdict == "over" and over.bytes > OVER * limit
    assert "cannot fit" in over.message() and "lower BLOCK_* or num_stages" in over.message()
    assert "may not fit" in close.message() and "compile decides" in close.message()


def test_no_estimate_without_a_tile() -> None:
    assert estimate_shared({"num_warps": 4}, find_gpu("4090")) is None
    assert estimate_shared({**tile(64, 64, 32, 2), "BLOCK_M": "x"}, find_gpu("4090")) is None


@pytest.mark.usefixtures("bench_cache")
def test_the_estimate_matches_a_real_sm89_compile() -> None:
    """On sm_89 the estimate matched the built-in kernel's compile exactly (14 configs measured,
    docs/measurements/tui-shared-estimate.json); here one of them, compiled for real."""
    from workbench.kernel.compile import compile_for_target
    from workbench.kernel.kernelfile import KernelFile

    kf = KernelFile.load(KERNEL)
    problem = parse_problem(TINY)
    config = {**kf.default_config(problem), **tile(64, 64, 32, 2)}
    resources, _ = compile_for_target(kf, problem, config, find_gpu("4090"))
    e = estimate_shared(config, find_gpu("4090"))
    assert e is not None and e.bytes == resources.shared_bytes
