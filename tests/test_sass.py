"""workbench.kernel.sass: the instruction mix of a kernel's main loop, from real SASS.

Real offline compiles (triton.compile for sm_89 / sm_90, no GPU) of the small matmul below, real
cuobjdump on the cubins; a parse test on hand-written SASS. Compiles are memoised within the run
only (Triton's own cache aside).
"""

from __future__ import annotations

import functools
import json
import warnings
from typing import Any

import pytest
import triton
import triton.language as tl
from triton.backends.compiler import GPUTarget
from triton.compiler.compiler import ASTSource

from workbench.kernel.sass import (
    InstructionMix,
    SassError,
    dump_sass,
    find_loops,
    instruction_mix,
    main_loop,
    mma_shape,
    parse_sass,
)


@triton.jit
def _matmul(a_ptr, b_ptr, c_ptr, K, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, PREC: tl.constexpr):  # fmt: skip
    """C[BM, BN] of one tile = A[BM, K] @ B[K, BN], K in steps of BK (A row-major with K columns,
    B row-major with BN columns)."""
    rm = tl.program_id(0) * BM + tl.arange(0, BM)
    rn = tl.program_id(1) * BN + tl.arange(0, BN)
    rk = tl.arange(0, BK)
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k in range(0, K, BK):
        a = tl.load(a_ptr + rm[:, None] * K + (k + rk)[None, :])
        b = tl.load(b_ptr + (k + rk)[:, None] * BN + rn[None, :])
        acc += tl.dot(a, b, input_precision=PREC)
    tl.store(c_ptr + rm[:, None] * BN + rn[None, :], acc)


@triton.jit
def _matmul_tma(a_ptr, b_ptr, c_ptr, M, N, K, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):  # fmt: skip
    """The same with tensor descriptors: TMA loads on sm_90."""
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    a_desc = tl.make_tensor_descriptor(a_ptr, shape=[M, K], strides=[K, 1], block_shape=[BM, BK])
    b_desc = tl.make_tensor_descriptor(b_ptr, shape=[K, N], strides=[N, 1], block_shape=[BK, BN])
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k in range(0, K, BK):
        acc = tl.dot(a_desc.load([pid_m * BM, k]), b_desc.load([k, pid_n * BN]), acc)
    rm = pid_m * BM + tl.arange(0, BM)
    rn = pid_n * BN + tl.arange(0, BN)
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc)


def _divisible(n: int) -> dict:
    """Pointers and ints 16-divisible, as Triton specialises a real launch on aligned tensors."""
    return {(i,): [["tt.divisibility", 16]] for i in range(n)}


@functools.cache
def _cubin(
    arch: int,
    dtype: str = "fp32",
    precision: str = "tf32",
    BM: int = 64,
    BN: int = 64,
    BK: int = 32,
    num_warps: int = 4,
    num_stages: int = 3,
) -> bytes:
    ptr = f"*{dtype}"
    signature = {"a_ptr": ptr, "b_ptr": ptr, "c_ptr": "*fp32", "K": "i32"}
    signature |= dict.fromkeys(("BM", "BN", "BK", "PREC"), "constexpr")
    constexprs = {"BM": BM, "BN": BN, "BK": BK, "PREC": precision}
    src = ASTSource(_matmul, signature, constexprs, _divisible(4))
    options = {"num_warps": num_warps, "num_stages": num_stages}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*TRITON_DEFAULT_FP_FUSION")
        compiled = triton.compile(src, target=GPUTarget("cuda", arch, 32), options=options)
    return compiled.asm["cubin"]


@functools.cache
def _mix(arch: int, **kwargs: Any) -> InstructionMix:
    return instruction_mix(_cubin(arch, **kwargs))


def _mma_macs(counts_shapes: dict[str, int]) -> int:
    """Multiply-accumulates the MMAs of one warp (HMMA) or one warpgroup (HGMMA) compute."""
    total = 0
    for opcode, n in counts_shapes.items():
        shape = mma_shape(opcode)
        assert shape is not None, opcode
        m, n_, k = shape
        total += n * m * n_ * k
    return total


# --- real compiles: sm_89 ---------------------------------------------------------------------
def test_sm89_tf32_main_loop_has_hmma_one_k_step():
    mix = _mix(89)
    assert mix.arch == "sm_89" and mix.function == "_matmul"
    assert mix.main_loop is not None and mix.per_iteration is not None
    assert len(mix.loops) == 1 and mix.main_loop == mix.loops[0]
    it = mix.per_iteration
    # mma.sync m16n8k8 tf32: a 64x64x32 tile step over 4 warps = 64*64*32 / (16*8*8) / 4 = 32.
    assert it.mma_shapes == {"HMMA.1688.F32.TF32": 32}
    assert it.mma == 32 and it.ffma == 0
    assert mix.kernel.mma == it.mma  # every MMA is in the loop: the pipeliner peels loads only
    assert it.total == mix.loop_instructions == mix.main_loop.instructions
    assert it.total > it.mma + it.int_alu  # the loop issues more than MMAs and address math
    # num_stages=3: cp.async (LDGSTS) of 16 B; A and B tiles = (64*32 + 32*64) * 4 B / 128 threads
    # = 128 B per thread per step = 8 copies; the prologue issues the first 2 stages' copies.
    assert it.global_loads == 0 and it.async_copy_widths == {16: 8}
    assert it.async_copy_bytes == (64 * 32 + 32 * 64) * 4 // 128
    assert mix.kernel.async_copies == 3 * it.async_copies
    assert it.ldsm > 0 and it.barriers >= 1 and it.local_loads == it.local_stores == 0
    assert it.branches == 1  # the back edge


def test_sm89_hmma_per_iteration_scales_with_the_tile():
    base = _mix(89).per_iteration
    assert base is not None
    for kwargs in ({"BN": 128}, {"BM": 128}, {"BK": 64}):
        doubled = _mix(89, **kwargs).per_iteration
        assert doubled is not None
        assert doubled.mma_shapes == {"HMMA.1688.F32.TF32": 2 * base.mma}, kwargs
    # The per-warp HMMA work times the warps is the tile step's BM*BN*BK.
    assert _mma_macs(base.mma_shapes) * 4 == 64 * 64 * 32


def test_sm89_bf16_uses_hmma_16816():
    it = _mix(89, dtype="bf16").per_iteration
    assert it is not None
    assert it.mma_shapes == {"HMMA.16816.F32.BF16": 64 * 64 * 32 // (16 * 8 * 16) // 4}


def test_sm89_one_stage_loads_with_ldg_in_the_loop():
    """num_stages=1: no cp.async pipelining, plain LDG.E.128 to registers and STS to shared."""
    mix = _mix(89, num_stages=1)
    it = mix.per_iteration
    assert it is not None and it.mma == 32
    assert it.global_load_widths == {16: 8} and it.global_load_bytes == 128
    assert it.async_copies == 0 and it.shared_stores > 0
    assert mix.kernel.global_loads == it.global_loads  # all of them in the loop


def test_sm89_ieee_is_ffma_and_no_mma():
    mix = _mix(89, precision="ieee")
    it = mix.per_iteration
    assert mix.main_loop is not None and it is not None
    assert it.mma == 0 and mix.kernel.mma == 0 and it.mma_shapes == {}
    assert it.ffma == 64 * 64 * 32 // 128  # one FFMA per thread per multiply-accumulate
    assert it.async_copies > 0


# --- real compiles: sm_90 ---------------------------------------------------------------------
def test_sm90_tf32_uses_wgmma_hgmma():
    """BM = 64 with 4 warps (one warpgroup): Triton picks wgmma, HGMMA.64xNx8 in SASS."""
    mix = _mix(90)
    assert mix.arch == "sm_90a"  # Triton compiles sm_90 as sm_90a (wgmma needs the "a")
    it = mix.per_iteration
    assert mix.main_loop is not None and it is not None
    # One HGMMA per 8 of K for the warpgroup's 64x64 tile; each of its warps issues it.
    assert it.mma_shapes == {"HGMMA.64x64x8.F32.TF32": 32 // 8}
    assert mix.kernel.mma == it.mma
    assert "HMMA" not in it.by_opcode
    assert it.by_opcode.get("WARPGROUP", 0) >= 2  # WARPGROUP.ARRIVE and WARPGROUP.DEPBAR
    assert it.barriers >= it.by_opcode["WARPGROUP"]
    # wgmma reads both tiles from shared memory: no LDS/LDSM feeding the MMAs.
    assert it.shared_loads == 0 and it.ldsm == 0
    # tf32 wgmma wants B K-major; B is N-contiguous here, so its copies are 4 B each (A: 16 B).
    assert it.async_copy_widths == {16: 4, 4: 16}


def test_sm90_wgmma_shape_follows_block_n():
    """Doubling BLOCK_N doubles the HGMMA's N, not the number of HGMMAs."""
    base = _mix(90).per_iteration
    wide = _mix(90, BN=128).per_iteration
    assert base is not None and wide is not None
    assert wide.mma_shapes == {"HGMMA.64x128x8.F32.TF32": base.mma}
    assert _mma_macs(wide.mma_shapes) == 2 * _mma_macs(base.mma_shapes) == 2 * 64 * 64 * 32
    # Two warpgroups (BM=128, 8 warps): each issues HGMMA for its own 64 rows.
    two = _mix(90, BM=128, num_warps=8).per_iteration
    assert two is not None and two.mma_shapes == {"HGMMA.64x64x8.F32.TF32": 4}


def test_sm90_small_tile_falls_back_to_mma_sync():
    """BM = 32 is too few rows for a warpgroup's wgmma (64): Triton uses mma.sync, HMMA."""
    it = _mix(90, BM=32).per_iteration
    assert it is not None
    assert it.mma_shapes == {"HMMA.1688.F32.TF32": 32 * 64 * 32 // (16 * 8 * 8) // 4}
    bf16 = _mix(90, dtype="bf16").per_iteration
    assert bf16 is not None and bf16.mma_shapes == {"HGMMA.64x64x16.F32.BF16": 2}


def test_sm90_ieee_is_ffma_and_no_mma():
    mix = _mix(90, precision="ieee")
    it = mix.per_iteration
    assert it is not None and it.mma == 0 and mix.kernel.mma == 0
    assert it.ffma == 64 * 64 * 32 // 128


def test_sm90_tma_loads_and_the_mbarrier_retry_stub():
    """Tensor descriptors on sm_90: UTMALDG in the loop, mbarrier waits; ptxas puts the wait's
    retry spin after EXIT and branches from there back into the main loop: that back edge is no
    loop, the spin (no MMA) is one but not the main loop."""
    signature = {"a_ptr": "*bf16", "b_ptr": "*bf16", "c_ptr": "*fp32"}
    signature |= dict.fromkeys(("M", "N", "K"), "i32")
    signature |= dict.fromkeys(("BM", "BN", "BK"), "constexpr")
    src = ASTSource(_matmul_tma, signature, {"BM": 128, "BN": 128, "BK": 64}, _divisible(6))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*TRITON_DEFAULT_FP_FUSION")
        compiled = triton.compile(
            src, target=GPUTarget("cuda", 90, 32), options={"num_warps": 8, "num_stages": 3}
        )
    text = dump_sass(compiled.asm["cubin"])
    mix = instruction_mix(text)
    it = mix.per_iteration
    assert mix.main_loop is not None and it is not None
    assert it.mma_shapes == {"HGMMA.64x128x16.F32.BF16": 64 // 16}
    assert it.tma == it.async_copies == 2  # one UTMALDG per tile (A and B), elected thread
    assert it.by_opcode.get("SYNCS", 0) >= 1  # mbarrier arrive / try-wait
    exits = [i.offset for i in parse_sass(text) if i.base == "EXIT" and i.unconditional]
    assert all(not (lp.start <= e <= lp.end) for lp in mix.loops for e in exits)
    assert mix.main_loop.end < exits[-1]
    spins = [lp for lp in mix.loops if lp is not mix.main_loop]
    assert spins and all(lp.mma == 0 and lp.start > exits[-1] for lp in spins)


def test_json_round_trip():
    mix = _mix(89)
    data = json.loads(json.dumps(mix.to_json()))
    assert data["per_iteration"]["mma_shapes"] == {"HMMA.1688.F32.TF32": 32}
    assert data["per_iteration"]["async_copy_widths"] == {"16": 8}
    assert InstructionMix.from_json(data) == mix


# --- hand-written SASS ------------------------------------------------------------------------
_SNIPPET = """
	code for sm_89
		Function : toy
	.headerflags	@"EF_CUDA_TEXMODE_UNIFIED EF_CUDA_64BIT_ADDRESS EF_CUDA_SM89"
        /*0000*/                   MOV R1, c[0x0][0x28] ;                  /* 0x00000a0000017a02 */
                                                                           /* 0x000fe40000000f00 */
        /*0010*/                   S2R R0, SR_TID.X ;                      /* 0x0000000000007919 */
        /*0020*/                   LDG.E.128 R4, [R2.64] ;
        /*0030*/                   IMAD.WIDE R2, R0, 0x4, R2 ;
        /*0040*/                   UIADD3 UR4, UR4, 0x1, URZ ;
        /*0050*/                   LDGSTS.E.BYPASS.LTC128B.128 [R76], [R42.64], P6 ;
        /*0060*/                   LDGDEPBAR ;
        /*0070*/                   DEPBAR.LE SB0, 0x1 ;
        /*0080*/                   BAR.SYNC.DEFER_BLOCKING 0x0 ;
        /*0090*/                   LDSM.16.M88.4 R36, [R70+UR4] ;
        /*00a0*/                   LDS R3, [R69+0x4400] ;
        /*00b0*/                   HMMA.1688.F32.TF32 R4, R36.reuse, R2, R4 ;
        /*00c0*/                   HMMA.16816.F32.BF16 R8, R36, R2, R8 ;
        /*00d0*/                   FFMA R9, R9, R10, R11 ;
        /*00e0*/                   FADD R9, R9, R10 ;
        /*00f0*/              @!PT LDS RZ, [RZ] ;
        /*0100*/                   ISETP.GE.AND P0, PT, R0, 0x10, PT ;
        /*0110*/              @!P0 BRA 0x90 ;
        /*0120*/                   STL [R1], R5 ;
        /*0130*/                   LDL.LU R4, [R1] ;
        /*0140*/                   FFMA R9, R9, R10, R11 ;
        /*0150*/              @P1 BRA 0x10 ;
        /*0160*/                   STG.E.64 [R2.64], R4 ;
        /*0170*/                   STS.128 [R3], R36 ;
        /*0180*/                   EXIT ;
        /*0190*/                   SYNCS.PHASECHK.TRANS64.TRYWAIT P0, [UR12+0x18000], R5 ;
        /*01a0*/              @!P0 BRA 0x190 ;
        /*01b0*/                   BRA 0xa0 ;
        /*01c0*/                   BRA 0x1c0;
        /*01d0*/                   NOP;
        /*01e0*/                   NOP;
		..........
"""


def test_parse_hand_written_sass():
    instrs = parse_sass(_SNIPPET)
    assert len(instrs) == 31 and instrs[0].offset == 0 and instrs[-1].offset == 0x1E0
    by_offset = {i.offset: i for i in instrs}
    hmma = by_offset[0xB0]
    assert (hmma.opcode, hmma.base, hmma.predicate) == ("HMMA.1688.F32.TF32", "HMMA", None)
    assert hmma.operands == "R4, R36.reuse, R2, R4" and hmma.target is None
    assert hmma.modifiers == ("1688", "F32", "TF32")
    bra = by_offset[0x110]
    assert (bra.base, bra.predicate, bra.target, bra.unconditional) == ("BRA", "!P0", 0x90, False)
    assert by_offset[0x1C0].target == 0x1C0 and by_offset[0x1C0].operands == "0x1c0"
    assert by_offset[0xF0].never_executes and by_offset[0xF0].predicate == "!PT"
    assert by_offset[0x60].operands == "" and by_offset[0x60].base == "LDGDEPBAR"
    assert mma_shape("HMMA.16816.F32.BF16") == (16, 8, 16)
    assert mma_shape("HGMMA.64x128x16.F32.BF16") == (64, 128, 16)
    assert mma_shape("FFMA") is None


def test_loops_of_hand_written_sass():
    instrs = parse_sass(_SNIPPET)
    loops = find_loops(instrs)
    # 0x90-0x110 inside 0x10-0x150; the spin at 0x190; not loops: `BRA 0xa0` from after EXIT
    # (its span holds the EXIT) and the `BRA self` trap.
    assert [(lp.start, lp.end, lp.depth) for lp in loops] == [
        (0x10, 0x150, 0),
        (0x90, 0x110, 1),
        (0x190, 0x1A0, 0),
    ]
    inner = main_loop(loops)
    assert inner is not None and (inner.start, inner.end) == (0x90, 0x110)
    assert loops[0].mma == inner.mma == 2  # the outer loop spans them too: innermost wins

    mix = instruction_mix(_SNIPPET)
    assert (mix.function, mix.arch, mix.main_loop) == ("toy", "sm_89", inner)
    it = mix.per_iteration
    assert it is not None and it.total == mix.loop_instructions == 9
    assert it.mma == 2 and it.mma_shapes == {"HMMA.1688.F32.TF32": 1, "HMMA.16816.F32.BF16": 1}
    assert (it.ffma, it.fmul_fadd, it.int_alu, it.uniform) == (1, 1, 1, 0)
    assert (it.shared_loads, it.ldsm, it.predicated_off, it.branches) == (2, 1, 1, 1)
    assert it.by_opcode["LDS"] == 2  # the placeholder is counted as issued, in no class
    assert it.other == 1 and it.total == sum(
        getattr(it, f)
        for f in (
            "mma", "ffma", "fmul_fadd", "fp_other", "int_alu", "uniform", "global_loads",
            "global_stores", "atomics", "shared_loads", "shared_stores", "async_copies",
            "barriers", "local_loads", "local_stores", "branches", "other",
        )
    )  # fmt: skip

    k = mix.kernel  # without the trap and the NOPs after it
    assert k.total == 28 and k.by_opcode.get("NOP", 0) == 0
    assert k.global_load_widths == {16: 1} and k.global_store_widths == {8: 1}
    assert k.async_copy_widths == {16: 1} and k.tma == 0
    assert (k.local_loads, k.local_stores, k.shared_stores) == (1, 1, 1)
    assert k.barriers == 2  # BAR.SYNC and the mbarrier try-wait (SYNCS)
    assert k.int_alu == 2 and k.uniform == 1  # IMAD.WIDE, ISETP; UIADD3


def test_function_selection_and_errors(tmp_path):
    two = _SNIPPET + _SNIPPET.replace("Function : toy", "Function : other")
    with pytest.raises(SassError, match="2 functions"):
        parse_sass(two)
    assert len(parse_sass(two, "other")) == 31
    with pytest.raises(SassError, match="no function 'nope'"):
        parse_sass(two, "nope")
    with pytest.raises(SassError, match="not a cubin"):
        dump_sass(b"not an ELF file")
    with pytest.raises(SassError) as err:  # an ELF header and nothing else: cuobjdump fails
        dump_sass(b"\x7fELF" + bytes(60))
    assert "\n" not in str(err.value)
    with pytest.raises(SassError, match="no SASS instructions"):
        instruction_mix("no sass here")
