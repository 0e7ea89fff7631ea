"""Test fixture for export: a user-style conv3d (stride 1, no padding) with @triton.autotune.

Export must reduce the config list below to exactly one triton.Config and leave the rest alone.
"""

import math

import torch
import torch.nn as nn
import triton
import triton.language as tl


# The user's search space (export keeps only the chosen one).
@triton.autotune(
    configs=[
        triton.Config({"BLOCK_P": 32, "BLOCK_CO": 16, "BLOCK_R": 16}, num_warps=4, num_stages=3),
        triton.Config({"BLOCK_P": 64, "BLOCK_CO": 32, "BLOCK_R": 32}, num_warps=8, num_stages=2),
        triton.Config({"BLOCK_P": 16, "BLOCK_CO": 16, "BLOCK_R": 16}, num_warps=2, num_stages=1),
    ],
    key=["positions", "co"],
)
@triton.jit
def conv3d_at_kernel(
    x_ptr,
    w_ptr,
    b_ptr,
    y_ptr,
    ci,
    co,
    d_in,
    h_in,
    w_in,
    d_out,
    h_out,
    w_out,
    positions,
    KD: tl.constexpr,
    KH: tl.constexpr,
    KW: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    BLOCK_P: tl.constexpr,
    BLOCK_CO: tl.constexpr,
    BLOCK_R: tl.constexpr,
):
    pid_p = tl.program_id(0)
    pid_c = tl.program_id(1)
    img = tl.program_id(2)
    p = pid_p * BLOCK_P + tl.arange(0, BLOCK_P)
    c = pid_c * BLOCK_CO + tl.arange(0, BLOCK_CO)
    p_ok = p < positions
    c_ok = c < co
    od = p // (h_out * w_out)
    oh = (p // w_out) % h_out
    ow = p % w_out
    red = ci * KD * KH * KW
    acc = tl.zeros((BLOCK_P, BLOCK_CO), dtype=tl.float32)
    for r0 in range(0, red, BLOCK_R):
        r = r0 + tl.arange(0, BLOCK_R)
        r_ok = r < red
        cin = r // (KD * KH * KW)
        kd = (r // (KH * KW)) % KD
        kh = (r // KW) % KH
        kw = r % KW
        src = ((img * ci + cin[None, :]) * d_in + od[:, None] + kd[None, :]) * h_in
        src = (src + oh[:, None] + kh[None, :]) * w_in + ow[:, None] + kw[None, :]
        a = tl.load(x_ptr + src, mask=p_ok[:, None] & r_ok[None, :], other=0.0)
        b = tl.load(
            w_ptr + c[None, :] * red + r[:, None], mask=r_ok[:, None] & c_ok[None, :], other=0.0
        )
        acc += tl.dot(a, b, input_precision="ieee")
    if HAS_BIAS:
        acc += tl.load(b_ptr + c, mask=c_ok, other=0.0)[None, :]
    dst = (img * co + c[None, :]) * positions + p[:, None]
    tl.store(y_ptr + dst, acc, mask=p_ok[:, None] & c_ok[None, :])


def conv3d_at(x, weight, bias):
    x = x.contiguous()
    weight = weight.contiguous()
    n, ci, d_in, h_in, w_in = x.shape
    co, _, kd, kh, kw = weight.shape
    d_out, h_out, w_out = d_in - kd + 1, h_in - kh + 1, w_in - kw + 1
    y = torch.empty((n, co, d_out, h_out, w_out), device=x.device, dtype=x.dtype)
    positions = d_out * h_out * w_out

    def grid(meta):
        return (triton.cdiv(positions, meta["BLOCK_P"]), triton.cdiv(co, meta["BLOCK_CO"]), n)

    conv3d_at_kernel[grid](
        x,
        weight,
        bias if bias is not None else weight,
        y,
        ci,
        co,
        d_in,
        h_in,
        w_in,
        d_out,
        h_out,
        w_out,
        positions,
        KD=kd,
        KH=kh,
        KW=kw,
        HAS_BIAS=bias is not None,
    )
    return y


class ModelNew(nn.Module):
    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=False,
    ):
        super().__init__()
        ks = (kernel_size,) * 3 if isinstance(kernel_size, int) else tuple(kernel_size)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *ks))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        # nn.Conv3d's initialisation, so seeded weights match the reference model.
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(in_channels * math.prod(ks))
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return conv3d_at(x, self.weight, self.bias)
