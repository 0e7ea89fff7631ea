"""Synthetic trials for the performance-model tests: inspect records made on the CPU (their
instruction mixes written by hand in sass's own record), timed by the model itself under known
device constants, so a calibration can be checked to recover them."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from workbench.analysis.model import evaluate, features
from workbench.core.gpus import GPU, find_gpu
from workbench.core.occupancy import occupancy, waves
from workbench.core.problem import Problem, parse_problem
from workbench.core.records import (
    HelperLaunch,
    InspectReport,
    Resources,
    SharedAccess,
    Status,
    Timing,
    TrialResult,
)
from workbench.kernel.sass import Counts, InstructionMix, Loop

TRUE = {  # the constants the synthetic device "has": all away from the defaults
    "dram_fraction": 0.7,
    "l2_bytes_per_clk": 24.0,
    "tensor_fraction": 0.6,
    "issue_efficiency": 0.9,
    "warp_cpi": 9.5,
    "mio_cpi": 24.0,
    "barrier_cycles": 20.0,
    "mio_per_clk": 0.6,
    "load_latency": 900.0,
    "local_bytes_per_clk": 20.0,
    "shared_passes_per_clk": 0.6,
    "overlap": 3.0,
    "launch_us": 6.0,
    "helper_us": 9.0,
    "host_us": 45.0,
}
DEVICE = "NVIDIA H200"


def counts(total: int, **kw: Any) -> Counts:
    """Counts of a stretch of SASS: `total` instructions, the named classes as given."""
    fields: dict[str, Any] = dict.fromkeys(Counts.__dataclass_fields__, 0)
    for name in ("mma_shapes", "global_load_widths", "global_store_widths", "async_copy_widths"):
        fields[name] = {}
    fields["by_opcode"] = {}
    fields.update(total=total, **kw)
    fields["mma"] = sum(fields["mma_shapes"].values())
    fields["global_loads"] = sum(fields["global_load_widths"].values())
    fields["async_copies"] = sum(fields["async_copy_widths"].values())
    return Counts(**fields)


def mix_json(loop: Counts, rest: int, arch: str = "sm_90") -> dict[str, Any]:
    main = Loop(start=0x100, end=0x100 + 16 * loop.total, instructions=loop.total, mma=loop.mma,
                ffma=loop.ffma, depth=0)  # fmt: skip
    kernel = counts(loop.total + rest)
    return InstructionMix("k", arch, (main,), main, loop, kernel).to_json()


def report(
    problem: Problem,
    gpu: GPU,
    bm: int,
    bn: int,
    bk: int,
    warps: int,
    stages: int,
    registers: int,
    loop: Counts,
    rest: int = 200,
    precision: str = "tf32",
    shared: int = 16384,
    conflicts: int = 0,
    helpers: list[HelperLaunch] | None = None,
) -> InspectReport:
    """An inspect report of a config of an implicit-GEMM kernel whose SASS is `loop`
    (`conflicts`: the wavefronts of one 32-way conflicted shared load per block and iteration)."""
    occ = occupancy(gpu.arch, 32 * warps, registers, shared)
    grid = math.ceil(problem.gemm_m / bm) * math.ceil(problem.gemm_n / bn)
    res = Resources(registers=registers, spill_bytes=0, shared_bytes=shared, num_warps=warps,
                    num_stages=stages, target_sm=gpu.sm, triton_version="synthetic",
                    instruction_mix=mix_json(loop, rest, gpu.sm),
                    shared_accesses=[SharedAccess(
                        op="local_load", kind="read", shape=[32, 64], element="f32",
                        shared_layout="swizzled_shared<vec=1, perPhase=1, maxPhase=1>",
                        register_layout="blocked", in_loop=True, degree=32.0,
                        wavefronts=conflicts, ideal_wavefronts=conflicts // 32,
                        bytes=conflicts * 4)] if conflicts else None)  # fmt: skip
    config: dict[str, int | str] = {"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk,
                                    "num_warps": warps, "num_stages": stages,
                                    "precision": precision}  # fmt: skip
    return InspectReport(resources=res, occupancy=occ, grid=[grid, 1, 1], grid_blocks=grid,
                         waves=waves(grid, occ.blocks_per_sm, gpu.sms), config=config,
                         helpers=helpers)  # fmt: skip


def helper(tensor_bytes: int, name: str = "_split_x_kernel") -> HelperLaunch:
    """A helper launch that moves `tensor_bytes` (an input split, a weight pack)."""
    return HelperLaunch(name=name, grid_blocks=max(1, tensor_bytes // 16384), num_warps=4,
                        tensor_bytes=tensor_bytes)  # fmt: skip


def hgmma(bm: int, bn: int, bk: int, warps: int, products: int = 1) -> dict[str, int]:
    """The HGMMA.64xNx8 TF32 count one warp issues for a BM x BN x BK step."""
    per = 64 * bn * 8 * (warps // 4)
    return {f"HGMMA.64x{bn}x8.F32.TF32": bm * bn * bk * products // per}


def regimes(gpu: GPU) -> list[tuple[str, Problem, InspectReport]]:
    """Configs that each make another constant matter: memory, L2, tensor cores, issue,
    one warp's issue, load latency, spills, launch; both timings give the host's share; the
    mixtures, where several terms come close, give the overlap."""
    big = parse_problem("L1/59")
    conv = parse_problem("L1/66")
    small = parse_problem("N=1,Ci=3,Co=16,D=4,H=4,W=4,k=1")
    mid = parse_problem("L1/54")
    out = []
    # DRAM: a huge output, a loop of a few instructions, many warps.
    out.append(
        (
            "dram",
            big,
            report(
                big,
                gpu,
                128,
                64,
                32,
                8,
                3,
                32,
                counts(12, mma_shapes=hgmma(128, 64, 32, 8), async_copy_widths={16: 2}),
            ),
        )
    )
    # L2: wide loads, few other instructions, many warps resident.
    out.append(
        (
            "l2",
            conv,
            report(
                conv,
                gpu,
                128,
                64,
                16,
                8,
                3,
                40,
                counts(40, mma_shapes=hgmma(128, 64, 16, 8), async_copy_widths={16: 32}),
            ),
        )
    )
    # Tensor cores: three products, big tiles, almost nothing else.
    out.append(
        (
            "compute",
            conv,
            report(
                conv,
                gpu,
                128,
                64,
                64,
                8,
                3,
                64,
                counts(30, mma_shapes=hgmma(128, 64, 64, 8, 3), async_copy_widths={4: 2}),
                precision="tf32x3",
            ),
        )
    )
    # Issue: 16 warps per scheduler of a long loop with short dependences.
    out.append(
        (
            "issue",
            mid,
            report(
                mid,
                gpu,
                64,
                64,
                16,
                4,
                3,
                32,
                counts(600, mma_shapes=hgmma(64, 64, 16, 4), async_copy_widths={4: 4}),
            ),
        )
    )
    # One warp's issue: a long loop, two warps per scheduler.
    out.append(
        (
            "issue_latency",
            conv,
            report(
                conv,
                gpu,
                256,
                64,
                16,
                8,
                3,
                255,
                counts(900, mma_shapes=hgmma(256, 64, 16, 8), async_copy_widths={4: 20}),
            ),
        )
    )
    # Load latency: few instructions, loads used where issued (plain LDG), few warps.
    out.append(
        (
            "load_latency",
            conv,
            report(
                conv,
                gpu,
                256,
                64,
                16,
                8,
                1,
                255,
                counts(30, mma_shapes=hgmma(256, 64, 16, 8), global_load_widths={4: 4}),
            ),
        )
    )
    # Spills: a loop of many local loads and stores (a 255-register compile that spilled).
    out.append(
        (
            "local",
            conv,
            report(
                conv,
                gpu,
                256,
                64,
                16,
                4,
                2,
                255,
                counts(
                    900,
                    mma_shapes=hgmma(256, 64, 16, 4, 3),
                    async_copy_widths={4: 40},
                    local_loads=300,
                    local_stores=200,
                ),
                precision="tf32x3",
            ),
        )
    )
    # Bank conflicts: a short loop whose shared loads are 32-way conflicted.
    out.append(
        (
            "banks",
            mid,
            report(
                mid,
                gpu,
                64,
                64,
                16,
                4,
                3,
                32,
                counts(40, mma_shapes=hgmma(64, 64, 16, 4), async_copy_widths={4: 4}),
                conflicts=4096,
            ),
        )
    )
    # One warp's MIO-class instructions: a loop of shared loads and async copies, two warps
    # per scheduler (v5).
    out.append(
        (
            "mio",
            conv,
            report(
                conv,
                gpu,
                256,
                64,
                16,
                8,
                3,
                255,
                counts(
                    300,
                    mma_shapes=hgmma(256, 64, 16, 8),
                    async_copy_widths={4: 40},
                    shared_loads=160,
                ),
            ),
        )
    )
    # Barriers: a short loop of many barrier-class instructions, 8 warps per scheduler, each
    # barrier's clocks lost to the schedulers' issue (v6).
    out.append(
        (
            "barriers",
            mid,
            report(
                mid,
                gpu,
                64,
                64,
                16,
                4,
                3,
                32,
                counts(120, mma_shapes=hgmma(64, 64, 16, 4), async_copy_widths={4: 4}, barriers=24),
            ),
        )
    )
    # Launch: one tiny block.
    out.append(
        (
            "launch",
            small,
            report(
                small,
                gpu,
                64,
                16,
                16,
                4,
                2,
                32,
                counts(10, mma_shapes=hgmma(64, 16, 16, 4), async_copy_widths={4: 1}),
                rest=20,
            ),
        )
    )
    # Mixtures of the above (a realistic spread of tiles, warps and stages).
    for bm, warps, stages, regs, n in (
        (64, 4, 2, 128, 300),
        (128, 4, 3, 168, 360),
        (128, 8, 4, 96, 250),
        (256, 8, 2, 200, 700),
    ):
        for p in (conv, mid, big):
            out.append(
                (
                    "mixed",
                    p,
                    report(
                        p,
                        gpu,
                        bm,
                        64,
                        16,
                        warps,
                        stages,
                        regs,
                        counts(
                            n,
                            mma_shapes=hgmma(bm, 64, 16, warps, 3),
                            async_copy_widths={4: 16, 16: 4},
                            barriers=6,
                        ),
                        precision="tf32x3r",
                    ),
                )
            )
    # Helper launches: the launch regime's tiny block after two small helpers (their launches
    # cost helper_us each), and a mixture after an input split of 200 MB (its bytes at the
    # achieved DRAM rate, v7).
    out.append(
        (
            "helpers",
            small,
            report(
                small,
                gpu,
                64,
                16,
                16,
                4,
                2,
                32,
                counts(10, mma_shapes=hgmma(64, 16, 16, 4), async_copy_widths={4: 1}),
                rest=20,
                helpers=[helper(4096, "_pack_w_kernel"), helper(8192)],
            ),
        )
    )
    out.append(
        (
            "helpers",
            mid,
            report(
                mid,
                gpu,
                128,
                64,
                16,
                4,
                3,
                168,
                counts(
                    360,
                    mma_shapes=hgmma(128, 64, 16, 4, 3),
                    async_copy_widths={4: 16, 16: 4},
                    barriers=6,
                ),
                precision="tf32x3r",
                helpers=[helper(201326592)],
            ),
        )
    )
    # The SM's MIO path: many warps of a short loop of shared loads and async copies (v7).
    out.append(
        (
            "mio_pipe",
            conv,
            report(
                conv,
                gpu,
                64,
                64,
                16,
                4,
                3,
                32,
                counts(
                    100,
                    mma_shapes=hgmma(64, 64, 16, 4),
                    async_copy_widths={4: 8},
                    shared_loads=80,
                ),
            ),
        )
    )
    return out  # fmt: skip


def noise(i: int, which: int) -> float:
    """A deterministic +-1% wobble, so a fit never sees exactly its own model's numbers."""
    return 1.0 + 0.01 * math.sin(1.7 * i + 0.9 * which)


def trial(
    problem: Problem,
    rep: InspectReport,
    constants: dict[str, float],
    i: int = 0,
    device: str = DEVICE,
    gpu: GPU | None = None,
    factor: float = 1.0,
) -> TrialResult:
    """A trial measured on `device`: both times from the model under `constants` (x factor)."""
    gpu = gpu or find_gpu("h200")
    out = evaluate(features(rep, problem, gpu), constants)
    return TrialResult(
        status=Status.OK,
        message="correct (synthetic)",
        config=dict(rep.config),
        mode="gpu",
        device=device,
        target=gpu.key,
        inspect=rep.for_trial(),
        timing=Timing(method="synthetic do_bench", median_ms=out.kernel_ms * noise(i, 0) * factor),
        kernelbench_timing=Timing(
            method="synthetic KernelBench protocol",
            mean_ms=out.kernelbench_ms * noise(i, 1) * factor,
        ),
        id=i + 1,
    )


def session_file(
    path: Path, problem: Problem, trials: list[TrialResult], gpu_key: str = "h200"
) -> Path:
    """A session file (schema /2) holding `trials`, as `bench --session` would write it."""
    from workbench.core.paths import BUILTIN_KERNEL
    from workbench.session.store import problem_record, target_record, trial_record

    source = BUILTIN_KERNEL.read_text()
    import hashlib

    header = {
        "schema": "conv3d-bench/session/2",
        "created": "2026-12-01T00:00:00Z",
        "updated": None,
        "tool": "conv3d-bench tests",
        "problem": problem_record(problem),
        "target": target_record(find_gpu(gpu_key)),
        "kernel": {"path": "kernels/conv3d_igemm.py", "name": "conv3d_igemm",
                   "sha256": hashlib.sha256(source.encode()).hexdigest(), "source": source},
    }  # fmt: skip
    data = {**header, "trials": [trial_record(t) for t in trials]}
    path.write_text(json.dumps(data, indent=1))
    return path
