"""kernels/conv3d_fast3.py in Triton's interpreter (CPU), on tiny shapes, against float64 conv3d.

The kernel runs in a subprocess with TRITON_INTERPRET=1 in its environment, so this process never
sets it; bf16 and tf32 dots are computed as a GPU computes them (workbench.runner.tf32), since the
interpreter alone multiplies bf16 as raw integers. The child prints one JSON line of results.
"""

import os
import textwrap

import pytest
from interp import run_in_interpreter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNEL = os.path.join(ROOT, "kernels", "conv3d_fast3.py")

CHILD = textwrap.dedent(
    """
    import importlib.util, json, sys
    import torch
    import torch.nn.functional as F
    from workbench.runner.tf32 import emulating_gpu_dot

    spec = importlib.util.spec_from_file_location("conv3d_fast3", sys.argv[1])
    cf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cf)
    cf.BLOCK_M, cf.BLOCK_N, cf.BLOCK_K = 32, 16, 16  # tiny tiles: the interpreter is slow
    BASE = {k: getattr(cf, k) for k in ("PRECISION", "TAPS", "ROW_W")}

    def close(y, ref):
        return (tuple(y.shape) == tuple(ref.shape) and bool(torch.isfinite(y).all())
                and bool(torch.allclose(y.double(), ref, atol=1e-4, rtol=1e-4)))

    def ref_of(m, x):
        b = None if m.bias is None else m.bias.detach().double()
        return F.conv3d(x.double(), m.weight.detach().double(), b, stride=m.stride,
                        padding=m.padding, dilation=m.dilation)

    CASES = [
        # name, constants, N, Ci, Co, kernel, (D, H, W), stride, padding, dilation, bias
        ("k333", {}, 2, 3, 4, (3, 3, 3), (4, 5, 7), 1, 0, 1, False),
        ("k357_rows_taps", {}, 1, 3, 5, (2, 3, 5), (3, 4, 9), 1, 0, 1, False),
        ("k331_plane", {}, 1, 3, 4, (3, 3, 1), (4, 6, 5), 1, 0, 1, True),
        ("stride_pad_dil_bias", {}, 1, 2, 5, (2, 3, 2), (5, 6, 7), (1, 2, 1), (1, 0, 2),
         (2, 1, 2), True),
        ("rows_taps_dil_stride", {"TAPS": "rows"}, 1, 2, 3, (2, 2, 3), (4, 5, 9), (1, 1, 2), 0,
         (1, 2, 2), True),
        ("same_padding", {}, 1, 3, 3, (3, 3, 3), (3, 4, 5), 1, "same", 1, True),
        ("plane_forced_stride", {"ROW_W": 0}, 1, 2, 3, (2, 2, 2), (4, 6, 7), (1, 2, 2), 0, 1,
         False),
        ("rows8_forced", {"ROW_W": 8}, 1, 3, 4, (2, 2, 3), (3, 5, 19), 1, 0, 1, True),
        ("tf32x3r", {"PRECISION": "tf32x3r"}, 1, 3, 4, (2, 3, 5), (3, 4, 9), 1, 0, 1, True),
        ("tf32x3r_table", {"PRECISION": "tf32x3r", "TAPS": "table"}, 1, 3, 4, (2, 3, 5),
         (3, 4, 9), 1, 0, 1, False),
        ("bf16x3j", {"PRECISION": "bf16x3j"}, 1, 3, 4, (2, 3, 5), (3, 4, 9), 1, 1, 1, True),
        ("ffma", {"PRECISION": "ffma"}, 1, 3, 4, (2, 3, 5), (3, 4, 9), (1, 1, 2), 1, 1, True),
        ("ieee_table", {"PRECISION": "ieee", "TAPS": "table"}, 1, 3, 4, (2, 2, 3), (3, 4, 6),
         1, 0, 1, False),
        ("bf16x3p", {"PRECISION": "bf16x3p"}, 2, 3, 4, (2, 3, 5), (3, 4, 9), 1, 1, 1, True),
        ("bf16x3p_plane_table", {"PRECISION": "bf16x3p", "TAPS": "table"}, 1, 3, 5, (3, 3, 1),
         (4, 6, 5), (1, 2, 1), 0, (1, 1, 1), False),
        # bf16x3g's Gluon kernel needs Hopper: here (interpreter) it runs as bf16x3p
        ("bf16x3g_fallback", {"PRECISION": "bf16x3g"}, 1, 3, 4, (2, 3, 5), (3, 4, 9), 1, 1, 1,
         True),
    ]
    res, seen = {}, {}
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

        # inf and NaN in x propagate as in a float64 conv (the split keeps them intact), whether
        # x is split in registers or once per call (bf16x3p).
        nonfinite = {}
        for precision in ("bf16x3r", "bf16x3p"):
            cf.PRECISION = precision
            x = torch.rand(1, 3, 3, 4, 6)
            x[0, 1, 1, 2, 3] = float("inf")
            x[0, 0, 0, 1, 1] = float("nan")
            m = cf.ModelNew(3, 4, (2, 2, 2))
            y, ref = m(x).double(), ref_of(m, x)
            fin = torch.isfinite(ref)
            nonfinite[precision] = bool(
                torch.equal(torch.isnan(y), torch.isnan(ref))
                and torch.equal(torch.isinf(y), torch.isinf(ref))
                and torch.equal(y[torch.isinf(ref)], ref[torch.isinf(ref)])
                and torch.allclose(y[fin], ref[fin], atol=1e-4, rtol=1e-4)
            )
        cf.PRECISION = BASE["PRECISION"]

        # A tool may override the launch's keyword arguments (tiles, row width, precision).
        real = cf._conv3d_fast3_kernel

        class Override:
            def __init__(self, over):
                self.over = over

            def __getitem__(self, grid):
                def launch(*args, **kwargs):
                    kwargs.update(self.over)
                    return real[grid](*args, **kwargs)

                return launch

        # The file's precision decides on the host whether x is split once per call (bf16x3p):
        # an override of the launch's precision either way still computes the right thing.
        overrides = {}
        for label, file_precision, over in (
            ("tiles", "bf16x3p", {"BLOCK_M": 64, "BLOCK_N": 32, "BLOCK_K": 32}),
            ("plane_tf32x3r", "bf16x3p", {"ROW_W": 0, "precision": "tf32x3r"}),
            ("rows16_ffma", "bf16x3r", {"ROW_W": 16, "precision": "ffma"}),
            ("bf16x3p_unsplit", "bf16x3r", {"precision": "bf16x3p"}),
        ):
            cf.PRECISION = file_precision
            cf._conv3d_fast3_kernel = Override(over)
            m = cf.ModelNew(3, 6, (2, 3, 5), bias=True)
            x = torch.rand(1, 3, 3, 4, 11)
            overrides[label] = close(m(x), ref_of(m, x))
        cf._conv3d_fast3_kernel = real
        cf.PRECISION = BASE["PRECISION"]

        # A replacement installed after a shape's plan is cached is still what launches.
        m = cf.ModelNew(3, 4, (2, 2, 3))
        x = torch.rand(1, 3, 3, 4, 10)
        m(x)
        calls = []

        class Counting(Override):
            def __getitem__(self, grid):
                calls.append(grid)
                return super().__getitem__(grid)

        cf._conv3d_fast3_kernel = Counting({"BLOCK_M": 64})
        late = dict(correct=close(m(x), ref_of(m, x)), used=len(calls))
        cf._conv3d_fast3_kernel = real
    seen = sorted(emulation.seen)

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
        lambda: cf.conv3d_fast3(torch.rand(1, 4, 4, 4, 4), torch.rand(2, 2, 1, 1, 1), groups=2))
    errors["channels"] = error_of(
        lambda: cf.conv3d_fast3(torch.rand(1, 4, 4, 4, 4), torch.rand(2, 3, 1, 1, 1)))
    errors["float32"] = error_of(lambda: cf.ModelNew(3, 2, 1)(torch.rand(1, 3, 2, 2, 2).double()))
    errors["taps"] = ""
    cf.TAPS = "diagonal"
    errors["taps"] = error_of(lambda: cf.ModelNew(3, 2, 1)(torch.rand(1, 3, 2, 2, 2)))
    cf.TAPS = BASE["TAPS"]
    cf.PRECISION, cf.TAPS, cf.BLOCK_M, cf.BLOCK_K = "bf16x3j", "table", 128, 16
    errors["j_table"] = error_of(lambda: cf.ModelNew(3, 2, 3)(torch.rand(1, 3, 4, 4, 4)))
    cf.PRECISION, cf.TAPS = BASE["PRECISION"], BASE["TAPS"]
    print(json.dumps(dict(cases=res, cache=cache, nonfinite=nonfinite, overrides=overrides,
                          late=late, seen=seen, seeded=seeded, errors=errors)))
    """
)

CASES = [
    "k333",
    "k357_rows_taps",
    "k331_plane",
    "stride_pad_dil_bias",
    "rows_taps_dil_stride",
    "same_padding",
    "plane_forced_stride",
    "rows8_forced",
    "tf32x3r",
    "tf32x3r_table",
    "bf16x3j",
    "ffma",
    "ieee_table",
    "bf16x3p",
    "bf16x3p_plane_table",
]


@pytest.fixture(scope="module")
def child_result():
    return run_in_interpreter(CHILD, KERNEL, timeout=240)


@pytest.mark.parametrize("case", CASES)
def test_matches_float64_conv3d(child_result, case):
    assert child_result["cases"][case]


def test_bf16_and_tf32_dots_ran_as_on_a_gpu(child_result):
    # the default precision's dots were bf16 (emulated), the tf32x3r cases' tf32
    assert {"bf16", "tf32"} <= set(child_result["seen"])


@pytest.mark.parametrize("event", ["first", "inplace", "replaced"])
def test_packed_weight_follows_the_weight(child_result, event):
    assert child_result["cache"][event]


@pytest.mark.parametrize("precision", ["bf16x3r", "bf16x3p"])
def test_inf_and_nan_propagate(child_result, precision):
    assert child_result["nonfinite"][precision] is True


@pytest.mark.parametrize("label", ["tiles", "plane_tf32x3r", "rows16_ffma", "bf16x3p_unsplit"])
def test_launch_overrides_stay_correct(child_result, label):
    assert child_result["overrides"][label]


def test_a_launch_replaced_after_the_plan_is_cached_still_launches(child_result):
    # The launch plan (and, on a GPU, the cached launch handle) must not pin the kernel object.
    assert child_result["late"] == {"correct": True, "used": 1}


def test_seeded_weights_match_nn_conv3d(child_result):
    assert child_result["seeded"] == {"False": True, "True": True, "stream": True}


@pytest.mark.parametrize(
    ("label", "word"),
    [
        ("groups", "groups"),
        ("padding_mode", "padding_mode"),
        ("fn_groups", "groups"),
        ("channels", "channels"),
        ("float32", "float32"),
        ("taps", "TAPS"),
        ("j_table", "wrong results on the H200"),
    ],
)
def test_unsupported_cases_raise_clear_error(child_result, label, word):
    msg = child_result["errors"][label]
    assert word in msg, f"expected a ValueError naming {word}, got {msg!r}"
