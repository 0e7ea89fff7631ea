"""The instruction mix of a compiled kernel's main loop, read from the target's SASS.

What it reads: the SASS of a cubin as the `cuobjdump` that Triton bundles prints it
(`triton/backends/nvidia/bin/cuobjdump --dump-sass`, or $TRITON_CUOBJDUMP_PATH as Triton itself
honours it), i.e. what ptxas really produced for the target (sm_89, sm_90, ...), not the PTX.

Why: a performance model of a kernel needs to know what one iteration of its inner (K) loop
issues on the target: how many tensor-core MMAs and of which shape, how many FFMAs, how much
integer address arithmetic, how many global / shared / async-copy memory instructions of what
width, how many barriers, whether it spills to local memory, and how many instructions in all
(issue cycles). None of that is visible before ptxas: Triton's software pipelining, ptxas'
scheduling and the choice between mma.sync (HMMA) and wgmma (HGMMA) all show only in SASS.

How: loops are found from backward branches (a BRA whose target offset is <= its own offset);
the main loop is the innermost loop that does the kernel's tensor-core (or, failing that, FFMA)
work; the counts are static counts of the instructions between the loop's head and its back
edge, i.e. per iteration of the loop as SASS has it. Where ptxas unrolled the source loop, one
SASS iteration covers several source iterations (compare the MMA count with the tile's).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = 1


class SassError(Exception):
    """The SASS cannot be had or read: the tool is missing or failed, or the text is not SASS."""


# --- the tool ---------------------------------------------------------------------------------
def cuobjdump_path() -> Path:
    """The cuobjdump Triton would use: $TRITON_CUOBJDUMP_PATH if that exists, else its bundled one.

    Found without importing Triton (importing it costs a second and is not needed here).
    """
    override = os.environ.get("TRITON_CUOBJDUMP_PATH")
    if override and Path(override).is_file():
        return Path(override)
    spec = importlib.util.find_spec("triton")
    if spec is None or spec.origin is None:
        raise SassError("cannot dump SASS: Triton is not installed (its bundled cuobjdump is used)")
    return Path(spec.origin).parent / "backends" / "nvidia" / "bin" / "cuobjdump"


def dump_sass(cubin: bytes) -> str:
    """`cuobjdump --dump-sass` of a cubin (Triton's `compiled.asm["cubin"]`), as text.

    Raises SassError (one line) if the tool is missing or fails, or prints no instructions.
    """
    if not cubin.startswith(b"\x7fELF"):
        raise SassError("cannot dump SASS: the bytes given are not a cubin (no ELF header)")
    tool = cuobjdump_path()
    if not (tool.is_file() and os.access(tool, os.X_OK)):
        raise SassError(f"cannot dump SASS: {tool} is missing or not executable")
    with tempfile.TemporaryDirectory(prefix="workbench-sass-") as tmp:
        path = Path(tmp) / "kernel.cubin"
        path.write_bytes(cubin)
        try:
            out = subprocess.run(
                [str(tool), "--dump-sass", str(path)],
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            raise SassError(
                f"cannot dump SASS: {tool.name} did not run: {_one_line(str(err))}"
            ) from err
    if out.returncode != 0:
        said = _one_line(out.stderr or out.stdout) or "no message"
        raise SassError(f"cannot dump SASS: {tool.name} exited {out.returncode}: {said}")
    if _LINE.search(out.stdout) is None:
        said = _one_line(out.stderr or out.stdout) or "no output"
        raise SassError(f"cannot dump SASS: {tool.name} printed no instructions ({said})")
    return out.stdout


def _one_line(text: str, limit: int = 200) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0][:limit] if lines else ""


# --- parsing ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Instr:
    """One SASS instruction."""

    offset: int  # byte offset in the function, from the /*0d60*/ column
    opcode: str  # with modifiers: "HMMA.1688.F32.TF32", "LDG.E.128", "BAR.SYNC.DEFER_BLOCKING"
    base: str  # the opcode without modifiers: "HMMA", "LDG", "BAR"
    predicate: str | None  # guard without the '@': "P0", "!P0", "UP1", "!PT"; None if unguarded
    operands: str  # the operand text as printed: "R4, R36.reuse, R2, R4"
    target: int | None = None  # branch target offset of BRA/JMP/CALL, if given as an address

    @property
    def modifiers(self) -> tuple[str, ...]:
        return tuple(self.opcode.split(".")[1:])

    @property
    def never_executes(self) -> bool:
        """Guarded by the constant-false predicate (`@!PT`): a placeholder ptxas inserts."""
        return self.predicate in ("!PT", "!UPT")

    @property
    def unconditional(self) -> bool:
        return self.predicate in (None, "PT", "UPT")


# `        /*0d60*/              @!P0 BRA 0x1dd0 ;      /* 0x... */` (the encoding comments, and
# the second line cuobjdump prints for each instruction, hold no /*offset*/ column).
_LINE = re.compile(
    r"^\s*/\*(?P<off>[0-9a-fA-F]+)\*/\s+"
    r"(?:@(?P<pred>!?U?P(?:T|\d+))\s+)?"
    r"(?P<op>[A-Z][A-Za-z0-9_.]*)"
    r"(?:\s+(?P<args>[^;]*?))?\s*;",
    re.MULTILINE,
)
_FUNCTION = re.compile(r"^\s*Function\s*:\s*(\S+)", re.MULTILINE)
_ARCH = re.compile(r"code for (sm_\w+)")
_HEX = re.compile(r"0x([0-9a-fA-F]+)")
_BRANCH_OPS = frozenset({"BRA", "JMP", "CALL"})  # direct branches (BRX/JMX are indirect)


def parse_sass(text: str, function: str | None = None) -> list[Instr]:
    """The instructions of the SASS text's function (`function` names one where there are several).

    Accepts cuobjdump's output or bare instruction lines (`/*0010*/ IMAD R1, R2, R3, RZ ;`).
    Raises SassError where the text holds several functions and none is named, or the one named
    is not there.
    """
    return [_parse_line(m) for m in _LINE.finditer(_function_text(text, function))]


def _parse_line(m: re.Match[str]) -> Instr:
    opcode = m.group("op")
    base = opcode.split(".", 1)[0]
    args = (m.group("args") or "").strip()
    target = None
    if base in _BRANCH_OPS:
        addresses = _HEX.findall(args)
        if addresses:
            target = int(addresses[-1], 16)
    return Instr(int(m.group("off"), 16), opcode, base, m.group("pred"), args, target)


def _function_text(text: str, function: str | None) -> str:
    """The part of cuobjdump's output that is `function`'s (all of it if it has no headers)."""
    heads = list(_FUNCTION.finditer(text))
    if not heads:
        if function is not None:
            raise SassError(f"no function {function!r} in the SASS (it names no functions)")
        return text
    names = [h.group(1) for h in heads]
    if function is None:
        if len(heads) > 1:
            raise SassError(f"the SASS holds {len(heads)} functions ({', '.join(names)}); name one")
        index = 0
    elif function in names:
        index = names.index(function)
    else:
        raise SassError(f"no function {function!r} in the SASS (it has {', '.join(names)})")
    end = heads[index + 1].start() if index + 1 < len(heads) else len(text)
    return text[heads[index].end() : end]


def _function_arch(text: str, function: str | None) -> tuple[str | None, str | None]:
    """(function name, "sm_89") from cuobjdump's headers, where it has them."""
    heads = list(_FUNCTION.finditer(text))
    if not heads:
        archs = _ARCH.findall(text)
        return function, (archs[0] if archs else None)
    head = next((h for h in heads if h.group(1) == function), heads[0])
    archs = _ARCH.findall(text[: head.start()])  # the "code for sm_89" line above the function
    return head.group(1), (archs[-1] if archs else None)


# --- classes ----------------------------------------------------------------------------------
# Tensor-core MMA: mma.sync (HMMA/IMMA/DMMA/BMMA, sm_80+), wgmma (HGMMA/IGMMA/QGMMA/BGMMA, sm_90),
# tcgen05 (UTCHMMA/UTCQMMA/..., sm_100).
_MMA = frozenset({"HMMA", "IMMA", "DMMA", "BMMA", "HGMMA", "IGMMA", "QGMMA", "BGMMA", "OMMA"})
_UTC_MMA = re.compile(r"^UTC\w*MMA$")
_FFMA = frozenset({"FFMA", "FFMA2"})
_FMUL_FADD = frozenset({"FMUL", "FADD", "FMUL2", "FADD2"})
_FP_OTHER = frozenset(
    {
        "HFMA2", "HADD2", "HMUL2", "HMNMX2", "HSETP2", "HSET2", "DFMA", "DADD", "DMUL",
        "DSETP", "MUFU", "FMNMX", "FSETP", "FSET", "FSEL", "FCHK", "FRND", "F2F", "F2I",
        "I2F", "F2FP", "FSWZADD", "FMNMX3",
    }
)  # fmt: skip
_INT_ALU = frozenset(
    {
        "IMAD", "IMADSP", "IMUL", "IADD3", "IADD", "IADD32I", "VIADD", "LOP3", "LOP", "LOP32I",
        "SHF", "SHL", "SHR", "ISETP", "ICMP", "IMNMX", "VIMNMX", "VIMNMX3", "VIADDMNMX", "LEA",
        "SEL", "SGXT", "PRMT", "BFE", "BFI", "BMSK", "BREV", "FLO", "POPC", "IABS", "IDP",
        "IDP4A", "I2I", "I2IP", "PLOP3", "P2R", "R2P",
    }
)  # fmt: skip
_GLOBAL_LOADS = frozenset({"LDG", "LD"})  # LD: generic, which Triton emits only where it must
_GLOBAL_STORES = frozenset({"STG", "ST"})
_ATOMICS = frozenset({"ATOMG", "ATOM", "ATOMS", "RED", "REDG"})
_SHARED_LOADS = frozenset({"LDS", "LDSM"})  # LDSM: ldmatrix
_SHARED_STORES = frozenset({"STS", "STSM"})  # STSM: stmatrix (sm_90)
_TMA = frozenset({"UTMALDG", "UTMASTG", "UTMAREDG", "UTMAPF", "UBLKCP", "UBLKRED", "UBLKPF"})
_ASYNC = frozenset({"LDGSTS"}) | _TMA  # cp.async (sm_80+) and TMA / bulk copies (sm_90+)
_BARRIERS = frozenset({"BAR", "BARRIER", "WARPGROUP", "SYNCS", "UTCBAR"})
# BAR: bar.sync/arrive; WARPGROUP.ARRIVE / WARPGROUP.DEPBAR: wgmma fence and wait;
# SYNCS: mbarrier arrive / try-wait (sm_90); UTCBAR: tcgen05 commit (sm_100).
_LOCAL_LOADS = frozenset({"LDL"})
_LOCAL_STORES = frozenset({"STL"})

_WIDTH_BYTES = {"U8": 1, "S8": 1, "U16": 2, "S16": 2, "32": 4, "64": 8, "128": 16, "256": 32}


def access_bytes(instr: Instr) -> int:
    """Bytes per thread of a load/store/async copy, from its width modifier (.64, .128, .U8...);
    4 where it has none (a 32-bit access)."""
    for mod in instr.modifiers:
        if mod in _WIDTH_BYTES:
            return _WIDTH_BYTES[mod]
    return 4


_MMA_SYNC_SHAPES = {
    "884": (8, 8, 4),
    "1684": (16, 8, 4),
    "1688": (16, 8, 8),
    "16816": (16, 8, 16),
    "16832": (16, 8, 32),
    "8816": (8, 8, 16),
    "8832": (8, 8, 32),
    "88128": (8, 8, 128),
    "168128": (16, 8, 128),
    "168256": (16, 8, 256),
}
_GMMA_SHAPE = re.compile(r"^(\d+)x(\d+)x(\d+)$")


def mma_shape(opcode: str) -> tuple[int, int, int] | None:
    """(M, N, K) encoded in an MMA opcode: HMMA.1688.F32.TF32 -> (16, 8, 8) per warp;
    HGMMA.64x128x16.F32.BF16 -> (64, 128, 16) per warpgroup. None where it encodes none."""
    for mod in opcode.split(".")[1:]:
        if mod in _MMA_SYNC_SHAPES:
            return _MMA_SYNC_SHAPES[mod]
        gmma = _GMMA_SHAPE.match(mod)
        if gmma:
            m, n, k = (int(g) for g in gmma.groups())
            return m, n, k
    return None


def is_mma(instr: Instr) -> bool:
    return instr.base in _MMA or _UTC_MMA.match(instr.base) is not None


# --- counts -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Counts:
    """Static instruction counts of a stretch of SASS, by class (per thread / per warp issue)."""

    total: int  # every instruction, placeholders included (each takes an issue slot)
    mma: int  # tensor-core MMA instructions
    mma_shapes: dict[str, int]  # by full opcode: {"HMMA.1688.F32.TF32": 32}
    ffma: int
    fmul_fadd: int
    fp_other: int  # HFMA2, DFMA, MUFU, FMNMX, FSETP, conversions...
    int_alu: int  # IMAD, IADD3, LOP3, SHF, ISETP, LEA, SEL... on the vector datapath
    uniform: int  # U* instructions (UIADD3, UMOV, ULDC...): the uniform datapath, issued once
    global_loads: int  # LDG (and generic LD)
    global_load_widths: dict[int, int]  # bytes per thread -> count: {16: 8, 4: 2}
    global_stores: int  # STG (and generic ST)
    global_store_widths: dict[int, int]
    atomics: int
    shared_loads: int  # LDS and LDSM
    ldsm: int  # of which LDSM (ldmatrix)
    shared_stores: int  # STS and STSM
    async_copies: int  # LDGSTS (cp.async) and TMA / bulk copies
    async_copy_widths: dict[int, int]  # LDGSTS bytes per thread -> count
    tma: int  # of which TMA / bulk copies (UTMALDG, UBLKCP...)
    barriers: int  # BAR, WARPGROUP.ARRIVE/DEPBAR, SYNCS (mbarrier), UTCBAR
    local_loads: int  # LDL: spill reloads
    local_stores: int  # STL: spills
    branches: int  # BRA, JMP, CALL, RET, EXIT
    predicated_off: int  # `@!PT` placeholders: in total, in no class
    other: int  # in no class above (moves, S2R, DEPBAR, MEMBAR, NOP, placeholders...)
    by_opcode: dict[str, int] = field(default_factory=dict)  # base opcode -> count

    @property
    def global_load_bytes(self) -> int:
        """Bytes per thread the global loads fetch."""
        return sum(w * n for w, n in self.global_load_widths.items())

    @property
    def async_copy_bytes(self) -> int:
        """Bytes per thread the LDGSTS copy (TMA copies' sizes are in their descriptors)."""
        return sum(w * n for w, n in self.async_copy_widths.items())

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in _COUNT_FIELDS:
            value = getattr(self, name)
            if name in _WIDTH_FIELDS:
                value = {str(k): v for k, v in sorted(value.items())}
            elif isinstance(value, dict):
                value = dict(sorted(value.items()))
            out[name] = value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Counts:
        kwargs: dict[str, Any] = {}
        for name in _COUNT_FIELDS:
            if name not in data:
                raise ValueError(f"instruction counts lack {name!r}")
            value = data[name]
            if name in _WIDTH_FIELDS:
                value = {int(k): int(v) for k, v in value.items()}
            elif name in _DICT_FIELDS:
                value = {str(k): int(v) for k, v in value.items()}
            else:
                value = int(value)
            kwargs[name] = value
        return cls(**kwargs)


_COUNT_FIELDS = tuple(Counts.__dataclass_fields__)
_WIDTH_FIELDS = frozenset({"global_load_widths", "global_store_widths", "async_copy_widths"})
_DICT_FIELDS = frozenset({"mma_shapes", "by_opcode"})


def count(instrs: Iterable[Instr]) -> Counts:
    """Counts of the instructions, by class."""
    n: Counter[str] = Counter()
    shapes: Counter[str] = Counter()
    by_opcode: Counter[str] = Counter()
    widths: dict[str, Counter[int]] = {name: Counter() for name in _WIDTH_FIELDS}
    total = 0
    for i in instrs:
        total += 1
        by_opcode[i.base] += 1
        if i.never_executes:
            n["predicated_off"] += 1
            continue
        cls = _class_of(i)
        n[cls] += 1
        if cls == "mma":
            shapes[i.opcode] += 1
        elif cls == "global_loads":
            widths["global_load_widths"][access_bytes(i)] += 1
        elif cls == "global_stores":
            widths["global_store_widths"][access_bytes(i)] += 1
        elif cls == "async_copies":
            if i.base in _TMA:
                n["tma"] += 1
            else:
                widths["async_copy_widths"][access_bytes(i)] += 1
        elif cls == "shared_loads" and i.base == "LDSM":
            n["ldsm"] += 1
    return Counts(
        total=total,
        mma=n["mma"],
        mma_shapes=dict(shapes),
        ffma=n["ffma"],
        fmul_fadd=n["fmul_fadd"],
        fp_other=n["fp_other"],
        int_alu=n["int_alu"],
        uniform=n["uniform"],
        global_loads=n["global_loads"],
        global_load_widths=dict(widths["global_load_widths"]),
        global_stores=n["global_stores"],
        global_store_widths=dict(widths["global_store_widths"]),
        atomics=n["atomics"],
        shared_loads=n["shared_loads"],
        ldsm=n["ldsm"],
        shared_stores=n["shared_stores"],
        async_copies=n["async_copies"],
        async_copy_widths=dict(widths["async_copy_widths"]),
        tma=n["tma"],
        barriers=n["barriers"],
        local_loads=n["local_loads"],
        local_stores=n["local_stores"],
        branches=n["branches"],
        predicated_off=n["predicated_off"],
        other=n["other"] + n["predicated_off"],
        by_opcode=dict(by_opcode),
    )


def _class_of(i: Instr) -> str:
    b = i.base
    if is_mma(i):
        return "mma"
    for name, ops in _CLASSES:
        if b in ops:
            return name
    if b.startswith("U") and b not in _TMA:
        return "uniform"  # UIADD3, UMOV, ULDC, USHF, ULEA...; TMA ops were placed above
    return "other"


_CLASSES: tuple[tuple[str, frozenset[str]], ...] = (
    ("ffma", _FFMA),
    ("fmul_fadd", _FMUL_FADD),
    ("fp_other", _FP_OTHER),
    ("int_alu", _INT_ALU),
    ("global_loads", _GLOBAL_LOADS),
    ("global_stores", _GLOBAL_STORES),
    ("atomics", _ATOMICS),
    ("shared_loads", _SHARED_LOADS),
    ("shared_stores", _SHARED_STORES),
    ("async_copies", _ASYNC),
    ("barriers", _BARRIERS),
    ("local_loads", _LOCAL_LOADS),
    ("local_stores", _LOCAL_STORES),
    ("branches", frozenset({"BRA", "BRX", "JMP", "JMX", "CALL", "RET", "EXIT"})),
)


# --- loops ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Loop:
    """A loop of the SASS: from its head (the back edge's target) to its last back edge."""

    start: int  # offset of the first instruction of the body
    end: int  # offset of the backward branch that closes it
    instructions: int  # instructions in [start, end], the back edge included
    mma: int
    ffma: int
    depth: int  # how many other loops enclose it (0: outermost)

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "instructions": self.instructions,
            "mma": self.mma,
            "ffma": self.ffma,
            "depth": self.depth,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Loop:
        return cls(
            start=int(data["start"]),
            end=int(data["end"]),
            instructions=int(data["instructions"]),
            mma=int(data["mma"]),
            ffma=int(data["ffma"]),
            depth=int(data["depth"]),
        )


def find_loops(instrs: Sequence[Instr]) -> list[Loop]:
    """The loops of a function, from its backward branches, in order of their heads.

    A BRA/JMP whose target is at or before it is a back edge; back edges to one head make one
    loop, up to the last of them. Not loops: the `BRA self` trap after the final EXIT, branches
    that never execute (`@!PT`), and back edges whose span holds an unconditional EXIT: those
    come from out-of-line stubs after the kernel's end (sm_90 puts an mbarrier's try-wait retry
    after EXIT, and it jumps back into the middle of the main loop).
    """
    ends: dict[int, int] = {}
    for i in instrs:
        if i.base not in ("BRA", "JMP") or i.target is None or i.never_executes:
            continue
        if i.target > i.offset or (i.target == i.offset and i.unconditional):
            continue
        ends[i.target] = max(ends.get(i.target, i.offset), i.offset)
    spans: list[tuple[int, int, list[Instr]]] = []
    for start, end in sorted(ends.items()):
        body = [i for i in instrs if start <= i.offset <= end]
        if any(i.base in ("EXIT", "RET") and i.unconditional for i in body):
            continue
        spans.append((start, end, body))
    loops = []
    for start, end, body in spans:
        depth = sum(1 for s, e, _ in spans if (s, e) != (start, end) and s <= start and end <= e)
        loops.append(
            Loop(
                start=start,
                end=end,
                instructions=len(body),
                mma=sum(1 for i in body if is_mma(i) and not i.never_executes),
                ffma=sum(1 for i in body if i.base in _FFMA and not i.never_executes),
                depth=depth,
            )
        )
    return loops


def main_loop(loops: Sequence[Loop]) -> Loop | None:
    """The kernel's main (hot) loop: the innermost loop doing its tensor-core work.

    Why MMA count: in a Triton matmul/conv kernel the hot loop is the K loop that feeds the tensor
    cores; other loops (an mbarrier retry spin, an epilogue or prologue loop) issue no MMA. So the
    loops that hold MMAs are the candidates, FFMAs standing in where the kernel has no MMA at all
    (an "ieee" dot) and every loop where it has neither. Why innermost among those: an enclosing
    loop spans the inner one's MMAs too (and may hold more, e.g. a pipelined loop's drained last
    iteration in a persistent kernel's tile loop), but its "per iteration" counts would count N
    inner iterations once; so candidates that enclose another candidate are dropped, and of the
    rest the one with the most MMAs (then FFMAs, then instructions) is the main loop.
    """
    if not loops:
        return None
    candidates = [lp for lp in loops if lp.mma > 0] or [lp for lp in loops if lp.ffma > 0]
    candidates = candidates or list(loops)
    innermost = [
        lp
        for lp in candidates
        if not any(o is not lp and lp.start <= o.start and o.end <= lp.end for o in candidates)
    ]
    return max(innermost, key=lambda lp: (lp.mma, lp.ffma, lp.instructions, -lp.start))


# --- the mix ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class InstructionMix:
    """What a kernel's SASS issues: per iteration of its main loop, and in all."""

    function: str | None  # the kernel's name, from cuobjdump's header
    arch: str | None  # "sm_89", from cuobjdump's header
    loops: tuple[Loop, ...]
    main_loop: Loop | None  # None where the kernel has no loop (e.g. fully unrolled)
    per_iteration: Counts | None  # the main loop's body, once
    kernel: Counts  # the whole function, without the padding after its final trap

    @property
    def loop_instructions(self) -> int | None:
        """Instructions one iteration of the main loop issues (per warp): a lower bound on its
        issue cycles."""
        return None if self.main_loop is None else self.main_loop.instructions

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "function": self.function,
            "arch": self.arch,
            "loops": [lp.to_json() for lp in self.loops],
            "main_loop": None if self.main_loop is None else self.main_loop.to_json(),
            "per_iteration": None if self.per_iteration is None else self.per_iteration.to_json(),
            "kernel": self.kernel.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InstructionMix:
        if data.get("schema") != SCHEMA:
            raise ValueError(f"instruction mix schema {data.get('schema')!r}, expected {SCHEMA}")
        main = data.get("main_loop")
        per = data.get("per_iteration")
        return cls(
            function=data.get("function"),
            arch=data.get("arch"),
            loops=tuple(Loop.from_json(lp) for lp in data.get("loops", [])),
            main_loop=None if main is None else Loop.from_json(main),
            per_iteration=None if per is None else Counts.from_json(per),
            kernel=Counts.from_json(data["kernel"]),
        )


def instruction_mix(cubin_or_text: bytes | str, function: str | None = None) -> InstructionMix:
    """The instruction mix of a cubin (bytes, dumped with cuobjdump) or of SASS text."""
    text = dump_sass(cubin_or_text) if isinstance(cubin_or_text, bytes) else cubin_or_text
    instrs = parse_sass(text, function)
    if not instrs:
        raise SassError("no SASS instructions in the text given")
    name, arch = _function_arch(text, function)
    loops = find_loops(instrs)
    main = main_loop(loops)
    per = None
    if main is not None:
        per = count(i for i in instrs if main.start <= i.offset <= main.end)
    return InstructionMix(
        function=name,
        arch=arch,
        loops=tuple(loops),
        main_loop=main,
        per_iteration=per,
        kernel=count(_without_padding(instrs)),
    )


def _without_padding(instrs: Sequence[Instr]) -> Sequence[Instr]:
    """The function without its tail: the `BRA self` trap after the last EXIT and the NOPs that
    align the function's end (never executed)."""
    end = len(instrs)
    while end > 0 and instrs[end - 1].base == "NOP":
        end -= 1
    last = instrs[end - 1] if end > 0 else None
    if (
        last is not None
        and last.base == "BRA"
        and last.target == last.offset
        and last.unconditional
    ):
        end -= 1
    return instrs[:end]
