"""kernels/conv3d_fast.py in Triton's interpreter (CPU), on tiny shapes, against float64 conv3d.

The kernel runs in a subprocess with TRITON_INTERPRET=1 in its environment, so this process never
sets it; the child prints one JSON line with every case's result.
"""

import os
import textwrap

import pytest
from interp import run_in_interpreter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNEL = os.path.join(ROOT, "kernels", "conv3d_fast.py")

CHILD = textwrap.dedent(
    """
    import importlib.util, json, math, sys
    import torch
    import torch.nn.functional as F

    spec = importlib.util.spec_from_file_location("conv3d_fast", sys.argv[1])
    cf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cf)
    cf.BLOCK_M, cf.BLOCK_N, cf.BLOCK_K = 32, 16, 16  # tiny tiles: the interpreter is slow

    CASES = [
        # name, N, Ci, Co, kernel, (D, H, W), stride, padding, dilation, bias, overrides
        ("k333", 2, 3, 5, (3, 3, 3), (5, 6, 7), 1, 0, 1, False, {}),
        ("k331", 1, 3, 4, (3, 3, 1), (6, 7, 3), 1, 0, 1, False, {}),
        ("k357", 1, 3, 6, (3, 5, 7), (4, 6, 9), 1, 0, 1, False, {}),
        ("stride_pad_dil_bias", 2, 2, 5, (2, 3, 2), (6, 7, 8), (1, 2, 1), (1, 0, 2), (2, 1, 2),
         True, {}),
        ("same_padding", 1, 3, 3, (3, 3, 3), (4, 5, 6), 1, "same", 1, True, {}),
        ("co_gt_block_n", 1, 1, 20, (1, 2, 3), (3, 4, 5), 1, 0, 1, False, {}),
        ("k_loop_tail", 1, 4, 3, (3, 3, 3), (4, 4, 5), 1, 0, 1, False, {"BLOCK_K": 32}),
        ("m_major", 1, 3, 5, (3, 3, 3), (4, 5, 6), 1, 0, 1, True, {"CO_MAJOR": False}),
        ("ieee", 1, 3, 5, (3, 3, 3), (4, 5, 6), 1, 1, 1, False, {"PRECISION": "ieee"}),
        ("presplit", 1, 3, 5, (3, 3, 3), (4, 5, 6), 1, 0, 1, False, {"PRECISION": "tf32x3p"}),
        ("odd_s", 1, 3, 4, (2, 2, 2), (4, 4, 4), 1, 0, 1, False, {}),
        ("split_in_registers", 1, 3, 5, (3, 2, 3), (4, 5, 7), (2, 1, 2), 0, 1, True,
         {"PRECISION": "tf32x3r"}),
        ("presplit_m_major", 2, 3, 4, (2, 3, 3), (4, 5, 6), 1, 0, 1, False,
         {"PRECISION": "tf32x3p", "CO_MAJOR": False}),
    ]
    base = {k: getattr(cf, k) for k in ("BLOCK_K", "CO_MAJOR", "PRECISION")}
    res = {}
    torch.manual_seed(0)
    for name, n, ci, co, ks, dhw, st, pd, dil, bias, over in CASES:
        for k, v in base.items():
            setattr(cf, k, over.get(k, v))
        m = cf.ModelNew(ci, co, ks, stride=st, padding=pd, dilation=dil, bias=bias)
        x = torch.rand(n, ci, *dhw)
        y = m(x)
        b = None if m.bias is None else m.bias.detach().double()
        ref = F.conv3d(x.double(), m.weight.detach().double(), b, stride=m.stride,
                       padding=m.padding, dilation=m.dilation)
        res[name] = dict(shape_ok=tuple(y.shape) == tuple(ref.shape),
                         finite=bool(torch.isfinite(y).all()),
                         close=bool(torch.allclose(y.double(), ref, atol=1e-4, rtol=1e-4)),
                         max_abs=float((y.double() - ref).abs().max()))
    for k, v in base.items():
        setattr(cf, k, v)

    # Seeded weights match nn.Conv3d's (same RNG use, same order).
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
    # The RNG stream after init must also match (nothing extra drawn).
    torch.manual_seed(11)
    torch.nn.Conv3d(3, 4, 3, bias=True)
    after_ref = torch.rand(3)
    torch.manual_seed(11)
    cf.ModelNew(3, 4, 3, bias=True)
    after_new = torch.rand(3)
    seeded["stream"] = bool(torch.equal(after_ref, after_new))

    # inf and NaN in x propagate as in a float64 conv (the tf32 split keeps them intact).
    nonfinite = {}
    for prec in ("tf32x3r", "tf32x3p"):
        cf.PRECISION = prec
        x = torch.rand(1, 3, 4, 5, 6)
        x[0, 1, 2, 2, 3] = float("inf")
        x[0, 0, 0, 1, 1] = float("nan")
        m = cf.ModelNew(3, 4, (2, 2, 2))
        y = m(x).double()
        ref = F.conv3d(x.double(), m.weight.detach().double())
        fin = torch.isfinite(ref)
        nonfinite[prec] = bool(
            torch.equal(torch.isnan(y), torch.isnan(ref))
            and torch.equal(torch.isinf(y), torch.isinf(ref))
            and torch.equal(y[torch.isinf(ref)], ref[torch.isinf(ref)])
            and torch.allclose(y[fin], ref[fin], atol=1e-4, rtol=1e-4)
        )
    cf.PRECISION = base["PRECISION"]

    # A tool may override the launch's keyword arguments (tiles, precision, orientation); the
    # result must stay right, or fail loudly where the wrapper cannot serve the override.
    real = cf._conv3d_igemm_kernel

    class Override:
        def __init__(self, over):
            self.over = over

        def __getitem__(self, grid):
            def launch(*args, **kwargs):
                kwargs.update(self.over)
                return real[grid](*args, **kwargs)

            return launch

    overrides = {}
    for label, file_prec, over in (
        ("r_to_ieee", "tf32x3r", {"precision": "ieee", "BLOCK_M": 16}),
        ("ieee_to_r", "ieee", {"precision": "tf32x3r", "BLOCK_K": 32}),
        ("tf32x3_to_r_co", "tf32x3", {"precision": "tf32x3r", "CO_MAJOR": True, "BLOCK_N": 16}),
        ("p_to_tf32x3", "tf32x3p", {"precision": "tf32x3", "BLOCK_M": 64}),
    ):
        cf.PRECISION = file_prec
        cf._conv3d_igemm_kernel = Override(over)
        m = cf.ModelNew(3, 6, (2, 3, 2), bias=True)
        x = torch.rand(2, 3, 4, 5, 9)
        y = m(x).double()
        ref = F.conv3d(x.double(), m.weight.detach().double(), m.bias.detach().double())
        overrides[label] = bool(torch.allclose(y, ref, atol=1e-4, rtol=1e-4))
    cf.PRECISION = "tf32x3r"
    cf._conv3d_igemm_kernel = Override({"precision": "tf32x3p"})
    msg = ""
    try:
        cf.ModelNew(3, 2, 2)(torch.rand(1, 3, 3, 3, 3))
    except Exception as e:  # noqa: BLE001 - the message is what is checked
        msg = repr(e)
    overrides["p_without_split_fails"] = "tf32x3p" in msg
    cf._conv3d_igemm_kernel = real
    cf.PRECISION = base["PRECISION"]

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
        cf.conv3d_fast(torch.rand(1, 4, 4, 4, 4), torch.rand(2, 2, 1, 1, 1), groups=2)
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


CASE_NAMES = [
    "k333",
    "k331",
    "k357",
    "stride_pad_dil_bias",
    "same_padding",
    "co_gt_block_n",
    "k_loop_tail",
    "m_major",
    "ieee",
    "presplit",
    "odd_s",
    "split_in_registers",
    "presplit_m_major",
]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_matches_float64_conv3d(child_result, name):
    r = child_result["cases"][name]
    assert r["shape_ok"]
    assert r["finite"]
    assert r["close"], f"max abs error {r['max_abs']:.3e}"


def test_seeded_weights_match_nn_conv3d(child_result):
    assert child_result["seeded"] == {"False": True, "True": True, "stream": True}


@pytest.mark.parametrize("prec", ["tf32x3r", "tf32x3p"])
def test_inf_and_nan_propagate(child_result, prec):
    assert child_result["nonfinite"][prec]


@pytest.mark.parametrize(
    "label", ["r_to_ieee", "ieee_to_r", "tf32x3_to_r_co", "p_to_tf32x3", "p_without_split_fails"]
)
def test_launch_overrides_stay_correct(child_result, label):
    assert child_result["overrides"][label]


@pytest.mark.parametrize("label", ["groups", "padding_mode", "fn_groups"])
def test_unsupported_cases_raise_clear_error(child_result, label):
    msg = child_result["errors"][label]
    key = "groups" if "groups" in label else "padding_mode"
    assert key in msg, f"expected a ValueError naming {key}, got {msg!r}"
