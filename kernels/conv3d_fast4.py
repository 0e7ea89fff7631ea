"""Implicit-GEMM conv3d (NCDHW, fp32) for small in_channels: x split once per call, A from shared memory.

Issue 16, built on kernels/conv3d_fast3.py (same tiles, same bf16x3 accuracy), to cut the work of
the im2col operand that bounds fast3 on the H200 (a 4-byte gather per element and tap, then a
shared-memory read, a bf16 split and a register operand for every tap; docs/performance.md):
- per call, a pack kernel reads x once and writes xp (bf16): every element of the (zero-padded)
  input as its bf16 head and tail, so the split is done once per element instead of once per tap.
  UNFOLD = 1: each packed element holds the KWP = next_pow2(kw) taps of its row (x[w],
  x[w + dil_w], ...; zeros past kw), heads then tails, so one output point's taps of one row
  (ci, kd, kh) are two contiguous runs of 2 * KWP bytes (16-byte loads from kw = 5 on, 8 from
  kw = 3) instead of kw separate 4-byte gathers; the main kernel loads the heads and the tails as
  two A tiles and makes three bf16 dots per K step (x_lo*w_hi, x_hi*w_lo, x_hi*w_hi). UNFOLD = 0
  (and any kw = 1): each element alone as the pair (head, tail), 4 bytes, fast3's gather count;
  the A tile holds a tap's pair side by side along K and two dots, against B1 = (w head, w head)
  and B2 = (w tail, 0), give the same three products. Either way fp32 accuracy (bf16x3, about 17
  significant bits; passes KernelBench's 1e-4) and no split or register operand in the K loop:
  the A and B tiles go to shared memory by cp.async (NUM_STAGES deep) and wgmma reads them there;
- padding is done by the pack (zeros), so it costs no extra pass; stride, dilation and bias are
  supported. The M tile (ROW_W): -1 (default, as measured) fast3's choice (its input-plane
  mode where Wo == W, else rows of next_pow2(Wo) points), 0 fast3's input-plane mode, > 0 rows
  of ROW_W points, -2 BLOCK_M consecutive points of one (n, od) output plane (the A loads run
  along K, so the points need not be contiguous in x: the stores are contiguous 16-byte runs and
  no point is computed and dropped; added after the H200 run, not measured);
- ROLLED: 1 passes the K loop's bound at run time (ptxas keeps a loop), 0 as a constant (ptxas
  unrolls it whole), -1 (auto) rolls from 9 K steps on; MAXNREG > 0 caps registers per thread;
- per call: the xp and output allocations (caching allocator) and two launches. The packed weight
  is built once per weight version, the plan once per input shape; FAST_LAUNCH = 1 launches the
  compiled kernels through their cached handles with positional arguments where every pointer is
  16-byte aligned (Triton's launcher binds ~40 keyword arguments per call otherwise; in Triton's
  interpreter the plain launch is always used).
Measured on the H200 by KernelBench's protocol (2026-12-02, docs/performance.md): correct on
L1/54, 59, 60, 66, but slower than conv3d_fast3 on three of them (defaults 0.871 / 1.306 / 1.729
ms against fast3's 0.689 / 0.994 / 1.658) and faster only on L1/66 (BLOCK_M=256, NUM_WARPS=8:
0.793 against 0.850 ms); what bounds it there: the pack pass and L2 bytes (no L1 reuse of the
unfolded rows, the weights re-read per tile).
Rejected with a clear ValueError: groups != 1, padding_mode other than 'zeros', non-float32
tensors, a weight whose in_channels differ from x's, a packed x of 2**31 elements or more, a
BLOCK_K that is not a power of 2 in 8..256 (>= 16 with UNFOLD = 1), UNFOLD or ROLLED out of range.
Non-finite x propagates as in fp32 (inf and NaN reach the output through the head; the unfolded
padding slots are zeros, never x); a non-finite weight gives NaN.
"""

import math

import torch
import torch.nn as nn
import triton
import triton.language as tl

# conv3d-bench config: the launch below reads these; `conv3d-bench export` rewrites them.
BLOCK_M = 128
BLOCK_N = 64
BLOCK_K = 16
ROW_W = -1
NUM_WARPS = 4
NUM_STAGES = 3
UNFOLD = 1
FAST_LAUNCH = 1
MAXNREG = 0
ROLLED = -1
DOTS = 3

# Packed-weight columns are padded to a multiple of this, so any BLOCK_K up to 256 reads in
# bounds and the rows stay 16-byte aligned.
_COL_ALIGN = 512
_PACK_BLOCK = 1024
_CACHE_SIZE = 8
_PLANS = {}
_WEIGHTS = {}


@triton.jit
def _split_bf16(v):
    """v (fp32) -> (hi, lo) in bf16: hi = v rounded to nearest bf16, lo = v - hi rounded to
    nearest bf16; non-finite v gives (v, 0), so inf and NaN reach the output through hi alone."""
    hi = v.to(tl.bfloat16, fp_downcast_rounding="rtne")
    lo = v - hi.to(tl.float32)
    lo = tl.where(lo == lo, lo, 0.0)
    return hi, lo.to(tl.bfloat16, fp_downcast_rounding="rtne")


@triton.jit
def _pack_x_kernel(
    x_ptr,
    xp_ptr,
    TOTAL: tl.constexpr,
    D: tl.constexpr,
    H: tl.constexpr,
    W: tl.constexpr,
    DP: tl.constexpr,
    HP: tl.constexpr,
    WP: tl.constexpr,
    PAD_D: tl.constexpr,
    PAD_H: tl.constexpr,
    PAD_W: tl.constexpr,
    KW: tl.constexpr,
    U: tl.constexpr,
    DIL_W: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """xp[e, hl, j] = split(x_padded[e + j * DIL_W along w])[hl] for the padded element e,
    j < U (the U heads, then the U tails); zero outside the input, past the row and for j >= KW."""
    e = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    in_range = e < TOTAL
    wp = e % WP
    t = e // WP
    hp = t % HP
    t = t // HP
    dp = t % DP
    nc = t // DP
    d = dp - PAD_D
    h = hp - PAD_H
    j = tl.arange(0, U)
    w = wp[:, None] + j[None, :] * DIL_W - PAD_W
    ok = (in_range & (d >= 0) & (d < D) & (h >= 0) & (h < H))[:, None]
    ok = ok & (w >= 0) & (w < W) & (j < KW)[None, :]
    src = ((nc * D + d) * H + h) * W
    v = tl.load(x_ptr + (src[:, None] + w), mask=ok, other=0.0)
    hi, lo = _split_bf16(v)
    # [BLOCK, U, 2] -> [BLOCK, 2, U] -> one contiguous run of the output (16-byte stores)
    pair = tl.reshape(tl.permute(tl.join(hi, lo), (0, 2, 1)), (BLOCK * U * 2,))
    flat = tl.program_id(0) * (BLOCK * U * 2) + tl.arange(0, BLOCK * U * 2)
    tl.store(xp_ptr + flat, pair, mask=flat < TOTAL * U * 2)


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
    """Offset in (padded) x elements of row tap `row` = (ci, kd, kh); rows past the last read the
    last (their weights are zero and the caller masks them)."""
    row = tl.minimum(row, RT - 1)
    kh = row % KH
    t = row // KH
    kd = t % KD
    ci = t // KD
    return ci * SXC + kd * (DIL_D * SXD) + kh * (DIL_H * SXH)


@triton.jit
def _step_columns(
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
    UNF: tl.constexpr,
):
    """For the A columns of the K step starting at tap k0 when one A tile holds heads and tails
    (a row (ci, kd, kh) holding 2 * KWP columns): the x element offset of each column (relative
    to the point's tap 0), its place inside the packed element, and whether it is a real tap.
    Pairs (UNF false): column 2 * kw + hl of a row, one element per tap, its place hl. Unfolded
    (UNF true, DOTS = 2): column hl * KWP + kw, the row's one element, its place that column."""
    CB: tl.constexpr = 2 * BLOCK_K
    CR: tl.constexpr = 2 * KWP
    cl = tl.arange(0, CB)
    # kw and part are written as div/rem of arange by constants, so Triton's alignment analysis
    # sees a run of 2 * U contiguous columns (the load's vector width) and the mask's constancy.
    if CR >= CB:
        row = (2 * k0) // CR
        c0 = (2 * k0) % CR
        rd = _row_offset(row, RT, KD, KH, SXC, SXD, SXH, DIL_D, DIL_H)
        kw = c0 // 2 + cl // 2
        run = c0 + cl
        ok = cl < CB
    else:
        R_S: tl.constexpr = CB // CR
        rr = cl // CR
        row0 = (2 * k0) // CR
        last = _row_offset(row0 + (R_S - 1), RT, KD, KH, SXC, SXD, SXH, DIL_D, DIL_H)
        rd = tl.zeros([CB], dtype=tl.int32) + last
        for i in tl.static_range(R_S - 1):
            here = _row_offset(row0 + i, RT, KD, KH, SXC, SXD, SXH, DIL_D, DIL_H)
            rd = tl.where(rr == i, here, rd)
        kw = (cl // 2) % KWP
        run = cl % CR
        ok = (row0 + rr) < RT
    if UNF:
        eoff = rd + cl * 0
        part = run
    else:
        if KWP == 1:  # noqa: SIM108 - constexpr branch
            eoff = rd + cl * 0
        else:
            eoff = rd + kw * DIL_W
            ok = ok & (kw < KW)
        part = cl % 2
    return eoff, part, ok


@triton.jit
def _step_taps(
    k0,
    KWP: tl.constexpr,
    RT: tl.constexpr,
    KD: tl.constexpr,
    KH: tl.constexpr,
    SXC: tl.constexpr,
    SXD: tl.constexpr,
    SXH: tl.constexpr,
    DIL_D: tl.constexpr,
    DIL_H: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    """Unfolded layout (U == KWP): for taps k0 .. k0 + BLOCK_K - 1 (tap = row * KWP + kw): the x
    element offset of each tap's row (relative to the point's tap 0), kw (its place among the
    element's heads; the tail is U further), and whether its row is a real one."""
    kl = tl.arange(0, BLOCK_K)
    if KWP >= BLOCK_K:
        row = k0 // KWP
        rd = _row_offset(row, RT, KD, KH, SXC, SXD, SXH, DIL_D, DIL_H) + kl * 0
        kw = (k0 % KWP) + kl
        ok = kl < BLOCK_K
    else:
        R_S: tl.constexpr = BLOCK_K // KWP
        rr = kl // KWP
        row0 = k0 // KWP
        last = _row_offset(row0 + (R_S - 1), RT, KD, KH, SXC, SXD, SXH, DIL_D, DIL_H)
        rd = tl.zeros([BLOCK_K], dtype=tl.int32) + last
        for i in tl.static_range(R_S - 1):
            here = _row_offset(row0 + i, RT, KD, KH, SXC, SXD, SXH, DIL_D, DIL_H)
            rd = tl.where(rr == i, here, rd)
        kw = kl % KWP
        ok = (row0 + rr) < RT
    return rd, kw, ok


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
    """(image, x offset of each point's tap 0 inside the image, load mask, y offset inside the
    image, store mask) of tile `pid`. BW == -2: output plane, BLOCK_M consecutive q = oh * WO + ow
    of one (n, od) output plane (the A loads run along K, so the points need not be contiguous in
    x; the stores are contiguous runs, no point is wasted); BW == 0: conv3d_fast3's plane mode
    (q = oh * W + w over the input's row width, w >= WO computed and dropped); BW > 0: rows."""
    idx = tl.arange(0, BLOCK_M)
    UNIT_Q: tl.constexpr = STR_H == 1 and STR_W == 1
    if BW == -2:
        TILES_O: tl.constexpr = (HO * WO + BLOCK_M - 1) // BLOCK_M
        plane = pid // TILES_O
        q = (pid - plane * TILES_O) * BLOCK_M + idx
        oh = tl.minimum(q // WO, HO - 1)
        w = q - (q // WO) * WO
        xq = oh * (STR_H * SXH) + w * STR_W
        load_ok = q < HO * WO
        ypos = q
        valid = q < HO * WO
    elif BW == 0:
        WV: tl.constexpr = W if UNIT_Q else WO
        TILES_Q: tl.constexpr = (HO * WV + BLOCK_M - 1) // BLOCK_M
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
def _conv3d_fast4_kernel(
    xp_ptr,
    w1_ptr,
    w2_ptr,
    b_ptr,
    y_ptr,
    k_taps,
    C_OUT: tl.constexpr,
    KCOLS: tl.constexpr,
    KD: tl.constexpr,
    KH: tl.constexpr,
    KW: tl.constexpr,
    KWP: tl.constexpr,
    U: tl.constexpr,
    RT: tl.constexpr,
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
    BW: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    ROW_W: tl.constexpr,
    ROLLED: tl.constexpr,
    DOTS: tl.constexpr,
):
    pid = tl.program_id(0)
    pid_n = tl.program_id(1)
    img, xoff, load_ok, yoff, valid = _tile_positions(
        pid, DO, HO, WO, W, SXD, SXH, STR_D, STR_H, STR_W, BW, BLOCK_M
    )
    img64 = img.to(tl.int64)
    x_img = xp_ptr + img64 * (SXN * 2 * U)
    co = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    co_ok = co < C_OUT
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    w_mask = co_ok[None, :]
    # ROLLED: the K loop's bound is a run-time argument (k_taps == RT * KWP), so ptxas keeps it a
    # loop instead of unrolling all of it (a smaller kernel; with a constant bound it unrolls)
    if ROLLED:  # noqa: SIM108 - constexpr branch
        k_end = k_taps
    else:
        k_end = RT * KWP
    if U == 1 or DOTS == 2:
        # one A tile of heads and tails (pairs: side by side per tap; unfolded: a row's heads,
        # then its tails); B1 = w head for both, B2 = w tail for the heads, 0 for the tails
        for k0 in range(0, k_end, BLOCK_K):
            eoff, part, ok = _step_columns(
                k0, KW, KWP, RT, KD, KH, SXC, SXD, SXH, DIL_D, DIL_H, DIL_W, BLOCK_K, U > 1
            )
            a_offs = (xoff[:, None] + eoff[None, :]) * (2 * U) + part[None, :]
            a = tl.load(x_img + a_offs, mask=load_ok[:, None] & ok[None, :], other=0.0)
            kk = 2 * k0 + tl.arange(0, 2 * BLOCK_K)
            w_offs = kk[:, None] + co[None, :] * KCOLS
            b1 = tl.load(w1_ptr + w_offs, mask=w_mask, other=0.0)
            b2 = tl.load(w2_ptr + w_offs, mask=w_mask, other=0.0)
            acc = tl.dot(a, b2, acc)  # x_hi * w_lo (the tails' columns meet zeros)
            acc = tl.dot(a, b1, acc)  # x_hi * w_hi + x_lo * w_hi
    else:
        # unfolded rows: the heads and the tails of a row's taps as two tiles, three dots
        for k0 in range(0, k_end, BLOCK_K):
            rd, kw, ok = _step_taps(k0, KWP, RT, KD, KH, SXC, SXD, SXH, DIL_D, DIL_H, BLOCK_K)
            a_offs = (xoff[:, None] + rd[None, :]) * (2 * U) + kw[None, :]
            a_mask = load_ok[:, None] & ok[None, :]
            a_hi = tl.load(x_img + a_offs, mask=a_mask, other=0.0)
            a_lo = tl.load(x_img + (a_offs + U), mask=a_mask, other=0.0)
            kk = k0 + tl.arange(0, BLOCK_K)
            w_offs = kk[:, None] + co[None, :] * KCOLS
            w_hi = tl.load(w1_ptr + w_offs, mask=w_mask, other=0.0)
            w_lo = tl.load(w2_ptr + w_offs, mask=w_mask, other=0.0)
            acc = tl.dot(a_lo, w_hi, acc)
            acc = tl.dot(a_hi, w_lo, acc)
            acc = tl.dot(a_hi, w_hi, acc)
    if HAS_BIAS:
        acc = acc + tl.load(b_ptr + co, mask=co_ok, other=0.0)[None, :]
    S: tl.constexpr = DO * HO * WO
    y_img = y_ptr + img64 * (C_OUT * S)
    tl.store(y_img + (yoff[:, None] + co[None, :] * S), acc, mask=valid[:, None] & co_ok[None, :])


# --- host side ---------------------------------------------------------------------------------
def _triple(v, name):
    if isinstance(v, int):
        return (v, v, v)
    t = tuple(int(e) for e in v)
    if len(t) != 3:
        raise ValueError(f"conv3d_fast4: {name} must be an int or a 3-tuple, got {v!r}")
    return t


def _resolve_padding(padding, kernel, stride, dilation):
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0)
        if padding == "same":
            span = [d * (k - 1) for d, k in zip(dilation, kernel)]
            if any(s != 1 for s in stride) or any(e % 2 for e in span):
                raise ValueError(
                    "conv3d_fast4: padding='same' is supported only with stride 1 and an even "
                    "dilation*(kernel-1) in every dim (symmetric padding)"
                )
            return tuple(e // 2 for e in span)
        raise ValueError(f"conv3d_fast4: unsupported padding {padding!r}")
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


def _pack_weight(weight, kwp, kcols, layout):
    """The weight in the A tiles' column order, [Co, kcols] bf16 each, zeros at kw >= KW and past
    the last row: "split", (w head, w tail) at tap row * kwp + kw; "pairs", B1 = (w head, w head)
    and B2 = (w tail, 0) at columns 2 * tap + hl; "rows", B1 = (w head, w head) and B2 =
    (w tail, 0) at columns row * 2 * kwp + hl * kwp + kw."""
    c_out, kw = weight.shape[0], weight.shape[-1]
    w3 = weight.detach().float().reshape(c_out, -1, kw)
    w3 = torch.nn.functional.pad(w3, (0, kwp - kw)).reshape(c_out, -1)
    hi, lo = _split_same_sign(w3.contiguous(), 16)
    hi, lo = hi.to(torch.bfloat16), lo.to(torch.bfloat16)
    b1 = torch.zeros(c_out, kcols, device=w3.device, dtype=torch.bfloat16)
    b2 = torch.zeros_like(b1)
    if layout == "split":
        b1[:, : hi.shape[1]] = hi
        b2[:, : lo.shape[1]] = lo
    elif layout == "rows":
        h3, l3 = hi.reshape(c_out, -1, kwp), lo.reshape(c_out, -1, kwp)
        n = 2 * hi.shape[1]
        b1[:, :n] = torch.cat((h3, h3), dim=2).reshape(c_out, n)
        b2[:, :n] = torch.cat((l3, torch.zeros_like(l3)), dim=2).reshape(c_out, n)
    else:
        n = 2 * w3.shape[1]
        b1[:, :n] = torch.stack((hi, hi), dim=2).reshape(c_out, n)
        b2[:, :n] = torch.stack((lo, torch.zeros_like(lo)), dim=2).reshape(c_out, n)
    return b1, b2


def _packed_weight(weight, kwp, kcols, layout):
    """The packed weight, built once per weight version (identity, data pointer, version)."""
    key = (id(weight), weight.data_ptr(), weight._version, kwp, kcols, layout)
    hit = _WEIGHTS.get(key)
    if hit is None or hit[0] is not weight:
        with torch.no_grad():
            hit = _remember(_WEIGHTS, key, (weight, _pack_weight(weight, kwp, kcols, layout)))
    return hit[1]


class _Launcher:
    """One kernel's launch with fixed grid and constexprs: the plain `kernel[grid](**meta)` the
    first time (it compiles), then, with FAST_LAUNCH, the compiled kernel's handle with positional
    arguments in the kernel's parameter order."""

    def __init__(self, kernel, grid, meta):
        self.kernel, self.grid, self.meta = kernel, grid, meta
        self.options = {k: meta[k] for k in ("num_warps", "num_stages", "maxnreg") if k in meta}
        self.consts = {k: v for k, v in meta.items() if k not in self.options}
        self.runner = None
        self.tail = ()

    def __call__(self, *args):
        # Triton specialises a kernel on each pointer's 16-byte alignment (and an int's value
        # being 1 or a multiple of 16: fixed per plan here): the cached handle is taken, and used,
        # only where every pointer is aligned (else the plain launch decides).
        aligned = all(t.data_ptr() % 16 == 0 for t in args if isinstance(t, torch.Tensor))
        if self.runner is not None and aligned:
            return self.runner(*args, *self.tail)
        compiled = self.kernel[self.grid](*args, **self.meta)
        run = getattr(compiled, "__getitem__", None)
        names = getattr(self.kernel, "arg_names", None)
        rest = list(names[len(args) :]) if names is not None else None
        if (
            FAST_LAUNCH
            and aligned
            and run is not None
            and rest is not None
            and set(rest) == set(self.consts)
        ):
            self.tail = tuple(self.consts[k] for k in rest)
            self.runner = compiled[tuple(self.grid) + (1,) * (3 - len(self.grid))]
        return compiled


def _grid(bm, bn, bw, n, do, tiles_plane, ho, wo, c_out):
    if bw == -2:
        tiles = triton.cdiv(ho * wo, bm)
    elif bw == 0:
        tiles = triton.cdiv(tiles_plane, bm)
    else:
        tiles = triton.cdiv(ho, max(bm // bw, 1)) * triton.cdiv(wo, bw)
    return (n * do * tiles, triton.cdiv(c_out, bn))


def _plan(xshape, wshape, has_bias, stride, padding, dilation, device):
    """Output shape, the two launches and the packed shapes, cached per shape and device."""
    key = (xshape, wshape, has_bias, stride, padding, dilation, device, BLOCK_M, BLOCK_N, BLOCK_K,
           ROW_W, NUM_WARPS, NUM_STAGES, UNFOLD, FAST_LAUNCH, MAXNREG, ROLLED, DOTS)  # fmt: skip
    hit = _PLANS.get(key)
    if hit is not None:
        return hit
    if UNFOLD not in (0, 1):
        raise ValueError(f"conv3d_fast4: UNFOLD must be 0 or 1, got {UNFOLD!r}")
    if BLOCK_K < 8 or BLOCK_K & (BLOCK_K - 1) or BLOCK_K > 256:
        raise ValueError(f"conv3d_fast4: BLOCK_K must be a power of 2 in 8..256, got {BLOCK_K}")
    n, c_in, d0, h0, w0 = xshape
    d, h, w = d0 + 2 * padding[0], h0 + 2 * padding[1], w0 + 2 * padding[2]
    c_out, c_in_w, kd, kh, kw = wshape
    if c_in != c_in_w:
        raise ValueError(f"conv3d_fast4: input has {c_in} channels, weight expects {c_in_w}")
    do = (d - dilation[0] * (kd - 1) - 1) // stride[0] + 1
    ho = (h - dilation[1] * (kh - 1) - 1) // stride[1] + 1
    wo = (w - dilation[2] * (kw - 1) - 1) // stride[2] + 1
    if do <= 0 or ho <= 0 or wo <= 0:
        raise ValueError("conv3d_fast4: the kernel (with dilation) is larger than the input")
    rt = c_in * kd * kh
    kwp = triton.next_power_of_2(kw)
    u = kwp if UNFOLD else 1
    sxn = c_in * d * h * w
    total = n * sxn
    if total * 2 * u >= 2**31 or c_out * do * ho * wo >= 2**31:
        raise ValueError(
            "conv3d_fast4: the packed input or one image of the output has 2**31 elements or "
            "more; use UNFOLD = 0 or a smaller batch"
        )
    # columns of the packed weight per output channel: taps (unfolded) or 2 * taps (pairs)
    if DOTS not in (2, 3):
        raise ValueError(f"conv3d_fast4: DOTS must be 2 or 3, got {DOTS!r}")
    layout = "pairs" if u == 1 else ("split" if DOTS == 3 else "rows")
    kcols = triton.cdiv((1 if layout == "split" else 2) * rt * kwp, _COL_ALIGN) * _COL_ALIGN
    if layout == "split" and BLOCK_K < 16:
        raise ValueError(
            f"conv3d_fast4: BLOCK_K must be >= 16 with UNFOLD = 1 and DOTS = 3, got {BLOCK_K}"
        )
    unit_q = stride[1] == 1 and stride[2] == 1
    if ROW_W < -2 or (ROW_W > 0 and (ROW_W & (ROW_W - 1) or BLOCK_M % ROW_W)):
        raise ValueError(
            f"conv3d_fast4: ROW_W must be -1 (auto), -2 (output plane), 0 (input plane) or a "
            f"power of 2 dividing BLOCK_M, got {ROW_W!r}"
        )
    auto_bw = 0 if unit_q and wo == w else min(triton.next_power_of_2(wo), 128, BLOCK_M)
    bw = auto_bw if ROW_W == -1 else ROW_W
    plane_w = w if unit_q else wo
    if ROLLED not in (-1, 0, 1):
        raise ValueError(f"conv3d_fast4: ROLLED must be -1 (auto), 0 or 1, got {ROLLED!r}")
    # a run-time loop bound from 9 K steps on (short loops unroll well)
    rolled = int(ROLLED == 1 or (ROLLED == -1 and triton.cdiv(rt * kwp, BLOCK_K) > 8))
    grid = _grid(BLOCK_M, BLOCK_N, bw, n, do, ho * plane_w, ho, wo, c_out)
    meta = dict(
        C_OUT=c_out, KCOLS=kcols, KD=kd, KH=kh, KW=kw, KWP=kwp, U=u, RT=rt,
        DIL_D=dilation[0], DIL_H=dilation[1], DIL_W=dilation[2],
        SXC=d * h * w, SXN=sxn, SXD=h * w, SXH=w, W=w, DO=do, HO=ho, WO=wo,
        STR_D=stride[0], STR_H=stride[1], STR_W=stride[2],
        BW=bw, HAS_BIAS=has_bias, BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, BLOCK_K=BLOCK_K,
        ROW_W=ROW_W, ROLLED=rolled, DOTS=DOTS, num_warps=NUM_WARPS, num_stages=NUM_STAGES,
    )  # fmt: skip
    if MAXNREG:  # a register cap per thread (more blocks per SM; may spill)
        meta["maxnreg"] = MAXNREG
    pack_meta = dict(
        TOTAL=total, D=d0, H=h0, W=w0, DP=d, HP=h, WP=w,
        PAD_D=padding[0], PAD_H=padding[1], PAD_W=padding[2], KW=kw, U=u, DIL_W=dilation[2],
        BLOCK=_PACK_BLOCK // u, num_warps=4,
    )  # fmt: skip
    pack = _Launcher(_pack_x_kernel, (triton.cdiv(total, _PACK_BLOCK // u),), pack_meta)
    main = _Launcher(_conv3d_fast4_kernel, grid, meta)
    plan = ((n, c_out, do, ho, wo), total * 2 * u, kwp, kcols, layout, rt * kwp, pack, main)
    return _remember(_PLANS, key, plan)


def conv3d_fast4(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """y = conv3d(x, weight, bias) for NCDHW float32 tensors, groups=1."""
    if groups != 1:
        raise ValueError(f"conv3d_fast4 supports groups=1 only, got groups={groups}")
    if x.dim() != 5 or weight.dim() != 5:
        raise ValueError("conv3d_fast4 expects a 5-D input (N, C, D, H, W) and a 5-D weight")
    if x.dtype != torch.float32 or weight.dtype != torch.float32:
        raise ValueError(f"conv3d_fast4 supports float32 only, got {x.dtype} and {weight.dtype}")
    if bias is not None and (bias.dtype != torch.float32 or tuple(bias.shape) != weight.shape[:1]):
        raise ValueError("conv3d_fast4: bias must be a float32 vector of out_channels elements")
    stride, dilation = _triple(stride, "stride"), _triple(dilation, "dilation")
    padding = _resolve_padding(padding, tuple(weight.shape[2:]), stride, dilation)
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError("conv3d_fast4: stride and dilation must be >= 1 and padding >= 0")
    return _launch(x, weight, bias, stride, padding, dilation)


def _launch(x, weight, bias, stride, padding, dilation):
    out_shape, xp_numel, kwp, kcols, layout, k_taps, pack, main = _plan(
        tuple(x.shape), tuple(weight.shape), bias is not None, stride, padding, dilation, x.device
    )
    out = torch.empty(out_shape, device=x.device, dtype=torch.float32)
    if out.numel() == 0:
        return out
    if not x.is_contiguous():
        x = x.contiguous()
    xp = torch.empty(xp_numel, device=x.device, dtype=torch.bfloat16)
    pack(x, xp)
    w1, w2 = _packed_weight(weight, kwp, kcols, layout)
    main(xp, w1, w2, w1 if bias is None else bias.contiguous(), out, k_taps)
    return out


class ModelNew(nn.Module):
    """Drop-in for nn.Conv3d (groups=1, padding_mode='zeros') backed by conv3d_fast4."""

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
            raise ValueError(f"ModelNew (conv3d_fast4) supports groups=1 only, got groups={groups}")
        if padding_mode != "zeros":
            raise ValueError(
                f"ModelNew (conv3d_fast4) supports padding_mode='zeros' only, got {padding_mode!r}"
            )
        self.kernel_size = _triple(kernel_size, "kernel_size")
        self.stride = _triple(stride, "stride")
        self.dilation = _triple(dilation, "dilation")
        self.padding = _resolve_padding(padding, self.kernel_size, self.stride, self.dilation)
        if min(self.stride) < 1 or min(self.dilation) < 1 or min(self.padding) < 0:
            raise ValueError("ModelNew (conv3d_fast4): stride, dilation >= 1 and padding >= 0")
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
            raise ValueError("ModelNew (conv3d_fast4) expects a 5-D float32 input (N, C, D, H, W)")
        return _launch(x, self.weight, self.bias, self.stride, self.padding, self.dilation)
