"""Implicit-GEMM conv3d (NCDHW, fp32) for small in_channels, tuned for the H100.

Design (see docs/performance-notes.md):
- one program computes a tile of BLOCK_M output points (flattened od*Ho*Wo + oh*Wo + ow inside
  one image) for BLOCK_N output channels (BLOCK_N = 64 covers Co = 64 in one tile);
- the GEMM's K index (ci, kd, kh, kw) is never decoded in the loop: the wrapper builds a small
  int32 table delta[k] = ci*sC + kd*dil_d*sD + kh*dil_h*sH + kw*dil_w*sW, so the gather
  address is base(m) + delta(k); base(m) is decoded once per tile;
- CO_MAJOR puts Co on the MMA's M side (acc is [Co, BLOCK_M]), so the output tile is stored
  row by row along the contiguous spatial index of y;
- padding is applied by padding a copy of x (cheap for few channels); bias in the epilogue;
- PRECISION "tf32x3r" (default): fp32 accuracy from three tf32 tensor-core products, x split
  into a tf32 head and tail in registers, w split by a tiny kernel in the wrapper; "tf32x3p":
  x split by the wrapper instead; any other value ("tf32x3", "ieee", "tf32", "bf16x3", ...) is
  handed to tl.dot(input_precision=...) as is.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import triton
import triton.language as tl

# conv3d-bench config: the launch below reads these; `conv3d-bench export` rewrites them.
BLOCK_M = 128
BLOCK_N = 64
BLOCK_K = 16
CO_MAJOR = False
NUM_WARPS = 4
NUM_STAGES = 3
PRECISION = "tf32x3r"

# The delta table is padded to a multiple of this, so any BLOCK_K that divides it reads in bounds.
_K_TABLE_ALIGN = 256
_DELTA_CACHE = {}


@triton.jit
def _split_tf32(v):
    """v (fp32) -> (hi, lo) with hi = v truncated to tf32 (exact in tf32) and lo = v - hi (exact
    in fp32; the tensor cores read it as tf32, so hi + lo carries ~21 significant bits).
    Non-finite v gives hi = v, lo = 0, so inf and NaN propagate as in fp32."""
    hi = (v.to(tl.int32, bitcast=True) & -8192).to(tl.float32, bitcast=True)
    lo = v - hi
    finite = lo == lo
    return tl.where(finite, hi, v), tl.where(finite, lo, 0.0)


@triton.jit
def _tf32_split_kernel(src_ptr, hi_ptr, lo_ptr, numel, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < numel
    hi, lo = _split_tf32(tl.load(src_ptr + offs, mask=mask))
    tl.store(hi_ptr + offs, hi, mask=mask)
    tl.store(lo_ptr + offs, lo, mask=mask)


@triton.jit(
    do_not_specialize=["C_OUT", "K", "S", "HoWo", "Wo", "s_xn", "s_od", "s_oh", "s_ow", "S_Q"]
)
def _conv3d_igemm_kernel(
    x_ptr,
    xhi_ptr,
    xlo_ptr,
    w_ptr,
    whi_ptr,
    wlo_ptr,
    b_ptr,
    dlt_ptr,
    y_ptr,
    C_OUT,
    K,
    S,
    HoWo,
    Wo,
    s_xn,
    s_od,
    s_oh,
    s_ow,
    S_Q,
    S_VEC: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    X_SPLIT: tl.constexpr,
    CO_MAJOR: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    precision: tl.constexpr,
):
    pid = tl.program_id(0)
    pid_n = tl.program_id(1)
    tiles_per_img = tl.cdiv(S, BLOCK_M)
    img = pid // tiles_per_img
    tile = pid - img * tiles_per_img

    # Output points of this tile; decoded once, outside the K loop.
    # S == S_Q * S_VEC; comparing with the product lets the store mask stay constant over
    # S_VEC neighbours, so the stores can be S_VEC wide.
    row = S_Q * S_VEC
    offs_m = tile * BLOCK_M + tl.arange(0, BLOCK_M)
    m_ok = offs_m < row
    sm = tl.minimum(offs_m, S - 1)
    od = sm // HoWo
    rem = sm - od * HoWo
    oh = rem // Wo
    ow = rem - oh * Wo
    xoff = od * s_od + oh * s_oh + ow * s_ow

    img64 = img.to(tl.int64)
    x_img = x_ptr + img64 * s_xn
    xhi_img = xhi_ptr + img64 * s_xn
    xlo_img = xlo_ptr + img64 * s_xn
    co = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    co_ok = co < C_OUT

    if CO_MAJOR:
        acc = tl.zeros((BLOCK_N, BLOCK_M), dtype=tl.float32)
    else:
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)

    split3: tl.constexpr = precision == "tf32x3r" or precision == "tf32x3p"
    for k0 in range(0, K, BLOCK_K):
        kk = k0 + tl.arange(0, BLOCK_K)
        k_ok = kk < K
        # Padded table: entries past K are 0 (a valid address); their weights are masked to 0.
        dk = tl.load(dlt_ptr + kk)
        if CO_MAJOR:
            x_offs = dk[:, None] + xoff[None, :]  # [BLOCK_K, BLOCK_M]: m is the fast axis
            w_offs = co[:, None] * K + kk[None, :]
            w_mask = co_ok[:, None] & k_ok[None, :]
        else:
            x_offs = xoff[:, None] + dk[None, :]  # [BLOCK_M, BLOCK_K]
            w_offs = kk[:, None] + co[None, :] * K
            w_mask = k_ok[:, None] & co_ok[None, :]
        if split3:  # noqa: SIM108 - constexpr branch
            wt = tl.load(whi_ptr + w_offs, mask=w_mask, other=0.0)  # tf32 head of w
        else:
            wt = tl.load(w_ptr + w_offs, mask=w_mask, other=0.0)
        # Split modes: x = xt + xl and w = wt + wl; three products, the tail*tail one dropped.
        if precision == "tf32x3p":
            tl.static_assert(
                X_SPLIT, "precision='tf32x3p' needs PRECISION='tf32x3p' in the wrapper"
            )
            xt = tl.load(xhi_img + x_offs)  # split by the wrapper
            xl = tl.load(xlo_img + x_offs)
        else:
            xt = tl.load(x_img + x_offs)
        if precision == "tf32x3r":
            xt, xl = _split_tf32(xt)  # split here, in registers
        if split3:
            wl = tl.load(wlo_ptr + w_offs, mask=w_mask, other=0.0)
            if CO_MAJOR:
                acc = tl.dot(wt, xl, acc, input_precision="tf32")
                acc = tl.dot(wl, xt, acc, input_precision="tf32")
                acc = tl.dot(wt, xt, acc, input_precision="tf32")
            else:
                acc = tl.dot(xl, wt, acc, input_precision="tf32")
                acc = tl.dot(xt, wl, acc, input_precision="tf32")
                acc = tl.dot(xt, wt, acc, input_precision="tf32")
        else:
            if CO_MAJOR:
                acc = tl.dot(wt, xt, acc, input_precision=precision)
            else:
                acc = tl.dot(xt, wt, acc, input_precision=precision)

    if HAS_BIAS:
        bias = tl.load(b_ptr + co, mask=co_ok, other=0.0)
        if CO_MAJOR:  # noqa: SIM108 - constexpr branch
            acc = acc + bias[:, None]
        else:
            acc = acc + bias[None, :]

    y_img = y_ptr + img64 * C_OUT * row
    if CO_MAJOR:
        y_offs = co[:, None] * row + offs_m[None, :]
        y_mask = co_ok[:, None] & m_ok[None, :]
    else:
        y_offs = offs_m[:, None] + co[None, :] * row
        y_mask = m_ok[:, None] & co_ok[None, :]
    tl.store(y_img + y_offs, acc, mask=y_mask)


def _triple(v, name):
    if isinstance(v, int):
        return (v, v, v)
    t = tuple(int(e) for e in v)
    if len(t) != 3:
        raise ValueError(f"conv3d_fast: {name} must be an int or a 3-tuple, got {v!r}")
    return t


def _resolve_padding(padding, kernel, stride, dilation):
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0)
        if padding == "same":
            span = [d * (k - 1) for d, k in zip(dilation, kernel)]
            if any(s != 1 for s in stride) or any(e % 2 for e in span):
                raise ValueError(
                    "conv3d_fast: padding='same' is supported only with stride 1 and an even "
                    "dilation*(kernel-1) in every dim (symmetric padding)"
                )
            return tuple(e // 2 for e in span)
        raise ValueError(f"conv3d_fast: unsupported padding {padding!r}")
    return _triple(padding, "padding")


def _tf32_split(t):
    """t (contiguous fp32) -> (hi, lo): tf32 head and fp32 tail, hi + lo == t."""
    hi = torch.empty_like(t)
    lo = torch.empty_like(t)
    numel = t.numel()
    _tf32_split_kernel[(triton.cdiv(numel, 2048),)](t, hi, lo, numel, BLOCK=2048, num_warps=4)
    return hi, lo


def _delta_table(device, ci, kd, kh, kw, strides, dilation, k_align):
    key = (str(device), ci, kd, kh, kw, tuple(strides), tuple(dilation), k_align)
    table = _DELTA_CACHE.get(key)
    if table is None:
        s_c, s_d, s_h, s_w = strides
        dil_d, dil_h, dil_w = dilation
        d = (
            torch.arange(ci).view(ci, 1, 1, 1) * s_c
            + torch.arange(kd).view(1, kd, 1, 1) * (dil_d * s_d)
            + torch.arange(kh).view(1, 1, kh, 1) * (dil_h * s_h)
            + torch.arange(kw).view(1, 1, 1, kw) * (dil_w * s_w)
        ).reshape(-1)
        k = d.numel()
        padded = torch.zeros(triton.cdiv(k, k_align) * k_align, dtype=torch.int64)
        padded[:k] = d
        table = padded.to(torch.int32).to(device)
        _DELTA_CACHE[key] = table
    return table


def conv3d_fast(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, out=None):
    """y = conv3d(x, weight, bias) for NCDHW float32 tensors, groups=1."""
    if groups != 1:
        raise ValueError(f"conv3d_fast supports groups=1 only, got groups={groups}")
    if x.dim() != 5 or weight.dim() != 5:
        raise ValueError("conv3d_fast expects a 5-D input (N, C, D, H, W) and a 5-D weight")
    if x.dtype != torch.float32 or weight.dtype != torch.float32:
        raise ValueError(f"conv3d_fast supports float32 only, got {x.dtype} and {weight.dtype}")
    stride = _triple(stride, "stride")
    dilation = _triple(dilation, "dilation")
    c_out, c_in_w, kd, kh, kw = weight.shape
    padding = _resolve_padding(padding, (kd, kh, kw), stride, dilation)
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError("conv3d_fast: stride and dilation must be >= 1 and padding >= 0")
    if x.shape[1] != c_in_w:
        raise ValueError(f"conv3d_fast: input has {x.shape[1]} channels, weight expects {c_in_w}")
    if any(padding):
        pd, ph, pw = padding
        x = F.pad(x, (pw, pw, ph, ph, pd, pd))
    x = x.contiguous()
    weight = weight.contiguous()
    n, c_in, d, h, w = x.shape
    do = (d - dilation[0] * (kd - 1) - 1) // stride[0] + 1
    ho = (h - dilation[1] * (kh - 1) - 1) // stride[1] + 1
    wo = (w - dilation[2] * (kw - 1) - 1) // stride[2] + 1
    if do <= 0 or ho <= 0 or wo <= 0:
        raise ValueError("conv3d_fast: the kernel (with dilation) is larger than the input")
    k = c_in * kd * kh * kw
    s = do * ho * wo
    if c_out * s >= 2**31 or x[0].numel() >= 2**31:
        raise ValueError("conv3d_fast: one image of x or y has 2**31 or more elements")
    if out is None:
        out = torch.empty((n, c_out, do, ho, wo), device=x.device, dtype=torch.float32)
    if out.numel() == 0:
        return out

    sx = x.stride()
    dlt = _delta_table(x.device, c_in, kd, kh, kw, sx[1:], dilation, max(_K_TABLE_ALIGN, BLOCK_K))
    # The weight's split is always made (a few microseconds), so a launch whose `precision` is
    # overridden still gets what it reads; the split of x only when the config asks for it.
    w_hi, w_lo = _tf32_split(weight)
    x_split = PRECISION == "tf32x3p"
    x_hi, x_lo = _tf32_split(x) if x_split else (x, x)
    has_bias = bias is not None
    b = bias.contiguous() if has_bias else weight
    s_vec = 4 if s % 4 == 0 else (2 if s % 2 == 0 else 1)

    grid = lambda META: (  # noqa: E731 - the grid is a lambda of META by convention
        n * triton.cdiv(s, META["BLOCK_M"]),
        triton.cdiv(c_out, META["BLOCK_N"]),
    )

    _conv3d_igemm_kernel[grid](
        x,
        x_hi,
        x_lo,
        weight,
        w_hi,
        w_lo,
        b,
        dlt,
        out,
        c_out,
        k,
        s,
        ho * wo,
        wo,
        sx[0],
        stride[0] * sx[2],
        stride[1] * sx[3],
        stride[2] * sx[4],
        s // s_vec,
        S_VEC=s_vec,
        HAS_BIAS=has_bias,
        X_SPLIT=x_split,
        CO_MAJOR=CO_MAJOR,
        BLOCK_M=BLOCK_M,
        BLOCK_N=BLOCK_N,
        BLOCK_K=BLOCK_K,
        precision=PRECISION,
        num_warps=NUM_WARPS,
        num_stages=NUM_STAGES,
    )
    return out


class ModelNew(nn.Module):
    """Drop-in for nn.Conv3d (groups=1, padding_mode='zeros') backed by conv3d_fast."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = False,
        padding_mode: str = "zeros",
    ):
        super().__init__()
        if groups != 1:
            raise ValueError(f"ModelNew (conv3d_fast) supports groups=1 only, got groups={groups}")
        if padding_mode != "zeros":
            raise ValueError(
                f"ModelNew (conv3d_fast) supports padding_mode='zeros' only, got {padding_mode!r}"
            )
        self.kernel_size = _triple(kernel_size, "kernel_size")
        self.stride = _triple(stride, "stride")
        self.dilation = _triple(dilation, "dilation")
        self.padding = _resolve_padding(padding, self.kernel_size, self.stride, self.dilation)
        self.groups = groups
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *self.kernel_size))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels))
        else:
            self.register_parameter("bias", None)
        # Same RNG use, in the same order, as nn.Conv3d.reset_parameters.
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = in_channels * math.prod(self.kernel_size)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv3d_fast(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )
