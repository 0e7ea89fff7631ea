"""The core facts: occupancy test vectors (gpu-occupancy.md), KernelBench presets (kernelbench.md),
problem spec parsing and config rules."""

import math

import pytest

from workbench.core.config import (
    check_rules,
    config_key,
    format_config,
    parse_config,
    validate,
)
from workbench.core.errors import ConfigError, ProblemError, UnknownGPU
from workbench.core.gpus import GPUS, arch_limits, find_gpu
from workbench.core.occupancy import occupancy, tile_waste, waves
from workbench.core.problem import PRESETS, Problem, parse_problem

SM89 = arch_limits((8, 9))
SM90 = arch_limits((9, 0))


# --- occupancy ---------------------------------------------------------------------------------
# (case, warps, regs, dynamic shared) -> (blocks/SM, active warps, occupancy %, limiters)
SM89_VECTORS = [
    ("a", 4, 158, 32768, 3, 12, 25.00, {"registers", "shared"}),
    ("b", 8, 224, 65536, 1, 8, 16.67, {"registers", "shared"}),
    ("c", 8, 255, 98304, 1, 8, 16.67, {"registers", "shared"}),
    ("d", 4, 64, 16384, 5, 20, 41.67, {"shared"}),
    ("e", 2, 96, 8192, 10, 20, 41.67, {"registers"}),
]
SM90_VECTORS = [
    ("a", 4, 158, 32768, 3, 18.75, {"registers"}),
    ("b", 8, 224, 65536, 1, 12.50, {"registers"}),
    ("c", 8, 255, 98304, 1, 12.50, {"registers"}),
    ("d", 4, 64, 16384, 8, 50.00, {"registers"}),
    ("e", 2, 96, 8192, 10, 31.25, {"registers"}),
]


@pytest.mark.parametrize("case,warps,regs,smem,blocks,active,pct,limiters", SM89_VECTORS)
def test_occupancy_sm89_vectors(case, warps, regs, smem, blocks, active, pct, limiters):
    occ = occupancy(SM89, 32 * warps, regs, smem)
    assert occ.blocks_per_sm == blocks
    assert occ.active_warps == active
    assert round(occ.fraction * 100, 2) == pct
    assert set(occ.limiters) == limiters


@pytest.mark.parametrize("case,warps,regs,smem,blocks,pct,limiters", SM90_VECTORS)
def test_occupancy_sm90_vectors(case, warps, regs, smem, blocks, pct, limiters):
    occ = occupancy(SM90, 32 * warps, regs, smem)
    assert occ.blocks_per_sm == blocks
    assert round(occ.fraction * 100, 2) == pct
    assert set(occ.limiters) == limiters


@pytest.mark.parametrize(
    "threads,regs,smem,blocks",
    [
        (128, 32, 232448, 1),
        (128, 32, 232449, 0),
        (128, 32, 115712, 2),
        (128, 32, 115713, 1),
        (32, 32, 10626, 19),
        (544, 40, 0, 2),
        (32, 64, 0, 32),
    ],
)
def test_occupancy_sm90_driver_edges(threads, regs, smem, blocks):
    assert occupancy(SM90, threads, regs, smem).blocks_per_sm == blocks


@pytest.mark.parametrize(
    "warps,smem,regs,blocks",
    [(8, 98304, 118, 2), (8, 131072, 121, 1), (4, 49152, 80, 4), (1, 2048, 37, 32)],
)
def test_occupancy_real_triton_kernels_on_h100(warps, smem, regs, blocks):
    assert occupancy(SM90, 32 * warps, regs, smem).blocks_per_sm == blocks


def test_occupancy_naive_register_formula_is_not_used():
    # 40 regs, 17 warps: 65536 / (1280 x 17) says 3, the sub-partition rule (and the driver) 2.
    assert occupancy(SM90, 17 * 32, 40, 0).limits["registers"] == 2


def test_occupancy_over_limits_gives_zero_with_reason():
    occ = occupancy(SM89, 128, 32, 101377)
    assert occ.blocks_per_sm == 0 and "shared memory" in occ.reason
    assert occupancy(SM89, 2048, 32, 0).blocks_per_sm == 0


def test_waves_and_tail():
    w = waves(13237, 1, 128)
    assert (w.blocks_per_wave, w.full_waves, w.tail_blocks) == (128, 103, 53)
    assert math.isclose(w.waves, 13237 / 128)
    assert waves(256, 2, 128).tail_blocks == 0 and waves(256, 2, 128).efficiency == 1.0


def test_tile_waste_of_l1_66():
    p = PRESETS["L1/66"]
    waste = tile_waste(p.gemm_m, p.gemm_n, p.gemm_k, 128, 64, 32)
    assert waste.n == 0 and math.isclose(waste.k, 1 - 315 / 320)
    assert waste.padded == {"m": 1694336, "n": 64, "k": 320}


# --- GPUs ----------------------------------------------------------------------------------------
def test_gpu_lookup_by_key_alias_and_name():
    assert find_gpu(None).key == "4090"
    assert find_gpu("RTX 4090").cc == (8, 9)
    assert find_gpu("NVIDIA H100 80GB HBM3").key == "h100"
    assert find_gpu("sm90").sms == 132
    with pytest.raises(UnknownGPU, match="unknown GPU"):
        find_gpu("voodoo2")


def test_gpu_limits_match_reference_table():
    assert (SM89.max_warps_per_sm, SM89.max_blocks_per_sm, SM89.max_shared_per_block_optin) == (
        48,
        24,
        101376,
    )
    assert (SM90.max_shared_per_sm, SM90.max_shared_per_block_optin) == (233472, 232448)
    assert GPUS["4090"].sms == 128 and GPUS["4090"].to_json()["cc"] == "8.9"


# --- problems ------------------------------------------------------------------------------------
# id -> (GFLOP, min MB) from kernelbench.md
KERNELBENCH = {
    "L1/54": (39.5, 1026.5),
    "L1/59": (35.7, 2768.4),
    "L1/60": (139.2, 934.2),
    "L1/66": (68.3, 459.0),
    "L2/6": (4.2, 128.4),
    "L2/79": (4.2, 128.4),
    "L2/7": (102.0, 1213.2),
    "L2/8": (47.6, 709.3),
    "L2/23": (9.9, 281.1),
    "L2/24": (9.9, 281.1),
    "L2/27": (68.8, 917.8),
    "L2/43": (231.9, 805.5),
    "L2/47": (204.1, 741.0),
    "L2/48": (17.9, 541.5),
    "L2/83": (17.9, 541.5),
    "L2/90": (190.5, 2031.9),
}


@pytest.mark.parametrize("key", sorted(KERNELBENCH))
def test_presets_match_kernelbench(key):
    gflop, min_mb = KERNELBENCH[key]
    p = PRESETS[key]
    assert round(p.flops / 1e9, 1) == gflop
    assert round(p.min_bytes / 1e6, 1) == min_mb


def test_presets_cover_kernelbench():
    assert set(PRESETS) == set(KERNELBENCH)


def test_l1_66_shapes_and_user_grids():
    p = parse_problem("l1/66")
    assert p.output_shape == (8, 64, 14, 124, 122)
    assert p.model_init_inputs() == [
        3,
        64,
        (3, 5, 7),
    ]  # get_init_inputs(), as KernelBench builds ModelNew
    # The grids the user profiled (kernelbench.md): per-image M tiles of 32 x N*groups, flat M of 128.
    assert -(-14 * 124 * 122 // 32) * 1 * 8 == 52952
    assert -(-p.gemm_m // 128) == 13237


def test_spec_round_trip_and_short_forms():
    p = parse_problem("N=2,Ci=4,Co=8,D=8,H=8,W=8,k=3,stride=1,pad=1,dil=1,groups=2,bias=1")
    assert p.kernel == (3, 3, 3) and p.groups == 2 and p.bias
    assert parse_problem(p.spec()) == p
    q = parse_problem("N=1,Ci=3,Co=4,D=9,H=10,W=11,k=3x5x7,s=1x2x1,p=0x1x2")
    assert q.stride == (1, 2, 1) and q.padding == (0, 1, 2)
    assert parse_problem(None) == PRESETS["L1/66"]


@pytest.mark.parametrize(
    "spec,words",
    [
        ("L1/99", "unknown problem"),
        ("N=1,Ci=3", "lacks"),
        ("N=1,Ci=3,Co=4,D=8,H=8,W=8,k=3,color=red", "cannot read"),
        ("N=one,Ci=3,Co=4,D=8,H=8,W=8,k=3", "not a number"),
        ("N=1,Ci=3,Co=4,D=8,H=8,W=8,k=3x3", "1 or 3 values"),
        ("N=1,Ci=3,Co=4,D=8,H=8,W=8,k=3,groups=2", "divisible by groups"),
        ("N=1,Ci=3,Co=4,D=2,H=8,W=8,k=3", "empty output"),
        ("N=1,Ci=3,Co=4,D=8,H=8,W=8,k=3,dtype=int8", "dtype"),
    ],
)
def test_spec_errors_are_one_line(spec, words):
    with pytest.raises(ProblemError, match=words) as err:
        parse_problem(spec)
    assert "\n" not in str(err.value)


def test_reduced_problem_keeps_conv_arguments():
    full = PRESETS["L2/43"]
    p = full.reduced()
    assert p.kernel == (3, 3, 3) and p.padding == (1, 1, 1) and p.bias
    assert max(p.output_spatial) <= 4 and p.n <= 2
    # ModelNew is built from get_init_inputs(), so the channels and init inputs stay.
    assert (p.ci, p.co) == (full.ci, full.co) and p.model_init_inputs() == full.model_init_inputs()
    assert "batch 4->2" in p.reduction(
        full
    ) and "channels, kernel and init inputs kept" in p.reduction(full)


def test_problem_dict_round_trip():
    for name in ("L1/60", "L1/59", "L2/8"):
        p = PRESETS[name]
        assert Problem.from_json(p.to_json()) == p


# --- configs -------------------------------------------------------------------------------------
def test_parse_and_format_config():
    cfg = parse_config("BLOCK_M=128, BLOCK_N=64,num_warps=8,precision=tf32x3")
    assert cfg == {"BLOCK_M": 128, "BLOCK_N": 64, "num_warps": 8, "precision": "tf32x3"}
    assert parse_config(format_config(cfg)) == cfg
    assert parse_config("") == {}
    assert config_key({"b": 1, "a": 2}) == "a=2,b=1"


@pytest.mark.parametrize(
    "text,words",
    [("BLOCK_M", "cannot read"), ("BLOCK_M=big", "whole number"), ("1x=3", "not a parameter")],
)
def test_config_parse_errors(text, words):
    with pytest.raises(ConfigError, match=words):
        parse_config(text)


def _breaks(cfg, gemm=None):
    return {(r.key, r.severity) for r in check_rules(cfg, gemm)}


def test_config_rules():
    assert _breaks({"BLOCK_M": 128, "BLOCK_N": 64, "BLOCK_K": 32, "num_warps": 8}) == set()
    assert ("BLOCK_M", "error") in _breaks({"BLOCK_M": 48})
    assert ("BLOCK_K", "warning") in _breaks({"BLOCK_K": 4})  # tensor cores want 8 in K
    assert ("BLOCK_K", "warning") in _breaks({"BLOCK_K": 128})  # fp32 rule of thumb
    assert ("BLOCK_M", "warning") in _breaks({"BLOCK_M": 512})
    assert ("num_warps", "error") in _breaks({"num_warps": 3})
    assert ("num_warps", "warning") in _breaks({"num_warps": 32})
    assert ("num_stages", "error") in _breaks({"num_stages": 0})
    assert ("precision", "warning") in _breaks({"precision": "tf32"})
    # A mode tl.dot lacks may be the kernel's own (ours: tf32x3r): a warning; a number is an error.
    assert ("precision", "warning") in _breaks({"precision": "fp8"})
    assert ("precision", "error") in _breaks({"precision": 3})
    # A mode the kernel itself defines is no rule break at all.
    assert check_rules({"precision": "tf32x3r"}, precisions=("ieee", "tf32x3r")) == []
    # L1/66 has N=64: BLOCK_N=256 masks most lanes.
    assert ("BLOCK_N", "warning") in _breaks({"BLOCK_N": 256}, (1694336, 64, 315))


def test_validate_raises_the_first_error():
    validate({"BLOCK_M": 64, "precision": "tf32"})  # a warning only
    with pytest.raises(ConfigError, match="power of two"):
        validate({"BLOCK_M": 96})
