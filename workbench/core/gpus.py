"""Target GPUs: spec sheets, per-architecture limits, and the local device (if any).

Facts from NVIDIA's spec sheets and cuda_occupancy.h (see docs/architecture.md for sources).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from workbench.core.errors import UnknownGPU


@dataclass(frozen=True)
class ArchLimits:
    """What one SM of a compute capability can hold; the inputs of the occupancy algorithm."""

    cc: tuple[int, int]
    max_threads_per_sm: int
    max_warps_per_sm: int
    max_blocks_per_sm: int
    max_shared_per_sm: int  # bytes, the largest carveout
    max_shared_per_block_optin: int  # bytes
    reserved_shared_per_block: int  # bytes the driver keeps per block
    shared_alloc_unit: int  # bytes
    carveouts_kb: tuple[int, ...]
    registers_per_sm: int = 65536
    registers_per_block: int = 65536
    max_registers_per_thread: int = 255
    register_alloc_unit: int = 256  # registers per warp
    warp_alloc_granularity: int = 4
    max_threads_per_block: int = 1024
    shared_per_block_default: int = 48 * 1024  # without opt-in
    warp_size: int = 32
    checked_on_hardware: bool = True

    @property
    def sm(self) -> str:
        return f"sm_{self.cc[0]}{self.cc[1]}"


_AMPERE_CARVEOUTS = (0, 8, 16, 32, 64, 100, 132, 164)
_ADA_CARVEOUTS = (0, 8, 16, 32, 64, 100)
_HOPPER_CARVEOUTS = (0, 8, 16, 32, 64, 100, 132, 164, 196, 228)

ARCHS: dict[tuple[int, int], ArchLimits] = {
    a.cc: a
    for a in [
        ArchLimits((7, 5), 1024, 32, 16, 65536, 65536, 0, 256, (32, 64)),
        ArchLimits((8, 0), 2048, 64, 32, 167936, 166912, 1024, 128, _AMPERE_CARVEOUTS),
        ArchLimits((8, 6), 1536, 48, 16, 102400, 101376, 1024, 128, _ADA_CARVEOUTS),
        ArchLimits((8, 9), 1536, 48, 24, 102400, 101376, 1024, 128, _ADA_CARVEOUTS),
        ArchLimits((9, 0), 2048, 64, 32, 233472, 232448, 1024, 128, _HOPPER_CARVEOUTS),
        ArchLimits(
            (10, 0),
            2048,
            64,
            32,
            233472,
            232448,
            1024,
            128,
            _HOPPER_CARVEOUTS,
            checked_on_hardware=False,
        ),
        ArchLimits(
            (12, 0),
            1536,
            48,
            24,
            102400,
            101376,
            1024,
            128,
            _ADA_CARVEOUTS,
            checked_on_hardware=False,
        ),
    ]
}


@dataclass(frozen=True)
class GPU:
    """A target GPU's spec sheet (dense TFLOP/s) and its architecture's limits."""

    key: str
    name: str
    cc: tuple[int, int]
    sms: int
    boost_mhz: int
    memory: str
    bandwidth_gbs: float
    l2_mb: float
    fp32_tflops: float
    tf32_tflops: float
    fp16_tflops: float
    source: str = "spec sheet"

    @property
    def arch(self) -> ArchLimits:
        return arch_limits(self.cc)

    @property
    def sm(self) -> str:
        return self.arch.sm

    @property
    def cc_text(self) -> str:
        return f"{self.cc[0]}.{self.cc[1]}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["cc"] = self.cc_text
        data["arch"] = asdict(self.arch)
        data["arch"]["cc"] = data["cc"]
        return data


def arch_limits(cc: tuple[int, int]) -> ArchLimits:
    try:
        return ARCHS[cc]
    except KeyError:
        known = ", ".join(f"{a}.{b}" for a, b in ARCHS)
        raise UnknownGPU(
            f"no limits for compute capability {cc[0]}.{cc[1]}; known: {known}"
        ) from None


GPUS: dict[str, GPU] = {
    g.key: g
    for g in [
        GPU(
            "4090",
            "NVIDIA GeForce RTX 4090",
            (8, 9),
            128,
            2520,
            "24 GB GDDR6X",
            1008,
            72,
            82.6,
            82.6,
            165.2,
        ),
        GPU(
            "h100",
            "NVIDIA H100 SXM5 80GB",
            (9, 0),
            132,
            1980,
            "80 GB HBM3",
            3350,
            50,
            66.9,
            494.7,
            989.4,
        ),
        GPU(
            "h100-pcie",
            "NVIDIA H100 PCIe 80GB",
            (9, 0),
            114,
            1755,
            "80 GB HBM2e",
            2000,
            50,
            51.2,
            378,
            756,
        ),
        GPU(
            "h200", "NVIDIA H200 SXM", (9, 0), 132, 1980, "141 GB HBM3e", 4800, 60, 67, 494.7, 989.4
        ),
        GPU(
            "a100",
            "NVIDIA A100 80GB SXM",
            (8, 0),
            108,
            1410,
            "80 GB HBM2e",
            2039,
            40,
            19.5,
            156,
            312,
        ),
        GPU("l40s", "NVIDIA L40S", (8, 9), 142, 2520, "48 GB GDDR6", 864, 96, 91.6, 183, 362),
        GPU(
            "3090",
            "NVIDIA GeForce RTX 3090",
            (8, 6),
            82,
            1695,
            "24 GB GDDR6X",
            936,
            6,
            35.6,
            35.6,
            71,
        ),
    ]
}
DEFAULT_GPU = "4090"

_ALIASES = {
    "rtx4090": "4090",
    "geforcertx4090": "4090",
    "ada": "4090",
    "sm89": "4090",
    "h100sxm": "h100",
    "h100sxm5": "h100",
    "h10080gbhbm3": "h100",
    "sm90": "h100",
    "h100pcie": "h100-pcie",
    "h200sxm": "h200",
    "a10080gb": "a100",
    "a100sxm": "a100",
    "sm80": "a100",
    "rtx3090": "3090",
    "geforcertx3090": "3090",
    "sm86": "3090",
}


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower().replace("nvidia", ""))


def find_gpu(text: str | None) -> GPU:
    """Look up a target by key, alias or marketing name: `4090`, `h100`, `NVIDIA H100 80GB HBM3`.

    None means the default target; an empty or unknown name is an UnknownGPU error."""
    if text is None:
        text = DEFAULT_GPU
    text = text.strip()
    if not text:
        raise UnknownGPU(f"--gpu is empty: name a target, one of {', '.join(GPUS)}")
    if text.lower() in GPUS:
        return GPUS[text.lower()]
    norm = _norm(text)
    for key, gpu in GPUS.items():
        if norm in (_norm(key), _norm(gpu.name)):
            return gpu
    if norm in _ALIASES:
        return GPUS[_ALIASES[norm]]
    if text.lower() == "local":
        local = local_device()
        if local is None:
            raise UnknownGPU("no local CUDA device here: name a target such as 4090 or h100")
        return local
    raise UnknownGPU(f"unknown GPU {text!r}: choose one of {', '.join(GPUS)} (or 'local')")


def local_device() -> GPU | None:
    """The CUDA device this process can use, matched to a spec sheet where one fits.

    Only a process that may hold a CUDA context calls this (a worker, `limits --all`)."""
    try:
        import torch  # heavy: imported where a device is asked for, not at start-up
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    cc = (props.major, props.minor)
    name = props.name
    match = _match_name(name, props.multi_processor_count)
    if match is not None:
        return replace(match, name=name, source=f"local device, spec sheet of {match.key}")
    return GPU(
        key="local",
        name=name,
        cc=cc,
        sms=props.multi_processor_count,
        boost_mhz=0,
        memory=f"{props.total_memory / 2**30:.0f} GiB",
        bandwidth_gbs=0,
        l2_mb=getattr(props, "L2_cache_size", 0) / 2**20,
        fp32_tflops=0,
        tf32_tflops=0,
        fp16_tflops=0,
        source="local device (no spec sheet: peak rates unknown)",
    )


def _match_name(name: str, sms: int) -> GPU | None:
    norm = _norm(name)
    for gpu in GPUS.values():
        if gpu.sms == sms and (_norm(gpu.key) in norm or norm in _norm(gpu.name)):
            return gpu
    if "h100" in norm:
        return GPUS["h100"] if sms == 132 else GPUS["h100-pcie"]
    return None


def limit_rows(gpu: GPU, compact: bool = False) -> list[tuple[str, str]]:
    """A target's limits and spec sheet as (what, value) rows; `compact` for a narrow pane."""
    a = gpu.arch
    sms = f"{gpu.sms} @ {gpu.boost_mhz} MHz boost" if gpu.boost_mhz else str(gpu.sms)
    rates = (
        f"fp32 {gpu.fp32_tflops:g} · tf32 {gpu.tf32_tflops:g} · fp16 {gpu.fp16_tflops:g} (dense)"
    )
    if compact:
        rows = [
            ("arch", f"CC {gpu.cc_text} · {a.sm} · {gpu.source}"),
            ("SMs", sms),
            (
                "per SM",
                f"{a.max_warps_per_sm} warps · {a.max_threads_per_sm} thr · {a.max_blocks_per_sm} blk",
            ),
            ("regs/SM", f"{a.registers_per_sm} ({a.max_registers_per_thread}/thread max)"),
            ("smem/SM", f"{a.max_shared_per_sm // 1024} KiB"),
            (
                "smem/blk",
                f"{a.max_shared_per_block_optin // 1024} KiB opt-in · {a.reserved_shared_per_block} B rsv",
            ),
            ("thr/blk", str(a.max_threads_per_block)),
            ("L2 · mem", f"{gpu.l2_mb:g} MB · {gpu.memory} · {gpu.bandwidth_gbs:g} GB/s"),
            ("TFLOP/s", rates),
        ]
    else:
        rows = [
            ("SMs", sms),
            ("threads / SM", str(a.max_threads_per_sm)),
            ("warps / SM", str(a.max_warps_per_sm)),
            ("blocks / SM", str(a.max_blocks_per_sm)),
            ("threads / block", str(a.max_threads_per_block)),
            (
                "registers / SM",
                f"{a.registers_per_sm} ({a.max_registers_per_thread} max per thread)",
            ),
            (
                "shared / SM",
                f"{a.max_shared_per_sm // 1024} KB (carveouts {', '.join(map(str, a.carveouts_kb))} KB)",
            ),
            (
                "shared / block",
                f"{a.max_shared_per_block_optin // 1024} KB opt-in, {a.shared_per_block_default // 1024} KB default; {a.reserved_shared_per_block} B reserved",
            ),
            ("L2", f"{gpu.l2_mb:g} MB"),
            ("memory", f"{gpu.memory}, {gpu.bandwidth_gbs:g} GB/s"),
            ("FP32 / TF32 / FP16 TFLOP/s", rates),
        ]
    if not a.checked_on_hardware:
        rows.append(("note", "per-block shared limit not checked on hardware"))
    return rows
