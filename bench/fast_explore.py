"""Scratch measurement: kernels/conv3d_fast.py variants vs cuDNN on the KernelBench conv3d problems.

Run on the GPU machine: `python3 bench/fast_explore.py [round]`. Writes JSON lines to
$OUT/fast.jsonl (or ./fast.jsonl) and prints a compact table last.
"""

import importlib.util
import json
import os
import sys
import time

import torch
import torch.nn.functional as F
import triton

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("conv3d_fast", f"{ROOT}/kernels/conv3d_fast.py")
cf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cf)

OUT = os.environ.get("OUT", ".")
JSONL = os.path.join(OUT, "fast.jsonl")
ROUND = sys.argv[1] if len(sys.argv) > 1 else "1"
BUDGET_S = float(os.environ.get("FAST_BUDGET_S", "330"))
T0 = time.time()

# name, N, Ci, Co, kernel, input (D, H, W), floor ms (from the issue), cuDNN ms (from the issue)
PROBLEMS = [
    ("L1_54", 16, 3, 64, (3, 3, 3), (64, 64, 64), 0.31),
    ("L1_59", 16, 3, 64, (3, 3, 1), (256, 256, 10), 0.83),
    ("L1_60", 16, 3, 64, (3, 5, 7), (64, 64, 64), 0.84),
    ("L1_66", 8, 3, 64, (3, 5, 7), (16, 128, 128), 0.41),
]

BASE = dict(
    BLOCK_M=128,
    BLOCK_N=64,
    BLOCK_K=32,
    CO_MAJOR=True,
    NUM_WARPS=4,
    NUM_STAGES=3,
    PRECISION="tf32x3",
)
DEFAULTS = {k: getattr(cf, k) for k in BASE}
R3 = dict(PRECISION="tf32x3r", CO_MAJOR=False, BLOCK_K=16)


def V3(**kw):
    c = dict(BASE)
    c.update(R3)
    c.update(kw)
    return c


def V(**kw):
    c = dict(BASE)
    c.update(kw)
    return c


ROUNDS = {
    "1": [
        V(),
        V(BLOCK_M=256),
        V(BLOCK_M=64),
        V(BLOCK_K=16),
        V(BLOCK_K=64),
        V(BLOCK_M=256, NUM_WARPS=8),
        V(NUM_STAGES=2),
        V(NUM_STAGES=4),
        V(CO_MAJOR=False),
        V(PRECISION="tf32x3p"),
        V(PRECISION="tf32x3p", BLOCK_M=256, NUM_WARPS=8),
        V(PRECISION="bf16x3"),
        V(PRECISION="bf16x3", BLOCK_M=256, NUM_WARPS=8),
        V(PRECISION="bf16x3", BLOCK_M=256, BLOCK_K=64, NUM_WARPS=8),
        V(PRECISION="ieee", BLOCK_M=64, BLOCK_K=16, NUM_STAGES=2),
        V(PRECISION="ieee", BLOCK_M=128, BLOCK_K=16, NUM_WARPS=8, NUM_STAGES=2),
        V(PRECISION="tf32"),
        V(BLOCK_M=256, BLOCK_K=16, NUM_WARPS=8, NUM_STAGES=4),
        V(PRECISION="bf16x6"),
    ],
    "2": [
        V(PRECISION="tf32x3p"),
        V(PRECISION="tf32x3p", BLOCK_K=16),
        V(PRECISION="tf32x3p", NUM_WARPS=8),
        V(PRECISION="tf32x3p", BLOCK_K=16, NUM_WARPS=8),
        V(PRECISION="tf32x3p", BLOCK_M=64),
        V(PRECISION="tf32x3p", BLOCK_M=64, BLOCK_K=16, NUM_STAGES=4),
        V(PRECISION="tf32x3p", BLOCK_M=256, BLOCK_K=16, NUM_WARPS=8),
        V(PRECISION="tf32x3p", NUM_STAGES=2),
        V(PRECISION="tf32x3p", NUM_STAGES=4),
        V(PRECISION="tf32x3p", CO_MAJOR=False),
        V(PRECISION="tf32x3p", CO_MAJOR=False, BLOCK_K=16),
        V(PRECISION="tf32x3p", CO_MAJOR=False, BLOCK_M=64),
        V(PRECISION="tf32x3p", CO_MAJOR=False, NUM_WARPS=8),
        V(PRECISION="tf32x3p", CO_MAJOR=False, BLOCK_M=256, NUM_WARPS=8),
        V(PRECISION="tf32x3r"),
        V(PRECISION="tf32x3r", BLOCK_K=16),
        V(PRECISION="tf32x3r", NUM_WARPS=8),
        V(PRECISION="tf32x3r", CO_MAJOR=False),
        V(PRECISION="tf32x3r", CO_MAJOR=False, BLOCK_K=16),
        V(PRECISION="tf32x3r", CO_MAJOR=False, BLOCK_M=64),
        V(PRECISION="tf32x3r", BLOCK_M=64),
        V(PRECISION="tf32"),
        V(PRECISION="tf32", CO_MAJOR=False),
        V(PRECISION="tf32x3", CO_MAJOR=False, BLOCK_K=16),
        V(PRECISION="tf32x3p", BLOCK_K=64, NUM_WARPS=8),
        V(PRECISION="tf32x3p", BLOCK_M=64, NUM_STAGES=2),
    ],
    "3": [
        V3(),
        V3(NUM_STAGES=2),
        V3(NUM_STAGES=4),
        V3(BLOCK_M=64),
        V3(BLOCK_M=64, NUM_STAGES=4),
        V3(BLOCK_M=256, NUM_WARPS=8),
        V3(BLOCK_K=32),
        V3(NUM_WARPS=8),
        # Round 3 also measured three variants that lost and were then removed from the kernel
        # (docs/performance-notes.md, docs/measurements/fast-explore-3.json): X_KM (x tile
        # loaded m-fastest, then tl.trans), "tf32x3i" ((hi, lo) interleaved by the wrapper, one
        # 8-byte gather, tl.split) and "bf16x3r" (x split into bf16 hi/lo in registers).
        V3(PRECISION="bf16x3"),
        V3(PRECISION="bf16x3", BLOCK_K=32),
        V3(PRECISION="tf32"),
        V3(CO_MAJOR=True),
        V3(PRECISION="tf32x3p"),
        V3(BLOCK_M=256, NUM_WARPS=8, NUM_STAGES=4),
    ],
}


def cfg_name(c):
    return (
        f"{c['PRECISION']}/{'co' if c['CO_MAJOR'] else 'm'}{'T' if c.get('X_KM') else ''}"
        f"/M{c['BLOCK_M']}N{c['BLOCK_N']}K{c['BLOCK_K']}/w{c['NUM_WARPS']}s{c['NUM_STAGES']}"
    )


def apply(c):
    for k, v in c.items():
        setattr(cf, k, v)


def emit(rec):
    rec["round"] = ROUND
    with open(JSONL, "a") as f:
        f.write(json.dumps(rec) + "\n")


def errors(y, ref64, ref32):
    """||y - ref64|| / ||ref64||, max |y - ref64|, allclose(y, ref32, 1e-4, 1e-4); batch-chunked."""
    num = 0.0
    den = 0.0
    mx = 0.0
    ok = True
    nonfinite = False
    for i in range(y.shape[0]):
        yi = y[i].double()
        d = yi - ref64[i]
        num += float((d * d).sum())
        den += float((ref64[i] * ref64[i]).sum())
        mx = max(mx, float(d.abs().max()))
        nonfinite = nonfinite or not bool(torch.isfinite(y[i]).all())
        ok = ok and bool(torch.allclose(y[i], ref32[i], atol=1e-4, rtol=1e-4))
        del yi, d
    return dict(rel_err=(num / den) ** 0.5, max_abs=mx, allclose=ok and not nonfinite)


def kernel_report():
    """Resource facts of the most recently compiled kernels (best effort)."""
    reps = []
    try:
        for caches in cf._conv3d_igemm_kernel.device_caches.values():
            for ck in caches[0].values():
                ptx = ck.asm.get("ptx", "")
                reps.append(
                    dict(
                        n_regs=getattr(ck, "n_regs", None),
                        n_spills=getattr(ck, "n_spills", None),
                        shared=getattr(ck.metadata, "shared", None),
                        wgmma=ptx.count("wgmma.mma_async"),
                        mma_sync=ptx.count("mma.sync"),
                        cp_async=ptx.count("cp.async.ca") + ptx.count("cp.async.cg"),
                        st_v4=ptx.count("st.global.v4"),
                        st_all=ptx.count("st.global"),
                    )
                )
    except Exception as e:  # noqa: BLE001 - diagnostics only
        reps.append(dict(error=repr(e)[:200]))
    return reps


def bench(fn, *args, **kwargs):
    def call():
        return fn(*args, **kwargs)

    return triton.testing.do_bench(call, warmup=25, rep=100, return_mode="median")


def check_default(pname, n, ci, co, ks, dhw, floor, cudnn_ms):
    """The file's own config through ModelNew: seeded weights vs nn.Conv3d, output vs the fp32
    module and fp64, randn inputs too, and its time."""
    apply(DEFAULTS)
    rec = dict(kind="default", problem=pname, name="ModelNew " + cfg_name(DEFAULTS), floor_ms=floor)
    torch.manual_seed(42)
    ref_m = torch.nn.Conv3d(ci, co, ks, bias=False).cuda()
    torch.manual_seed(42)
    m = cf.ModelNew(ci, co, ks).cuda()
    rec["seeded_weights_equal"] = bool(torch.equal(ref_m.weight, m.weight))
    x = torch.rand(n, ci, *dhw, device="cuda")
    with torch.no_grad():
        torch.backends.cudnn.allow_tf32 = False
        ref32 = ref_m(x)
        torch.backends.cudnn.allow_tf32 = True
        ref32_default = ref_m(x)
        ref64 = F.conv3d(x.double(), ref_m.weight.double())
        y = m(x)
        rec.update(errors(y, ref64, ref32))
        rec["allclose_vs_cudnn_default"] = all(
            bool(torch.allclose(y[i], ref32_default[i], atol=1e-4, rtol=1e-4)) for i in range(n)
        )
        del y, ref32, ref32_default, ref64
        xr = torch.randn(n, ci, *dhw, device="cuda") * 3
        yr = m(xr)
        rr = F.conv3d(xr.double(), ref_m.weight.double())
        num = sum(float(((yr[i].double() - rr[i]) ** 2).sum()) for i in range(n))
        den = sum(float((rr[i] ** 2).sum()) for i in range(n))
        rec["randn3_rel_err"] = (num / den) ** 0.5
        rec["randn3_max_abs"] = max(float((yr[i].double() - rr[i]).abs().max()) for i in range(n))
        del yr, rr, xr
        ms = bench(m, x)
    rec["ms"] = ms
    rec["speedup_vs_cudnn"] = cudnn_ms / ms
    rec["pct_of_floor"] = 100 * floor / ms
    emit(rec)
    print(f"  DEFAULT {rec}", flush=True)
    return rec


def main():
    dev = torch.cuda.get_device_properties(0)
    opts = None
    try:
        from triton.backends.nvidia.compiler import CUDAOptions

        opts = list(CUDAOptions.allowed_dot_input_precisions)
    except Exception as e:  # noqa: BLE001
        opts = repr(e)
    env = dict(
        kind="env",
        device=dev.name,
        sms=dev.multi_processor_count,
        torch=torch.__version__,
        triton=triton.__version__,
        allowed_precisions=opts,
        cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
        matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32,
    )
    # Ceilings: tf32 GEMM (cuBLAS) and a large device-to-device copy.
    a = torch.rand(8192, 8192, device="cuda")
    b = torch.rand(8192, 8192, device="cuda")
    torch.backends.cuda.matmul.allow_tf32 = True
    ms = bench(torch.matmul, a, b)
    env["tf32_gemm_tflops"] = 2 * 8192**3 / ms / 1e9
    torch.backends.cuda.matmul.allow_tf32 = False
    ms = bench(torch.matmul, a, b)
    env["fp32_gemm_tflops"] = 2 * 8192**3 / ms / 1e9
    src = torch.empty(2**28, device="cuda")
    dst = torch.empty_like(src)
    ms = bench(dst.copy_, src)
    env["copy_tb_s"] = 2 * src.numel() * 4 / ms / 1e9
    del a, b, src, dst
    print(json.dumps(env), flush=True)
    emit(env)

    configs = ROUNDS[ROUND]
    rows = []
    seen_kernels = 0
    for pi, (pname, n, ci, co, ks, dhw, floor) in enumerate(PROBLEMS):
        torch.manual_seed(1234 + pi)
        x = torch.rand(n, ci, *dhw, device="cuda")
        w = torch.empty(co, ci, *ks, device="cuda")
        torch.nn.init.kaiming_uniform_(w, a=5**0.5)
        ref64 = F.conv3d(x.double(), w.double())
        x2 = torch.rand_like(x)
        r2 = F.conv3d(x2.double(), w.double())
        torch.backends.cudnn.allow_tf32 = False
        ref32 = F.conv3d(x, w)
        torch.backends.cudnn.allow_tf32 = env["cudnn_allow_tf32"]
        out_bytes = ref32.numel() * 4
        buf = torch.empty_like(ref32)
        write_ms = bench(buf.fill_, 1.0)
        y = F.conv3d(x, w)
        cudnn_ms = bench(F.conv3d, x, w)
        rec = dict(kind="cudnn", problem=pname, name="cudnn-default", ms=cudnn_ms, floor_ms=floor)
        rec.update(errors(y, ref64, ref32))
        rec["write_only_ms"] = write_ms
        rec["out_bytes"] = out_bytes
        emit(rec)
        rows.append(rec)
        del y
        torch.backends.cudnn.allow_tf32 = False
        y = F.conv3d(x, w)
        ms = bench(F.conv3d, x, w)
        torch.backends.cudnn.allow_tf32 = env["cudnn_allow_tf32"]
        rec = dict(kind="cudnn", problem=pname, name="cudnn-fp32(no-tf32)", ms=ms, floor_ms=floor)
        rec.update(errors(y, ref64, ref32))
        emit(rec)
        rows.append(rec)
        del y
        split_ms = bench(cf._tf32_split, x)
        emit(dict(kind="split", problem=pname, name="tf32-split(x)", ms=split_ms))
        print(
            f"{pname}: cudnn {cudnn_ms:.3f} ms, write-only {write_ms:.3f} ms, "
            f"split(x) {split_ms:.3f} ms",
            flush=True,
        )

        for c in configs:
            name = cfg_name(c)
            rec = dict(kind="triton", problem=pname, name=name, cfg=c, floor_ms=floor)
            if time.time() - T0 > BUDGET_S:
                rec["skipped"] = "time budget"
                emit(rec)
                continue
            apply(c)
            try:
                buf.fill_(float("nan"))
                t1 = time.time()
                cf.conv3d_fast(x, w, out=buf)
                torch.cuda.synchronize()
                rec["first_call_s"] = time.time() - t1
                rec.update(errors(buf, ref64, ref32))
                # Fresh input: the same function on other data.
                y2 = cf.conv3d_fast(x2, w)
                rec["max_abs_x2"] = max(
                    float((y2[i].double() - r2[i]).abs().max()) for i in range(n)
                )
                del y2
                ms = bench(cf.conv3d_fast, x, w)
                rec["ms"] = ms
                rec["speedup_vs_cudnn"] = cudnn_ms / ms
                rec["pct_of_floor"] = 100 * floor / ms
                rec["out_tb_s"] = out_bytes / ms / 1e9
                reps = kernel_report()
                if len(reps) > seen_kernels:
                    rec["kernel"] = reps[-1]
                    seen_kernels = len(reps)
            except Exception as e:  # noqa: BLE001 - keep measuring the others
                rec["error"] = repr(e)[:400]
                torch.cuda.synchronize()
            emit(rec)
            rows.append(rec)
            print(
                f"  {name:42s} {rec.get('ms', float('nan')):8.3f} ms "
                f"rel {rec.get('rel_err', float('nan')):.2e} ok={rec.get('allclose')} "
                f"{rec.get('error', '')[:80]}",
                flush=True,
            )
        del x, w, ref64, ref32, buf, x2, r2
        torch.cuda.empty_cache()
        rows.append(check_default(pname, n, ci, co, ks, dhw, floor, cudnn_ms))
        torch.cuda.empty_cache()

    print(
        "\nproblem name                                          ms   xcuDNN  %floor  rel_err   max_abs  ok"
    )
    cud = {r["problem"]: r["ms"] for r in rows if r["name"] == "cudnn-default"}
    for r in rows:
        if "ms" not in r:
            continue
        print(
            f"{r['problem']:6s} {r['name']:44s} {r['ms']:7.3f} {cud[r['problem']] / r['ms']:7.2f} "
            f"{100 * r['floor_ms'] / r['ms']:6.1f}  {r['rel_err']:.2e} {r['max_abs']:.2e} "
            f"{'Y' if r['allclose'] else 'N'}"
        )
    print(f"total {time.time() - T0:.0f} s")


if __name__ == "__main__":
    main()
