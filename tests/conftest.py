"""Shared test fixtures: paths, the measure kernels, and a private compile cache for the tests
that compile. Fixture files live in tests/fixtures/<purpose>/: kernels/ (users' kernel files),
export/ (files export bakes), measure/ (the copy kernel the measure fixtures are made from, see
measure_kernels.py), kernelbench/ (KernelBench's own problem files)."""

import os
from pathlib import Path

import pytest
from measure_kernels import write_measure_kernels

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def measure_kernels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """name -> path of each measure fixture (copy_ok, wrong_scale, unwritten, oob, abort, hang),
    written once per session as standalone kernel files."""
    return write_measure_kernels(tmp_path_factory.mktemp("measure-kernels"))


@pytest.fixture(scope="session")
def bench_cache(tmp_path_factory: pytest.TempPathFactory):
    """$CONV3D_BENCH_CACHE pointed at an empty folder for the whole run (shared by the compile
    and inspect tests, so each config compiles once per run). Under pytest-xdist the workers
    share one folder, beside their own temp folders in the run's: the cache's writes are atomic
    (a config two workers compile at once is compiled twice, never half-read)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        path = tmp_path_factory.getbasetemp().parent / "conv3d-bench-cache"
        path.mkdir(exist_ok=True)
    else:
        path = tmp_path_factory.mktemp("conv3d-bench-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CONV3D_BENCH_CACHE", str(path))
        yield path
