"""The typed records that cross process and file boundaries.

A trial request goes to a worker, a trial result comes back, sessions keep results, `--json`
prints them. Each record is a dataclass with `to_json()` (plain data) and `from_json()` (reads it
back, tolerant of keys it does not know, which a TrialResult keeps in `extra` so nothing read
from a file is lost on the next save).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar, Union, get_args, get_origin

from workbench.core.jsonio import NON_FINITE

R = TypeVar("R", bound="Record")
JSON = dict[str, Any]
OMIT = {"omit_empty": True}  # field metadata: leave the key out when the value is empty


class Status(str, enum.Enum):
    """How a trial ended: ok, or the class of its failure."""

    OK = "ok"
    WRONG_RESULT = "wrong_result"
    COMPILE_ERROR = "compile_error"
    OUT_OF_RESOURCES = "out_of_resources"
    RUNTIME_FAULT = "runtime_fault"
    TIMEOUT = "timeout"
    INVALID_CONFIG = "invalid_config"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


MODES = ("gpu", "interpreter", "compile")  # where a trial runs; "compile": stage 1 of a sweep


# --- encoding ---------------------------------------------------------------------------------
def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict | tuple) and len(value) == 0)


def _encode(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(tp: Any, value: Any) -> Any:
    if value is None or tp is Any:
        return value
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        # One type besides None: decode to it. A mix of scalars (config values): as written.
        return _decode(args[0], value) if len(args) == 1 else value
    if isinstance(tp, type) and issubclass(tp, Record):
        return tp.from_json(value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if origin is list:
        (item,) = get_args(tp) or (Any,)
        return [_decode(item, v) for v in value]
    if origin is tuple:
        return tuple(value)
    if origin is dict:
        _, item = get_args(tp) or (Any, Any)
        return {k: _decode(item, v) for k, v in value.items()}
    if tp is float:
        if isinstance(value, str):
            return NON_FINITE.get(value, math.nan)
        return float(value) if not isinstance(value, bool) else value
    return value


class Record:
    """Base of the records: `to_json()` gives plain data, `from_json()` reads it back."""

    COMPUTED: ClassVar[tuple[str, ...]] = ()  # keys to_json adds that from_json ignores

    def to_json(self) -> JSON:
        out: JSON = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if f.metadata.get("omit_empty") and _empty(value):
                continue
            out[f.name] = _encode(value)
        out.update(self._computed())
        out.update(_encode(getattr(self, "extra", None) or {}))
        return out

    def _computed(self) -> JSON:
        return {}

    @classmethod
    def from_json(cls: type[R], data: Any) -> R:
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise ValueError(f"{cls.__name__} record must be an object, got {type(data).__name__}")
        hints = _hints(cls)  # type: ignore[arg-type]
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        known: JSON = {}
        extra: JSON = {}
        for key, value in data.items():
            if key in names and key != "extra":
                known[key] = _decode(hints[key], value)
            elif key not in cls.COMPUTED:
                extra[key] = value
        if "extra" in names:
            known["extra"] = extra
        return cls(**known)

    def replace(self: R, **changes: Any) -> R:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


# --- what a compile for a target gives ---------------------------------------------------------
@dataclass
class SharedAccess(Record):
    """One shared-memory access of a compiled kernel, from its TTGIR (kernel/shared_banks.py):
    the layouts on both sides and the wavefronts a block's warps need for it."""

    op: str  # "async_copy_global_to_local", "local_load", "local_store", "local_alloc"
    kind: str  # "read" or "write"
    shape: list[int]  # the tensor moved, in elements
    element: str  # "f32", "bf16"
    shared_layout: str  # "swizzled_shared<vec=1, perPhase=1, maxPhase=1, order=[1, 0]>"
    register_layout: str  # "blocked<...>", "dot_op<opIdx=0, parent=blocked3>: blocked<...>" (an
    # FMA dot's operand, counted as that blocked layout), or a layout not counted ("dot_op<...mma>")
    in_loop: bool  # inside a scf.for: once per iteration of the loop
    degree: float | None = None  # wavefronts / conflict-free wavefronts; None: not counted
    wavefronts: int = 0  # of every warp of one block, for the whole tensor
    ideal_wavefronts: int = 0  # the same without conflicts
    bytes: int = 0  # the block's bytes through shared memory (replicated threads included)


@dataclass
class Resources(Record):
    """Per-thread and per-block resources of one compiled kernel, read from its cubin."""

    registers: int
    spill_bytes: int  # STACK + LOCAL per thread, as cuobjdump reports them
    shared_bytes: int  # dynamic shared memory the launch requests (Triton's metadata.shared)
    local_bytes: int = 0
    stack_bytes: int = 0
    kernel_name: str = ""
    target_sm: str = ""  # "sm_89"
    num_warps: int = 0
    num_stages: int = 0
    triton_version: str = ""
    compile_s: float | None = field(default=None, metadata=OMIT)  # this tool's cache, not the
    cached: bool | None = field(default=None, metadata=OMIT)  # kernel: left out of trials
    instruction_mix: dict[str, Any] | None = field(default=None, metadata=OMIT)  # from the SASS
    # From the TTGIR: None where the compile recorded none (older sessions: unknown, no term).
    shared_accesses: list[SharedAccess] | None = field(default=None, metadata=OMIT)

    COMPUTED = ("source",)

    @property
    def source(self) -> str:
        return f"compiled for {self.target_sm} by Triton {self.triton_version}"

    def _computed(self) -> JSON:
        return {"source": self.source}

    @classmethod
    def from_json(cls, data: Any) -> Resources:
        if isinstance(data, dict) and not data.get("triton_version"):
            # Sessions recorded before resources carried the version say it in their source text.
            found = _SOURCE_TEXT.search(str(data.get("source") or ""))
            if found:
                data = {**data, "triton_version": found.group(2)}
                data.setdefault("target_sm", found.group(1))
        return super().from_json(data)


_SOURCE_TEXT = re.compile(r"compiled for (\S+) by Triton (\S+)")


@dataclass
class Occupancy(Record):
    """Theoretical occupancy of one launch on a target (cuda_occupancy.h's steps)."""

    blocks_per_sm: int
    limits: dict[str, int]  # blocks per SM allowed by each limiter
    limiters: list[str]  # every limiter equal to the minimum
    active_warps: int
    max_warps: int
    fraction: float  # active warps / max warps per SM, 0..1
    warps_per_block: int = 0
    shared_per_block: int = 0  # bytes allocated per block (with reserve and rounding)
    shared_per_sm: int = 0  # bytes the carveout gives the SM
    registers_per_warp: int = 0
    reason: str = field(default="", metadata=OMIT)  # why a limit is 0, in words


@dataclass
class Waves(Record):
    grid_blocks: int
    blocks_per_wave: int
    waves: float  # grid blocks / blocks per wave (fractional)
    full_waves: int
    tail_blocks: int  # blocks in the last, partial wave (0: no partial wave)
    tail_fill: float  # how full the last wave is, 0..1 (1 when there is no partial wave)
    efficiency: float  # grid blocks / (ceil(waves) x blocks per wave)


@dataclass
class TileWaste(Record):
    """Share of multiply-add lanes in padded tiles that compute nothing (model of the GEMM view)."""

    m: float
    n: float
    k: float
    total: float
    padded: dict[str, int] = field(default_factory=dict)


@dataclass
class RuleBreak(Record):
    key: str
    message: str
    severity: str  # "error": cannot run; "warning": runs, but against a rule of thumb


@dataclass
class Prediction(Record):
    """A modelled kernel time on a target: never a measurement, always with its calibration."""

    ms: float
    low_ms: float
    high_ms: float
    calibration: str  # "H200 (docs/measurements/...)", or "uncalibrated (spec sheet)"
    source: str  # "predicted by the performance model ..." in words
    bound: str = ""  # what the model says limits it: memory, compute, latency, launch
    typical_error_pct: float | None = None
    terms: dict[str, float] = field(default_factory=dict, metadata=OMIT)  # ms per term


@dataclass
class TargetRef(Record):
    key: str
    name: str
    cc: str
    sm: str
    sms: int


@dataclass
class KernelRef(Record):
    path: str
    sha256: str
    name: str = ""
    builtin: bool | None = field(default=None, metadata=OMIT)


@dataclass
class ProblemRef(Record):
    """The problem a report or trial is about, as people read it."""

    spec: str
    label: str
    id: str | None = field(default=None, metadata=OMIT)
    reduced: bool = False  # the interpreter's small copy
    reduction: str = field(default="", metadata=OMIT)  # how it was reduced, in words
    output_shape: list[int] = field(default_factory=list, metadata=OMIT)
    gemm: dict[str, int] = field(default_factory=dict, metadata=OMIT)
    gflop: float | None = field(default=None, metadata=OMIT)


@dataclass
class HelperLaunch(Record):
    """A kernel launch of the wrapper's other than the main one (an input split, a weight pack),
    as one steady-state call of `ModelNew.forward` makes it (kernelfile.helper_launches): what
    the performance model charges for it (v7) is the bytes of its tensor arguments."""

    name: str
    grid_blocks: int
    num_warps: int
    tensor_bytes: int  # every tensor argument's bytes, once (numel x element size)
    tensors: list[str] = field(default_factory=list)  # "x_ptr float32[16, 3, 64, 64, 64]"


@dataclass
class InspectReport(Record):
    """Everything `inspect` knows about a config on a target without running it.

    A trial keeps the target-side facts only (`for_trial()`): the context fields are the
    session's."""

    resources: Resources
    occupancy: Occupancy
    grid: list[int]
    grid_blocks: int
    waves: Waves
    waste: TileWaste | None = None
    rules: list[RuleBreak] = field(default_factory=list)
    # The wrapper's other launches per call; None where not recorded (trials before model v7,
    # and an empty list reads back as None: a recorded session's source recaptures them).
    helpers: list[HelperLaunch] | None = field(default=None, metadata=OMIT)
    prediction: Prediction | None = field(default=None, metadata=OMIT)
    waste_note: str = field(default="", metadata=OMIT)
    target: TargetRef | None = field(default=None, metadata=OMIT)
    problem: ProblemRef | None = field(default=None, metadata=OMIT)
    kernel: KernelRef | None = field(default=None, metadata=OMIT)
    config: dict[str, int | str] = field(default_factory=dict, metadata=OMIT)
    untunable: dict[str, str] = field(default_factory=dict, metadata=OMIT)
    provenance: list[str] = field(default_factory=list, metadata=OMIT)
    advice: list[str] = field(default_factory=list, metadata=OMIT)

    def for_trial(self) -> InspectReport:
        res = self.resources.replace(compile_s=None, cached=None)
        return InspectReport(
            resources=res,
            occupancy=self.occupancy,
            grid=self.grid,
            grid_blocks=self.grid_blocks,
            waves=self.waves,
            waste=self.waste,
            rules=self.rules,
            helpers=self.helpers,
            prediction=self.prediction,
        )

    @property
    def spills(self) -> bool:
        return self.resources.spill_bytes > 0


# --- what running a trial gives ------------------------------------------------------------
@dataclass
class Correctness(Record):
    """The output against an fp64 reference and KernelBench's verdict (allclose at 1e-4)."""

    rel_error: float | None = None
    max_abs_error: float | None = None
    kernelbench_pass: bool | None = None  # None: not checked (e.g. a mode the CPU cannot emulate)
    atol: float = 1e-4
    rtol: float = 1e-4
    nan_count: int | None = None
    inf_count: int | None = None
    unwritten_count: int | None = None
    reference: str = "fp64 torch conv3d"
    shape: list[int] | None = None
    trials: int = 1  # correctness trials run (KernelBench runs 5, each with fresh inputs)
    problem: str = field(default="", metadata=OMIT)  # why the output could not be compared
    caveat: str = field(default="", metadata=OMIT)  # what the CPU verdict cannot show
    emulated: list[str] = field(default_factory=list, metadata=OMIT)  # dot precisions seen
    weights: str = field(default="", metadata=OMIT)  # ModelNew's seeded weights vs the reference's


@dataclass
class Timing(Record):
    """One way of timing a callable on a GPU, with the method named."""

    method: str | None = None
    mean_ms: float | None = None
    median_ms: float | None = None
    p20_ms: float | None = None
    p80_ms: float | None = None
    runs: int | None = None
    reason: str = field(default="", metadata=OMIT)  # why nothing was measured
    tflops: float | None = field(default=None, metadata=OMIT)
    gbs: float | None = field(default=None, metadata=OMIT)
    pct_peak_compute: float | None = field(default=None, metadata=OMIT)
    pct_peak_bandwidth: float | None = field(default=None, metadata=OMIT)
    peak_tflops: float | None = field(default=None, metadata=OMIT)
    peak_basis: str = field(default="", metadata=OMIT)
    peak_gbs: float | None = field(default=None, metadata=OMIT)
    repeats: list[float] = field(default_factory=list, metadata=OMIT)  # re-timings (sweeps)

    @property
    def headline_ms(self) -> float | None:
        """The number this method reports: the mean for KernelBench's protocol, else the median."""
        return self.median_ms if self.median_ms is not None else self.mean_ms


@dataclass
class Baseline(Record):
    """The reference (PyTorch's conv3d, cuDNN) timed the same two ways on the same device."""

    median_ms: float | None = None
    p20_ms: float | None = None
    p80_ms: float | None = None
    mean_ms: float | None = None
    timing_method: str | None = None
    kernelbench_mean_ms: float | None = None
    kernelbench_method: str | None = None
    method: str | None = None
    device: str | None = None
    cached: bool | None = None
    reason: str = field(default="", metadata=OMIT)


@dataclass
class Comparison(Record):
    """A trial against an earlier one (the previous, or the pinned baseline trial)."""

    change_pct: float | None = None
    verdict: str | None = None  # faster | slower | within noise | None (nothing to compare)
    previous_median_ms: float | None = None
    same_device: bool = True
    reason: str = field(default="", metadata=OMIT)
    previous_id: int | None = field(default=None, metadata=OMIT)
    changed: list[str] = field(default_factory=list, metadata=OMIT)  # parameters that differ


@dataclass
class NcuReport(Record):
    ok: bool
    message: str
    kernel: str | None = None
    block: str | None = None
    grid: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    detail: str = field(default="", metadata=OMIT)
    command: str = field(default="", metadata=OMIT)
    worker_status: str | None = field(default=None, metadata=OMIT)


@dataclass
class TrialRequest(Record):
    """What a worker is asked to do (one JSON file per request)."""

    phase: str  # "trial" | "compile" | "ncu"
    mode: str  # "gpu" | "interpreter" | "compile"
    kernel_path: str
    kernel_source: str
    problem: dict[str, Any]  # Problem.to_json()
    target: str  # GPU key compiled for
    config: dict[str, int | str]
    compile: bool = True  # compile for the target first (the interpreter's second worker: no)
    screen: bool = False  # a sweep's short timing (KernelBench's protocol only for the top K)
    warmups: int = 3  # ncu: launches before the profiled one
    reference_path: str = field(default="", metadata=OMIT)  # a KernelBench problem file
    reference_source: str = field(default="", metadata=OMIT)


@dataclass
class TrialResult(Record):
    """One trial: a config of a kernel file run on a problem, compiled for a target.

    Sessions store these as they come back, adding `id`, `timestamp` and `note`."""

    status: Status | None = None
    message: str = ""
    config: dict[str, int | str] = field(default_factory=dict)
    mode: str = ""
    device: str = ""
    device_fingerprint: dict[str, Any] = field(default_factory=dict)
    target: str = ""
    problem: ProblemRef | None = None
    inspect: InspectReport | None = None
    correctness: Correctness | None = None
    timing: Timing | None = None  # kernel only: do_bench's median
    kernelbench_timing: Timing | None = None  # KernelBench's protocol: mean of 100, L2 flushed
    baseline: Baseline | None = None
    kernelbench_speedup: float | None = None  # the headline: reference mean / kernel mean
    kernel_only_speedup: float | None = None  # do_bench medians
    vs_previous: Comparison | None = None
    ncu: NcuReport | None = None
    launch: dict[str, Any] | None = field(default=None, metadata=OMIT)
    detail: str = field(default="", metadata=OMIT)  # traceback or worker stderr, out of `message`
    phases_s: dict[str, float] = field(default_factory=dict, metadata=OMIT)
    wall_s: float | None = None
    worker_s: float | None = field(default=None, metadata=OMIT)
    worker_returncode: int | None = field(default=None, metadata=OMIT)
    kernel: KernelRef | None = field(default=None, metadata=OMIT)  # the session has its own
    id: int | None = field(default=None, metadata=OMIT)
    timestamp: str | None = field(default=None, metadata=OMIT)
    note: str = ""
    sweep: int | None = field(default=None, metadata=OMIT)  # the sweep that made it, if any
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    @property
    def correct(self) -> bool:
        """Ran and met KernelBench's check: what "correct" means everywhere."""
        return (
            self.ok and self.correctness is not None and self.correctness.kernelbench_pass is True
        )

    @property
    def kernel_only_ms(self) -> float | None:
        """do_bench's median where measured on a GPU, else None."""
        return (
            _finite(self.timing.median_ms if self.timing else None) if self.mode == "gpu" else None
        )

    @property
    def kernelbench_ms(self) -> float | None:
        """KernelBench's protocol mean where measured on a GPU, else None."""
        kb = self.kernelbench_timing
        return _finite(kb.mean_ms if kb else None) if self.mode == "gpu" else None

    @property
    def measured_ms(self) -> float | None:
        """The time a trial is ranked by: KernelBench's protocol where measured, else kernel only
        (sessions recorded before both were measured)."""
        kb = self.kernelbench_ms
        return kb if kb is not None else self.kernel_only_ms

    @property
    def resources(self) -> Resources | None:
        return self.inspect.resources if self.inspect else None

    @classmethod
    def from_json(cls, data: Any) -> TrialResult:
        if isinstance(data, dict):
            data = _migrate_trial_v1(data)
        return super().from_json(data)


def _finite(value: float | None) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _migrate_trial_v1(data: JSON) -> JSON:
    """A `conv3d-bench/session/1` trial (or an old result) in today's shape, nothing dropped:
    the resources kept twice become one, `speedup` (do_bench medians) is named for what it is,
    and a problem recorded as a full Problem becomes its reference."""
    data = dict(data)
    top = data.pop("resources", None)
    inspect = data.get("inspect")
    if isinstance(top, dict) and isinstance(inspect, dict):
        merged = {**(inspect.get("resources") or {}), **top}
        merged.pop("compile_s", None)
        merged.pop("cached", None)
        data["inspect"] = {**inspect, "resources": merged}
    elif isinstance(top, dict):
        data.setdefault("extra_resources", top)
    if "speedup" in data:
        speedup = data.pop("speedup")
        data.setdefault("kernel_only_speedup", speedup)
    if data.get("detail") is None:
        data.pop("detail", None)
    return data
