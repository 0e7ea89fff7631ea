"""GPU-like rounding for `tl.dot` under Triton's CPU interpreter (TRITON_INTERPRET=1).

The interpreter computes every fp32 `tl.dot` as an exact fp32 matmul, whatever precision the dot
resolves to, so a kernel whose dot runs in TF32 on the GPU (Triton's default for fp32 operands)
looks far more accurate on the CPU than it will be on the device, and a correctness check there
passes kernels that a GPU run would flag. `emulating_gpu_dot()` patches the interpreter's
`create_dot` to apply what Triton's NVIDIA lowering does for each precision: "tf32" hands the raw
fp32 bits to the tensor core, which reads only the top 10 mantissa bits (truncation, the default
here: on an H200, tf32 `tl.dot(x, eye)` returns x with its low 13 bits cleared; "rne"/"rna" model
an explicit rounding); "tf32x3", "bf16x3" and "bf16x6" are split into several products the way
Triton's F32DotTC pass splits them (hi parts by cvt.rna.tf32.f32 or RNE bf16, small products
first, NaN in the small terms dropped); "ieee" stays exact. A bf16 x bf16 dot (which the
interpreter would multiply as the raw uint16 bits it stores bf16 in) is computed from the bf16
values: exact products, fp32 sums, as the tensor core does; it is recorded as "bf16". (The
interpreter's own fp32 -> bf16 cast truncates where the GPU rounds to nearest: a kernel's bf16
split is, if anything, less accurate on the CPU.) It records the precisions it saw and any it
could not reproduce, so a caller can say "not checked on CPU" rather than "pass".
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import torch

Rounding = Literal["truncate", "rne", "rna"]
ArrayT = TypeVar("ArrayT", "npt.NDArray[np.float32]", "torch.Tensor")

#: Precisions this module reproduces (names as `tl.dot`'s `input_precision` spells them).
EMULATED: frozenset[str] = frozenset({"ieee", "tf32", "tf32x3", "bf16x3", "bf16x6"})
NOT_HOOKED = "*"  # put in `not_emulated` when the interpreter offers no dot hook at all

_EXP_MASK = 0x7F800000
_LOW_BITS = {"tf32": 13, "bf16": 16}


def _round_bits(bits: Any, mode: Rounding, drop: int, np_like: bool) -> Any:
    """Round fp32 bit patterns (uint32 numpy, or int32 torch) to keep 23 - `drop` mantissa
    bits; the caller restores Inf/NaN."""
    keep = ~((1 << drop) - 1)
    if np_like:
        keep_mask: Any = np.uint32(keep & 0xFFFFFFFF)
        half: Any = np.uint32(1 << (drop - 1))
        one: Any = np.uint32(1)
        shift: Any = np.uint32(drop)
    else:
        keep_mask, half, one, shift = keep, 1 << (drop - 1), 1, drop
    if mode == "truncate":
        return bits & keep_mask
    if mode == "rna":  # ties away from zero: sign-magnitude, so add half an ulp to the magnitude
        return (bits + half) & keep_mask
    if mode == "rne":
        return (bits + (half - one) + ((bits >> shift) & one)) & keep_mask
    raise ValueError(f"unknown rounding mode {mode!r} (expected 'truncate', 'rne' or 'rna')")


def _round_fp32(t: ArrayT, mode: Rounding, drop: int) -> ArrayT:
    if isinstance(t, np.ndarray):
        arr = np.asarray(t, dtype=np.float32)
        bits = arr.view(np.uint32)
        special = (bits & np.uint32(_EXP_MASK)) == np.uint32(_EXP_MASK)
        with np.errstate(over="ignore"):
            rounded = _round_bits(bits, mode, drop, np_like=True)
        out: npt.NDArray[np.float32] = np.where(special, bits, rounded).view(np.float32)
        return out
    import torch

    if t.dtype != torch.float32:
        raise TypeError(f"expected a float32 tensor, got {t.dtype}")
    tbits = t.contiguous().view(torch.int32)
    tspecial = (tbits & _EXP_MASK) == _EXP_MASK
    trounded = _round_bits(tbits, mode, drop, np_like=False)
    return torch.where(tspecial, tbits, trounded).view(torch.float32).view(t.shape)


def round_to_tf32(t: ArrayT, mode: Rounding) -> ArrayT:
    """`t` (fp32, numpy or torch) rounded to TF32: 10 explicit mantissa bits, the low 13 bits
    cleared. "rne" rounds to nearest even, "rna" to nearest with ties away from zero (PTX
    `cvt.rna.tf32.f32`), "truncate" just clears the bits (what the tensor core does with raw fp32
    operands). Inf and NaN pass through unchanged; finite values may round up to Inf."""
    return _round_fp32(t, mode, _LOW_BITS["tf32"])


def round_to_bf16(t: ArrayT) -> ArrayT:
    """`t` (fp32) rounded to nearest even bf16, kept as fp32 (PTX `cvt.rn.bf16.f32`)."""
    return _round_fp32(t, "rne", _LOW_BITS["bf16"])


@dataclass
class DotEmulation:
    """What `emulating_gpu_dot` did: `seen` holds the precision of every fp32 x fp32 dot that
    ran ("tf32", "ieee", ...) and "bf16" for bf16 x bf16 dots, `not_emulated` those it left in
    plain fp32 (or NOT_HOOKED when the interpreter has no hook, with `reason`). Dots of other
    dtypes are left alone and not listed.
    Nothing is recorded for kernels that do not run under the interpreter."""

    rounding: Rounding
    hooked: bool = False
    reason: str | None = None
    seen: set[str] = field(default_factory=set)
    not_emulated: set[str] = field(default_factory=set)

    @property
    def checked(self) -> bool:
        """True when every dot seen ran with GPU-like rounding (none seen counts as checked)."""
        return self.hooked and not self.not_emulated


_active: DotEmulation | None = None


def _precision_name(precision: Any) -> str:
    name = getattr(precision, "name", None) or str(precision).rsplit(".", 1)[-1]
    return str(name).lower()


def _is_fp32(handle: Any) -> bool:
    data = getattr(handle, "data", None)
    return (
        getattr(getattr(handle, "dtype", None), "name", None) == "fp32"
        and isinstance(data, np.ndarray)
        and data.dtype == np.float32
    )


def _is_bf16(handle: Any) -> bool:
    data = getattr(handle, "data", None)
    return (
        getattr(getattr(handle, "dtype", None), "name", None) == "bf16"
        and isinstance(data, np.ndarray)
        and data.dtype == np.uint16
    )


def _bf16_values(bits: npt.NDArray[np.uint16]) -> npt.NDArray[np.float32]:
    """The fp32 values of bf16 bit patterns (a bf16 is the top half of an fp32)."""
    out: npt.NDArray[np.float32] = (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)
    return out


def _split(x: npt.NDArray[np.float32], precision: str) -> list[npt.NDArray[np.float32]]:
    """The parts F32DotTC splits an fp32 operand into: hi first, each part from the remainder."""
    if precision == "tf32x3":
        hi = round_to_tf32(x, "rna")
        with np.errstate(invalid="ignore"):
            return [hi, (x - hi).astype(np.float32)]
    parts: list[npt.NDArray[np.float32]] = []
    rest = x
    with np.errstate(invalid="ignore"):
        for _ in range(2 if precision == "bf16x3" else 3):
            part = round_to_bf16(rest)
            parts.append(part)
            rest = (rest - part).astype(np.float32)
    return parts


# (a part, b part) in the order Triton issues the products, smallest first; the hi*hi product
# comes last, after NaNs from the small terms (inf - inf) are replaced by zero.
_PRODUCTS: dict[str, list[tuple[int, int]]] = {
    "tf32x3": [(1, 0), (0, 1)],
    "bf16x3": [(1, 0), (0, 1)],
    "bf16x6": [(1, 1), (2, 0), (0, 2), (1, 0), (0, 1)],
}


def _make_dot(original: Callable[..., Any], state: DotEmulation) -> Callable[..., Any]:
    def create_dot(self: Any, a: Any, b: Any, d: Any, input_precision: Any, *rest: Any) -> Any:
        if _is_bf16(a) and _is_bf16(b) and _is_fp32(d):
            state.seen.add("bf16")
            product = np.matmul(_bf16_values(a.data), _bf16_values(b.data), dtype=np.float32)
            return type(d)((product + d.data).astype(np.float32), d.dtype)
        if not (_is_fp32(a) and _is_fp32(b) and _is_fp32(d)):
            return original(self, a, b, d, input_precision, *rest)
        precision = _precision_name(input_precision)
        state.seen.add(precision)
        if precision not in EMULATED:
            state.not_emulated.add(precision)
            return original(self, a, b, d, input_precision, *rest)

        def handle(like: Any, data: npt.NDArray[np.float32]) -> Any:
            return type(like)(data, like.dtype)

        def mma(x: npt.NDArray[np.float32], y: npt.NDArray[np.float32], acc: Any) -> Any:
            if precision.startswith("tf32"):  # raw fp32 bits reach the tf32 tensor core
                x, y = round_to_tf32(x, state.rounding), round_to_tf32(y, state.rounding)
            return original(self, handle(a, x), handle(b, y), acc, input_precision, *rest)

        if precision == "ieee":
            return original(self, a, b, d, input_precision, *rest)
        if precision == "tf32":
            return mma(a.data, b.data, d)
        a_parts, b_parts = _split(a.data, precision), _split(b.data, precision)
        acc = handle(d, np.zeros_like(d.data))
        for i, j in _PRODUCTS[precision]:
            acc = mma(a_parts[i], b_parts[j], acc)
        acc = handle(d, np.where(np.isnan(acc.data), np.float32(0), acc.data))
        acc = mma(a_parts[0], b_parts[0], acc)
        return handle(d, (acc.data + d.data).astype(np.float32))

    return create_dot


@contextmanager
def emulating_gpu_dot(rounding: Rounding = "truncate") -> Iterator[DotEmulation]:
    """While active, fp32 `tl.dot` under Triton's interpreter rounds like an NVIDIA GPU (see the
    module docstring); `rounding` is what the tensor core does with raw fp32 operands. Also lets
    the interpreter accept the NVIDIA backend's extra precisions ("bf16x3", "bf16x6") that it
    would otherwise reject. Yields a DotEmulation that fills in as kernels run. Not reentrant."""
    global _active
    if rounding not in ("truncate", "rne", "rna"):
        raise ValueError(f"unknown rounding mode {rounding!r}")
    if _active is not None:
        raise RuntimeError("emulating_gpu_dot is already active")
    state = DotEmulation(rounding=rounding)
    interpreter: Any = None
    try:
        interpreter = importlib.import_module("triton.runtime.interpreter")
    except Exception as exc:  # no interpreter in this Triton: nothing can be emulated
        state.reason = f"cannot import triton.runtime.interpreter: {exc}"
    builder_cls = getattr(interpreter, "InterpreterBuilder", None)
    original = getattr(builder_cls, "create_dot", None)
    if builder_cls is None or not callable(original):
        state.reason = state.reason or "Triton's interpreter has no InterpreterBuilder.create_dot"
        state.not_emulated.add(NOT_HOOKED)
        yield state
        return

    builder: Any = getattr(interpreter, "interpreter_builder", None)
    old_options = getattr(builder, "options", None)
    widened = _widen_options(old_options)
    builder_cls.create_dot = _make_dot(original, state)
    if widened is not None:
        builder.options = widened
    state.hooked = True
    _active = state
    try:
        yield state
    finally:
        builder_cls.create_dot = original
        if widened is not None:
            builder.options = old_options
        _active = None


def _widen_options(options: Any) -> Any:
    """`options` with the NVIDIA backend's dot precisions that we emulate added, or None when
    there is nothing to add (or the options are not a dataclass we can copy)."""
    allowed = getattr(options, "allowed_dot_input_precisions", None)
    if allowed is None or not dataclasses.is_dataclass(options) or isinstance(options, type):
        return None
    try:
        nvidia_compiler = importlib.import_module("triton.backends.nvidia.compiler")
        cuda_options = getattr(nvidia_compiler, "CUDAOptions", None)
        nvidia = tuple(getattr(cuda_options, "allowed_dot_input_precisions", ()))
    except Exception:
        return None
    extra = tuple(p for p in nvidia if p in EMULATED and p not in allowed)
    if not extra:
        return None
    return dataclasses.replace(options, allowed_dot_input_precisions=tuple(allowed) + extra)
