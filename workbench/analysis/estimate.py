"""Shared memory a config's tile needs, estimated before compiling (no Triton, no compile).

A compile of a tile that cannot fit can take minutes (BLOCK_M=4096) only to fail with "out of
resources"; this estimate lets a front end refuse such a tile at once. It is rough and says so:

- operands: Triton stages the A tile (BLOCK_M x BLOCK_K) and the B tile (BLOCK_K x BLOCK_N) in
  shared memory, `num_stages - 1` copies before Hopper (sm_80/86/89: the cp.async pipeline), and
  `num_stages` copies on sm_90 and later (TMA/wgmma buffers);
- epilogue: converting the BLOCK_M x BLOCK_N fp32 accumulator to the store layout goes through
  shared memory, reusing the operand buffers, so the block needs the larger of the two.

Against real compiles of L1/66 (Triton 3.9): the built-in kernel, 14 configs on sm_89, exact
every time; on sm_90 exact or high (up to 2x, on small tiles); conv3d_fast2 on sm_89 from 1.5x
low to 2x high (it stages its operands its own way) (bench/tui_shared_estimate.py, docs/
measurements/tui-shared-estimate.json). A low estimate costs only a compile that fails as it
would have anyway; a high one must never refuse a tile that fits, hence the wide band: only a
tile estimated at over 2.5 times the limit is an error; from 80% of the limit up is a warning,
and a compile decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.core.config import Config
from workbench.core.gpus import GPU

ELEM_BYTES = 4  # fp32 operands and accumulator: the KernelBench conv3d problems are fp32
TRITON_DEFAULT_STAGES = 3  # what a launch without num_stages gets on CUDA
CLOSE = 0.8  # estimate / limit above which a tile may not fit: a warning, compile to know
OVER = 2.5  # estimate / limit above which it cannot fit even if the estimate is 2x high: an error
TILE_KEYS = ("BLOCK_M", "BLOCK_N", "BLOCK_K")


@dataclass(frozen=True)
class SharedEstimate:
    """The estimate for one config on one target, with the verdict a front end acts on."""

    bytes: int  # per block
    limit: int  # the target's opt-in maximum per block
    pipeline: int  # operand buffers
    epilogue: int  # accumulator conversion
    copies: int  # operand copies counted (from num_stages)
    sm: str
    gpu: str
    hopper: bool  # sm_90 and later count num_stages copies

    @property
    def ratio(self) -> float:
        return self.bytes / self.limit if self.limit else float("inf")

    @property
    def verdict(self) -> str:
        """ "fits", "close" (a warning: compile to know) or "over" (an error: do not compile)."""
        if self.ratio > OVER:
            return "over"
        return "close" if self.ratio > CLOSE else "fits"

    @property
    def formula(self) -> str:
        copies = "num_stages" if self.hopper else "num_stages-1"
        return f"max({copies} x (BM*BK + BK*BN), BM*BN) x {ELEM_BYTES} B"

    def message(self) -> str:
        """One line that says what the estimate means and what to do."""
        need, limit = _kib(self.bytes), _kib(self.limit)
        if self.verdict == "over":
            return (
                f"needs about {need} of shared memory per block (estimate), {self.ratio:.1f}x the"
                f" {limit} the {self.gpu} allows: it cannot fit; lower BLOCK_* or num_stages"
            )
        if self.verdict == "close":
            return (
                f"needs about {need} of the {limit} of shared memory per block (estimate,"
                " rough): it may not fit; the compile decides"
            )
        return f"about {need} of {limit} shared memory per block (estimate)"


def estimate_shared(config: Config, gpu: GPU) -> SharedEstimate | None:
    """The estimate for `config` on `gpu`; None when the config has no BLOCK_M/N/K to go by."""
    tiles = [config.get(key) for key in TILE_KEYS]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in tiles):
        return None
    bm, bn, bk = (int(v) for v in tiles)  # type: ignore[arg-type]
    stages = config.get("num_stages", TRITON_DEFAULT_STAGES)
    if not isinstance(stages, int) or isinstance(stages, bool) or stages < 1:
        return None
    hopper = gpu.cc >= (9, 0)
    copies = stages if hopper else max(1, stages - 1)
    pipeline = copies * (bm * bk + bk * bn) * ELEM_BYTES
    epilogue = bm * bn * ELEM_BYTES
    return SharedEstimate(
        bytes=max(pipeline, epilogue),
        limit=gpu.arch.max_shared_per_block_optin,
        pipeline=pipeline,
        epilogue=epilogue,
        copies=copies,
        sm=gpu.sm,
        gpu=gpu.name,
        hopper=hopper,
    )


def _kib(value: int) -> str:
    return f"{value / 1024:.0f} KiB" if value >= 10 * 1024 else f"{value / 1024:.1f} KiB"
