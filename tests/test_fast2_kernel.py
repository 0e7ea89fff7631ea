"""kernels/conv3d_fast2.py in Triton's interpreter (CPU), on tiny shapes, against float64 conv3d.

The kernel runs in a subprocess with TRITON_INTERPRET=1 in its environment (tests/interp.py's
KERNEL_CHECKS, shared with the other kernel tests), so this process never sets it; the child
prints one JSON line with every case's result.
"""

import os

import pytest
from interp import check_conv3d_kernel

# The conv3d_fast2 interpreter runs on every shape: ~30 s cold here (`-m slow`, run by CI)
pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNEL = os.path.join(ROOT, "kernels", "conv3d_fast2.py")

# name, N, Ci, Co, kernel, (D, H, W), stride, padding, dilation, bias
SHAPE_CASES = [
    ("k333", 2, 3, 5, (3, 3, 3), (5, 6, 8), 1, 0, 1, False),
    ("k331_same_w", 1, 3, 4, (3, 3, 1), (6, 7, 4), 1, 0, 1, True),
    ("k357_wide", 1, 3, 20, (3, 5, 7), (4, 6, 45), 1, 0, 1, False),
    ("stride_pad_dil_bias", 2, 2, 5, (2, 3, 2), (6, 7, 8), (1, 2, 1), (1, 0, 2), (2, 1, 2), True),
    ("stride_w", 1, 3, 3, (3, 3, 3), (4, 5, 9), (1, 1, 2), 1, 1, True),
    ("same_padding", 1, 3, 3, (3, 3, 3), (4, 5, 6), 1, "same", 1, True),
    ("odd_everything", 1, 4, 3, (2, 2, 3), (3, 5, 7), 1, 0, 1, False),
]  # fmt: skip
# label: module constants
MODE_CONSTANTS = {
    "auto": {"ROW_W": -1, "XSHIFT": 1},
    "plane": {"ROW_W": 0, "XSHIFT": 1},
    "rows8": {"ROW_W": 8, "XSHIFT": 1},
    "auto_shift4": {"ROW_W": -1, "XSHIFT": 4},
    "plane_shift2": {"ROW_W": 0, "XSHIFT": 2},
    "rows16_shift4": {"ROW_W": 16, "XSHIFT": 4},
    "ieee": {"ROW_W": -1, "XSHIFT": 1, "PRECISION": "ieee"},
}
SPEC = {
    "tiles": {"BLOCK_M": 32, "BLOCK_N": 16, "BLOCK_K": 16},
    "constants": ["ROW_W", "XSHIFT", "PRECISION"],
    "cases": [
        (f"{mode}/{case[0]}", *case[1:], consts)
        for mode, consts in MODE_CONSTANTS.items()
        for case in SHAPE_CASES
    ],
    "nonfinite": {"default": {}},
    "kernel": "_conv3d_fast2_kernel",
    "overrides": [
        ("tiles", {}, {"BLOCK_M": 64, "BLOCK_N": 32, "BLOCK_K": 32}),
        ("plane", {}, {"ROW_W": 0}),
        ("rows16_ieee", {}, {"ROW_W": 16, "precision": "ieee"}),
    ],
    "override_input": [2, 3, 4, 5, 19],
    "must_fail": [],
    "function": "conv3d_fast2",
}


@pytest.fixture(scope="module")
def child_result():
    return check_conv3d_kernel(KERNEL, SPEC)


MODES = list(MODE_CONSTANTS)
SHAPES = [case[0] for case in SHAPE_CASES]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_float64_conv3d(child_result, mode, shape):
    r = child_result["cases"][f"{mode}/{shape}"]
    assert r["shape_ok"] and r["finite"]
    assert r["close"], f"max abs error {r['max_abs']:.3e}"


def test_seeded_weights_match_nn_conv3d(child_result):
    assert child_result["seeded"] == {"False": True, "True": True, "stream": True}


def test_inf_and_nan_propagate(child_result):
    assert child_result["nonfinite"]["default"]


@pytest.mark.parametrize("label", ["tiles", "plane", "rows16_ieee"])
def test_launch_overrides_stay_correct(child_result, label):
    assert child_result["overrides"][label]


@pytest.mark.parametrize("label", ["groups", "padding_mode", "fn_groups"])
def test_unsupported_cases_raise_clear_error(child_result, label):
    msg = child_result["errors"][label]
    key = "groups" if "groups" in label else "padding_mode"
    assert key in msg, f"expected a ValueError naming {key}, got {msg!r}"
