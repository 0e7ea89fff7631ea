"""kernels/conv3d_fast4.py in Triton's interpreter (CPU), on tiny shapes, against float64 conv3d.

The kernel runs in a subprocess with TRITON_INTERPRET=1 (tests/interp.py); its bf16 dots are
computed as a GPU computes them (workbench.runner.tf32). The child prints one JSON line.
"""

import os
import textwrap

import pytest
from interp import run_in_interpreter

# conv3d_fast4 (slower than conv3d_fast3 on three of four problems, kept as a measured variant):
# its interpreter run takes ~23 s here, so it is in `-m slow` (CI runs it).
pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNEL = os.path.join(ROOT, "kernels", "conv3d_fast4.py")

CHILD = textwrap.dedent(
    """
    import importlib.util, json, sys
    import torch
    import torch.nn.functional as F
    from workbench.runner.tf32 import emulating_gpu_dot

    spec = importlib.util.spec_from_file_location("conv3d_fast4", sys.argv[1])
    cf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cf)
    cf.BLOCK_M, cf.BLOCK_N = 32, 16  # tiny tiles: the interpreter is slow
    BASE = {k: getattr(cf, k) for k in ("UNFOLD", "ROW_W", "BLOCK_K", "DOTS", "ROLLED")}

    def close(y, ref):
        return (tuple(y.shape) == tuple(ref.shape) and bool(torch.isfinite(y).all())
                and bool(torch.allclose(y.double(), ref, atol=1e-4, rtol=1e-4)))

    def ref_of(m, x):
        b = None if m.bias is None else m.bias.detach().double()
        return F.conv3d(x.double(), m.weight.detach().double(), b, stride=m.stride,
                        padding=m.padding, dilation=m.dilation)

    CASES = [
        # name, constants, N, Ci, Co, kernel, (D, H, W), stride, padding, dilation, bias
        ("k333_unfold", {}, 2, 3, 4, (3, 3, 3), (4, 5, 7), 1, 0, 1, False),
        ("k333_pairs", {"UNFOLD": 0}, 2, 3, 4, (3, 3, 3), (4, 5, 7), 1, 0, 1, False),
        ("k235_unfold_k32", {"BLOCK_K": 32}, 1, 3, 5, (2, 3, 5), (3, 4, 9), 1, 0, 1, False),
        ("k235_pairs_k8", {"UNFOLD": 0, "BLOCK_K": 8}, 1, 3, 5, (2, 3, 5), (3, 4, 9), 1, 0, 1,
         False),
        ("k333_dots2_k8", {"DOTS": 2, "BLOCK_K": 8}, 2, 3, 4, (3, 3, 3), (4, 5, 7), 1, 0, 1,
         False),
        ("k235_dots2_rolled", {"DOTS": 2, "ROLLED": 1}, 1, 3, 5, (2, 3, 5), (3, 4, 9), 1, 0, 1,
         True),
        ("stride_pad_dil_dots2", {"DOTS": 2}, 1, 2, 5, (2, 3, 2), (5, 6, 7), (1, 2, 1),
         (1, 0, 2), (2, 1, 2), True),
        ("k331_plane_bias", {}, 1, 3, 4, (3, 3, 1), (4, 6, 5), 1, 0, 1, True),
        ("stride_pad_dil_bias", {}, 1, 2, 5, (2, 3, 2), (5, 6, 7), (1, 2, 1), (1, 0, 2),
         (2, 1, 2), True),
        ("stride_pad_dil_pairs", {"UNFOLD": 0}, 1, 2, 5, (2, 3, 2), (5, 6, 7), (1, 2, 1),
         (1, 0, 2), (2, 1, 2), True),
        ("same_padding", {}, 1, 3, 3, (3, 3, 3), (3, 4, 5), 1, "same", 1, True),
        ("plane_forced_stride", {"ROW_W": 0}, 1, 2, 3, (2, 2, 2), (4, 6, 7), (1, 2, 2), 0, 1,
         False),
        ("rows8_forced", {"ROW_W": 8}, 1, 3, 4, (2, 2, 3), (3, 5, 19), 1, 0, 1, True),
        ("rows16_stride_pairs", {"ROW_W": 16, "UNFOLD": 0}, 1, 2, 3, (2, 2, 3), (4, 6, 21),
         (1, 2, 2), 1, 1, False),
        ("out_plane", {"ROW_W": -2}, 2, 3, 4, (2, 3, 5), (3, 5, 9), 1, 0, 1, True),
        ("out_plane_stride_pad_dil", {"ROW_W": -2}, 1, 2, 5, (2, 3, 2), (5, 6, 7), (1, 2, 1),
         (1, 0, 2), (2, 1, 2), True),
    ]
    res = {}
    torch.manual_seed(0)
    with emulating_gpu_dot() as emulation:
        for name, consts, n, ci, co, ks, dhw, st, pd, dil, bias in CASES:
            for k, v in BASE.items():
                setattr(cf, k, consts.get(k, v))
            m = cf.ModelNew(ci, co, ks, stride=st, padding=pd, dilation=dil, bias=bias)
            x = torch.rand(n, ci, *dhw)
            res[name] = close(m(x), ref_of(m, x))
        for k, v in BASE.items():
            setattr(cf, k, v)

        # The packed weight follows the weight: an in-place update and a new tensor both show.
        m = cf.ModelNew(3, 4, (2, 3, 5), bias=True)
        x = torch.rand(1, 3, 3, 4, 9)
        first = close(m(x), ref_of(m, x))
        with torch.no_grad():
            m.weight.mul_(-2.0)
        inplace = close(m(x), ref_of(m, x))
        m.weight = torch.nn.Parameter(torch.rand_like(m.weight))
        replaced = close(m(x), ref_of(m, x))
        cache = dict(first=first, inplace=inplace, replaced=replaced)

        # inf and NaN in x propagate as in a float64 conv, also where an inf sits just right of
        # a receptive field (the unfolded row's padding slots are zeros, never x)
        nonfinite = {}
        for unfold in (1, 0):
            cf.UNFOLD = unfold
            x = torch.rand(1, 3, 3, 4, 6)
            x[0, 1, 1, 2, 3] = float("inf")
            x[0, 0, 0, 1, 1] = float("nan")
            m = cf.ModelNew(3, 4, (2, 2, 3))
            y, ref = m(x).double(), ref_of(m, x)
            fin = torch.isfinite(ref)
            nonfinite[str(unfold)] = bool(
                torch.equal(torch.isnan(y), torch.isnan(ref))
                and torch.equal(torch.isinf(y), torch.isinf(ref))
                and torch.equal(y[torch.isinf(ref)], ref[torch.isinf(ref)])
                and torch.allclose(y[fin], ref[fin], atol=1e-4, rtol=1e-4)
            )
        cf.UNFOLD = BASE["UNFOLD"]
    seen = sorted(emulation.seen)

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

    errors = {}
    def error_of(fn):
        try:
            fn()
        except ValueError as e:
            return str(e)
        return ""
    errors["groups"] = error_of(lambda: cf.ModelNew(3, 3, 3, groups=3))
    errors["padding_mode"] = error_of(lambda: cf.ModelNew(3, 3, 3, padding_mode="reflect"))
    errors["fn_groups"] = error_of(
        lambda: cf.conv3d_fast4(torch.rand(1, 4, 4, 4, 4), torch.rand(2, 2, 1, 1, 1), groups=2))
    errors["channels"] = error_of(
        lambda: cf.conv3d_fast4(torch.rand(1, 4, 4, 4, 4), torch.rand(2, 3, 1, 1, 1)))
    errors["float32"] = error_of(lambda: cf.ModelNew(3, 2, 1)(torch.rand(1, 3, 2, 2, 2).double()))
    cf.UNFOLD = 2
    errors["unfold"] = error_of(lambda: cf.ModelNew(3, 2, 1)(torch.rand(1, 3, 2, 2, 2)))
    cf.UNFOLD, cf.BLOCK_K = BASE["UNFOLD"], 12
    errors["block_k"] = error_of(lambda: cf.ModelNew(3, 2, 1)(torch.rand(1, 3, 2, 2, 2)))
    cf.BLOCK_K = 8
    errors["block_k_unfold"] = error_of(lambda: cf.ModelNew(3, 2, 3)(torch.rand(1, 3, 4, 4, 4)))
    cf.BLOCK_K = BASE["BLOCK_K"]
    cf.DOTS = 4
    errors["dots"] = error_of(lambda: cf.ModelNew(3, 2, 3)(torch.rand(1, 3, 4, 4, 4)))
    cf.DOTS, cf.ROLLED = BASE["DOTS"], 2
    errors["rolled"] = error_of(lambda: cf.ModelNew(3, 2, 3)(torch.rand(1, 3, 4, 4, 4)))
    cf.ROLLED, cf.ROW_W = BASE["ROLLED"], 12
    errors["row_w"] = error_of(lambda: cf.ModelNew(3, 2, 3)(torch.rand(1, 3, 4, 4, 4)))
    cf.ROW_W = BASE["ROW_W"]
    print(json.dumps(dict(cases=res, cache=cache, nonfinite=nonfinite, seen=seen, seeded=seeded,
                          errors=errors)))
    """
)

CASES = [
    "k333_unfold",
    "k333_pairs",
    "k235_unfold_k32",
    "k235_pairs_k8",
    "k333_dots2_k8",
    "k235_dots2_rolled",
    "stride_pad_dil_dots2",
    "k331_plane_bias",
    "stride_pad_dil_bias",
    "stride_pad_dil_pairs",
    "same_padding",
    "plane_forced_stride",
    "rows8_forced",
    "rows16_stride_pairs",
    "out_plane",
    "out_plane_stride_pad_dil",
]


@pytest.fixture(scope="module")
def child_result():
    return run_in_interpreter(CHILD, KERNEL, timeout=240)


@pytest.mark.parametrize("case", CASES)
def test_matches_float64_conv3d(child_result, case):
    assert child_result["cases"][case]


def test_dots_ran_in_bf16_as_on_a_gpu(child_result):
    assert "bf16" in child_result["seen"]


@pytest.mark.parametrize("event", ["first", "inplace", "replaced"])
def test_packed_weight_follows_the_weight(child_result, event):
    assert child_result["cache"][event]


@pytest.mark.parametrize("unfold", ["1", "0"])
def test_inf_and_nan_propagate(child_result, unfold):
    assert child_result["nonfinite"][unfold]


def test_seeded_weights_match_nn_conv3d(child_result):
    assert child_result["seeded"] == {"False": True, "True": True}


@pytest.mark.parametrize(
    ("label", "word"),
    [
        ("groups", "groups"),
        ("padding_mode", "padding_mode"),
        ("fn_groups", "groups"),
        ("channels", "channels"),
        ("float32", "float32"),
        ("unfold", "UNFOLD"),
        ("block_k", "BLOCK_K"),
        ("block_k_unfold", "UNFOLD"),
        ("dots", "DOTS"),
        ("rolled", "ROLLED"),
        ("row_w", "ROW_W"),
    ],
)
def test_unsupported_cases_raise_clear_error(child_result, label, word):
    msg = child_result["errors"][label]
    assert word in msg, f"expected a ValueError naming {word}, got {msg!r}"
