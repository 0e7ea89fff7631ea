"""The performance model: a predicted kernel time for a config on a target GPU, from its compile.

What it counts (docs/performance-model.md has the whole story):
- the work of one block from its tile (2 x BLOCK_M x BLOCK_N x padded K x products: tf32x3 and
  bf16x3 are three products; a config that names no BLOCK_M/N/K: the tile from the operand
  tiles its compile moves through shared memory) and the main loop's SASS (the tensor-core MMAs
  and FFMAs one iteration issues); the loop runs once per K step (MMAs beyond one step's work
  are warps replicating a tile too small for them); a kernel whose SASS has no loop is
  straight-line code;
- per iteration, on one SM holding `b` blocks: the tensor-core cycles, the FP32-pipe cycles, the
  spills' local-memory traffic (LDL/STL), the MIO-class instructions of all resident warps
  through the SM's one MIO/LSU path (v7), the issue cycles of all resident warps' instructions
  (4 schedulers; each barrier-class instruction costs its scheduler `barrier_cycles`, v6), and
  one warp's own path (its instructions spaced by the dependent-issue latency, its block's
  MMAs, and what the software pipeline leaves of its loads' latency), and the shared-memory
  wavefronts of its bank-conflicted accesses (from the compile's TTGIR layouts);
- waves and tail: the busiest SM runs ceil(grid / SMs) blocks, `blocks_per_sm` at a time;
- a block's output tile drained at its SM's share of the DRAM bandwidth before it retires (v4);
  straight-line code as one block's chain overlapped with the round's issue and pipes;
- DRAM bytes (each input, weight and output element once: the L2 holds the input patch that the
  N tiles of one M tile and the neighbouring M tiles share) and L2-to-SM bytes (what the loop's
  loads fetch), over the achieved bandwidths;
- a launch overhead per kernel call (both timings pay it) and a host overhead per call that
  KernelBench's protocol pays (one call, then a sync) and do_bench's back-to-back calls hide;
- the wrapper's other launches per call (v7: an input split, a weight pack; the inspect
  report's `helpers`), run before or after the main kernel on the same stream: each one's
  tensor arguments' bytes once at the achieved DRAM bandwidth, plus `helper_us` per launch.

The terms overlap, but not perfectly: an iteration takes (sum of term^p)^(1/p) of its terms,
and kernel time = the same of (SM time, DRAM time, L2 time) + launch + helpers, with p the fitted
`overlap` (the largest term where one dominates, more where several are close); KernelBench
time = kernel + host. The device constants (CONSTANTS) are fractions of the spec sheet, cycles,
bytes per clock, an exponent and microseconds, so a calibration fitted on one device
(analysis/calibrate.py) is meaningful on its own device and can be carried, labelled as such, to
another. A target with no calibration file uses the defaults and says "uncalibrated".
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.gpus import GPU
from workbench.core.jsonio import read_json
from workbench.core.paths import CALIBRATIONS_DIR
from workbench.core.problem import DTYPE_BYTES, Problem
from workbench.core.records import (
    InspectReport,
    Prediction,
    Record,
    SharedAccess,
    TrialResult,
)
from workbench.kernel.sass import Counts, InstructionMix, mma_shape
from workbench.kernel.source_facts import hard_coded_precision

MODEL_VERSION = 7  # 2: spills, overlap, replicated MMAs, straight-line kernels (H200 data);
# 3: shared-memory bank conflicts from the compile's TTGIR layouts; 4: a block's output tile
# drained at its SM's DRAM share, straight-line code as one chain overlapped with its issue;
# 5: a warp's MIO-class instructions (shared loads/stores, async copies, global loads) spaced
# by their own constant in its path; 6: barrier-class instructions cost the schedulers' issue
# `barrier_cycles` each, a tile the config does not name read from the TTGIR's operand tiles
# (and, in kernel/shared_banks.py, an FMA dot's operand reads counted, a warp's wavefronts
# counted over the whole warp); 7: the wrapper's helper launches (their tensor bytes at the
# achieved DRAM rate, `helper_us` each) and the MIO-class instructions of all resident warps
# as a pipe of the SM's (`mio_per_clk`)
CALIBRATION_SCHEMA = "conv3d-bench/calibration/1"
UNCALIBRATED = "uncalibrated (spec-sheet defaults)"
PROTOCOLS = ("kernelbench", "kernel_only")

# mma.sync (HMMA) on Hopper runs at about half the rate the spec sheet quotes, which is wgmma's
# (published microbenchmarks; not a fitted constant). Elsewhere mma.sync is the native path.
MMA_SYNC_SHARE_SM90 = 0.5
SCHEDULERS_PER_SM = 4  # warp schedulers per SM, every architecture from Volta to Blackwell
# An ieee dot's FFMAs accumulate into different registers, so one warp issues them closer
# together than its dependent address arithmetic (H100: ~6.6 vs ~9 clocks per instruction).
FFMA_SPACING = 0.5
# Bytes per thread a spill's LDL or STL is taken to move: the instruction mix counts them without
# their widths, so each counts as one 32-bit register (local_bytes_per_clk absorbs the rest).
LOCAL_ACCESS_BYTES = 4


@dataclass(frozen=True)
class Constant:
    """One device constant a calibration fits: its default (spec-sheet guess) and its bounds."""

    name: str
    default: float
    low: float
    high: float
    unit: str
    meaning: str


CONSTANTS: tuple[Constant, ...] = (
    Constant("dram_fraction", 0.85, 0.2, 1.0, "of the spec-sheet bandwidth",
             "DRAM bandwidth achieved by the kernel's traffic"),
    Constant("l2_bytes_per_clk", 32.0, 4.0, 256.0, "B per clock per SM",
             "L2-to-SM bandwidth the main loop's loads get"),
    Constant("tensor_fraction", 0.8, 0.1, 1.0, "of the spec-sheet tensor rate",
             "tensor-core rate achieved by the main loop's MMAs"),
    Constant("issue_efficiency", 0.8, 0.1, 1.0, "instructions per clock per scheduler",
             "issue rate when the scheduler has warps to spare"),
    Constant("warp_cpi", 8.0, 1.0, 64.0, "clocks",
             "clocks between two instructions of one warp (dependent-issue latency)"),
    Constant("mio_cpi", 16.0, 0.5, 200.0, "clocks",
             "clocks one warp spends on each of its MIO-class instructions (shared loads and"
             " stores, async copies, global loads: the MIO queue and the shared-memory latency)"),
    Constant("mio_per_clk", 1.0, 0.02, 16.0, "warp instructions per clock per SM",
             "MIO-class instructions (shared loads and stores, async copies, global loads) of"
             " all resident warps the SM's MIO and LSU path takes per clock (L1/TEX throughput)"),
    Constant("barrier_cycles", 8.0, 0.1, 500.0, "clocks",
             "issue clocks a warp's scheduler loses at each barrier-class instruction (bar.sync,"
             " the wgmma arrive and wait, mbarrier waits): the warp drains while the others"
             " catch up"),
    Constant("load_latency", 600.0, 50.0, 20000.0, "clocks",
             "latency of a global load the main loop waits for (L2 hit and queueing)"),
    Constant("local_bytes_per_clk", 32.0, 1.0, 512.0, "B per clock per SM",
             "bandwidth of the spills' local-memory traffic (LDL/STL through L1 and L2)"),
    Constant("shared_passes_per_clk", 1.0, 0.05, 8.0, "wavefronts per clock per SM",
             "shared-memory wavefronts an SM serves per clock (32 banks x 4 B: one a clock on"
             " the spec sheet), paid by bank-conflicted accesses"),
    Constant("overlap", 4.0, 1.0, 64.0, "exponent",
             "how fully the terms overlap: time = (sum of term^p)^(1/p); large p is the max of"
             " the terms (perfect overlap), 1 their sum (none)"),
    Constant("launch_us", 4.0, 0.2, 200.0, "µs per call",
             "kernel launch and ramp-up, paid by both timings"),
    Constant("helper_us", 5.0, 0.2, 200.0, "µs per helper launch",
             "a helper launch's cost beyond its bytes (an input split, a weight pack: launch,"
             " ramp-up and drain on the stream before the main kernel), paid by both timings"),
    Constant("host_us", 30.0, 0.5, 5000.0, "µs per call",
             "work per call that KernelBench's protocol pays and do_bench hides"
             " (Python, the wrapper's extra launches and allocations, the sync)"),
)  # fmt: skip
DEFAULTS: dict[str, float] = {c.name: c.default for c in CONSTANTS}
CONSTANT_BY_NAME: dict[str, Constant] = {c.name: c for c in CONSTANTS}


@dataclass
class Calibration(Record):
    """Device constants fitted from measured trials on one device (or spec-sheet defaults)."""

    device: str  # the GPU the trials were measured on, e.g. "NVIDIA H200"
    constants: dict[str, float] = field(default_factory=dict)
    trials: int = 0
    typical_error_pct: float | None = None
    source: str = UNCALIBRATED
    extra: dict[str, Any] = field(default_factory=dict)
    gpu_key: str = ""  # the spec sheet of that device ("h200"): whose calibration this is
    model_version: int = MODEL_VERSION
    low_factor: float = 0.5  # the band around a prediction: ms x low_factor .. ms x high_factor
    high_factor: float = 2.0

    def value(self, name: str) -> float:
        return float(self.constants.get(name, DEFAULTS[name]))

    @property
    def calibrated(self) -> bool:
        return self.trials > 0

    @property
    def label(self) -> str:
        """How a prediction names it: 'model calibrated on NVIDIA H200 (60 trials)'."""
        if not self.calibrated:
            return UNCALIBRATED
        return f"model calibrated on {self.device} ({self.trials} trials)"


DEFAULT_CALIBRATION = Calibration(device="", source=UNCALIBRATED)


def calibration_path(gpu_key: str) -> Path:
    return CALIBRATIONS_DIR / f"{gpu_key}.json"


def load_calibration(path: str | Path) -> Calibration | None:
    """A calibration file, or None where it is missing, unreadable or of another model version."""
    return _load_cached(str(path), _mtime(Path(path)))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return -1.0


@functools.lru_cache(maxsize=32)
def _load_cached(path: str, mtime: float) -> Calibration | None:
    if mtime < 0:
        return None
    data = read_json(path)
    if not isinstance(data, dict) or data.get("schema") != CALIBRATION_SCHEMA:
        return None
    try:
        cal = Calibration.from_json(data)
    except (TypeError, ValueError):
        return None
    return cal if cal.model_version == MODEL_VERSION else None


def calibration_for(gpu: GPU) -> Calibration:
    """The target's own shipped calibration, else the spec-sheet defaults (uncalibrated)."""
    return load_calibration(calibration_path(gpu.key)) or DEFAULT_CALIBRATION


# --- what the model reads from a compile -------------------------------------------------------
@dataclass(frozen=True)
class Features:
    """What the model reads from a compile, a problem and a target: no device constants.

    Per block and per main-loop iteration unless said otherwise; clocks at the boost clock."""

    gpu_key: str
    sms: int
    clock_hz: float
    bandwidth_bps: float  # bytes per second, spec sheet
    grid_blocks: int
    blocks_per_sm: int
    warps_per_block: int
    iterations: float  # main-loop iterations per block
    loop_instructions: float | None  # per warp; None: no instruction mix (issue not modelled)
    rest_instructions: float  # per warp, outside the main loop, once per block
    tensor_clocks: float  # tensor-core clocks of one block's iteration at the spec-sheet rate
    fp32_clocks: float  # FP32-pipe clocks of one block's iteration (FFMA, FMUL, FADD)
    loop_ffma: float  # of the loop's instructions, FFMAs (an ieee dot's: independent of each other)
    loads_ahead: int  # iterations a load is issued before its use (num_stages - 1 with async
    # copies, 0 for plain loads used in the iteration that issues them)
    waits_on_loads: bool  # the main loop issues global loads (or async copies) it waits for
    dram_bytes: float  # whole kernel
    l2_bytes: float  # whole kernel: what the loads move from L2 to the SMs
    loop_local: float = 0.0  # of the loop's instructions, local loads and stores (spills)
    straight_line: bool = False  # no main loop in the SASS: the block's code runs once
    # Shared-memory wavefronts of one block's bank-conflicted accesses (degree > 1) per iteration
    # (straight-line code: all of them, once); None: the compile recorded no TTGIR accesses.
    conflict_wavefronts: float | None = None
    worst_conflict: float = 1.0  # the largest conflict degree of those accesses
    store_bytes: float = 0.0  # the output tile one block writes (BLOCK_M x BLOCK_N elements)
    # Of the loop's instructions (straight-line code: the kernel's), the MIO class: shared loads
    # and stores, async copies and global loads, which queue for the SM's MIO unit (v5).
    loop_mio: float = 0.0
    # Of the loop's instructions (straight-line code: the kernel's), the barrier class: BAR,
    # WARPGROUP arrive/wait, SYNCS (v6); and those of the rest of the kernel, once per block.
    loop_barriers: float = 0.0
    rest_barriers: float = 0.0
    # The wrapper's other launches per call (v7): how many, and their tensor arguments' bytes.
    helper_launches: int = 0
    helper_bytes: float = 0.0
    notes: tuple[str, ...] = ()  # what had to be estimated, in words


def _products(precision: str) -> int:
    """How many tensor-core products one dot costs in this precision mode."""
    p = precision.lower()
    if "x6" in p:
        return 6
    if "x3" in p:
        return 3
    return 1


def _precision(config: dict[str, int | str]) -> str:
    for key in ("precision", "PRECISION", "input_precision"):
        value = config.get(key)
        if isinstance(value, str):
            return value
    return ""


def _rate_tflops(gpu: GPU, opcode: str) -> float:
    """The spec-sheet dense rate of an MMA opcode's input type."""
    mods = opcode.split(".")
    if "TF32" in mods:
        return gpu.tf32_tflops
    return gpu.fp16_tflops  # F16, BF16 (and integer or fp8 MMAs: no better number on the sheet)


def _mma_work(body: Counts, warps: int, gpu: GPU) -> tuple[float, float]:
    """(flops, tensor-core clocks at the spec-sheet rate) of the MMAs one block's `body` issues
    (per warp for mma.sync, per warpgroup for wgmma)."""
    sms, clock = gpu.sms, gpu.boost_mhz * 1e6
    mma_flops = clocks = 0.0
    for opcode, n in body.mma_shapes.items():
        shape = mma_shape(opcode)
        if shape is None:
            continue
        base = opcode.split(".", 1)[0]
        group = warps / 4 if base.endswith("GMMA") else warps  # wgmma is per warpgroup
        flops = 2.0 * shape[0] * shape[1] * shape[2] * n * group
        mma_flops += flops
        rate = _rate_tflops(gpu, opcode) * 1e12 / (sms * clock)
        if gpu.cc[0] == 9 and not base.endswith("GMMA"):
            rate *= MMA_SYNC_SHARE_SM90
        clocks += flops / rate
    return mma_flops, clocks


def features(report: InspectReport, problem: Problem, gpu: GPU) -> Features:
    """The model's inputs from an inspect report (its compile, occupancy and grid)."""
    res = report.resources
    occ = report.occupancy
    if occ.blocks_per_sm < 1:
        raise ValueError(f"the config does not fit on {gpu.name} (0 blocks per SM): no prediction")
    if not (gpu.boost_mhz and gpu.bandwidth_gbs and gpu.tf32_tflops and gpu.fp32_tflops):
        raise ValueError(f"{gpu.name} has no spec sheet (clock, bandwidth, rates): no prediction")
    notes: list[str] = []
    warps = res.num_warps or occ.warps_per_block or max(1, occ.active_warps // occ.blocks_per_sm)
    sms, clock = gpu.sms, gpu.boost_mhz * 1e6
    grid = max(1, report.grid_blocks)
    config = report.config
    precision = _precision(config)
    products = _products(precision)
    elem = DTYPE_BYTES.get(problem.dtype, 4)
    tile: list[Any] = [config.get(k) for k in ("BLOCK_M", "BLOCK_N", "BLOCK_K")]
    if not all(isinstance(t, int) and t > 0 for t in tile):
        found = tile_from_accesses(res.shared_accesses, problem, grid)
        if found is not None:
            tile = list(found)
            notes.append(
                f"the tile {found[0]}x{found[1]}x{found[2]} read from the compile's shared-memory"
                " operand tiles (the config names no BLOCK_M/N/K)"
            )
    k_pad = float(problem.gemm_k)
    if all(isinstance(t, int) and t > 0 for t in tile):
        bm, bn, bk = (int(t) for t in tile)
        k_pad = float(math.ceil(problem.gemm_k / bk) * bk)
        block_flops = 2.0 * bm * bn * k_pad * products
        source_iterations = k_pad / bk
        tile_bytes = (bm + bn) * k_pad * elem  # A and B tiles one block loads (float)
        store_bytes = float(bm * bn * elem)
    else:
        bm = bn = bk = 0
        waste = report.waste.total if report.waste else 0.0
        block_flops = problem.flops / max(1e-9, 1.0 - waste) * products / grid
        source_iterations = 1.0
        tile_bytes = 0.0
        store_bytes = 0.0
        notes.append("no BLOCK_M/N/K: a block's work is the problem's over the grid")

    mix = InstructionMix.from_json(res.instruction_mix) if res.instruction_mix else None
    fp32_peak = gpu.fp32_tflops * 1e12 / (sms * clock)  # FP32 flops per clock per SM
    tensor_clocks = fp32_clocks = 0.0
    loop_instr: float | None = None
    rest_instr = 0.0
    iterations = source_iterations
    waits = True
    ahead = max(0, res.num_stages - 1)
    loop_ffma = loop_local = loop_mio = loop_barriers = rest_barriers = 0.0
    straight = False
    l2_bytes = tile_bytes * grid
    if mix is not None:
        # What one iteration of the main loop issues; a kernel without a loop (K fits one step,
        # so the K loop is gone) is one straight stretch of code, issued once per block.
        straight = mix.main_loop is None or mix.per_iteration is None
        body = mix.kernel if straight else mix.per_iteration
        assert body is not None
        mma_flops, tensor_clocks = _mma_work(body, warps, gpu)
        ffma_flops = 2.0 * 32 * warps * body.ffma
        fp32_clocks = (2.0 * body.ffma + body.fmul_fadd) * 32 * warps / fp32_peak
        loop_flops = mma_flops if mma_flops > 0 else ffma_flops
        step_flops = block_flops / max(1.0, source_iterations)
        if straight:
            iterations = 1.0
            loop_instr = 0.0
            rest_instr = float(body.total)
            notes.append("no loop in the SASS: the kernel is modelled as straight-line code")
        else:
            # Triton issues one K step per loop iteration (it unrolls a loop only when told to,
            # tl.range's loop_unroll_factor), so with a known tile the iterations are the K
            # steps; MMA work beyond one step is warps replicating a tile too small for them
            # (it costs tensor time all the same; on the H200 their loads did not grow).
            if loop_flops > 0 and not (bk and loop_flops >= 0.9 * step_flops):
                iterations = block_flops / loop_flops
            elif loop_flops <= 0:
                notes.append("main loop does no MMA or FFMA: one SASS iteration per K step")
            if bk and loop_flops > 1.1 * step_flops:
                ratio = loop_flops / step_flops
                notes.append(
                    f"the main loop issues {ratio:.3g}x the MMA work of a K step"
                    + (
                        f" in {precision}: warps replicate a tile too small for them"
                        if precision
                        else " of one product: the config names no precision, the SASS's"
                        " MMAs are counted as issued"
                    )
                )
            loop_instr = float(body.total)
            rest_instr = max(0.0, float(mix.kernel.total - body.total))
        loop_ffma = float(body.ffma)
        loop_mio = float(
            body.shared_loads + body.shared_stores + body.async_copies + body.global_loads
        )
        loop_barriers = float(body.barriers)
        rest_barriers = float(body.barriers if straight else mix.kernel.barriers - body.barriers)
        loads = body.global_loads + body.async_copies
        waits = loads > 0
        ahead = max(0, res.num_stages - 1) if body.async_copies > 0 and not straight else 0
        loop_bytes = float((body.global_load_bytes + body.async_copy_bytes) * 32 * warps)
        if body.tma:
            loop_bytes += tile_bytes / max(1.0, source_iterations)  # TMA sizes are in descriptors
        l2_bytes = loop_bytes * iterations * grid
        loop_local = float(body.local_loads + body.local_stores)  # spills, LOCAL_ACCESS_BYTES each
        unroll = source_iterations / iterations if iterations else 0.0
        if bk and not straight and not 0.2 <= unroll <= 8.5:
            notes.append(
                f"the main loop runs {iterations:.3g} times per block for {source_iterations:.3g}"
                " K steps: the MMA count does not match the tile and precision"
            )
    else:
        notes.append("no instruction mix from the SASS: issue and dependent-issue not modelled")
        if precision == "ieee":
            fp32_clocks = block_flops / max(1.0, source_iterations) / fp32_peak
        else:
            rate = (gpu.fp16_tflops if "bf16" in precision else gpu.tf32_tflops) * 1e12
            tensor_clocks = block_flops / max(1.0, source_iterations) / (rate / (sms * clock))
    conflicts, worst = _conflicts(res.shared_accesses, straight)
    helpers = report.helpers or []
    if helpers:
        names = ", ".join(sorted({h.name for h in helpers}))
        mb = sum(h.tensor_bytes for h in helpers) / 1e6
        notes.append(
            f"{len(helpers)} helper launch{'es' * (len(helpers) != 1)} per call ({names}:"
            f" {mb:.3g} MB of tensor arguments)"
        )
    if worst > 1:
        notes.append(
            f"shared-memory bank conflicts up to {worst:.3g}-way ({conflicts:.0f} wavefronts per"
            f" block{'' if straight else ' and iteration'}, from the compile's TTGIR layouts)"
        )
    return Features(
        gpu_key=gpu.key,
        sms=sms,
        clock_hz=clock,
        bandwidth_bps=gpu.bandwidth_gbs * 1e9,
        grid_blocks=grid,
        blocks_per_sm=occ.blocks_per_sm,
        warps_per_block=warps,
        iterations=max(iterations, 1e-9),
        loop_instructions=loop_instr,
        rest_instructions=rest_instr,
        tensor_clocks=tensor_clocks,
        fp32_clocks=fp32_clocks,
        loop_ffma=loop_ffma,
        loop_mio=loop_mio,
        loop_barriers=loop_barriers,
        rest_barriers=max(0.0, rest_barriers),
        loads_ahead=ahead,
        waits_on_loads=waits,
        dram_bytes=float(problem.min_bytes),
        l2_bytes=float(l2_bytes),
        loop_local=loop_local,
        straight_line=straight,
        conflict_wavefronts=conflicts if res.shared_accesses is not None else None,
        worst_conflict=worst,
        store_bytes=store_bytes,
        helper_launches=len(helpers),
        helper_bytes=float(sum(h.tensor_bytes for h in helpers)),
        notes=tuple(notes),
    )


# One block's tiles cover its share of the output: a candidate tile's M x N over that share is at
# least 1 (less would leave outputs unwritten) and, with the edges padded, not much more.
TILE_COVER = (0.95, 2.0)


def tile_from_accesses(
    accesses: list[SharedAccess] | None, problem: Problem, grid: int
) -> tuple[int, int, int] | None:
    """(M, N, K) of the dot's tile, for a kernel whose config does not name BLOCK_M/N/K, from its
    operand tiles as the compile's TTGIR moves them through shared memory: an [M, K] tile and a
    [K, N] tile among the 2-D accesses of the main loop (of the whole kernel where none is in a
    loop), the pair whose M x N is one block's share of the output (the problem's output over
    the grid, within its edge padding: TILE_COVER), the closest to it where several are. None
    where no pair fits. Without the tile a loop whose warps replicate MMAs (a 32x32 tile on 4
    warps issues each MMA twice) reads as an unrolled loop, half as many iterations."""
    shapes = {tuple(a.shape) for a in accesses or [] if a.in_loop and len(a.shape) == 2}
    if not shapes:
        shapes = {tuple(a.shape) for a in accesses or [] if len(a.shape) == 2}
    share = problem.gemm_m * problem.co / max(1, grid)
    best: tuple[float, tuple[int, int, int]] | None = None
    for m, k in shapes:
        for k2, n in shapes:
            cover = m * n / share if share > 0 else 0.0
            if k2 != k or not TILE_COVER[0] <= cover <= TILE_COVER[1]:
                continue
            fit = abs(math.log(cover))
            if best is None or fit < best[0]:
                best = (fit, (m, n, k))
    return best[1] if best else None


def _conflicts(accesses: list[SharedAccess] | None, straight: bool) -> tuple[float, float]:
    """(wavefronts, worst degree) of the bank-conflicted accesses one block issues per main-loop
    iteration (straight-line code: every access, once). Accesses whose degree is unknown (MMA
    operand reads, layouts not counted) count as conflict-free."""
    total, worst = 0.0, 1.0
    for a in accesses or []:
        if a.degree is None or a.degree <= 1.0 or not (a.in_loop or straight):
            continue
        total += a.wavefronts
        worst = max(worst, a.degree)
    return total, worst


# --- the model ---------------------------------------------------------------------------------
ITERATION_TERMS = (
    "compute",
    "fp32",
    "mio",
    "issue",
    "issue_latency",
    "load_latency",
    "local",
    "banks",
)
BOUND_OF = {
    "compute": "compute",
    "fp32": "compute",
    "mio": "MIO",
    "issue": "issue",
    "issue_latency": "latency",
    "load_latency": "latency",
    "local": "spills",
    "banks": "bank-conflict",
    "prologue": "latency",
    "dram": "memory",
    "l2": "L2",
    "launch": "launch",
    "helpers": "launch",
    "host": "launch",
}

TERM_WORDS = {
    "compute": "tensor-core products",
    "fp32": "FP32-pipe arithmetic",
    "mio": "the resident warps' shared-memory and global-memory instructions through the SM's MIO"
    " and LSU path",
    "issue": "the schedulers' issue of every resident warp",
    "issue_latency": "one warp's dependent issue and its block's MMAs",
    "load_latency": "waiting on global loads",
    "local": "the spills' local-memory traffic",
    "banks": "shared-memory wavefronts of bank-conflicted accesses",
    "prologue": "prologue and epilogue",
    "tail": "the partial last wave",
    "dram": "DRAM traffic",
    "l2": "L2-to-SM traffic",
    "launch": "kernel launch",
    "helpers": "the wrapper's other launches (their tensor bytes at the DRAM rate, and a launch"
    " each)",
    "host": "per-call host work (KernelBench's protocol only)",
}


@dataclass(frozen=True)
class Breakdown:
    """The model evaluated: both timings and the ms of each term (each as if it were alone)."""

    kernel_ms: float  # what do_bench would measure
    kernelbench_ms: float  # what KernelBench's protocol would measure
    terms: dict[str, float]
    bound: str  # the term that sets the time, in words (memory, compute, issue, latency, ...)
    dominant: str  # its key in terms

    def ms(self, protocol: str = "kernelbench") -> float:
        return self.kernelbench_ms if protocol == "kernelbench" else self.kernel_ms


def _iteration_clocks(f: Features, k: dict[str, float], b: int) -> dict[str, float]:
    """Clocks of one main-loop iteration of each term, with `b` blocks resident on the SM.

    The pipes (tensor, FP32, the MIO-class instructions of every resident warp, the spills'
    local-memory traffic) and the schedulers' issue of every resident warp's instructions are
    shared by the SM's blocks. The MIO pipe (v7): every shared load and store, async copy and
    global load of the SM's warps passes its one MIO queue and LSU / L1TEX path, at
    `mio_per_clk` warp instructions a clock; ncu on conv3d_fast3 (H200, 2026-12-02b and 02c)
    put L1/TEX at 67-78 % on all four problems, the busiest unit it reports on each (the SM
    pipes 27-59 %), and bf16x3p's 30 % fewer (ALU) loop instructions took L1/60's SM throughput
    from 59 % to 45 % with L1/TEX at 74 -> 77 % (at 3 blocks per SM against 4): the issue the
    split saved was no longer the limit, which a per-warp spacing alone (`mio_cpi`, v5) cannot
    say. The pipe counts warp instructions, not the L1 data-pipe wavefronts each one costs,
    which round 10 of issue 16 found the kernels' time follows (docs/performance-model.md,
    "What it ignores"). One warp's own path is
    its instructions one after the other (an ieee dot's FFMAs, independent of each other, at
    half the spacing) and its block's MMAs (the loop waits for them), plus what is left of a
    load's latency after the iterations it was issued ahead."""
    eff = k["issue_efficiency"]
    local_bytes = f.loop_local * 32 * f.warps_per_block * LOCAL_ACCESS_BYTES
    out = {
        "compute": b * f.tensor_clocks / k["tensor_fraction"],
        "fp32": b * f.fp32_clocks / eff,
        "mio": b * f.warps_per_block * f.loop_mio / k["mio_per_clk"],
        "local": b * local_bytes / k["local_bytes_per_clk"],
        "banks": b * (f.conflict_wavefronts or 0.0) / k["shared_passes_per_clk"],
        "issue": 0.0,
        "issue_latency": 0.0,
        "load_latency": 0.0,
    }
    own = f.tensor_clocks / k["tensor_fraction"]  # the block's own MMAs, on the SM's tensor cores
    if f.loop_instructions is not None:
        warps = b * f.warps_per_block / SCHEDULERS_PER_SM
        out["issue"] = _issue_clocks(f.loop_instructions, f.loop_barriers, warps, k)
        own += _warp_path(f, k, f.loop_instructions)
    if not f.straight_line:
        out["issue_latency"] = own
        if f.waits_on_loads:
            out["load_latency"] = max(0.0, k["load_latency"] - f.loads_ahead * own)
    return out


def _issue_clocks(
    instructions: float, barriers: float, warps_per_scheduler: float, k: dict[str, float]
) -> float:
    """Clocks a scheduler takes to issue `instructions` of each of its warps: at
    `issue_efficiency`, plus `barrier_cycles` at each of their `barriers` (model v6). A barrier
    (bar.sync, the wgmma arrive and wait, an mbarrier wait) holds its warp until the block's (or
    the warpgroup's) other warps and its own outstanding accesses catch up; the SM's warps reach
    their barriers at about the same point of the same loop, so the others fill those clocks no
    better than they fill each other's stalls, and the scheduler loses them. Seen on the H200:
    a loop of half the K step (BLOCK_K = 16: the same barriers for half the work) measured
    1.13-1.24x slower at the same tile (conv3d_fast3 on L1/54, 64x64, 7 blocks per SM against
    6), where its instructions per block differ by 4%."""
    per_warp = instructions / k["issue_efficiency"] + barriers * k["barrier_cycles"]
    return warps_per_scheduler * per_warp


def _warp_path(f: Features, k: dict[str, float], instructions: float) -> float:
    """Clocks of one warp's `instructions` one after the other, by class: its MIO-class ones
    (shared loads and stores, async copies, global loads) at `mio_cpi` each, waiting their turn
    in the SM's MIO queue and for shared memory (v5; ncu on conv3d_fast3: long scoreboard, MIO
    throttle and barrier stalls); an ieee dot's FFMAs, independent of each other, at half
    `warp_cpi`; the rest at `warp_cpi`."""
    cpi = k["warp_cpi"]
    ffma = min(f.loop_ffma, instructions)
    mio = min(f.loop_mio, instructions - ffma)
    rest = max(0.0, instructions - ffma - mio)
    return rest * cpi + ffma * cpi * FFMA_SPACING + mio * k["mio_cpi"]


def overlap_max(values: list[float], p: float) -> float:
    """The terms combined with overlap exponent `p`: (sum of v^p)^(1/p). It is the largest term
    where one dominates (p large: perfect overlap), and more than the largest where several
    come close (the SM cannot hide all of one behind another); p = 1 is their sum."""
    top = max(values)
    if top <= 0:
        return 0.0
    total: float = sum((v / top) ** p for v in values)
    return top * math.pow(total, 1.0 / p)


def _combine(it: dict[str, float], p: float) -> float:
    """One iteration's clocks: the pipes, the schedulers, and one warp's path (its issue, its
    block's MMAs and the load latency it could not hide), overlapped with exponent `p`."""
    path = it["issue_latency"] + it["load_latency"]
    pipes = [it["compute"], it["fp32"], it["mio"], it["local"], it["banks"], it["issue"]]
    return overlap_max([*pipes, path], p)


def _block_rest_clocks(f: Features, k: dict[str, float], b: int) -> float:
    """Clocks of a block outside its main loop: its prologue and epilogue, straight-line code
    whose instructions are largely independent, at the schedulers' rate; plus one load latency
    (the first tiles must arrive)."""
    warps_per_scheduler = max(1.0, b * f.warps_per_block / SCHEDULERS_PER_SM)
    issue = _issue_clocks(f.rest_instructions, f.rest_barriers, warps_per_scheduler, k)
    latency = k["load_latency"] if f.waits_on_loads else 0.0
    return issue + latency + _store_clocks(f, k)


def _store_clocks(f: Features, k: dict[str, float]) -> float:
    """Clocks one block's output tile takes to leave the SM at its share of the achieved DRAM
    bandwidth: the epilogue's stores, which the block waits for before it retires (the other
    resident blocks hide it, so a round of b blocks pays it once)."""
    per_sm = f.bandwidth_bps * k["dram_fraction"] / (f.sms * f.clock_hz)  # B per clock per SM
    return f.store_bytes / per_sm


def _straight_round(
    f: Features, k: dict[str, float], b: int, it: dict[str, float], p: float
) -> tuple[float, float, float]:
    """(clocks, issue, chain) of one round of `b` blocks of straight-line code (no main loop):
    the pipes and the schedulers' issue of every resident warp's instructions, overlapped with
    one block's own chain (its warp's instructions one after the other, its MMAs, the latency
    of its gathers and its tile's stores), which the round's blocks run side by side."""
    warps = b * f.warps_per_block / SCHEDULERS_PER_SM
    issue = _issue_clocks(f.rest_instructions, f.rest_barriers, warps, k)
    chain = _warp_path(f, k, f.rest_instructions) + f.tensor_clocks / k["tensor_fraction"]
    chain += (k["load_latency"] if f.waits_on_loads else 0.0) + _store_clocks(f, k)
    pipes = [it["compute"], it["fp32"], it["mio"], it["local"], it["banks"], issue]
    return overlap_max([*pipes, chain], p), issue, chain


def _round(
    f: Features, k: dict[str, float], b: int, p: float
) -> tuple[float, dict[str, float], float]:
    """(clocks, per-iteration terms, prologue clocks) of one round of `b` resident blocks: a
    loop's iterations then its prologue and epilogue; straight-line code as one overlapped
    stretch (`_straight_round`: its issue and chain stand in the issue terms)."""
    it = _iteration_clocks(f, k, b)
    if f.straight_line:
        clocks, issue, chain = _straight_round(f, k, b, it, p)
        return clocks, {**it, "issue": issue, "issue_latency": chain}, 0.0
    pro = _block_rest_clocks(f, k, b)
    return f.iterations * _combine(it, p) + pro, it, pro


def evaluate(f: Features, constants: dict[str, float] | None = None) -> Breakdown:
    """The model's times for features `f` under device constants (defaults where not given)."""
    k = {**DEFAULTS, **(constants or {})}
    p = k["overlap"]
    per_sm = math.ceil(f.grid_blocks / f.sms)  # the busiest SM's blocks
    full, rest = divmod(per_sm, f.blocks_per_sm)
    rounds = [(full, f.blocks_per_sm)] + ([(1, rest)] if rest else [])
    clocks = dict.fromkeys((*ITERATION_TERMS, "prologue"), 0.0)
    sm_clocks = 0.0
    for count, b in rounds:
        round_clocks, it, pro = _round(f, k, b, p)
        sm_clocks += count * round_clocks
        clocks["prologue"] += count * pro
        for name, value in it.items():
            clocks[name] += count * f.iterations * value
    to_ms = 1e3 / f.clock_hz
    terms = {name: value * to_ms for name, value in clocks.items()}
    sm_ms = sm_clocks * to_ms
    # The same SM work spread evenly over fractional waves: what the tail costs beyond that.
    round_full, it_full, _ = _round(f, k, f.blocks_per_sm, p)
    even = f.grid_blocks / (f.sms * f.blocks_per_sm)
    even_ms = even * round_full * to_ms
    terms["tail"] = max(0.0, sm_ms - even_ms)
    terms["dram"] = f.dram_bytes / (f.bandwidth_bps * k["dram_fraction"]) * 1e3
    terms["l2"] = f.l2_bytes / (k["l2_bytes_per_clk"] * f.sms * f.clock_hz) * 1e3
    terms["launch"] = k["launch_us"] * 1e-3
    terms["helpers"] = helper_ms(f, k)
    terms["host"] = k["host_us"] * 1e-3
    kernel_ms = overlap_max([sm_ms, terms["dram"], terms["l2"]], p) + terms["launch"]
    kernel_ms += terms["helpers"]
    kernelbench_ms = kernel_ms + terms["host"]
    if sm_ms >= max(terms["dram"], terms["l2"]):
        dominant = max(ITERATION_TERMS, key=lambda n: it_full[n])
        if terms["prologue"] > f.iterations * _combine(it_full, p) * full:
            dominant = "prologue"
    else:
        dominant = "dram" if terms["dram"] >= terms["l2"] else "l2"
    overheads = {name: terms[name] for name in ("launch", "helpers", "host")}
    if sum(overheads.values()) > kernelbench_ms / 2:
        dominant = max(overheads, key=lambda n: overheads[n])
    return Breakdown(kernel_ms, kernelbench_ms, terms, BOUND_OF[dominant], dominant)


def helper_ms(f: Features, k: dict[str, float]) -> float:
    """ms of the wrapper's other launches per call (v7): each one's tensor arguments' bytes once
    at the achieved DRAM bandwidth (`dram_fraction`: they are elementwise splits, packs and
    copies, each input read and each output written once), plus `helper_us` per launch. They
    run on the stream before (or after) the main kernel, so they add to it; both timings pay
    them. Measured on the H200 (docs/measurements/h200-2026-12-02c/call3-write-floor.json):
    conv3d_fast3's x split took 25.6, 40.3-40.6 and 84.9 us for 50, 101 and 252 MB, about
    11 us plus 3.4 TB/s."""
    if f.helper_launches <= 0:
        return 0.0
    bandwidth = f.bandwidth_bps * k["dram_fraction"]
    return f.helper_bytes / bandwidth * 1e3 + f.helper_launches * k["helper_us"] * 1e-3


# --- the prediction ------------------------------------------------------------------------------
def predict(
    report: InspectReport,
    problem: Problem,
    gpu: GPU,
    calibration: Calibration | None = None,
    protocol: str = "kernelbench",
) -> Prediction:
    """The predicted time of the report's config on `gpu`: KernelBench's protocol by default
    (`protocol="kernel_only"`: what do_bench would measure). `calibration`: None picks the
    target's own calibration file, else the spec-sheet defaults. Raises ValueError where the
    config cannot run on the target (0 blocks per SM) or the target has no spec sheet."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r}: use one of {', '.join(PROTOCOLS)}")
    cal = calibration if calibration is not None else calibration_for(gpu)
    f = features(report, problem, gpu)
    out = evaluate(f, cal.constants)
    ms = out.ms(protocol)
    transferred = cal.calibrated and cal.gpu_key not in ("", gpu.key)
    if not cal.calibrated:
        label, typical, low, high = UNCALIBRATED, None, 0.5, 2.0
    elif transferred:
        label = (
            f"model calibrated on {cal.device}, carried over to {gpu.name} (not calibrated there:"
            " error unmeasured)"
        )
        typical, low, high = None, min(cal.low_factor, 0.5), max(cal.high_factor, 2.0)
    else:
        label, typical, low, high = (
            cal.label,
            cal.typical_error_pct,
            cal.low_factor,
            cal.high_factor,
        )
    what = "KernelBench-protocol time" if protocol == "kernelbench" else "kernel-only time"
    source = (
        f"predicted {what} by the performance model v{MODEL_VERSION} for {gpu.name} (roofline and"
        f" latency over the {report.resources.target_sm or gpu.sm} compile's"
        f" {'SASS' if f.loop_instructions is not None else 'tile'}; kernel"
        f" {out.kernel_ms:.3g} ms"
        + (
            f" (of it the helper launches {out.terms['helpers']:.3g} ms)"
            if out.terms["helpers"] > 0
            else ""
        )
        + f" + host {out.terms['host']:.3g} ms per call)"
    )
    if f.notes:
        source += "; " + "; ".join(f.notes)
    return Prediction(
        ms=ms,
        low_ms=ms * low,
        high_ms=ms * high,
        calibration=label,
        source=source,
        bound=out.bound,
        typical_error_pct=typical,
        terms={name: round(value, 6) for name, value in out.terms.items()},
    )


def source_precision(source: str) -> str:
    """The precision a kernel file writes into its dot (`input_precision="tf32x3"`,
    `allow_tf32=True` -> "tf32", `allow_tf32=False` -> "ieee"), or "" where it writes none."""
    found = hard_coded_precision(source)
    if found.startswith("input_precision="):
        return found.split("=", 1)[1].strip("'\"")
    if found.startswith("allow_tf32="):
        return "tf32" if found.endswith("True") else "ieee"
    return ""


def trial_config(trial: TrialResult, source: str = "") -> dict[str, int | str]:
    """The config a trial ran with: its launch's int and str constexprs (tile sizes, precision,
    the file's defaults) under the values the trial set, and the precision the kernel's `source`
    writes into its dot where no config names one. A trial's inspect record leaves the config
    out (the session keeps it on the trial), and the model needs the tile and the precision."""
    launch = trial.launch or {}
    constexprs = launch.get("constexprs") or {}
    out: dict[str, int | str] = {
        k: v for k, v in constexprs.items() if isinstance(v, int | str) and not isinstance(v, bool)
    }
    out.update(trial.config)
    for key in ("num_warps", "num_stages"):
        if key in launch and key not in out:
            out[key] = int(launch[key])
    if not _precision(out) and source_precision(source):
        out["precision"] = source_precision(source)
    return out


def predict_trial(
    trial: TrialResult,
    problem: Problem,
    gpu: GPU,
    calibration: Calibration | None = None,
    protocol: str = "kernelbench",
    source: str = "",
) -> Prediction:
    """`predict` for a recorded trial (a sweep's stage-1 compile, a measured trial): its inspect
    record with the config it ran with (`source`: the kernel file's text, for a precision it
    hard-codes). Raises ValueError where it has no inspect record."""
    if trial.inspect is None:
        raise ValueError(f"trial {trial.id} has no inspect record: no prediction")
    report = trial.inspect.replace(config=trial_config(trial, source))
    return predict(report, problem, gpu, calibration, protocol)
