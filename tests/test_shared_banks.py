"""Shared-memory bank conflicts from the TTGIR: the wavefront count of known layouts, and a real
offline sm_90 compile of the user-style kernel (unswizzled wgmma B staging: 32-way at TILE_R =
32; mma.sync's swizzled staging: none)."""

from pathlib import Path

import pytest

from workbench.core.gpus import GPUS
from workbench.core.problem import PRESETS
from workbench.core.records import Resources
from workbench.kernel.compile import compile_for_target
from workbench.kernel.kernelfile import KernelFile
from workbench.kernel.shared_banks import parse_layouts, shared_accesses, wavefronts

USER_STYLE = Path(__file__).resolve().parents[1] / "bench" / "fixtures" / "user_style_autotuned.py"

LAYOUTS = """\
#blocked = #ttg.blocked<{sizePerThread = [1, 1], threadsPerWarp = [32, 1], warpsPerCTA = [1, 4], order = [0, 1]}>
#blocked1 = #ttg.blocked<{sizePerThread = [1, 1], threadsPerWarp = [1, 32], warpsPerCTA = [4, 1], order = [1, 0]}>
#blocked2 = #ttg.blocked<{sizePerThread = [1, 4], threadsPerWarp = [8, 4], warpsPerCTA = [4, 1], order = [1, 0]}>
#blocked3 = #ttg.blocked<{sizePerThread = [1, 4], threadsPerWarp = [32, 1], warpsPerCTA = [1, 4], order = [1, 0]}>
#shared = #ttg.swizzled_shared<{vec = 1, perPhase = 1, maxPhase = 1, order = [1, 0]}>
#shared1 = #ttg.swizzled_shared<{vec = 4, perPhase = 1, maxPhase = 8, order = [1, 0]}>
"""


def test_wavefronts_of_known_layouts():
    blocked, shared = parse_layouts(LAYOUTS)
    down, across, vec4 = blocked["blocked"], blocked["blocked1"], blocked["blocked2"]
    column4 = blocked["blocked3"]
    plain, swizzled = shared["shared"], shared["shared1"]
    # 32 threads down a column of a 32x32 f32 buffer, rows 128 B apart: one bank, 32 wavefronts
    # per instruction; 4 warps x 8 columns each = 32 instructions of 32 wavefronts.
    assert wavefronts(down, plain, (32, 32), 4) == (1024, 32, 4096)
    # The same threads along a row: one wavefront each.
    assert wavefronts(across, plain, (32, 32), 4) == (32, 32, 4096)
    # 16-byte vectors, 8 rows x 4 vectors per warp: 4 phases of 8 threads, two rows each on the
    # same 16 banks (2 wavefronts a phase); the XOR swizzle only permutes those 4 vectors.
    assert wavefronts(vec4, plain, (32, 32), 4) == (64, 32, 4096)
    assert wavefronts(vec4, swizzled, (32, 32), 4) == (64, 32, 4096)
    # One 16-byte vector per row down 32 rows: unswizzled a phase's 8 rows hit the same 4 banks
    # (8 wavefronts); swizzled, row r's vector moves to r XOR 0: all 32 banks, one wavefront.
    assert wavefronts(column4, plain, (32, 32), 4) == (256, 32, 4096)
    assert wavefronts(column4, swizzled, (32, 32), 4) == (32, 32, 4096)
    # Down a column of the swizzled buffer: rows 8 apart share a bank, 4 wavefronts each.
    assert wavefronts(down, swizzled, (32, 32), 4)[0] == 4 * 32


def _accesses(config: dict[str, int]) -> list:
    kf = KernelFile.load(USER_STYLE)
    problem = PRESETS["L1/66"]
    resources, _ = compile_for_target(kf, problem, kf.full_config(problem, config), GPUS["h200"])
    assert resources.shared_accesses is not None, "the compile records the TTGIR's accesses"
    return resources.shared_accesses


@pytest.mark.parametrize(
    ("tile_p", "tile_r", "stages", "worst"),
    [(64, 32, 2, 32.0), (64, 16, 2, 16.0), (32, 32, 3, 1.0)],
)
def test_real_sm90_compile_records_the_bank_conflicts(bench_cache, tile_p, tile_r, stages, worst):
    config = {"TILE_P": tile_p, "TILE_CO": 32 if tile_p == 64 else 64, "TILE_R": tile_r,
              "num_warps": 4, "num_stages": stages}  # fmt: skip
    accesses = _accesses(config)
    in_loop = [a for a in accesses if a.in_loop and a.degree is not None]
    assert in_loop, "the main loop's async copies and loads are counted"
    assert max(a.degree for a in in_loop) == worst
    conflicted = [a for a in in_loop if a.degree > 1]
    if worst > 1:
        # wgmma's B tile staged unswizzled (vec 1, no phase), written and read down TILE_R.
        assert {a.op for a in conflicted} == {"async_copy_global_to_local", "local_load"}
        assert all("vec=1, perPhase=1, maxPhase=1" in a.shared_layout for a in conflicted)
        assert all(a.wavefronts == worst * a.ideal_wavefronts for a in conflicted)
    else:
        assert not conflicted and any("vec=4" in a.shared_layout for a in in_loop)


def test_resources_without_the_record_load_as_unknown():
    old = {"registers": 128, "spill_bytes": 0, "shared_bytes": 1024, "triton_version": "3.6.0"}
    res = Resources.from_json(old)
    assert res.shared_accesses is None and "shared_accesses" not in res.to_json()
    again = Resources.from_json({**old, "shared_accesses": [
        {"op": "local_load", "kind": "read", "shape": [32, 32], "element": "f32",
         "shared_layout": "s", "register_layout": "b", "in_loop": True, "degree": 32.0,
         "wavefronts": 1024, "ideal_wavefronts": 32, "bytes": 4096}]})  # fmt: skip
    assert again.shared_accesses is not None and again.shared_accesses[0].degree == 32.0
    assert Resources.from_json(again.to_json()) == again


def test_a_module_without_shared_memory_has_no_accesses():
    assert shared_accesses(LAYOUTS + "module {\n}\n") == []
