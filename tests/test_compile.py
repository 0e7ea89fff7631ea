"""compile_for_target: real triton.compile for sm_89 and sm_90 on this GPU-less machine, cuobjdump
really run on the cubin, the JSON disk cache, and the errors a user sees."""

import json
import time
from pathlib import Path

import pytest

from workbench.core.errors import CompileError, OutOfResources
from workbench.core.gpus import GPUS
from workbench.core.problem import PRESETS
from workbench.kernel.compile import (
    compile_for_target,
    cubin_resource_usage,
    cuobjdump_path,
    specialise,
)
from workbench.kernel.kernelfile import KernelFile

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "kernels"
L1_66 = PRESETS["L1/66"]
# The issue's example config; on sm_89 it uses all 255 registers per thread.
ISSUE_CONFIG = {"BLOCK_M": 128, "BLOCK_N": 64, "BLOCK_K": 32, "num_warps": 8, "num_stages": 2}


def test_specialisation_matches_triton_rules():
    kf = KernelFile.load(FIXTURES / "user_autotuned.py")
    spec = specialise(kf.capture_launch(L1_66), GPUS["4090"])
    sig = spec.signature
    assert sig["inp"] == "*fp32" and sig["ci"] == "i32"
    assert sig["groups"] == "constexpr"  # a runtime int equal to 1 is specialised away
    assert sig["TILE_P"] == "constexpr"
    names = list(sig)
    divisible = {names[path[0]] for path, attrs in spec.attrs.items() if attrs}
    # 16-byte aligned pointers and ints divisible by 16 (positions = 14*124*122 = 16 x 13237).
    assert {"inp", "wgt", "out", "positions", "co_per_group", "h_in", "w_in"} <= divisible
    assert "ci" not in divisible and "d_out" not in divisible
    assert spec.options.arch == "sm89" and spec.options.num_warps == 4


def test_compile_sm89_then_cache_hit(tmp_path, monkeypatch):
    # A cache of its own: the run's shared one may hold this config already (test_inspect compiles
    # it too, perhaps first, in another xdist worker). Triton's own cache keeps the compile cheap.
    cache = tmp_path / "cache"
    monkeypatch.setenv("CONV3D_BENCH_CACHE", str(cache))
    resources, launch = compile_for_target(KernelFile.load(), L1_66, ISSUE_CONFIG, GPUS["4090"])
    assert not resources.cached and resources.target_sm == "sm_89"
    assert 0 < resources.registers <= 255
    assert resources.spill_bytes == resources.stack_bytes + resources.local_bytes
    assert resources.shared_bytes > 0 and resources.num_warps == 8
    assert resources.source == "compiled for sm_89 by Triton " + resources.triton_version
    assert launch.grid == (13237, 1, 1)
    files = list((cache / "compile").glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["registers"] == resources.registers

    start = time.perf_counter()
    again, _ = compile_for_target(KernelFile.load(), L1_66, ISSUE_CONFIG, GPUS["4090"])
    assert again.cached and time.perf_counter() - start < 0.5
    assert again.registers == resources.registers and again.compile_s == resources.compile_s


def test_compile_sm90(bench_cache):
    resources, _ = compile_for_target(KernelFile.load(), L1_66, ISSUE_CONFIG, GPUS["h100"])
    assert resources.target_sm == "sm_90" and 0 < resources.registers <= 255
    assert resources.shared_bytes > 0


def test_cache_key_changes_with_target_and_config(bench_cache):
    kf = KernelFile.load()
    compile_for_target(kf, L1_66, ISSUE_CONFIG, GPUS["4090"])
    other, _ = compile_for_target(kf, L1_66, ISSUE_CONFIG, GPUS["l40s"])  # same sm_89
    assert other.cached  # same architecture, same specialisation: one compile serves both


def test_shared_memory_over_the_opt_in_limit(bench_cache):
    config = {"BLOCK_M": 128, "BLOCK_N": 64, "BLOCK_K": 64, "num_stages": 4}
    with pytest.raises(OutOfResources) as err:
        compile_for_target(KernelFile.load(), L1_66, config, GPUS["4090"])
    message = str(err.value)
    assert message.startswith("out of resources: shared memory ")
    assert "> 101376 B per block on NVIDIA GeForce RTX 4090; lower BLOCK_* or num_stages" in message


def test_compile_error_names_file_and_line(bench_cache):
    path = FIXTURES / "user_compile_error.py"
    line = 1 + path.read_text().splitlines().index(
        "    acc = tl.dot(a, b)  # 16 != 32: the inner dimensions disagree"
    )
    with pytest.raises(CompileError) as err:
        compile_for_target(KernelFile.load(path), L1_66, {}, GPUS["4090"])
    assert str(err.value).startswith(f"{path}:{line}: ")
    assert "\n" not in str(err.value)


def test_cuobjdump_is_bundled_and_rejects_garbage():
    assert cuobjdump_path().is_file()
    with pytest.raises(CompileError, match="cannot read resource usage"):
        cubin_resource_usage(b"not a cubin")
