"""Test fixture for export: a plain @triton.jit conv3d whose launch passes block sizes as literals."""

import math

import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def conv3d_lit_kernel(
    x_ptr,
    w_ptr,
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
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    img = tl.program_id(2)
    p = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    c = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    p_ok = p < positions
    c_ok = c < co
    od = p // (h_out * w_out)
    oh = (p // w_out) % h_out
    ow = p % w_out
    red = ci * KD * KH * KW
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for r0 in range(0, red, BLOCK_K):
        r = r0 + tl.arange(0, BLOCK_K)
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
    dst = (img * co + c[None, :]) * positions + p[:, None]
    tl.store(y_ptr + dst, acc, mask=p_ok[:, None] & c_ok[None, :])


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
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def forward(self, x):
        n, ci, d_in, h_in, w_in = x.shape
        co, _, kd, kh, kw = self.weight.shape
        d_out, h_out, w_out = d_in - kd + 1, h_in - kh + 1, w_in - kw + 1
        y = torch.empty((n, co, d_out, h_out, w_out), device=x.device, dtype=x.dtype)
        positions = d_out * h_out * w_out

        def grid(META):
            return (triton.cdiv(positions, META["BLOCK_M"]), triton.cdiv(co, META["BLOCK_N"]), n)

        conv3d_lit_kernel[grid](
            x.contiguous(),
            self.weight.contiguous(),
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
            BLOCK_M=32,
            BLOCK_N=16,
            BLOCK_K=16,
        )  # the user's hand-picked tile
        return y
