"""Run a script in a child Python under Triton's interpreter and read back its JSON.

TRITON_INTERPRET must be set before triton is imported, so interpreter checks never run in the
test process itself: the child gets the variable, and prints its results as one JSON line last.
KERNEL_CHECKS is the one child script the conv3d kernel tests share (check_conv3d_kernel).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


def run_in_interpreter(code: str, *args: str, timeout: float = 240, prefix: str = "") -> Any:
    """Run `python -c code args...` with TRITON_INTERPRET=1; return the JSON of its last line
    that starts with `prefix` (the prefix removed). A failing child fails the calling test."""
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**os.environ, "TRITON_INTERPRET": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, (
        f"interpreter run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(prefix) and ln.strip()]
    assert lines, f"no results printed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return json.loads(lines[-1][len(prefix) :])


# The checks of a conv3d kernel file with ModelNew(in, out, kernel, stride, padding, dilation,
# groups, bias) in the interpreter, shared by the kernel tests: argv[1] the file, argv[2] a JSON
# spec (see check_conv3d_kernel). Prints one JSON line: cases, seeded, nonfinite, overrides, errors.
KERNEL_CHECKS = r"""
import importlib.util, json, sys
import torch
import torch.nn.functional as F

path, spec = sys.argv[1], json.loads(sys.argv[2])
found = importlib.util.spec_from_file_location("kernel_under_test", path)
mod = importlib.util.module_from_spec(found)
found.loader.exec_module(mod)
for key, value in spec["tiles"].items():  # tiny tiles: the interpreter is slow
    setattr(mod, key, value)
base = {key: getattr(mod, key) for key in spec["constants"]}


def as3(v):
    return tuple(v) if isinstance(v, list) else v


def use(consts):
    for key, value in base.items():
        setattr(mod, key, consts.get(key, value))


def close(y, ref):
    return bool(torch.allclose(y.double(), ref, atol=1e-4, rtol=1e-4))


# Every case against a float64 conv3d.
res = {}
torch.manual_seed(0)
for name, n, ci, co, ks, dhw, st, pd, dil, bias, consts in spec["cases"]:
    use(consts)
    m = mod.ModelNew(ci, co, as3(ks), stride=as3(st), padding=as3(pd), dilation=as3(dil), bias=bias)
    x = torch.rand(n, ci, *dhw)
    y = m(x)
    b = None if m.bias is None else m.bias.detach().double()
    ref = F.conv3d(x.double(), m.weight.detach().double(), b, stride=m.stride,
                   padding=m.padding, dilation=m.dilation)
    shape_ok = tuple(y.shape) == tuple(ref.shape)
    res[name] = dict(shape_ok=shape_ok, finite=bool(torch.isfinite(y).all()),
                     close=shape_ok and close(y, ref),
                     max_abs=float((y.double() - ref).abs().max()) if shape_ok else None)
use({})

# Seeded weights match nn.Conv3d's (same RNG use, same order), and nothing extra is drawn.
seeded = {}
for bias in (False, True):
    torch.manual_seed(7)
    ref_m = torch.nn.Conv3d(3, 8, (3, 5, 7), bias=bias)
    torch.manual_seed(7)
    m = mod.ModelNew(3, 8, (3, 5, 7), bias=bias)
    same = torch.equal(ref_m.weight, m.weight)
    if bias:
        same = same and torch.equal(ref_m.bias, m.bias)
    seeded[str(bias)] = bool(same)
torch.manual_seed(11)
torch.nn.Conv3d(3, 4, 3, bias=True)
after_ref = torch.rand(3)
torch.manual_seed(11)
mod.ModelNew(3, 4, 3, bias=True)
seeded["stream"] = bool(torch.equal(after_ref, torch.rand(3)))

# inf and NaN in x propagate as in a float64 conv.
nonfinite = {}
for label, consts in spec["nonfinite"].items():
    use(consts)
    x = torch.rand(1, 3, 4, 5, 6)
    x[0, 1, 2, 2, 3] = float("inf")
    x[0, 0, 0, 1, 1] = float("nan")
    m = mod.ModelNew(3, 4, (2, 2, 2))
    y = m(x).double()
    ref = F.conv3d(x.double(), m.weight.detach().double())
    fin = torch.isfinite(ref)
    nonfinite[label] = bool(
        torch.equal(torch.isnan(y), torch.isnan(ref))
        and torch.equal(torch.isinf(y), torch.isinf(ref))
        and torch.equal(y[torch.isinf(ref)], ref[torch.isinf(ref)])
        and torch.allclose(y[fin], ref[fin], atol=1e-4, rtol=1e-4)
    )
use({})

# A tool may override the launch's keyword arguments (tiles, precision, layout); the result must
# stay right, or fail loudly where the wrapper cannot serve the override.
real = getattr(mod, spec["kernel"])


class Override:
    def __init__(self, over):
        self.over = over

    def __getitem__(self, grid):
        def launch(*args, **kwargs):
            kwargs.update(self.over)
            return real[grid](*args, **kwargs)

        return launch


overrides = {}
for label, consts, over in spec["overrides"]:
    use(consts)
    setattr(mod, spec["kernel"], Override(over))
    m = mod.ModelNew(3, 6, (2, 3, 2), bias=True)
    x = torch.rand(*spec["override_input"])
    ref = F.conv3d(x.double(), m.weight.detach().double(), m.bias.detach().double())
    overrides[label] = close(m(x), ref)
for label, consts, over, word in spec["must_fail"]:
    use(consts)
    setattr(mod, spec["kernel"], Override(over))
    msg = ""
    try:
        mod.ModelNew(3, 2, 2)(torch.rand(1, 3, 3, 3, 3))
    except Exception as e:  # noqa: BLE001 - the message is what is checked
        msg = repr(e)
    overrides[label] = word in msg
setattr(mod, spec["kernel"], real)
use({})

# What the kernel does not support is a ValueError that names it.
errors = {}
for label, kwargs in (("groups", dict(groups=3)), ("padding_mode", dict(padding_mode="reflect"))):
    msg = ""
    try:
        mod.ModelNew(3, 3, 3, **kwargs)
    except ValueError as e:
        msg = str(e)
    errors[label] = msg
msg = ""
try:
    getattr(mod, spec["function"])(torch.rand(1, 4, 4, 4, 4), torch.rand(2, 2, 1, 1, 1), groups=2)
except ValueError as e:
    msg = str(e)
errors["fn_groups"] = msg
print(json.dumps(dict(cases=res, seeded=seeded, nonfinite=nonfinite, overrides=overrides,
                      errors=errors)))
"""


def check_conv3d_kernel(path: str, spec: dict[str, Any], timeout: float = 240) -> Any:
    """Run KERNEL_CHECKS on kernel file `path` in the interpreter. `spec`: tiles (module constants
    set first), constants (the names a case may set), cases ([name, N, Ci, Co, kernel, (D, H, W),
    stride, padding, dilation, bias, constants]), nonfinite ({label: constants}), kernel (the
    module's @triton.jit name to override), overrides ([label, constants, launch kwargs]),
    override_input (x's shape), must_fail ([label, constants, kwargs, word the error names]),
    function (the module's functional entry point)."""
    return run_in_interpreter(KERNEL_CHECKS, path, json.dumps(spec), timeout=timeout)
