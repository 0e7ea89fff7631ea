"""Implicit-GEMM conv3d (NCDHW, fp32) for small in_channels, with nothing per call that can be cached.

Issue 16, built on kernels/conv3d_fast2.py (tiles laid along the input rows, docs/performance.md):
- per call: one output allocation and one launch. The packed weight (K padded, split into the
  parts the precision needs) is built once per weight version (the parameter's identity, data
  pointer and version counter) and the launch plan (grid, constexprs) once per input shape;
- the shapes, strides and the tap decomposition are constexprs: the offset of tap k,
  ci*sC + kd*dil_d*sD + kh*dil_h*sH + kw*dil_w, is computed in registers (no delta table load on
  the K loop's critical path), and row/plane alignments are known to the compiler;
- the M tile follows fast2: rows mode (ROW_W > 0, BLOCK_M // ROW_W output rows of ROW_W
  consecutive ow of one (n, od) plane) or plane mode (ROW_W == 0, BLOCK_M consecutive positions
  oh * W + w of the plane, positions w >= Wo computed and dropped); ROW_W == -1 lets the wrapper
  pick (plane mode when Wo == W and the h/w strides are 1, else rows of next_pow2(Wo));
- PRECISION (fp32 accuracy, passes KernelBench's 1e-4):
  "bf16x3r": x split in registers into bf16 head and tail, the weight pre-split into bf16 head
    and tail, three bf16 tensor-core products (tail*head, head*tail, head*head), fp32 accumulate;
  "bf16x3j": the same three products as two dots: (tail, head) pairs joined along K against
    (w head, w tail) rows, then head*head (one fewer dot, so one fewer wait per K step);
  "bf16x3p": bf16x3r's three products (head x head first) with x split once per call by a
    small kernel (_split_x_kernel) into one int32 word per element (bf16 head in the low half,
    tail in the high half): the conv kernel gathers the words as it gathered floats and takes
    the halves apart with a shift (30 % fewer instructions per K step in the sm_90 SASS), for
    one extra read and write of x (26-85 us on the L1 problems on the H200). The words live in
    one buffer per shape, so two forwards of one shape must not run at once on two streams;
  "tf32x3r": fast2's split (TF32 head and tail of x in registers, three TF32 products);
  "ffma": no tensor cores: outer-product FMAs in fp32 (exact fp32 arithmetic, the order of K);
  any other value ("ieee", "tf32", "tf32x3", "bf16x3") is handed to tl.dot as is;
- FAST_LAUNCH = 1: after the first call of a shape (Triton's plain `kernel[grid](**meta)`, which
  compiles), launch through the compiled kernel's cached handle with positional arguments: the
  same kernel, half the host time of a forward (on the H200: 25-43 us instead of 57-71; KB time
  -3.5 % on L1/59, within one run's noise on the others; docs/performance.md round 8). The plain
  launch is used in the interpreter and wherever someone wraps the kernel's launch (a tuner);
- TAPS: "rows" computes each K step's tap offsets from its few row taps (ci, kd, kh) in
  registers (the kw taps of a row padded to a power of 2), "table" loads them from a cached
  table (no padding), "auto" takes rows at kw = 1 and from kw >= 5;
- MAXNREG > 0 caps the registers per thread (Triton's maxnreg) for more blocks per SM.
Defaults (bf16x3p, BLOCK_K=32, 3 stages) are the best single config measured on the H200 by
KernelBench's protocol among the Triton kernel's precisions (round 9); per-problem bests are in
the H200 sessions sessions/l1-*-h200-fast3h.json (bf16x3g with WG_TILES=2 on L1/60 and 66,
bf16x3p on L1/54 and 59; docs/performance.md round 12): `conv3d-bench export` writes them.
Non-finite inputs propagate as in fp32 (inf and NaN in x); a non-finite weight gives NaN.
"""

import importlib.util
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
import triton
import triton.language as tl

# Gluon (Triton 3.5 and later): bf16x3g's Hopper kernel; without it bf16x3g runs as bf16x3p.
# (Found, not tried: KernelBench's static checker rejects a kernel file with try/except.)
# Not under the interpreter either, where nothing would launch it (and its import can fail).
gluon = None
_INTERPRETING = os.environ.get("TRITON_INTERPRET") == "1" or bool(
    getattr(getattr(getattr(triton, "knobs", None), "runtime", None), "interpret", False)
)
if (
    not _INTERPRETING
    and torch.cuda.is_available()
    and importlib.util.find_spec("triton.experimental.gluon")
):
    from triton.experimental import gluon
    from triton.experimental.gluon import language as gl
    from triton.experimental.gluon.language.nvidia.hopper import (
        fence_async_shared,
        warpgroup_mma,
        warpgroup_mma_wait,
    )

# conv3d-bench config: the launch below reads these; `conv3d-bench export` rewrites them.
BLOCK_M = 128
BLOCK_N = 64
BLOCK_K = 32
ROW_W = -1
NUM_WARPS = 4
NUM_STAGES = 3
PRECISION = "bf16x3p"
TAPS = "auto"
FAST_LAUNCH = 1
MAXNREG = 0  # > 0: ptxas register cap per thread (Triton's maxnreg), for more blocks per SM
WG_WAIT = 0  # bf16x3g: wgmma groups left in flight at each K step's end (0: wait for all)
WG_TILES = 0  # bf16x3g: > 0: a persistent grid of this many blocks per SM, each looping over tiles

# K is padded to a multiple of this in the packed weight, so any BLOCK_K dividing it reads in
# bounds and the weight rows stay 16-byte aligned.
_K_ALIGN = 256
# Launch plans and packed weights kept (oldest dropped first); each packed weight entry holds a
# reference to its weight, so the identity it is keyed on cannot be reused while it is kept.
_CACHE_SIZE = 8
# Launch options in a plan's meta, not kernel parameters.
_LAUNCH_OPTIONS = ("num_warps", "num_stages", "maxnreg")
# Elements of x per program of bf16x3p's split kernel.
_SPLIT_BLOCK = 2048
# Precisions that read x as split words (_split_x_kernel, once per call).
_WORD_PRECISIONS = ("bf16x3p", "bf16x3g")
# bf16x3g keeps the packed weight in shared memory: at most this much per block.
_WGMMA_SHARED = 200 * 1024
_PLANS = {}
_WEIGHTS = {}


@triton.jit
def _split_tf32(v):
    """v (fp32) -> (hi, lo): hi = v truncated to tf32, lo = v - hi; non-finite v gives (v, 0)."""
    hi = (v.to(tl.int32, bitcast=True) & -8192).to(tl.float32, bitcast=True)
    lo = v - hi
    finite = lo == lo
    return tl.where(finite, hi, v), tl.where(finite, lo, 0.0)


@triton.jit
def _split_bf16(v):
    """v (fp32) -> (hi, lo) in bf16: hi = v rounded to nearest bf16, lo = v - hi rounded to
    nearest bf16 (about 17 significant bits in all, the tail's sign unbiased); non-finite v gives
    (v, 0), so inf and NaN reach the output through hi alone."""
    hi = v.to(tl.bfloat16, fp_downcast_rounding="rtne")
    lo = v - hi.to(tl.float32)
    lo = tl.where(lo == lo, lo, 0.0)
    return hi, lo.to(tl.bfloat16, fp_downcast_rounding="rtne")


@triton.jit
def _split_x_kernel(x_ptr, xw_ptr, n, SPLIT_BLOCK: tl.constexpr):
    """bf16x3p's split of x, once per call: each fp32 element becomes one int32 word holding its
    bf16 head (low half) and tail (high half) as _split_bf16 makes them, so the conv kernel
    gathers words as it gathered floats and takes both halves apart with a shift."""
    offs = tl.program_id(0).to(tl.int64) * SPLIT_BLOCK + tl.arange(0, SPLIT_BLOCK)
    ok = offs < n
    hi, lo = _split_bf16(tl.load(x_ptr + offs, mask=ok, other=0.0))
    head = hi.to(tl.int16, bitcast=True).to(tl.int32) & 0xFFFF
    tail = lo.to(tl.int16, bitcast=True).to(tl.int32) << 16
    tl.store(xw_ptr + offs, head | tail, mask=ok)


@triton.jit
def _row_offset(
    row,
    RT: tl.constexpr,
    KD: tl.constexpr,
    KH: tl.constexpr,
    SXC: tl.constexpr,
    SXD: tl.constexpr,
    SXH: tl.constexpr,
    DIL_D: tl.constexpr,
    DIL_H: tl.constexpr,
):
    """Offset in x of row tap `row` = (ci, kd, kh) (a scalar; rows past the last read the last)."""
    row = tl.minimum(row, RT - 1)
    kh = row % KH
    t = row // KH
    kd = t % KD
    ci = t // KD
    return ci * SXC + kd * (DIL_D * SXD) + kh * (DIL_H * SXH)


@triton.jit
def _step_offsets(
    k0,
    KW: tl.constexpr,
    KWP: tl.constexpr,
    RT: tl.constexpr,
    KD: tl.constexpr,
    KH: tl.constexpr,
    SXC: tl.constexpr,
    SXD: tl.constexpr,
    SXH: tl.constexpr,
    DIL_D: tl.constexpr,
    DIL_H: tl.constexpr,
    DIL_W: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    """Offsets in x of im2col columns k0 .. k0 + BLOCK_K - 1 in the row-tap layout
    k = row * KWP + kw (KWP a power of 2 >= KW; columns kw >= KW read kw = KW - 1 and meet zero
    weights), from scalar arithmetic on the step's few row taps: no table load."""
    kl = tl.arange(0, BLOCK_K)
    if KWP >= BLOCK_K:
        row = k0 // KWP
        kwc = tl.minimum((k0 % KWP) + kl, KW - 1)
        dk = _row_offset(row, RT, KD, KH, SXC, SXD, SXH, DIL_D, DIL_H) + kwc * DIL_W
    else:
        R_S: tl.constexpr = BLOCK_K // KWP
        rr = kl // KWP
        kwc = tl.minimum(kl % KWP, KW - 1)
        row0 = k0 // KWP
        last = _row_offset(row0 + (R_S - 1), RT, KD, KH, SXC, SXD, SXH, DIL_D, DIL_H)
        rd = tl.zeros([BLOCK_K], dtype=tl.int32) + last
        for i in tl.static_range(R_S - 1):
            here = _row_offset(row0 + i, RT, KD, KH, SXC, SXD, SXH, DIL_D, DIL_H)
            rd = tl.where(rr == i, here, rd)
        dk = rd + kwc * DIL_W
    return dk


@triton.jit
def _tile_positions(
    pid,
    DO: tl.constexpr,
    HO: tl.constexpr,
    WO: tl.constexpr,
    W: tl.constexpr,
    SXD: tl.constexpr,
    SXH: tl.constexpr,
    STR_D: tl.constexpr,
    STR_H: tl.constexpr,
    STR_W: tl.constexpr,
    BW: tl.constexpr,
    BLOCK_M: tl.constexpr,
):
    """(image, x offset of each row's tap 0 inside the image, load mask, y offset inside the
    image, store mask) of tile `pid`."""
    idx = tl.arange(0, BLOCK_M)
    UNIT_Q: tl.constexpr = STR_H == 1 and STR_W == 1
    if BW == 0:
        # Plane mode: BLOCK_M consecutive q = oh * WV + w of one (n, od) plane.
        WV: tl.constexpr = W if UNIT_Q else WO
        TILES_Q: tl.constexpr = (HO * WV + BLOCK_M - 1) // BLOCK_M
        plane = pid // TILES_Q
        q = (pid - plane * TILES_Q) * BLOCK_M + idx
        oh = q // WV
        w = q - oh * WV
        if UNIT_Q:  # noqa: SIM108 - constexpr branch
            xq = q  # WV == W == the row stride: the input run is contiguous across rows
        else:
            xq = oh * (STR_H * SXH) + w * STR_W
        load_ok = q < (HO - 1) * WV + WO
        if WV == WO:  # the output run is contiguous too
            ypos = q
            valid = q < HO * WO
        else:
            ypos = oh * WO + w
            valid = (q < HO * WV) & (w < WO)
    else:
        # Rows mode: BLOCK_M // BW rows of BW consecutive ow of one (n, od) plane.
        tl.static_assert(BLOCK_M % BW == 0, "BLOCK_M must be a multiple of ROW_W")
        R: tl.constexpr = BLOCK_M // BW
        TILES_W: tl.constexpr = (WO + BW - 1) // BW
        TILES_H: tl.constexpr = (HO + R - 1) // R
        tw = pid % TILES_W
        t = pid // TILES_W
        th = t % TILES_H
        plane = t // TILES_H
        oh = th * R + idx // BW
        w = tw * BW + idx % BW
        xq = tl.minimum(oh, HO - 1) * (STR_H * SXH) + w * STR_W
        load_ok = w < WO
        ypos = oh * WO + w
        valid = (oh < HO) & (w < WO)
    img = plane // DO
    od = plane - img * DO
    xoff = od * (STR_D * SXD) + xq
    yoff = od * (HO * WO) + ypos
    return img, xoff, load_ok, yoff, valid


@triton.jit
def _conv3d_fast3_kernel(
    x_ptr,
    xw_ptr,
    wf_ptr,
    wb_ptr,
    dlt_ptr,
    b_ptr,
    y_ptr,
    C_OUT: tl.constexpr,
    K: tl.constexpr,
    KPAD: tl.constexpr,
    KD: tl.constexpr,
    KH: tl.constexpr,
    KW: tl.constexpr,
    KWP: tl.constexpr,
    RT: tl.constexpr,
    TAPS_ROWS: tl.constexpr,
    DIL_D: tl.constexpr,
    DIL_H: tl.constexpr,
    DIL_W: tl.constexpr,
    SXC: tl.constexpr,
    SXN: tl.constexpr,
    SXD: tl.constexpr,
    SXH: tl.constexpr,
    W: tl.constexpr,
    DO: tl.constexpr,
    HO: tl.constexpr,
    WO: tl.constexpr,
    STR_D: tl.constexpr,
    STR_H: tl.constexpr,
    STR_W: tl.constexpr,
    AUTO_BW: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    X_WORDS: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    ROW_W: tl.constexpr,
    precision: tl.constexpr,
):
    # The packed weight (see _pack_weight): fp32 regions at these offsets of wf (in elements),
    # bf16 regions at these offsets of wb (the same buffer seen as bf16).
    CK: tl.constexpr = C_OUT * KPAD
    W_F32: tl.constexpr = 0  # [Co, KPAD] fp32
    W_TF32_HI: tl.constexpr = CK  # [Co, KPAD] tf32 heads, as fp32
    W_TF32_LO: tl.constexpr = 2 * CK  # [Co, KPAD] tf32 tails
    W_T: tl.constexpr = 3 * CK  # [KPAD, Co] fp32 (transposed, for ffma)
    W_BF16_HI: tl.constexpr = 8 * CK  # [Co, KPAD] bf16 heads
    W_BF16_LO: tl.constexpr = 9 * CK  # [Co, KPAD] bf16 tails
    W_BF16_J: tl.constexpr = 10 * CK  # [Co, 2 KPAD] bf16: column 2k head of w[:, k], 2k + 1 tail
    BW: tl.constexpr = ROW_W if ROW_W >= 0 else (AUTO_BW if AUTO_BW < BLOCK_M else BLOCK_M)
    pid = tl.program_id(0)
    pid_n = tl.program_id(1)
    img, xoff, load_ok, yoff, valid = _tile_positions(
        pid, DO, HO, WO, W, SXD, SXH, STR_D, STR_H, STR_W, BW, BLOCK_M
    )
    img64 = img.to(tl.int64)
    x_img = x_ptr + img64 * SXN
    xw_img = xw_ptr + img64 * SXN
    # bf16x3p reads the split words where the host made them; launched with another precision,
    # or as bf16x3p without them (a tool overriding the launch), it reads and splits the floats.
    WORDS: tl.constexpr = (precision == "bf16x3p" or precision == "bf16x3g") and X_WORDS
    co = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    co_ok = co < C_OUT
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    if precision == "ffma":
        # One im2col column at a time: acc += x[:, k] * w[k, :] in fp32 FMAs.
        for row in range(RT):
            rd = _row_offset(row, RT, KD, KH, SXC, SXD, SXH, DIL_D, DIL_H)
            for kw in tl.static_range(KW):
                xv = tl.load(x_img + (xoff + (rd + kw * DIL_W)), mask=load_ok, other=0.0)
                w_row = wf_ptr + (W_T + (row * KWP + kw) * C_OUT)
                wv = tl.load(w_row + co, mask=co_ok, other=0.0)
                acc += xv[:, None] * wv[None, :]
    else:
        KR: tl.constexpr = RT * KWP if TAPS_ROWS else K
        for k0 in range(0, KR, BLOCK_K):
            kk = k0 + tl.arange(0, BLOCK_K)
            if TAPS_ROWS:  # noqa: SIM108 - constexpr branch
                dk = _step_offsets(
                    k0, KW, KWP, RT, KD, KH, SXC, SXD, SXH, DIL_D, DIL_H, DIL_W, BLOCK_K
                )
            else:
                dk = tl.load(dlt_ptr + kk)
            w_mask = co_ok[None, :]
            w_offs = kk[:, None] + co[None, :] * KPAD
            x_offs = xoff[:, None] + dk[None, :]
            if not WORDS:
                xt = tl.load(x_img + x_offs, mask=load_ok[:, None], other=0.0)
            if WORDS:
                # x was split once per call (_split_x_kernel): one word per element, head in the
                # low half, tail in the high half. The weights are loaded first: where K is one
                # step (no loop to pipeline) their loads then issue among the gathers (sm_90 SASS)
                # instead of after them.
                wh = tl.load(wb_ptr + W_BF16_HI + w_offs, mask=w_mask)
                wl = tl.load(wb_ptr + W_BF16_LO + w_offs, mask=w_mask)
                xw = tl.load(xw_img + x_offs, mask=load_ok[:, None], other=0)
                xh = xw.to(tl.int16).to(tl.bfloat16, bitcast=True)
                xl = (xw >> 16).to(tl.int16).to(tl.bfloat16, bitcast=True)
                # head x head first: ptxas then holds 126-128 registers at 128x64x32 with 3
                # stages (4 blocks per SM) where the tails-first order took 154-156 (3 blocks).
                acc = tl.dot(xh, wh, acc)
                acc = tl.dot(xh, wl, acc)
                acc = tl.dot(xl, wh, acc)
            elif precision == "bf16x3j":
                k2 = 2 * k0 + tl.arange(0, 2 * BLOCK_K)
                wj_offs = k2[:, None] + co[None, :] * (2 * KPAD)
                wj = tl.load(wb_ptr + W_BF16_J + wj_offs, mask=w_mask)
                wh = tl.load(wb_ptr + W_BF16_HI + w_offs, mask=w_mask)
                xh, xl = _split_bf16(xt)
                xj = tl.reshape(tl.join(xl, xh), (BLOCK_M, 2 * BLOCK_K))
                acc = tl.dot(xj, wj, acc)
                acc = tl.dot(xh, wh, acc)
            # Three == tests, not `in` a tuple: Triton 3.6 fails on `in` here (AttributeError: 'str'
            # object has no attribute 'type'; measured on the H200), Triton 3.9 accepts it.
            elif precision == "bf16x3r" or precision == "bf16x3p" or precision == "bf16x3g":
                wh = tl.load(wb_ptr + W_BF16_HI + w_offs, mask=w_mask)
                wl = tl.load(wb_ptr + W_BF16_LO + w_offs, mask=w_mask)
                xh, xl = _split_bf16(xt)
                acc = tl.dot(xl, wh, acc)
                acc = tl.dot(xh, wl, acc)
                acc = tl.dot(xh, wh, acc)
            elif precision == "tf32x3r":
                wh = tl.load(wf_ptr + W_TF32_HI + w_offs, mask=w_mask, other=0.0)
                wl = tl.load(wf_ptr + W_TF32_LO + w_offs, mask=w_mask, other=0.0)
                xh, xl = _split_tf32(xt)
                acc = tl.dot(xl, wh, acc, input_precision="tf32")
                acc = tl.dot(xh, wl, acc, input_precision="tf32")
                acc = tl.dot(xh, wh, acc, input_precision="tf32")
            else:
                wt = tl.load(wf_ptr + W_F32 + w_offs, mask=w_mask, other=0.0)
                acc = tl.dot(xt, wt, acc, input_precision=precision)

    if HAS_BIAS:
        acc = acc + tl.load(b_ptr + co, mask=co_ok, other=0.0)[None, :]
    S: tl.constexpr = DO * HO * WO
    y_img = y_ptr + img64 * (C_OUT * S)
    tl.store(y_img + (yoff[:, None] + co[None, :] * S), acc, mask=valid[:, None] & co_ok[None, :])


# --- bf16x3g: the same products as bf16x3p, in Gluon, for Hopper (sm_90) -------------------------
# Plain Triton stages the A tile (gathered words) through shared memory (cp.async in, LDS out),
# and on the H200 the L1 data pipe's shared-memory wavefronts bound bf16x3p (docs/performance.md,
# round 10). Here each thread loads the words of its own wgmma A fragment straight from global
# memory (L1 hits: a fragment's rows and taps overlap), splits them in registers, and the packed
# weight is copied into shared memory once per block and stays there for every K step.
if gluon is not None:

    @gluon.jit
    def _g_row_offset(
        row,
        RT: gl.constexpr,
        KD: gl.constexpr,
        KH: gl.constexpr,
        SXC: gl.constexpr,
        SXD: gl.constexpr,
        SXH: gl.constexpr,
        DIL_D: gl.constexpr,
        DIL_H: gl.constexpr,
    ):
        """_row_offset in Gluon."""
        row = gl.minimum(row, RT - 1)
        kh = row % KH
        t = row // KH
        kd = t % KD
        ci = t // KD
        return ci * SXC + kd * (DIL_D * SXD) + kh * (DIL_H * SXH)

    @gluon.jit
    def _g_tile_positions(
        pid,
        DO: gl.constexpr,
        HO: gl.constexpr,
        WO: gl.constexpr,
        W: gl.constexpr,
        SXD: gl.constexpr,
        SXH: gl.constexpr,
        STR_D: gl.constexpr,
        STR_H: gl.constexpr,
        STR_W: gl.constexpr,
        BW: gl.constexpr,
        BLOCK_M: gl.constexpr,
        LAYOUT: gl.constexpr,
    ):
        """_tile_positions in Gluon, its vectors in LAYOUT."""
        idx = gl.arange(0, BLOCK_M, layout=LAYOUT)
        UNIT_Q: gl.constexpr = STR_H == 1 and STR_W == 1
        if BW == 0:
            WV: gl.constexpr = W if UNIT_Q else WO
            TILES_Q: gl.constexpr = (HO * WV + BLOCK_M - 1) // BLOCK_M
            plane = pid // TILES_Q
            q = (pid - plane * TILES_Q) * BLOCK_M + idx
            oh = q // WV
            w = q - oh * WV
            if UNIT_Q:  # noqa: SIM108 - constexpr branch
                xq = q
            else:
                xq = oh * (STR_H * SXH) + w * STR_W
            load_ok = q < (HO - 1) * WV + WO
            if WV == WO:
                ypos = q
                valid = q < HO * WO
            else:
                ypos = oh * WO + w
                valid = (q < HO * WV) & (w < WO)
        else:
            R: gl.constexpr = BLOCK_M // BW
            TILES_W: gl.constexpr = (WO + BW - 1) // BW
            TILES_H: gl.constexpr = (HO + R - 1) // R
            tw = pid % TILES_W
            t = pid // TILES_W
            th = t % TILES_H
            plane = t // TILES_H
            oh = th * R + idx // BW
            w = tw * BW + idx % BW
            xq = gl.minimum(oh, HO - 1) * (STR_H * SXH) + w * STR_W
            load_ok = w < WO
            ypos = oh * WO + w
            valid = (oh < HO) & (w < WO)
        img = plane // DO
        od = plane - img * DO
        return img, od * (STR_D * SXD) + xq, load_ok, od * (HO * WO) + ypos, valid

    @gluon.jit
    def _conv3d_wgmma_kernel(
        xw_ptr,
        wb_ptr,
        b_ptr,
        y_ptr,
        C_OUT: gl.constexpr,
        KPAD: gl.constexpr,
        KD: gl.constexpr,
        KH: gl.constexpr,
        KW: gl.constexpr,
        KWP: gl.constexpr,
        RT: gl.constexpr,
        DIL_D: gl.constexpr,
        DIL_H: gl.constexpr,
        DIL_W: gl.constexpr,
        SXC: gl.constexpr,
        SXN: gl.constexpr,
        SXD: gl.constexpr,
        SXH: gl.constexpr,
        W: gl.constexpr,
        DO: gl.constexpr,
        HO: gl.constexpr,
        WO: gl.constexpr,
        STR_D: gl.constexpr,
        STR_H: gl.constexpr,
        STR_W: gl.constexpr,
        AUTO_BW: gl.constexpr,
        HAS_BIAS: gl.constexpr,
        BLOCK_M: gl.constexpr,
        BLOCK_N: gl.constexpr,
        BLOCK_K: gl.constexpr,
        ROW_W: gl.constexpr,
        WG_WAIT: gl.constexpr,
        TILES: gl.constexpr,
        NUM_WARPS: gl.constexpr,
    ):
        MMA: gl.constexpr = gl.NVMMADistributedLayout(
            version=[3, 0], warps_per_cta=[NUM_WARPS, 1], instr_shape=[16, BLOCK_N, 16]
        )
        A_L: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=MMA, k_width=2)
        W_REG: gl.constexpr = gl.BlockedLayout(
            [1, 8], [32 // (BLOCK_K // 8), BLOCK_K // 8], [NUM_WARPS, 1], [1, 0]
        )
        W_SH: gl.constexpr = gl.NVMMASharedLayout(
            swizzle_byte_width=min(2 * BLOCK_K, 128), element_bitwidth=16, rank=2
        )
        CK: gl.constexpr = C_OUT * KPAD
        W_HI: gl.constexpr = 8 * CK  # the bf16 regions of _pack_weight, as the kernel above
        W_LO: gl.constexpr = 9 * CK
        STEPS: gl.constexpr = (RT * KWP + BLOCK_K - 1) // BLOCK_K
        BW: gl.constexpr = ROW_W if ROW_W >= 0 else (AUTO_BW if AUTO_BW < BLOCK_M else BLOCK_M)
        pid = gl.program_id(0)
        pid_n = gl.program_id(1)

        # The packed weight (heads and tails), one [BLOCK_N, BLOCK_K] tile per K step, copied
        # into shared memory once; every step's wgmma reads its B operand there.
        wbuf = gl.allocate_shared_memory(gl.bfloat16, [2 * STEPS, BLOCK_N, BLOCK_K], W_SH)
        # pid_n goes into the base pointers, so each element's offset stays a constant
        wn = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(1, W_REG))
        wk = gl.arange(0, BLOCK_K, layout=gl.SliceLayout(0, W_REG))
        w_offs = wn[:, None] * KPAD + wk[None, :]
        # where BLOCK_N divides C_OUT the channel masks are constants (ptxas: 255 registers with
        # them, against 127, at 128x64x32 on L1/66)
        N_EVEN: gl.constexpr = C_OUT % BLOCK_N == 0
        if N_EVEN:  # noqa: SIM108 - constexpr branch
            w_ok = (wn < BLOCK_N)[:, None]
        else:
            w_ok = (pid_n * BLOCK_N + wn < C_OUT)[:, None]
        w_tile = wb_ptr + pid_n * (BLOCK_N * KPAD)
        for s in gl.static_range(STEPS):
            k0 = s * BLOCK_K
            wbuf.index(2 * s).store(gl.load(w_tile + (W_HI + k0) + w_offs, mask=w_ok, other=0.0))
            wbuf.index(2 * s + 1).store(
                gl.load(w_tile + (W_LO + k0) + w_offs, mask=w_ok, other=0.0)
            )
        fence_async_shared()
        gl.thread_barrier()

        # TILES > 0: a persistent grid, each block (its weight copied once) looping over tiles
        step = gl.num_programs(0) if TILES > 0 else 1
        for tile in range(pid, TILES if TILES > 0 else pid + 1, step):
            img, xoff, load_ok, _, _ = _g_tile_positions(
                tile,
                DO,
                HO,
                WO,
                W,
                SXD,
                SXH,
                STR_D,
                STR_H,
                STR_W,
                BW,
                BLOCK_M,
                gl.SliceLayout(1, A_L),
            )
            # One pointer per fragment row: a tap's offset is then a constant (an immediate of the
            # load) wherever its row tap is uniform across the fragment's columns.
            x_rows = xw_ptr + img.to(gl.int64) * SXN + xoff
            acc = gl.zeros([BLOCK_M, BLOCK_N], gl.float32, layout=MMA)
            for s in gl.static_range(STEPS):
                kk = s * BLOCK_K + gl.arange(0, BLOCK_K, layout=gl.SliceLayout(0, A_L))
                kw = kk % KWP
                dk = _g_row_offset(kk // KWP, RT, KD, KH, SXC, SXD, SXH, DIL_D, DIL_H) + kw * DIL_W
                # columns kw >= KW meet zero weights; masked (not clamped) so the offsets stay simple
                # and a non-finite x there cannot make 0 * inf
                ok = load_ok[:, None] & (kw < KW)[None, :]
                xw = gl.load(x_rows[:, None] + dk[None, :], mask=ok, other=0)
                xh = xw.to(gl.int16).to(gl.bfloat16, bitcast=True)
                xl = (xw >> 16).to(gl.int16).to(gl.bfloat16, bitcast=True)
                bh = wbuf.index(2 * s).permute((1, 0))
                bl = wbuf.index(2 * s + 1).permute((1, 0))
                acc = warpgroup_mma(xh, bh, acc, is_async=True)
                acc = warpgroup_mma(xh, bl, acc, is_async=True)
                acc = warpgroup_mma(xl, bh, acc, is_async=True)
                acc, xh, xl = warpgroup_mma_wait(num_outstanding=WG_WAIT, deps=[acc, xh, xl])
            acc = warpgroup_mma_wait(num_outstanding=0, deps=[acc])

            cn = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(0, MMA))
            if N_EVEN:  # noqa: SIM108 - constexpr branch
                co_ok = cn < BLOCK_N
            else:
                co_ok = pid_n * BLOCK_N + cn < C_OUT
            if HAS_BIAS:
                acc = acc + gl.load(b_ptr + pid_n * BLOCK_N + cn, mask=co_ok, other=0.0)[None, :]
            _, _, _, yoff, valid = _g_tile_positions(
                tile,
                DO,
                HO,
                WO,
                W,
                SXD,
                SXH,
                STR_D,
                STR_H,
                STR_W,
                BW,
                BLOCK_M,
                gl.SliceLayout(1, MMA),
            )
            S: gl.constexpr = DO * HO * WO
            y_img = y_ptr + img.to(gl.int64) * (C_OUT * S) + pid_n * (BLOCK_N * S)
            # stored from the accumulator's own layout: each store of a warp fills whole 32-byte
            # sectors (8 consecutive points of 4 channels), with no layout conversion
            y_ptrs = y_img + (yoff[:, None] + cn[None, :] * S)
            gl.store(y_ptrs, acc, mask=valid[:, None] & co_ok[None, :])


# --- host side ---------------------------------------------------------------------------------
def _triple(v, name):
    if isinstance(v, int):
        return (v, v, v)
    t = tuple(int(e) for e in v)
    if len(t) != 3:
        raise ValueError(f"conv3d_fast3: {name} must be an int or a 3-tuple, got {v!r}")
    return t


def _resolve_padding(padding, kernel, stride, dilation):
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0)
        if padding == "same":
            span = [d * (k - 1) for d, k in zip(dilation, kernel)]
            if any(s != 1 for s in stride) or any(e % 2 for e in span):
                raise ValueError(
                    "conv3d_fast3: padding='same' is supported only with stride 1 and an even "
                    "dilation*(kernel-1) in every dim (symmetric padding)"
                )
            return tuple(e // 2 for e in span)
        raise ValueError(f"conv3d_fast3: unsupported padding {padding!r}")
    return _triple(padding, "padding")


def _remember(cache, key, value):
    if len(cache) >= _CACHE_SIZE:
        cache.pop(next(iter(cache)))
    cache[key] = value
    return value


def _split_same_sign(w, drop):
    """w (fp32) = hi + lo with hi = w with its low `drop` mantissa bits cleared (truncated toward
    zero, moved one step further where w itself has none set) and lo = w - hi: both of w's sign
    and lo non-zero wherever w is, so an infinite x times hi and lo adds two infinities of one
    sign (a zero tail would make inf * 0 = NaN)."""
    bits = w.view(torch.int32)
    hi_bits = bits & -(1 << drop)
    exact = (hi_bits == bits) & (w != 0) & torch.isfinite(w)
    hi = torch.where(exact, hi_bits - (1 << drop), hi_bits).view(torch.float32)
    return hi, w - hi


def _pack_weight(weight, kwp, kpad):
    """Every form of the weight a precision reads (the kernel's W_* offsets) in the im2col layout
    k = row * kwp + kw (zeros at kw >= KW and past the last row): one fp32 buffer, its tail read
    as bf16."""
    c_out, kw = weight.shape[0], weight.shape[-1]
    w3 = weight.detach().float().reshape(c_out, -1, kw)
    w2 = F.pad(w3, (0, kwp - kw)).reshape(c_out, -1)
    ck = c_out * kpad
    buf = torch.zeros(6 * ck, device=w2.device, dtype=torch.float32)
    wp = buf[:ck].view(c_out, kpad)
    wp[:, : w2.shape[1]] = w2
    hi, lo = _split_same_sign(wp, 13)
    buf[ck : 2 * ck] = hi.reshape(-1)
    buf[2 * ck : 3 * ck] = lo.reshape(-1)
    buf[3 * ck : 4 * ck] = wp.t().reshape(-1)
    b16 = buf.view(torch.bfloat16)
    bhi, blo = _split_same_sign(wp, 16)
    bhi, blo = bhi.to(torch.bfloat16), blo.to(torch.bfloat16)
    b16[8 * ck : 9 * ck] = bhi.reshape(-1)
    b16[9 * ck : 10 * ck] = blo.reshape(-1)
    b16[10 * ck : 12 * ck] = torch.stack((bhi, blo), dim=2).reshape(-1)
    return buf, b16


def _packed_weight(weight, kwp, kpad):
    """The packed weight, built once per weight version (identity, data pointer, version)."""
    key = (id(weight), weight.data_ptr(), weight._version, kwp, kpad)
    hit = _WEIGHTS.get(key)
    if hit is None or hit[0] is not weight:
        with torch.no_grad():
            hit = _remember(_WEIGHTS, key, (weight, _pack_weight(weight, kwp, kpad)))
    return hit[1]


def _grid(meta, n, do, tiles_plane, ho, wo, auto_bw, c_out):
    bm = meta["BLOCK_M"]
    bw = meta["ROW_W"] if meta["ROW_W"] >= 0 else min(auto_bw, bm)
    if bw == 0:
        tiles = triton.cdiv(tiles_plane, bm)
    else:
        tiles = triton.cdiv(ho, max(bm // bw, 1)) * triton.cdiv(wo, bw)
    return (n * do * tiles, triton.cdiv(c_out, meta["BLOCK_N"]))


class _Launcher:
    """One kernel's launch with fixed constexprs: Triton's plain `kernel[grid](**meta)`
    the first time (it compiles), then, with FAST_LAUNCH, the compiled kernel's handle with the
    constexprs appended positionally in the kernel's parameter order."""

    def __init__(self, name, grid, meta):
        self.name, self.grid, self.meta = name, grid, meta
        self.consts = {k: v for k, v in meta.items() if k not in _LAUNCH_OPTIONS}
        self.runner = None
        self.tail = ()

    @property
    def kernel(self):
        return globals()[self.name]  # looked up per call: a tool may replace the module's kernel

    def __call__(self, *args):
        # Triton specialises a kernel on each pointer's 16-byte alignment, so the handle is taken,
        # and used, only where every pointer is aligned; a wrapped launch (an instance `run`, as
        # a tuner or the workbench's config forcing sets) must see every call: plain launch.
        plain = "run" in vars(self.kernel) or any(
            t.data_ptr() % 16 for t in args if isinstance(t, torch.Tensor)
        )
        if self.runner is not None and not plain:
            return self.runner(*args, *self.tail)
        compiled = self.kernel[self.grid](*args, **self.meta)
        run = getattr(compiled, "__getitem__", None)
        names = getattr(self.kernel, "arg_names", None)
        rest = list(names[len(args) :]) if names is not None else None
        if FAST_LAUNCH and not plain and run is not None and rest and set(rest) == set(self.consts):
            self.tail = tuple(self.consts[k] for k in rest)
            grid = tuple(self.grid(self.meta))
            self.runner = compiled[grid + (1,) * (3 - len(grid))]
        return compiled


def _wgmma_fits(device, rt, kw):
    """Whether bf16x3g runs its Gluon kernel here: Gluon, a Hopper GPU, tiles wgmma takes, and
    the packed weight within _WGMMA_SHARED; elsewhere bf16x3g is bf16x3p."""
    if gluon is None or device.type != "cuda" or torch.cuda.get_device_capability(device)[0] != 9:
        return False
    steps = triton.cdiv(rt * triton.next_power_of_2(kw), BLOCK_K)
    return (
        NUM_WARPS in (4, 8)
        and BLOCK_M % (16 * NUM_WARPS) == 0
        and BLOCK_M // NUM_WARPS >= 16
        and BLOCK_K in (16, 32, 64)
        and BLOCK_N in (16, 32, 64, 128)
        and 2 * steps * BLOCK_N * BLOCK_K * 2 <= _WGMMA_SHARED
    )


def _plan(xshape, wshape, has_bias, stride, padding, dilation, device):
    """Output shape, grid, tap table and constexprs of the launch (x contiguous after padding),
    cached per shape and device."""
    key = (xshape, wshape, has_bias, stride, padding, dilation, device, BLOCK_M, BLOCK_N, BLOCK_K, ROW_W,
           NUM_WARPS, NUM_STAGES, PRECISION, TAPS, FAST_LAUNCH, MAXNREG, WG_WAIT, WG_TILES)  # fmt: skip
    hit = _PLANS.get(key)
    if hit is not None:
        return hit
    n, c_in, d, h, w = xshape
    d, h, w = d + 2 * padding[0], h + 2 * padding[1], w + 2 * padding[2]
    c_out, c_in_w, kd, kh, kw = wshape
    if c_in != c_in_w:
        raise ValueError(f"conv3d_fast3: input has {c_in} channels, weight expects {c_in_w}")
    do = (d - dilation[0] * (kd - 1) - 1) // stride[0] + 1
    ho = (h - dilation[1] * (kh - 1) - 1) // stride[1] + 1
    wo = (w - dilation[2] * (kw - 1) - 1) // stride[2] + 1
    if do <= 0 or ho <= 0 or wo <= 0:
        raise ValueError("conv3d_fast3: the kernel (with dilation) is larger than the input")
    k = c_in * kd * kh * kw
    rt = c_in * kd * kh  # row taps (ci, kd, kh); each holds kw taps along the input row
    if TAPS not in ("auto", "rows", "table"):
        raise ValueError(f"conv3d_fast3: TAPS must be 'auto', 'rows' or 'table', got {TAPS!r}")
    # Row taps: offsets computed in registers, kw padded to a power of 2 (worth it from kw = 5;
    # at kw = 1 nothing is padded, and where K is one step the offsets become constants, with
    # no table load before the gathers: L1/59 -4.6 % KB on the H200, 2026-12-02c).
    taps_rows = TAPS == "rows" or (TAPS == "auto" and (kw >= 5 or kw == 1))
    wgmma = PRECISION == "bf16x3g" and _wgmma_fits(device, c_in * kd * kh, kw)
    taps_rows = taps_rows or wgmma  # the Gluon kernel has row taps only
    if PRECISION == "bf16x3j" and not taps_rows and BLOCK_K == 16 and BLOCK_M // NUM_WARPS >= 32:
        # Measured on the H200 (Triton 3.6, 2026-12-02): every such config gave garbage on L1/54
        # and L1/59 (16 rows per warp, BLOCK_K=32 or row taps were right; the interpreter is right).
        raise ValueError(
            "conv3d_fast3: bf16x3j with the tap table, BLOCK_K=16 and 32 or more rows per warp "
            "computed wrong results on the H200; use BLOCK_K=32, TAPS='rows' or bf16x3r"
        )
    kwp = triton.next_power_of_2(kw) if taps_rows else kw
    sxn = c_in * d * h * w
    if c_out * do * ho * wo >= 2**31 or sxn >= 2**31:
        raise ValueError("conv3d_fast3: one image of x or of y has 2**31 elements or more")
    kpad = triton.cdiv(rt * kwp, _K_ALIGN) * _K_ALIGN
    unit_q = stride[1] == 1 and stride[2] == 1
    auto_bw = 0 if unit_q and wo == w else min(triton.next_power_of_2(wo), 128)
    plane_w = w if unit_q else wo  # plane mode's row width
    # Offset in x of im2col column k = (ci, kd, kh, kw); the padded columns read tap 0.
    sw = (d * h * w, h * w, w, 1)
    taps = [
        c * sw[0] + i * dilation[0] * sw[1] + j * dilation[1] * sw[2] + m * dilation[2]
        for c in range(c_in)
        for i in range(kd)
        for j in range(kh)
        for m in range(kw)
    ]
    table = torch.tensor(taps + [0] * (kpad - k), dtype=torch.int32, device=device)
    meta = dict(
        C_OUT=c_out, K=k, KPAD=kpad, KD=kd, KH=kh, KW=kw, KWP=kwp, RT=rt, TAPS_ROWS=taps_rows,
        DIL_D=dilation[0], DIL_H=dilation[1], DIL_W=dilation[2],
        SXC=d * h * w, SXN=sxn, SXD=h * w, SXH=w, W=w, DO=do, HO=ho, WO=wo,
        STR_D=stride[0], STR_H=stride[1], STR_W=stride[2],
        AUTO_BW=auto_bw, HAS_BIAS=has_bias, X_WORDS=int(PRECISION in _WORD_PRECISIONS),
        BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, BLOCK_K=BLOCK_K, ROW_W=ROW_W, precision=PRECISION,
        num_warps=NUM_WARPS, num_stages=NUM_STAGES,
    )  # fmt: skip
    if MAXNREG:
        meta["maxnreg"] = MAXNREG
    # A function of the launched constexprs, so a forced BLOCK_M (a wrapped launch) gets its grid.
    grid = lambda meta: _grid(meta, n, do, ho * plane_w, ho, wo, auto_bw, c_out)
    launch = _Launcher("_conv3d_fast3_kernel", grid, meta)
    if wgmma:
        keep = ("X_WORDS", "precision", "TAPS_ROWS", "K", "num_stages", "maxnreg")
        g_meta = {k: v for k, v in meta.items() if k not in keep}
        g_meta.update(WG_WAIT=WG_WAIT, TILES=0, NUM_WARPS=NUM_WARPS)
        if WG_TILES > 0:
            tiles = grid(meta)[0]
            g_meta["TILES"] = tiles
            sms = torch.cuda.get_device_properties(device).multi_processor_count
            blocks = min(tiles, sms * WG_TILES)
            grid = lambda meta: (blocks, triton.cdiv(c_out, meta["BLOCK_N"]))
        launch = _Launcher("_conv3d_wgmma_kernel", grid, g_meta)
    split = None
    if PRECISION in _WORD_PRECISIONS:
        # The split words of x: one buffer per shape, kept with the plan (no allocation per call).
        words = torch.empty((n, c_in, d, h, w), device=device, dtype=torch.int32)
        count = words.numel()
        split_meta = dict(SPLIT_BLOCK=_SPLIT_BLOCK, num_warps=4)
        split_grid = lambda meta: (triton.cdiv(count, meta["SPLIT_BLOCK"]),)
        split = (words, _Launcher("_split_x_kernel", split_grid, split_meta))
    plan = ((n, c_out, do, ho, wo), kwp, kpad, table, launch, split, wgmma)
    return _remember(_PLANS, key, plan)


def conv3d_fast3(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """y = conv3d(x, weight, bias) for NCDHW float32 tensors, groups=1."""
    if groups != 1:
        raise ValueError(f"conv3d_fast3 supports groups=1 only, got groups={groups}")
    if x.dim() != 5 or weight.dim() != 5:
        raise ValueError("conv3d_fast3 expects a 5-D input (N, C, D, H, W) and a 5-D weight")
    if x.dtype != torch.float32 or weight.dtype != torch.float32:
        raise ValueError(f"conv3d_fast3 supports float32 only, got {x.dtype} and {weight.dtype}")
    if bias is not None and (bias.dtype != torch.float32 or tuple(bias.shape) != weight.shape[:1]):
        raise ValueError("conv3d_fast3: bias must be a float32 vector of out_channels elements")
    stride, dilation = _triple(stride, "stride"), _triple(dilation, "dilation")
    padding = _resolve_padding(padding, tuple(weight.shape[2:]), stride, dilation)
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError("conv3d_fast3: stride and dilation must be >= 1 and padding >= 0")
    return _launch(x, weight, bias, stride, padding, dilation)


def _launch(x, weight, bias, stride, padding, dilation):
    out_shape, kwp, kpad, table, launch, split, wgmma = _plan(
        tuple(x.shape), tuple(weight.shape), bias is not None, stride, padding, dilation, x.device
    )
    if any(padding):
        pd, ph, pw = padding
        x = F.pad(x, (pw, pw, ph, ph, pd, pd))
    if not x.is_contiguous():
        x = x.contiguous()
    wf, wb = _packed_weight(weight, kwp, kpad)
    out = torch.empty(out_shape, device=x.device, dtype=torch.float32)
    if out.numel() == 0:
        return out
    b = wf if bias is None else bias.contiguous()
    words = x
    if split is not None:
        words, split_launch = split
        split_launch(x, words, words.numel())
    if wgmma:
        launch(words, wb, b, out)
    else:
        launch(x, words, wf, wb, table, b, out)
    return out


class ModelNew(nn.Module):
    """Drop-in for nn.Conv3d (groups=1, padding_mode='zeros') backed by conv3d_fast3."""

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
            raise ValueError(f"ModelNew (conv3d_fast3) supports groups=1 only, got groups={groups}")
        if padding_mode != "zeros":
            raise ValueError(
                f"ModelNew (conv3d_fast3) supports padding_mode='zeros' only, got {padding_mode!r}"
            )
        self.kernel_size = _triple(kernel_size, "kernel_size")
        self.stride = _triple(stride, "stride")
        self.dilation = _triple(dilation, "dilation")
        self.padding = _resolve_padding(padding, self.kernel_size, self.stride, self.dilation)
        if min(self.stride) < 1 or min(self.dilation) < 1 or min(self.padding) < 0:
            raise ValueError("ModelNew (conv3d_fast3): stride, dilation >= 1 and padding >= 0")
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
        if x.dim() != 5 or x.dtype != torch.float32:
            raise ValueError("ModelNew (conv3d_fast3) expects a 5-D float32 input (N, C, D, H, W)")
        return _launch(x, self.weight, self.bias, self.stride, self.padding, self.dilation)
