"""Theoretical occupancy of one launch on a target, waves and tail, and masked-lane waste of a tile.

The occupancy steps follow NVIDIA's cuda_occupancy.h as described in docs/architecture.md:
register sub-partitions, 128-byte shared rounding, the reserved 1 KB per block, the opt-in cap
and the carveout. Results are a model of the hardware, so callers label them "theoretical".
"""

from __future__ import annotations

import math

from workbench.core.gpus import ArchLimits
from workbench.core.records import Occupancy, TileWaste, Waves

LIMITERS = ("warps", "blocks", "registers", "shared")


def _round_up(value: int, unit: int) -> int:
    return -(-value // unit) * unit


def occupancy(
    arch: ArchLimits,
    threads_per_block: int,
    registers_per_thread: int,
    dynamic_shared: int,
    static_shared: int = 0,
    carveout_percent: float | None = None,
) -> Occupancy:
    """Blocks per SM and occupancy for one kernel launch (Triton opts in to large shared memory)."""
    reasons: list[str] = []
    warps = -(-threads_per_block // arch.warp_size)
    if threads_per_block > arch.max_threads_per_block or threads_per_block < 1:
        reasons.append(
            f"{threads_per_block} threads per block exceeds {arch.max_threads_per_block}"
        )
        warp_limit = 0
    else:
        warp_limit = arch.max_warps_per_sm // warps

    block_limit = arch.max_blocks_per_sm
    reg_limit, regs_per_warp = _register_limit(arch, warps, registers_per_thread, reasons)

    smem_per_block = _round_up(
        static_shared + dynamic_shared + arch.reserved_shared_per_block, arch.shared_alloc_unit
    )
    smem_per_sm = _carveout_bytes(arch, carveout_percent, smem_per_block)
    if dynamic_shared + static_shared > arch.max_shared_per_block_optin:
        reasons.append(
            f"shared memory {dynamic_shared + static_shared} B > {arch.max_shared_per_block_optin} B per block"
        )
        smem_limit = 0
    elif smem_per_block == 0:
        smem_limit = block_limit
    else:
        smem_limit = smem_per_sm // smem_per_block

    limits = {
        "warps": warp_limit,
        "blocks": block_limit,
        "registers": reg_limit,
        "shared": smem_limit,
    }
    blocks = min(limits.values())
    limiters = [name for name in LIMITERS if limits[name] == blocks]
    active = blocks * warps
    return Occupancy(
        blocks_per_sm=blocks,
        limits=limits,
        limiters=limiters,
        warps_per_block=warps,
        active_warps=active,
        max_warps=arch.max_warps_per_sm,
        fraction=active / arch.max_warps_per_sm,
        shared_per_block=smem_per_block,
        shared_per_sm=smem_per_sm,
        registers_per_warp=regs_per_warp,
        reason="; ".join(reasons),
    )


def _register_limit(arch: ArchLimits, warps: int, regs: int, reasons: list[str]) -> tuple[int, int]:
    if regs <= 0:
        return arch.max_blocks_per_sm, 0
    per_warp = _round_up(regs * arch.warp_size, arch.register_alloc_unit)
    granular = _round_up(warps, arch.warp_alloc_granularity)
    if regs > arch.max_registers_per_thread:
        reasons.append(f"{regs} registers per thread exceeds {arch.max_registers_per_thread}")
        return 0, per_warp
    if (
        per_warp * warps > arch.registers_per_block
        or per_warp * granular > arch.registers_per_block
    ):
        reasons.append(
            f"{regs} registers x {warps} warps exceeds {arch.registers_per_block} per block"
        )
        return 0, per_warp
    # The register file is 4 sub-partitions; a warp's registers never straddle two of them.
    sub_partition = arch.registers_per_sm // arch.warp_alloc_granularity
    warps_per_partition = sub_partition // per_warp
    return (arch.warp_alloc_granularity * warps_per_partition) // warps, per_warp


def _carveout_bytes(arch: ArchLimits, percent: float | None, per_block: int) -> int:
    """Shared memory per SM for a carveout preference (None: the default, the maximum)."""
    if percent is None:
        return arch.max_shared_per_sm
    sizes = sorted(kb * 1024 for kb in arch.carveouts_kb)
    wanted = math.ceil(percent * arch.max_shared_per_sm / 100)
    fitting = [s for s in sizes if s >= wanted]
    chosen = fitting[0] if fitting else sizes[-1]
    if chosen < per_block:
        holding = [s for s in sizes if s >= per_block]
        chosen = holding[0] if holding else sizes[-1]
    return chosen


# --- waves and tail ----------------------------------------------------------------------------
def waves(grid_blocks: int, blocks_per_sm: int, sms: int) -> Waves:
    per_wave = blocks_per_sm * sms
    if per_wave <= 0 or grid_blocks <= 0:
        return Waves(grid_blocks, per_wave, math.inf if grid_blocks else 0.0, 0, 0, 0.0, 0.0)
    full, tail = divmod(grid_blocks, per_wave)
    rounds = full + (1 if tail else 0)
    return Waves(
        grid_blocks=grid_blocks,
        blocks_per_wave=per_wave,
        waves=grid_blocks / per_wave,
        full_waves=full,
        tail_blocks=tail,
        tail_fill=tail / per_wave if tail else 1.0,
        efficiency=grid_blocks / (rounds * per_wave),
    )


# --- masked-lane waste of a tile shape -----------------------------------------------------------
def tile_waste(
    gemm_m: int, gemm_n: int, gemm_k: int, block_m: int, block_n: int, block_k: int
) -> TileWaste:
    """Waste of BLOCK_M x BLOCK_N x BLOCK_K tiles over an M x N x K implicit GEMM.

    M is taken as every output position of every image (flattened); a kernel that tiles each
    image separately wastes a little more at image edges.
    """
    mp, np_, kp = (
        _round_up(v, b) for v, b in ((gemm_m, block_m), (gemm_n, block_n), (gemm_k, block_k))
    )
    return TileWaste(
        m=1 - gemm_m / mp,
        n=1 - gemm_n / np_,
        k=1 - gemm_k / kp,
        total=1 - (gemm_m * gemm_n * gemm_k) / (mp * np_ * kp),
        padded={"m": mp, "n": np_, "k": kp},
    )
