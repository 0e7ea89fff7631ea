"""kernels/conv3d_fast3.py on a CUDA GPU, against float64 conv3d at KernelBench's 1e-4: bf16x3g
on every case, and each of the Triton kernel's fp32-accurate precisions on two (the GPU's Triton
compiles them; bf16x3r once failed to compile on Triton 3.6 where the CPU's 3.9 took it).

On Hopper (sm_90) bf16x3g runs the Gluon wgmma kernel, persistent (WG_TILES > 0) or not, with
WG_WAIT groups left in flight; elsewhere it runs the Triton kernel as bf16x3p, and the test says
which ran. Skips where there is no CUDA device (the interpreter tests, test_fast3_kernel.py, cover
the fallback there).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import torch
import torch.nn.functional as F

KERNEL = Path(__file__).resolve().parents[1] / "kernels" / "conv3d_fast3.py"
pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU (bf16x3g's wgmma kernel: sm_90)"
)

# name, N, Ci, Co, kernel, (D, H, W), stride, padding, dilation, bias
CASES = [
    ("k357_rows", 2, 3, 64, (3, 5, 7), (6, 20, 40), 1, 0, 1, False),
    ("k333_bias", 2, 3, 64, (3, 3, 3), (6, 18, 34), 1, 0, 1, True),
    ("k331_plane", 2, 3, 64, (3, 3, 1), (12, 20, 6), 1, 0, 1, False),
    ("stride_pad_dil", 1, 3, 64, (2, 3, 5), (7, 21, 33), (1, 2, 2), (1, 0, 2), (2, 1, 2), True),
    ("co40", 1, 3, 40, (3, 3, 3), (5, 9, 17), 1, 1, 1, True),
    ("co96", 1, 2, 96, (3, 5, 7), (5, 9, 17), 1, 0, 1, False),
]
GRIDS = [(0, 0), (2, 3)]  # (WG_TILES, WG_WAIT): plain grid waiting for all; persistent, 3 in flight


def _load(wg_tiles: int, wg_wait: int, precision: str = "bf16x3g") -> ModuleType:
    name = f"fast3_gpu_{precision}_{wg_tiles}_{wg_wait}"
    spec = importlib.util.spec_from_file_location(name, KERNEL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.PRECISION, module.WG_TILES, module.WG_WAIT = precision, wg_tiles, wg_wait
    return module


def _expected_kernel() -> str:
    hopper = torch.cuda.get_device_capability() == (9, 0)
    return "_conv3d_wgmma_kernel" if hopper else "_conv3d_fast3_kernel"


def _run_case(cf: ModuleType, case: tuple) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The case's ModelNew run twice (the second on the cached plan and packed weight, as
    KernelBench's timed calls run), and float64 conv3d of the same weight: (y, y again, ref)."""
    _name, n, ci, co, ks, dhw, stride, padding, dilation, bias = case
    torch.manual_seed(0)
    m = cf.ModelNew(ci, co, ks, stride=stride, padding=padding, dilation=dilation, bias=bias)
    m = m.cuda()
    x = torch.rand(n, ci, *dhw, device="cuda")
    with torch.no_grad():
        y = m(x)
        y2 = m(x)
    b = None if m.bias is None else m.bias.double()
    ref = F.conv3d(
        x.double(), m.weight.double(), b, stride=m.stride, padding=m.padding, dilation=m.dilation
    )
    return y, y2, ref


@pytest.mark.parametrize("grid", GRIDS, ids=lambda g: f"tiles{g[0]}-wait{g[1]}")
@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_bf16x3g_matches_float64(case: tuple, grid: tuple[int, int]) -> None:
    cf = _load(*grid)
    y, y2, ref = _run_case(cf, case)
    (plan,) = cf._PLANS.values()
    assert plan[4].name == _expected_kernel()
    assert torch.allclose(y.double(), ref, atol=1e-4, rtol=1e-4), float((y - ref).abs().max())
    assert torch.equal(y, y2)


def test_bf16x3g_follows_a_new_weight_version() -> None:
    """The packed weight is rebuilt when the weight changes in place (its version counter)."""
    cf = _load(2, 3)
    m = cf.ModelNew(3, 64, (3, 5, 7)).cuda()
    x = torch.rand(1, 3, 5, 9, 20, device="cuda")
    with torch.no_grad():
        m(x)
        m.weight.mul_(-2.0)
        y = m(x)
    ref = F.conv3d(x.double(), m.weight.double())
    assert torch.allclose(y.double(), ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("precision", ["bf16x3r", "bf16x3j", "bf16x3p", "tf32x3r", "ffma"])
@pytest.mark.parametrize("case", [CASES[0], CASES[3]], ids=lambda c: c[0])
def test_each_fp32_accurate_precision_compiles_and_matches_float64(
    case: tuple, precision: str
) -> None:
    cf = _load(0, 0, precision)
    y, _, ref = _run_case(cf, case)
    (plan,) = cf._PLANS.values()
    assert plan[4].name == "_conv3d_fast3_kernel"
    assert torch.allclose(y.double(), ref, atol=1e-4, rtol=1e-4), float((y - ref).abs().max())
