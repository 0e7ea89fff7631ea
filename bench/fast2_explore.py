"""Round 5 scratch measurement: kernels/conv3d_fast2.py variants vs cuDNN and conv3d_fast.py.

Run on the GPU machine: `python3 bench/fast2_explore.py`. Appends JSON lines to $OUT/fast2.jsonl
and prints one line per measurement. Same method as bench/fast_explore.py (whose helpers it uses):
do_bench median (warm-up 25 ms, rep 100 ms), torch.rand inputs, output poisoned with NaN before
the checked launch, rel/max error against an fp64 conv, allclose 1e-4 against cuDNN fp32.
Each problem gets FAST2_BUDGET_S seconds (default 40); configs past it are recorded as skipped.
"""

import importlib.util
import json
import os
import sys
import time

import torch
import torch.nn.functional as F
import triton

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fast_explore as fe  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("conv3d_fast2", f"{ROOT}/kernels/conv3d_fast2.py")
cf2 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cf2)
cf = fe.cf

OUT = os.environ.get("OUT", ".")
JSONL = os.path.join(OUT, "fast2.jsonl")
PER_PROBLEM_S = float(os.environ.get("FAST2_BUDGET_S", "40"))
T0 = time.time()
KEYS = ("BLOCK_M", "BLOCK_N", "BLOCK_K", "ROW_W", "XSHIFT", "NUM_WARPS", "NUM_STAGES", "PRECISION")
BASE = dict(
    BLOCK_M=128,
    BLOCK_N=64,
    BLOCK_K=16,
    ROW_W=-1,
    XSHIFT=4,
    NUM_WARPS=4,
    NUM_STAGES=3,
    PRECISION="tf32x3r",
)
FAST_DEFAULTS = {k: getattr(cf, k) for k in fe.BASE}


def V(**kw):
    c = dict(BASE)
    c.update(kw)
    return c


# In priority order: a problem that runs out of its budget loses the tail.
CONFIGS = [
    V(),
    V(XSHIFT=1),
    V(NUM_STAGES=2),
    V(BLOCK_M=64),
    V(NUM_WARPS=8),
    V(BLOCK_M=64, NUM_STAGES=4),
    V(BLOCK_M=256, NUM_WARPS=8),
    V(XSHIFT=1, NUM_STAGES=2),
    V(XSHIFT=1, BLOCK_M=64),
    V(PRECISION="tf32"),
]


def name(c):
    return (
        f"{c['PRECISION']}/M{c['BLOCK_M']}K{c['BLOCK_K']}/w{c['NUM_WARPS']}s{c['NUM_STAGES']}"
        f"/row{c['ROW_W']}/x{c['XSHIFT']}"
    )


def emit(rec):
    with open(JSONL, "a") as f:
        f.write(json.dumps(rec) + "\n")


def kernel_report(kernel):
    reps = []
    for caches in kernel.device_caches.values():
        for ck in caches[0].values():
            ptx = ck.asm.get("ptx", "")
            reps.append(
                dict(
                    n_regs=getattr(ck, "n_regs", None),
                    n_spills=getattr(ck, "n_spills", None),
                    shared=getattr(ck.metadata, "shared", None),
                    cp_async_16=ptx.count("cp.async.cg.shared.global"),
                    cp_async=ptx.count("cp.async."),
                    st_v2=ptx.count("st.global.v2"),
                    st_v4=ptx.count("st.global.v4"),
                )
            )
    return reps


def measure(fn, x, w, buf, ref64, ref32, rec):
    buf.fill_(float("nan"))
    t1 = time.time()
    fn(x, w, out=buf)
    torch.cuda.synchronize()
    rec["first_call_s"] = time.time() - t1
    rec.update(fe.errors(buf, ref64, ref32))
    rec["ms"] = fe.bench(fn, x, w, out=buf)


def copy_time(x, ci, ks):
    sx = x.stride()
    cs = x.numel() + cf2._X_TAIL
    _, shifts = cf2._tables(x.device, ci, *ks, sx[1:], (1, 1, 1), 512, 4, cs)
    xs = torch.empty(shifts.numel() * cs, device="cuda")
    grid = (triton.cdiv(cs, 2048), shifts.numel())

    def run():
        cf2._shift_copy_kernel[grid](x, xs, shifts, x.numel(), cs, BLOCK=2048, num_warps=4)

    return shifts.numel(), fe.bench(run)


def main():
    dev = torch.cuda.get_device_properties(0)
    emit(dict(kind="env", device=dev.name, torch=torch.__version__, triton=triton.__version__))
    seen = 0
    for pi, (pname, n, ci, co, ks, dhw, floor) in enumerate(fe.PROBLEMS):
        tp = time.time()
        torch.manual_seed(1234 + pi)
        x = torch.rand(n, ci, *dhw, device="cuda")
        w = torch.empty(co, ci, *ks, device="cuda")
        torch.nn.init.kaiming_uniform_(w, a=5**0.5)
        ref64 = F.conv3d(x.double(), w.double())
        torch.backends.cudnn.allow_tf32 = False
        ref32 = F.conv3d(x, w)
        torch.backends.cudnn.allow_tf32 = True
        buf = torch.empty_like(ref32)
        cudnn_ms = fe.bench(F.conv3d, x, w)
        emit(dict(kind="cudnn", problem=pname, name="cudnn-default", ms=cudnn_ms))
        # The wrapper's extra work: 4-aligned shifted copies of x (the shifts L1's taps need).
        nshift, copy_ms = copy_time(x, ci, ks)
        emit(dict(kind="shift_copy", problem=pname, shifts=nshift, ms=copy_ms))
        print(f"{pname}: cudnn {cudnn_ms:.3f} ms; shift copies x{nshift} {copy_ms:.3f} ms")
        runs = [("fast", FAST_DEFAULTS)] + [("fast2", c) for c in CONFIGS]
        for kind, c in runs:
            label = "conv3d_fast " + fe.cfg_name(c) if kind == "fast" else name(c)
            rec = dict(kind=kind, problem=pname, name=label, cfg=c, floor_ms=floor)
            if time.time() - tp > PER_PROBLEM_S:
                rec["skipped"] = "time budget"
                emit(rec)
                continue
            try:
                if kind == "fast":
                    fe.apply(c)
                    measure(cf.conv3d_fast, x, w, buf, ref64, ref32, rec)
                else:
                    for k in KEYS:
                        setattr(cf2, k, c[k])
                    measure(cf2.conv3d_fast2, x, w, buf, ref64, ref32, rec)
                    reps = kernel_report(cf2._conv3d_fast2_kernel)
                    if len(reps) > seen:
                        rec["kernel"] = reps[-1]
                        seen = len(reps)
                rec["cudnn_ms"] = cudnn_ms
                rec["speedup_vs_cudnn"] = cudnn_ms / rec["ms"]
            except Exception as e:  # noqa: BLE001 - keep measuring the others
                rec["error"] = repr(e)[-600:]
                torch.cuda.synchronize()
            emit(rec)
            k = rec.get("kernel") or {}
            print(
                f"  {label:50s} {rec.get('ms', float('nan')):7.3f} ms "
                f"x{rec.get('speedup_vs_cudnn', float('nan')):.2f} "
                f"rel {rec.get('rel_err', float('nan')):.1e} ok={rec.get('allclose')} "
                f"regs={k.get('n_regs')} smem={k.get('shared')} "
                f"cp16={k.get('cp_async_16')}/{k.get('cp_async')} "
                f"{rec.get('skipped', '')}{rec.get('error', '')[-300:]}",
                flush=True,
            )
        del x, w, ref64, ref32, buf
        torch.cuda.empty_cache()
    print(f"total {time.time() - T0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
