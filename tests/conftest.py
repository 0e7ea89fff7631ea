"""Shared test fixtures: paths, and a private compile cache for the tests that compile."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def bench_cache(tmp_path_factory: pytest.TempPathFactory):
    """$CONV3D_BENCH_CACHE pointed at an empty folder for the whole session (shared by the
    compile and inspect tests, so each config compiles once per run)."""
    path = tmp_path_factory.mktemp("conv3d-bench-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CONV3D_BENCH_CACHE", str(path))
        yield path
