"""kernels/conv3d_fast2.py in Triton's interpreter (CPU), on tiny shapes, against float64 conv3d.

The kernel runs in a subprocess with TRITON_INTERPRET=1 in its environment, so this process never
sets it; the child prints one JSON line with every case's result.
"""

import os
import textwrap

import pytest
from interp import run_in_interpreter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNEL = os.path.join(ROOT, "kernels", "conv3d_fast2.py")

CHILD = textwrap.dedent(
    """
    import importlib.util, json, sys
    import torch
    import torch.nn.functional as F

    spec = importlib.util.spec_from_file_location("conv3d_fast2", sys.argv[1])
    cf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cf)
    cf.BLOCK_M, cf.BLOCK_N, cf.BLOCK_K = 32, 16, 16  # tiny tiles: the interpreter is slow

    SHAPES = [
        # name, N, Ci, Co, kernel, (D, H, W), stride, padding, dilation, bias
        ("k333", 2, 3, 5, (3, 3, 3), (5, 6, 8), 1, 0, 1, False),
        ("k331_same_w", 1, 3, 4, (3, 3, 1), (6, 7, 4), 1, 0, 1, True),
        ("k357_wide", 1, 3, 20, (3, 5, 7), (4, 6, 45), 1, 0, 1, False),
        ("stride_pad_dil_bias", 2, 2, 5, (2, 3, 2), (6, 7, 8), (1, 2, 1), (1, 0, 2), (2, 1, 2),
         True),
        ("stride_w", 1, 3, 3, (3, 3, 3), (4, 5, 9), (1, 1, 2), 1, 1, True),
        ("same_padding", 1, 3, 3, (3, 3, 3), (4, 5, 6), 1, "same", 1, True),
        ("odd_everything", 1, 4, 3, (2, 2, 3), (3, 5, 7), 1, 0, 1, False),
    ]
    MODES = [
        # label, module constants
        ("auto", dict(ROW_W=-1, XSHIFT=1)),
        ("plane", dict(ROW_W=0, XSHIFT=1)),
        ("rows8", dict(ROW_W=8, XSHIFT=1)),
        ("auto_shift4", dict(ROW_W=-1, XSHIFT=4)),
        ("plane_shift2", dict(ROW_W=0, XSHIFT=2)),
        ("rows16_shift4", dict(ROW_W=16, XSHIFT=4)),
        ("ieee", dict(ROW_W=-1, XSHIFT=1, PRECISION="ieee")),
    ]
    base = {k: getattr(cf, k) for k in ("ROW_W", "XSHIFT", "PRECISION")}
    res = {}
    torch.manual_seed(0)
    for mode, consts in MODES:
        for name, n, ci, co, ks, dhw, st, pd, dil, bias in SHAPES:
            for k, v in base.items():
                setattr(cf, k, consts.get(k, v))
            m = cf.ModelNew(ci, co, ks, stride=st, padding=pd, dilation=dil, bias=bias)
            x = torch.rand(n, ci, *dhw)
            y = m(x)
            b = None if m.bias is None else m.bias.detach().double()
            ref = F.conv3d(x.double(), m.weight.detach().double(), b, stride=m.stride,
                           padding=m.padding, dilation=m.dilation)
            ok = tuple(y.shape) == tuple(ref.shape) and bool(torch.isfinite(y).all())
            ok = ok and bool(torch.allclose(y.double(), ref, atol=1e-4, rtol=1e-4))
            res[f"{mode}/{name}"] = ok
    for k, v in base.items():
        setattr(cf, k, v)

    # Seeded weights match nn.Conv3d's (same RNG use, same order), and nothing extra is drawn.
    seeded = {}
    for bias in (False, True):
        torch.manual_seed(7)
        ref_m = torch.nn.Conv3d(3, 8, (3, 5, 7), bias=bias)
        torch.manual_seed(7)
        m = cf.ModelNew(3, 8, (3, 5, 7), bias=bias)
        same = torch.equal(ref_m.weight, m.weight)
        if bias:
            same = same and torch.equal(ref_m.bias, m.bias)
        seeded[str(bias)] = bool(same)
    torch.manual_seed(11)
    torch.nn.Conv3d(3, 4, 3, bias=True)
    after_ref = torch.rand(3)
    torch.manual_seed(11)
    cf.ModelNew(3, 4, 3, bias=True)
    seeded["stream"] = bool(torch.equal(after_ref, torch.rand(3)))

    # inf and NaN in x propagate as in a float64 conv (the tf32 split keeps them intact).
    x = torch.rand(1, 3, 4, 5, 6)
    x[0, 1, 2, 2, 3] = float("inf")
    x[0, 0, 0, 1, 1] = float("nan")
    m = cf.ModelNew(3, 4, (2, 2, 2))
    y = m(x).double()
    ref = F.conv3d(x.double(), m.weight.detach().double())
    fin = torch.isfinite(ref)
    nonfinite = bool(
        torch.equal(torch.isnan(y), torch.isnan(ref))
        and torch.equal(torch.isinf(y), torch.isinf(ref))
        and torch.equal(y[torch.isinf(ref)], ref[torch.isinf(ref)])
        and torch.allclose(y[fin], ref[fin], atol=1e-4, rtol=1e-4)
    )

    # A tool may override the launch's keyword arguments (tiles, row width, precision).
    real = cf._conv3d_fast2_kernel

    class Override:
        def __init__(self, over):
            self.over = over

        def __getitem__(self, grid):
            def launch(*args, **kwargs):
                kwargs.update(self.over)
                return real[grid](*args, **kwargs)

            return launch

    overrides = {}
    for label, over in (
        ("tiles", {"BLOCK_M": 64, "BLOCK_N": 32, "BLOCK_K": 32}),
        ("plane", {"ROW_W": 0}),
        ("rows16_ieee", {"ROW_W": 16, "precision": "ieee"}),
    ):
        cf._conv3d_fast2_kernel = Override(over)
        m = cf.ModelNew(3, 6, (2, 3, 2), bias=True)
        x = torch.rand(2, 3, 4, 5, 19)
        y = m(x).double()
        ref = F.conv3d(x.double(), m.weight.detach().double(), m.bias.detach().double())
        overrides[label] = bool(torch.allclose(y, ref, atol=1e-4, rtol=1e-4))
    cf._conv3d_fast2_kernel = real

    errors = {}
    for label, kwargs in (("groups", dict(groups=3)), ("padding_mode",
                          dict(padding_mode="reflect"))):
        msg = ""
        try:
            cf.ModelNew(3, 3, 3, **kwargs)
        except ValueError as e:
            msg = str(e)
        errors[label] = msg
    msg = ""
    try:
        cf.conv3d_fast2(torch.rand(1, 4, 4, 4, 4), torch.rand(2, 2, 1, 1, 1), groups=2)
    except ValueError as e:
        msg = str(e)
    errors["fn_groups"] = msg
    print(json.dumps(dict(cases=res, seeded=seeded, nonfinite=nonfinite, overrides=overrides,
                     errors=errors)))
    """
)


@pytest.fixture(scope="module")
def child_result():
    return run_in_interpreter(CHILD, KERNEL, timeout=240)


MODES = ["auto", "plane", "rows8", "auto_shift4", "plane_shift2", "rows16_shift4", "ieee"]
SHAPES = [
    "k333",
    "k331_same_w",
    "k357_wide",
    "stride_pad_dil_bias",
    "stride_w",
    "same_padding",
    "odd_everything",
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_float64_conv3d(child_result, mode, shape):
    assert child_result["cases"][f"{mode}/{shape}"]


def test_seeded_weights_match_nn_conv3d(child_result):
    assert child_result["seeded"] == {"False": True, "True": True, "stream": True}


def test_inf_and_nan_propagate(child_result):
    assert child_result["nonfinite"]


@pytest.mark.parametrize("label", ["tiles", "plane", "rows16_ieee"])
def test_launch_overrides_stay_correct(child_result, label):
    assert child_result["overrides"][label]


@pytest.mark.parametrize("label", ["groups", "padding_mode", "fn_groups"])
def test_unsupported_cases_raise_clear_error(child_result, label):
    msg = child_result["errors"][label]
    key = "groups" if "groups" in label else "padding_mode"
    assert key in msg, f"expected a ValueError naming {key}, got {msg!r}"
