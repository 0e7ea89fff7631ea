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
    # 16-byte vectors, 8 rows x 4 vectors per warp: the 8 rows on the same 16 banks, 8 words
    # each (8 wavefronts, 4 without conflicts); the XOR swizzle moves rows 4-7 to the other 16
    # banks: 4 words a bank, conflict-free (the phases of 8 threads that model v5 summed counted
    # 2 rows on 16 banks in each of 4 phases: 8).
    assert wavefronts(vec4, plain, (32, 32), 4) == (64, 32, 4096)
    assert wavefronts(vec4, swizzled, (32, 32), 4) == (32, 32, 4096)
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


# An ieee dot (Triton's FMA lowering, as conv3d_igemm compiles a 64x64x16 tile of 8 warps for
# sm_90): each thread holds a 4x4 block of the accumulator; its A operand is its 4 rows across
# the whole K of the tile, its B operand its 4 columns; A is staged K-fastest, B K-fastest too
# (column-major), both unswizzled. The MMA operand read beside them stays uncounted.
FMA_DOT = """\
#blocked3 = #ttg.blocked<{sizePerThread = [4, 4], threadsPerWarp = [2, 16], warpsPerCTA = [8, 1], order = [1, 0]}>
#mma = #ttg.nvidia_mma<{versionMajor = 2, versionMinor = 0, warpsPerCTA = [4, 1], instrShape = [16, 8]}>
#shared = #ttg.swizzled_shared<{vec = 1, perPhase = 1, maxPhase = 1, order = [1, 0]}>
#shared1 = #ttg.swizzled_shared<{vec = 1, perPhase = 1, maxPhase = 1, order = [0, 1]}>
module {
    %acc = scf.for %k = %c0 to %K step %c16 iter_args(%acc_1 = %cst) -> (tensor<64x64xf32, #blocked3>)  : i32 {
      %a = ttg.local_load %a_buf token %t : !ttg.memdesc<64x16xf32, #shared, #smem, mutable> -> tensor<64x16xf32, #ttg.dot_op<{opIdx = 0, parent = #blocked3}>> loc(#loc1)
      %b = ttg.local_load %b_buf token %t : !ttg.memdesc<16x64xf32, #shared1, #smem, mutable> -> tensor<16x64xf32, #ttg.dot_op<{opIdx = 1, parent = #blocked3}>> loc(#loc2)
      %m = ttg.local_load %m_buf token %t : !ttg.memdesc<64x16xf32, #shared, #smem, mutable> -> tensor<64x16xf32, #ttg.dot_op<{opIdx = 0, parent = #mma, kWidth = 1}>> loc(#loc3)
    }
}
"""


def test_an_fma_dots_operand_reads_are_counted_with_their_broadcast():
    """Each thread reads 16-byte vectors along K (LDS.128, as the compile's SASS shows). A: the
    16 threads along N read the same two rows (a broadcast): 4 wavefronts, the least for 16
    bytes a thread, conflict-free. B: the 2 threads along M share their words, and the 16
    columns a warp reads sit 64 bytes apart, all on the same 4 banks: 16 words a bank, 4-way
    (summed over four phases of 8 threads, the rule before model v6, the words the two halves
    of the warp share counted twice: 8-way). Per block: 8 warps x 16 instructions."""
    a, b, mma = shared_accesses(FMA_DOT)
    assert (a.in_loop, b.in_loop) == (True, True)
    assert a.register_layout.startswith("dot_op<opIdx=0, parent=blocked3>: blocked<")
    assert (a.degree, a.wavefronts, a.ideal_wavefronts) == (1.0, 8 * 16 * 4, 8 * 16 * 4)
    assert (b.degree, b.wavefronts, b.ideal_wavefronts) == (4.0, 8 * 16 * 16, 8 * 16 * 4)
    assert b.bytes == 8 * 16 * 32 * 16  # every thread's 16 vectors of 16 bytes, per warp
    assert mma.degree is None and mma.register_layout == "dot_op<opIdx=0, parent=mma>"
