"""workbench/runner/tf32.py: TF32 rounding, and GPU-like `tl.dot` under the real interpreter.

The interpreter only takes effect when TRITON_INTERPRET=1 is set before triton is imported, so
the kernel checks run in one child Python (the script below) that prints its results as JSON.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch

MODULE_PATH = Path(__file__).resolve().parents[1] / "workbench" / "runner" / "tf32.py"


def _load_by_path(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("workbench_runner_tf32", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def _load() -> ModuleType:
    try:
        return importlib.import_module("workbench.runner.tf32")
    except Exception:  # the package around it may be mid-restructure; the file stands alone
        return _load_by_path(MODULE_PATH)


tf32 = _load()


# --- round_to_tf32 on chosen bit patterns ---------------------------------------------------
# input bits -> (truncate, rne, rna)
CASES: dict[int, tuple[int, int, int]] = {
    0x3F800000: (0x3F800000, 0x3F800000, 0x3F800000),  # 1.0 is already TF32
    0x3F800FFF: (0x3F800000, 0x3F800000, 0x3F800000),  # below half an ulp
    0x3F801000: (0x3F800000, 0x3F800000, 0x3F802000),  # tie, kept bit even: rne stays
    0x3F803000: (0x3F802000, 0x3F804000, 0x3F804000),  # tie, kept bit odd: rne rounds up
    0x3F801001: (0x3F800000, 0x3F802000, 0x3F802000),  # above half
    0xBF801001: (0xBF800000, 0xBF802000, 0xBF802000),  # negative: rounds the magnitude
    0xBF801000: (0xBF800000, 0xBF800000, 0xBF802000),  # negative tie: rna goes away from 0
    0x3FFFF000: (0x3FFFE000, 0x40000000, 0x40000000),  # mantissa carry into the exponent
    0x7F7FFFFF: (0x7F7FE000, 0x7F800000, 0x7F800000),  # max finite rounds up to +Inf
    0x00001FFF: (0x00000000, 0x00002000, 0x00002000),  # subnormal
    0x00000000: (0x00000000, 0x00000000, 0x00000000),  # +0
    0x80000000: (0x80000000, 0x80000000, 0x80000000),  # -0
    0x7F800000: (0x7F800000, 0x7F800000, 0x7F800000),  # +Inf
    0xFF800000: (0xFF800000, 0xFF800000, 0xFF800000),  # -Inf
    0x7FC00000: (0x7FC00000, 0x7FC00000, 0x7FC00000),  # quiet NaN
    0x7F801FFF: (0x7F801FFF, 0x7F801FFF, 0x7F801FFF),  # NaN whose payload is all low bits
    0xFFFFFFFF: (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF),  # negative NaN, every bit set
}
MODES = ("truncate", "rne", "rna")


def _bits_in() -> np.ndarray:
    return np.array(list(CASES), dtype=np.uint32)


@pytest.mark.parametrize("mode", MODES)
def test_round_to_tf32_numpy_bits(mode: str) -> None:
    want = np.array([v[MODES.index(mode)] for v in CASES.values()], dtype=np.uint32)
    got = tf32.round_to_tf32(_bits_in().view(np.float32), mode).view(np.uint32)
    assert [hex(x) for x in got] == [hex(x) for x in want]


@pytest.mark.parametrize("mode", MODES)
def test_round_to_tf32_torch_matches_numpy(mode: str) -> None:
    x = _bits_in().view(np.float32)
    want = tf32.round_to_tf32(x, mode).view(np.uint32)
    t = torch.from_numpy(x.copy()).reshape(1, -1)
    out = tf32.round_to_tf32(t, mode)
    assert out.dtype == torch.float32 and out.shape == t.shape
    got = out.reshape(-1).view(torch.int32).numpy().view(np.uint32)
    assert [hex(v) for v in got] == [hex(v) for v in want]


def test_round_to_tf32_error_bounds_and_low_bits() -> None:
    x = np.random.default_rng(0).standard_normal(4096).astype(np.float32)
    for mode, bound in (("truncate", 2.0**-10), ("rne", 2.0**-11), ("rna", 2.0**-11)):
        r = tf32.round_to_tf32(x, mode)
        assert not np.any(r.view(np.uint32) & np.uint32(0x1FFF)), mode
        assert np.all(np.abs(r.astype(np.float64) - x) <= bound * np.abs(x)), mode
    assert np.all(np.abs(tf32.round_to_tf32(x, "truncate")) <= np.abs(x))


def test_round_to_tf32_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError):
        tf32.round_to_tf32(np.ones(2, dtype=np.float32), "nearest")


# --- tl.dot under the real interpreter -------------------------------------------------------
CHILD = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("workbench_runner_tf32", sys.argv[1])
tf32 = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = tf32
spec.loader.exec_module(tf32)

import numpy as np
import torch
import triton
import triton.language as tl
from triton.runtime import interpreter


@triton.jit
def dot_kernel(a_ptr, b_ptr, c_ptr, N: tl.constexpr, MODE: tl.constexpr):
    r = tl.arange(0, N)
    offs = r[:, None] * N + r[None, :]
    a = tl.load(a_ptr + offs)
    b = tl.load(b_ptr + offs)
    if MODE == "default":
        c = tl.dot(a, b)
    elif MODE == "allow_tf32":
        c = tl.dot(a, b, allow_tf32=True)
    else:
        c = tl.dot(a, b, input_precision=MODE)
    tl.store(c_ptr + offs, c)


N = 32
torch.manual_seed(0)
a, b = torch.rand(N, N), torch.rand(N, N)
ref = a.double() @ b.double()
MODES = ["default", "allow_tf32", "tf32", "tf32x3", "ieee"]
EXTRA = ["bf16x3", "bf16x6"]  # accepted by the interpreter only while emulating


def rel_err(mode):
    c = torch.empty(N, N)
    dot_kernel[(1,)](a, b, c, N=N, MODE=mode)
    return ((c.double() - ref).abs().max() / ref.abs().max()).item()


out = {"off": {m: rel_err(m) for m in MODES}}
for rounding in ("truncate", "rne"):
    with tf32.emulating_gpu_dot(rounding) as emu:
        out[rounding] = {m: rel_err(m) for m in MODES + EXTRA}
        try:
            with tf32.emulating_gpu_dot():
                pass
            out["nested_refused"] = False
        except RuntimeError:
            out["nested_refused"] = True
    out[rounding + "_seen"] = sorted(emu.seen)
    out[rounding + "_checked"] = emu.checked
out["after"] = {m: rel_err(m) for m in MODES}  # the hook is gone again

# Our "rne" against the interpreter's own TF32 rounding (TMA round_f32_to_tf32), on random bits.
ref_round = getattr(interpreter, "_round_f32_to_tf32", None)
if ref_round is not None:
    bits = np.random.default_rng(1).integers(0, 2**32, 200000, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    mine = tf32.round_to_tf32(x, "rne").view(np.uint32)
    out["rne_matches_interpreter"] = bool(np.array_equal(mine, ref_round(x).view(np.uint32)))

# An interpreter without the hook (as an older Triton may be): report, do not crash.
original = interpreter.InterpreterBuilder.__dict__["create_dot"]
del interpreter.InterpreterBuilder.create_dot
try:
    with tf32.emulating_gpu_dot() as emu:
        pass
finally:
    interpreter.InterpreterBuilder.create_dot = original
out["unhooked"] = {"hooked": emu.hooked, "checked": emu.checked,
                   "not_emulated": sorted(emu.not_emulated), "reason": emu.reason}
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def child() -> dict[str, Any]:
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    env.pop("TRITON_F32_DEFAULT", None)  # the test is about Triton's own default (tf32)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(MODULE_PATH)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"child failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, f"no result:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return result


TF32_MODES = ("default", "allow_tf32", "tf32")
EXACT_MODES = ("tf32x3", "ieee")


def test_without_emulation_every_dot_is_exact_fp32(child: dict[str, Any]) -> None:
    # What the interpreter does on its own: the check below can only fail with emulation on.
    for mode in TF32_MODES + EXACT_MODES:
        assert child["off"][mode] < 1e-6, mode
        assert child["after"][mode] < 1e-6, mode


@pytest.mark.parametrize("rounding", ["truncate", "rne"])
def test_emulated_tf32_dots_show_gpu_like_error(child: dict[str, Any], rounding: str) -> None:
    errs = child[rounding]
    for mode in TF32_MODES:
        assert 3e-5 < errs[mode] < 3e-3, (mode, errs[mode])
    for mode in EXACT_MODES:
        assert errs[mode] < 1e-6, (mode, errs[mode])
    assert 1e-7 < errs["bf16x3"] < 3e-5  # bf16x3 keeps ~16 mantissa bits
    assert errs["bf16x6"] < 1e-6
    assert child[rounding + "_seen"] == ["bf16x3", "bf16x6", "ieee", "tf32", "tf32x3"]
    assert child[rounding + "_checked"] is True


def test_truncation_is_biased_and_worse_than_rounding(child: dict[str, Any]) -> None:
    # U[0,1) inputs: truncation always shrinks the operands, so its error adds up.
    assert child["truncate"]["tf32"] > 2 * child["rne"]["tf32"]


def test_rne_matches_triton_interpreter_rounding(child: dict[str, Any]) -> None:
    if "rne_matches_interpreter" not in child:
        pytest.skip("this Triton's interpreter has no _round_f32_to_tf32 to compare with")
    assert child["rne_matches_interpreter"] is True


def test_nested_emulation_is_refused(child: dict[str, Any]) -> None:
    assert child["nested_refused"] is True


def test_missing_hook_reports_not_emulated(child: dict[str, Any]) -> None:
    unhooked = child["unhooked"]
    assert unhooked["hooked"] is False and unhooked["checked"] is False
    assert unhooked["not_emulated"] == [tf32.NOT_HOOKED]
    assert "create_dot" in unhooked["reason"]
