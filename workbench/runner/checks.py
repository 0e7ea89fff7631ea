"""Inside a worker: is the output right? Poisoned outputs, the fp64 error, KernelBench's verdict,
and the classification of whatever went wrong.
"""

from __future__ import annotations

import math
import traceback
from pathlib import Path
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from workbench.core import errors
from workbench.core.errors import TrialFailure
from workbench.core.records import Correctness, Status

WRONG_REL_ERROR = 1e-2  # above this (vs fp64) the numbers are wrong, not just imprecise
# Outputs are filled with a NaN of this bit pattern before the run: a kernel's own NaNs are
# canonical, so what still holds the pattern afterwards was never written.
POISON_BITS = {
    "float32": (torch.int32, 0x7FC0DEAD),
    "float16": (torch.int16, 0x7E5A),
    "bfloat16": (torch.int16, 0x7FDA),
}
_CUDA_FAULT_WORDS = (
    "CUDA error",
    "CUDA driver error",
    "illegal memory access",
    "misaligned address",
    "unspecified launch failure",
    "an illegal instruction",
    "device-side assert",
)


# --- classification ---------------------------------------------------------------------------
def classify(err: BaseException, kernel_path: str | None = None) -> TrialFailure:
    """The trial status and a one-line message for an exception raised inside the worker."""
    if isinstance(err, TrialFailure):
        return err
    where = _where(err, kernel_path)
    text = one_line(err)
    detail = "".join(traceback.format_exception(err)[-12:])
    name = type(err).__name__
    if isinstance(err, errors.ConfigError):
        return TrialFailure(Status.INVALID_CONFIG, str(err), detail)
    if isinstance(err, errors.OutOfResources) or name == "OutOfResources":
        said = _first(err)
        said = said if said.startswith("out of resources") else f"out of resources: {said}"
        return TrialFailure(Status.OUT_OF_RESOURCES, said, detail)
    if isinstance(err, errors.CompileError | errors.KernelFileError | errors.ProblemError):
        return TrialFailure(Status.COMPILE_ERROR, str(err), detail)
    if name in ("CompilationError", "CompileTimeAssertionFailure", "UnsupportedLanguageConstruct"):
        return TrialFailure(Status.COMPILE_ERROR, f"{where}compile error: {text}", detail)
    if name == "OutOfMemoryError":
        return TrialFailure(
            Status.OUT_OF_RESOURCES,
            f"{where}out of GPU memory: {text}: try a smaller problem",
            detail,
        )
    if isinstance(err, AssertionError):  # the user's own check, e.g. `assert groups == 1`
        said = _first(err) if str(err).strip() else "an assert in the kernel file failed"
        return TrialFailure(Status.RUNTIME_FAULT, f"{where}assertion failed: {said}", detail)
    if any(w in str(err) for w in _CUDA_FAULT_WORDS):
        return TrialFailure(
            Status.RUNTIME_FAULT,
            f"{where}GPU fault: {text} (an out-of-bounds pointer or a mask that lets one through)",
            detail,
        )
    return TrialFailure(Status.RUNTIME_FAULT, f"{where}the kernel raised {text}", detail)


def is_gpu_fault(failure: TrialFailure) -> bool:
    """After these the process's CUDA context may be poisoned: the worker must not go on."""
    return failure.status == Status.RUNTIME_FAULT and "GPU fault" in failure.message


def one_line(err: BaseException) -> str:
    first = _first(err)
    return f"{type(err).__name__}: {first}" if str(err).strip() else type(err).__name__


def _first(err: BaseException) -> str:
    lines = [ln.strip() for ln in str(err).strip().splitlines() if ln.strip()]
    return lines[0] if lines else type(err).__name__


def _where(err: BaseException, kernel_path: str | None) -> str:
    """`file.py:LINE: ` of the deepest frame in the kernel file, or ''."""
    if kernel_path is None:
        return ""
    line = None
    for frame in traceback.extract_tb(err.__traceback__):
        if frame.filename == kernel_path:
            line = frame.lineno
    return f"{Path(kernel_path).name}:{line}: " if line else ""


# --- poisoning the output ---------------------------------------------------------------------
def poison_fill(t: torch.Tensor) -> None:
    bits = POISON_BITS.get(str(t.dtype).replace("torch.", ""))
    if bits is None or not t.is_contiguous():
        t.fill_(float("nan"))
        return
    t.view(bits[0]).fill_(bits[1])


def unwritten(y: torch.Tensor) -> int:
    bits = POISON_BITS.get(str(y.dtype).replace("torch.", ""))
    if bits is None or not y.is_contiguous():
        return int(torch.isnan(y).sum())
    return int((y.view(bits[0]) == bits[1]).sum())


class Poison(TorchFunctionMode):
    """Poisons every new uninitialised tensor of the output's shape (a kernel's torch.empty)."""

    FACTORIES = {torch.empty, torch.empty_like, torch.empty_strided, torch.Tensor.new_empty}

    def __init__(self, shape: tuple[int, ...], dtype: torch.dtype) -> None:
        super().__init__()
        self.shape, self.dtype = shape, dtype

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]  # noqa: ANN001
        out = func(*args, **(kwargs or {}))
        if (
            func in self.FACTORIES
            and isinstance(out, torch.Tensor)
            and tuple(out.shape) == self.shape
            and out.dtype == self.dtype
            and out.device.type != "meta"
        ):
            poison_fill(out)
        return out


# --- the verdict ------------------------------------------------------------------------------
def compare(y: Any, ref64: torch.Tensor, tol: float) -> Correctness:
    """The output of one trial against the fp64 reference: errors and the counts of bad values."""
    out = Correctness(atol=tol, rtol=tol)
    if not isinstance(y, torch.Tensor):
        out.problem = f"ModelNew returned {type(y).__name__}, not a tensor"
        return out
    out.shape = list(y.shape)
    if tuple(y.shape) != tuple(ref64.shape):
        out.problem = f"output shape {tuple(y.shape)}, expected {tuple(ref64.shape)}"
        return out
    out.unwritten_count = unwritten(y)
    out.nan_count = int(torch.isnan(y).sum())
    out.inf_count = int(torch.isinf(y).sum())
    y64 = y.double()
    finite = torch.isfinite(y64)
    diff = torch.where(finite, y64 - ref64, torch.zeros((), dtype=y64.dtype, device=y64.device))
    ref_norm = float(torch.linalg.vector_norm(ref64))
    diff_norm = float(torch.linalg.vector_norm(diff))
    out.rel_error = diff_norm / ref_norm if ref_norm else diff_norm
    out.max_abs_error = float(diff.abs().max()) if diff.numel() else 0.0
    return out


def kernelbench_close(ref32: torch.Tensor, y: Any, tol: float) -> tuple[bool, str]:
    """KernelBench's test of one trial: shapes first, then allclose(ref, new, tol, tol)."""
    if not isinstance(y, torch.Tensor):
        return False, f"ModelNew returned {type(y).__name__}"
    if tuple(y.shape) != tuple(ref32.shape):
        return False, f"output shape mismatch {tuple(y.shape)} vs {tuple(ref32.shape)}"
    if y.dtype != ref32.dtype:
        return False, f"output dtype {y.dtype}, expected {ref32.dtype}"
    if torch.allclose(ref32, y, atol=tol, rtol=tol):
        return True, ""
    worst = float((ref32 - y).abs().nan_to_num(math.inf).max())
    return False, f"allclose fails (max abs difference {worst:.3g})"


def verdict(c: Correctness) -> tuple[Status, str]:
    """(status, one-line message) from the correctness numbers: a trial that runs but fails
    KernelBench's check is a wrong result, whatever its error against fp64."""
    if c.problem:
        return Status.WRONG_RESULT, f"wrong result: {c.problem}"
    total = math.prod(c.shape or [0])
    if c.unwritten_count:
        return (
            Status.WRONG_RESULT,
            f"wrong result: {c.unwritten_count} of {total} outputs never written"
            " (the grid or the store mask misses them)",
        )
    if c.nan_count or c.inf_count:
        return (
            Status.WRONG_RESULT,
            f"wrong result: {c.nan_count} NaN and {c.inf_count} Inf outputs of {total}",
        )
    rel = c.rel_error if c.rel_error is not None else math.inf
    error = f"rel error {rel:.1e} vs fp64 (max abs {c.max_abs_error or 0:.2g})"
    if rel > WRONG_REL_ERROR:
        return Status.WRONG_RESULT, f"wrong result: {error}"
    if c.kernelbench_pass is None:
        return Status.OK, f"not checked on CPU: {error}; {c.caveat or 'no KernelBench verdict'}"
    if not c.kernelbench_pass:
        trials = f" in {c.trials} trials" if c.trials > 1 else ""
        return (
            Status.WRONG_RESULT,
            f"FAILS KernelBench's {c.atol:g} check{trials}: {error}{'; ' + c.caveat if c.caveat else ''}",
        )
    trials = f" ({c.trials} trials)" if c.trials > 1 else ""
    return Status.OK, f"correct: {error}; passes KernelBench's {c.atol:g} check{trials}"
