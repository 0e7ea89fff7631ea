"""kernels/conv3d_fast.py in Triton's interpreter (CPU), on tiny shapes, against float64 conv3d.

The kernel runs in a subprocess with TRITON_INTERPRET=1 in its environment (tests/interp.py's
KERNEL_CHECKS, shared with the other kernel tests), so this process never sets it; the child
prints one JSON line with every case's result.
"""

import os

import pytest
from interp import check_conv3d_kernel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNEL = os.path.join(ROOT, "kernels", "conv3d_fast.py")

# name, N, Ci, Co, kernel, (D, H, W), stride, padding, dilation, bias, module constants
CASES = [
    ("k333", 2, 3, 5, (3, 3, 3), (5, 6, 7), 1, 0, 1, False, {}),
    ("k331", 1, 3, 4, (3, 3, 1), (6, 7, 3), 1, 0, 1, False, {}),
    ("k357", 1, 3, 6, (3, 5, 7), (4, 6, 9), 1, 0, 1, False, {}),
    ("stride_pad_dil_bias", 2, 2, 5, (2, 3, 2), (6, 7, 8), (1, 2, 1), (1, 0, 2), (2, 1, 2), True, {}),
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
]  # fmt: skip
SPEC = {
    "tiles": {"BLOCK_M": 32, "BLOCK_N": 16, "BLOCK_K": 16},
    "constants": ["BLOCK_K", "CO_MAJOR", "PRECISION"],
    "cases": CASES,
    "nonfinite": {"tf32x3r": {"PRECISION": "tf32x3r"}, "tf32x3p": {"PRECISION": "tf32x3p"}},
    "kernel": "_conv3d_igemm_kernel",
    "overrides": [
        ("r_to_ieee", {"PRECISION": "tf32x3r"}, {"precision": "ieee", "BLOCK_M": 16}),
        ("ieee_to_r", {"PRECISION": "ieee"}, {"precision": "tf32x3r", "BLOCK_K": 32}),
        ("tf32x3_to_r_co", {"PRECISION": "tf32x3"},
         {"precision": "tf32x3r", "CO_MAJOR": True, "BLOCK_N": 16}),
        ("p_to_tf32x3", {"PRECISION": "tf32x3p"}, {"precision": "tf32x3", "BLOCK_M": 64}),
    ],
    "override_input": [2, 3, 4, 5, 9],
    "must_fail": [
        ("p_without_split_fails", {"PRECISION": "tf32x3r"}, {"precision": "tf32x3p"}, "tf32x3p")
    ],
    "function": "conv3d_fast",
}  # fmt: skip


@pytest.fixture(scope="module")
def child_result():
    return check_conv3d_kernel(KERNEL, SPEC)


CASE_NAMES = [case[0] for case in CASES]


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
