"""Shared-memory bank conflicts of a compiled kernel, from its TTGIR's layouts.

Why: a warp's shared-memory access is served in wavefronts; threads whose addresses fall in one
of the 32 four-byte banks at different words need one wavefront each (a bank conflict). SASS
shows the LDS, STS and LDGSTS but not their addresses, so the conflicts are invisible there.
The TTGIR (Triton's `compiled.asm["ttgir"]`) names, for every shared-memory access, the shared
layout of the buffer (`swizzled_shared` with vec / perPhase / maxPhase / order, or
`nvmma_shared` with its swizzle width) and the register layout of the tensor written or read
(`blocked` with sizePerThread / threadsPerWarp / warpsPerCTA / order). From the two, the bytes
each thread of each warp touches follow, and so the wavefronts each instruction needs.

What it counts, per access (`ttg.async_copy_global_to_local` and `ttg.local_store`: writes,
`ttg.local_load`: reads, `ttg.local_alloc` of a value: a write): the block's wavefronts (every
warp's every instruction), against the wavefronts its bytes would need without conflicts; their
ratio is the conflict degree. Counted: `blocked` register layouts and an FMA dot's operands
(`dot_op` of a `blocked` parent: an ieee dot, each thread reading its rows of A or columns of B
across the tile's K, v6); reads into MMA operand layouts (`dot_op` of an mma parent, ldmatrix)
and other layouts are recorded with no degree (unknown, which the model takes as no conflict).
Whether the access sits in a `scf.for` loop is recorded too (the model counts those once per
iteration).

Rules of the hardware used (NVIDIA's shared memory since Volta): 32 banks of 4 bytes, 128 bytes
a wavefront (one register of every thread: a warp's 8-byte access takes at least 2, a 16-byte
one 4); threads of the warp reading the same word share it (broadcast, across the whole warp);
an access takes as many wavefronts as the most distinct words any one bank is asked for, and at
least that minimum. (Model v6; before it, 8- and 16-byte accesses were split into two phases of
16 or four of 8 threads and each phase's conflicts summed, which counted a word that threads of
two phases share twice: an FMA dot's B operand, broadcast down M, read 16 B along K.)
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from workbench.core.records import SharedAccess

BANKS = 32
BANK_BYTES = 4
WARP = 32
MAX_VECTOR_BYTES = 16  # the widest shared-memory access of one thread (LDS.128, LDGSTS.128)

_ATTR = re.compile(r"^#(\w+)\s*=\s*#ttg\.(\w+)<\{(.*)\}>\s*$")
_FIELD = re.compile(r"(\w+)\s*=\s*(\[[^\]]*\]|[^,]+)")
_TYPE = re.compile(r"<([0-9x]+)x(!tt\.ptr<)?([a-z]+[0-9]+)>?,\s*(#[\w]+|#ttg\.[\w]+<)")
_MEMDESC = re.compile(r"memdesc<([0-9x]+)x([a-z]+[0-9]+),\s*(#\w+)")


@dataclass(frozen=True)
class _Blocked:
    size: tuple[int, ...]
    threads: tuple[int, ...]
    warps: tuple[int, ...]
    order: tuple[int, ...]


@dataclass(frozen=True)
class _Shared:
    kind: str  # "swizzled" or "nvmma"
    vec: int  # elements kept contiguous by the swizzle
    per_phase: int
    max_phase: int
    order: tuple[int, ...]  # fastest dimension first
    text: str  # the attribute as the TTGIR writes it
    row_bytes: int = 0  # nvmma: bytes of one swizzled row (its swizzle width), 0: the whole row


def _fields(body: str) -> dict[str, str]:
    return {k: v.strip() for k, v in _FIELD.findall(body)}


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"-?\d+", text))


def _bits(elem: str) -> int:
    found = re.search(r"(\d+)$", elem)
    return int(found.group(1)) if found else 32


def parse_layouts(ttgir: str) -> tuple[dict[str, _Blocked], dict[str, _Shared]]:
    """The `#blocked*` and `#shared*` attribute aliases at the top of a TTGIR module."""
    blocked: dict[str, _Blocked] = {}
    shared: dict[str, _Shared] = {}
    for line in ttgir.splitlines():
        m = _ATTR.match(line.strip())
        if not m:
            continue
        name, kind, body = m.groups()
        f = _fields(body)
        if kind == "blocked":
            blocked[name] = _Blocked(
                _ints(f["sizePerThread"]),
                _ints(f["threadsPerWarp"]),
                _ints(f["warpsPerCTA"]),
                _ints(f["order"]),
            )
        elif kind == "swizzled_shared":
            shared[name] = _Shared(
                "swizzled",
                int(f.get("vec", "1")),
                int(f.get("perPhase", "1")),
                int(f.get("maxPhase", "1")),
                _ints(f.get("order", "[1, 0]")),
                f"swizzled_shared<vec={f.get('vec')}, perPhase={f.get('perPhase')},"
                f" maxPhase={f.get('maxPhase')}, order={f.get('order')}>",
            )
        elif kind == "nvmma_shared":
            width = int(f.get("swizzlingByteWidth", "0"))
            bits = int(f.get("elementBitWidth", "32"))
            transposed = f.get("transposed", "false") == "true"
            # The wgmma layout: rows of `width` bytes whose 16-byte chunks are XORed with the row
            # (128 B: the row mod 8; 64 B: row / 2 mod 4; 32 B: row / 4 mod 2).
            elems16 = max(1, 128 // bits)
            chunks = max(1, width // 16)
            shared[name] = _Shared(
                "nvmma",
                elems16,
                max(1, 8 // chunks) if width else 1,
                chunks if width else 1,
                (0, 1) if transposed else (1, 0),
                f"nvmma_shared<swizzlingByteWidth={width}, transposed={str(transposed).lower()},"
                f" elementBitWidth={bits}>",
                row_bytes=width,
            )
    return blocked, shared


def _offset(coord: Sequence[int], shape: Sequence[int], layout: _Shared, elem_bytes: int) -> int:
    """Byte offset of a 2-D (or higher: the slower dimensions flattened) element in a buffer."""
    fast = layout.order[0] if layout.order else len(shape) - 1
    c = coord[fast]
    inner = shape[fast]
    row = 0
    for d in layout.order[1:] if len(layout.order) > 1 else ():
        row = row * shape[d] + coord[d]
    if layout.kind == "nvmma" and layout.row_bytes:
        per_row = max(1, layout.row_bytes // elem_bytes)  # elements of one swizzled row
        block, c = divmod(c, per_row)
        rows = math.prod(shape) // inner
        base = (block * rows + row) * per_row
        inner = per_row
    else:
        base = row * inner
    phase = (row // layout.per_phase) % layout.max_phase
    vec = max(1, layout.vec)
    col = ((c // vec) ^ phase) * vec + c % vec
    return (base + col) * elem_bytes


def _lane_coords(
    b: _Blocked, shape: Sequence[int], warp: int
) -> list[tuple[list[int], list[tuple[int, ...]]]]:
    """For one warp: per register chunk (the elements one instruction moves per thread), each
    lane's element coordinates. Coordinates wrap where the layout covers more than the shape
    (several threads hold the same element, as Triton's broadcast does)."""
    rank = len(shape)

    def split(index: int, sizes: Sequence[int], order: Sequence[int]) -> list[int]:
        out = [0] * rank
        for d in order:
            out[d] = index % sizes[d]
            index //= sizes[d]
        return out

    w = split(warp, b.warps, b.order)
    cover = [b.size[d] * b.threads[d] * b.warps[d] for d in range(rank)]
    reps = [max(1, math.ceil(shape[d] / cover[d])) for d in range(rank)]
    per_thread = [b.size[d] * reps[d] for d in range(rank)]
    out: list[tuple[list[int], list[tuple[int, ...]]]] = []
    for reg in range(math.prod(per_thread)):
        r = split(reg, per_thread, b.order)
        lanes = []
        for lane in range(WARP):
            t = split(lane, b.threads, b.order)
            coord = []
            for d in range(rank):
                rep, within = divmod(r[d], b.size[d])
                x = ((rep * b.warps[d] + w[d]) * b.threads[d] + t[d]) * b.size[d] + within
                coord.append(x % shape[d])
            lanes.append(tuple(coord))
        out.append((r, lanes))
    return out


def _vector(b: _Blocked, layout: _Shared, elem_bytes: int) -> int:
    """Elements one thread moves per instruction: its contiguous run along the buffer's fastest
    dimension, kept contiguous by the swizzle, at most 16 bytes."""
    fast = layout.order[0]
    run = b.size[fast] if fast < len(b.size) else 1
    if layout.max_phase > 1 or layout.kind == "nvmma":
        run = min(run, max(1, layout.vec))
    run = min(run, max(1, MAX_VECTOR_BYTES // elem_bytes))
    return 1 << (max(1, run).bit_length() - 1)  # a power of two


def wavefronts(
    b: _Blocked, layout: _Shared, shape: Sequence[int], elem_bytes: int
) -> tuple[int, int, int]:
    """(wavefronts, conflict-free wavefronts, bytes) of every warp of a block moving the whole
    tensor between registers laid out as `b` and the buffer laid out as `layout`."""
    fast = layout.order[0]
    vec = _vector(b, layout, elem_bytes)
    width = vec * elem_bytes
    least = max(1, width * WARP // (BANKS * BANK_BYTES))  # 128 B a wavefront: 1, 2 or 4
    warps = math.prod(b.warps)
    total = ideal = moved = 0
    for warp in range(warps):
        chunks = _lane_coords(b, shape, warp)
        for r, lanes in chunks:
            if r[fast] % vec:
                continue  # the first element of each vector issues it; the rest ride with it
            words: dict[int, set[int]] = defaultdict(set)
            for c in lanes:
                a = _offset(c, shape, layout, elem_bytes)
                for word in range(a // BANK_BYTES, (a + width - 1) // BANK_BYTES + 1):
                    words[word % BANKS].add(word)
            total += max(least, max(len(s) for s in words.values()))
            ideal += least
            moved += width * WARP
    return total, ideal, moved


# --- the accesses of a module -----------------------------------------------------------------
_OPS = (
    ("ttg.async_copy_global_to_local", "write"),
    ("ttg.local_store", "write"),
    ("ttg.local_load", "read"),
    ("ttg.local_alloc", "write"),
)


def shared_accesses(ttgir: str) -> list[SharedAccess]:
    """Every shared-memory access of a TTGIR module with its layouts and conflict degree."""
    blocked, shared = parse_layouts(ttgir)
    out: list[SharedAccess] = []
    stack: list[str] = []
    for raw in ttgir.splitlines():
        line = raw.strip()
        if line.startswith("}"):
            if stack:
                stack.pop()
            line = line[1:].strip()
        op = next(((name, kind) for name, kind in _OPS if f" {name} " in f" {line} "), None)
        if op is not None:
            access = _access(op[0], op[1], line, blocked, shared, "for" in stack)
            if access is not None:
                out.append(access)
        if line.endswith("{"):
            stack.append("for" if "scf.for" in line else "region")
    return out


def _access(
    op: str,
    kind: str,
    line: str,
    blocked: dict[str, _Blocked],
    shared: dict[str, _Shared],
    in_loop: bool,
) -> SharedAccess | None:
    sig = line.rsplit(" : ", 1)[-1]
    mem = _MEMDESC.search(sig) or re.search(r"->\s*<([0-9x]+)x([a-z]+[0-9]+),\s*(#\w+)", sig)
    if mem is None:
        return None
    shape = tuple(int(x) for x in mem.group(1).split("x"))
    elem = mem.group(2)
    layout = shared.get(mem.group(3).lstrip("#"))
    if op == "ttg.local_alloc" and "()" in sig.split("->", 1)[0]:
        return None  # an allocation without a value: its accesses are the ops that use it
    reg = re.search(r"tensor<[0-9x]+x(?:!tt\.ptr<)?[a-z]+[0-9]+>?,\s*(#[\w.]+)", sig)
    reg_name = reg.group(1).lstrip("#") if reg else ""
    operand = _DOT_OPERAND.search(sig)
    if op == "ttg.async_copy_global_to_local" or op == "ttg.local_alloc":
        tensor_shape = shape  # the value and the buffer have one shape
    else:
        tensor_shape = shape[-2:] if len(shape) > 2 else shape
    shape = tensor_shape
    elem_bytes = max(1, _bits(elem) // 8)
    b = blocked.get(reg_name)
    if operand is not None:  # a dot's operand: an FMA dot's (blocked parent) is counted
        b = _fma_operand(int(operand.group(1)), blocked.get(operand.group(2)), shape)
        reg_name = f"dot_op<opIdx={operand.group(1)}, parent={operand.group(2)}>"
    degree: float | None = None
    waves = ideal = moved = 0
    if layout is not None and b is not None and len(b.size) == len(shape):
        waves, ideal, moved = wavefronts(b, layout, shape, elem_bytes)
        degree = waves / ideal if ideal else None
    described = _describe(b) if b else (reg_name or "?")
    if operand is not None and b:
        described = f"{reg_name}: {described}"  # an FMA dot's operand, as its layout counts it
    return SharedAccess(
        op=op.split(".", 1)[1],
        kind=kind,
        shape=list(shape),
        element=elem,
        shared_layout=layout.text if layout else mem.group(3),
        register_layout=described,
        in_loop=in_loop,
        degree=None if degree is None else round(degree, 4),
        wavefronts=waves,
        ideal_wavefronts=ideal,
        bytes=moved,
    )


_DOT_OPERAND = re.compile(r"#ttg\.dot_op<\{opIdx\s*=\s*(\d+),\s*parent\s*=\s*#(\w+)")


def _fma_operand(op_idx: int, parent: _Blocked | None, shape: Sequence[int]) -> _Blocked | None:
    """The register layout of an FMA dot's operand (Triton's `dot_op` with a `blocked` parent,
    an ieee dot on the FP32 cores) as a blocked layout: each thread holds its rows of the
    accumulator's parent layout (A, opIdx 0) or its columns (B, opIdx 1) across the whole K of
    the tile, and the threads and warps along the other dimension hold the same elements (the
    layout covers K more than once: they read the same words, a broadcast). None for an MMA
    operand (an mma or nvmma parent: ldmatrix or the wgmma's own reads, not counted)."""
    if parent is None or len(parent.size) != 2 or len(shape) != 2:
        return None
    size = list(parent.size)
    size[1 - op_idx] = shape[1 - op_idx]  # K: A's columns, B's rows, all in every thread
    return _Blocked(tuple(size), parent.threads, parent.warps, parent.order)


def _describe(b: _Blocked) -> str:
    return (
        f"blocked<sizePerThread={list(b.size)}, threadsPerWarp={list(b.threads)},"
        f" warpsPerCTA={list(b.warps)}, order={list(b.order)}>"
    )
