"""Round 4 scratch measurement of kernels/conv3d_fast.py (issue 6, second engineer's round).

Run on the GPU machine: `python3 bench/fast_explore2.py GROUP [GROUP ...]`, one process per group
so that a compiler crash in one group loses only that group. Appends JSON lines to
$OUT/fast.jsonl and prints one line per measurement. Helpers (error check, timing, PTX facts) come
from bench/fast_explore.py.

Round 4 ran this against a patch of the kernel that added the knobs PERSIST (persistent grid,
programs per SM), FLATTEN (tile loop fused with the K loop by tl.range(..., flatten=True)),
STORE_CS (streaming stores) and MAXNREG (register cap). None of them won (see
docs/performance-notes.md, round 4), so the patch was not kept: configs that set a knob the
kernel file lacks are recorded as skipped. Results: docs/measurements/fast-explore-4.json.
"""

import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fast_explore as fe  # noqa: E402

cf = fe.cf
T0 = time.time()
BUDGET_S = float(os.environ.get("FAST_BUDGET_S", "200"))
KEYS = (
    "BLOCK_M",
    "BLOCK_N",
    "BLOCK_K",
    "CO_MAJOR",
    "NUM_WARPS",
    "NUM_STAGES",
    "PRECISION",
    "PERSIST",
    "FLATTEN",
    "STORE_CS",
    "MAXNREG",
)
BASE = dict(
    BLOCK_M=128,
    BLOCK_N=64,
    BLOCK_K=16,
    CO_MAJOR=False,
    NUM_WARPS=4,
    NUM_STAGES=3,
    PRECISION="tf32x3r",
    PERSIST=0,
    FLATTEN=0,
    STORE_CS=0,
    MAXNREG=None,
)


def V(**kw):
    c = dict(BASE)
    c.update(kw)
    return c


GROUPS = {
    # Config sweeps of the round-3 kernel: K padding, stages, streaming stores, register cap.
    "sweep": [
        V(),
        V(NUM_STAGES=2),
        V(BLOCK_K=8),
        V(BLOCK_K=8, NUM_STAGES=4),
        V(BLOCK_K=8, NUM_STAGES=2),
        V(STORE_CS=1),
        V(STORE_CS=1, NUM_STAGES=2),
        V(MAXNREG=128),
        V(BLOCK_K=8, MAXNREG=128, NUM_STAGES=4),
        V(BLOCK_M=256, NUM_WARPS=8, BLOCK_K=8),
        V(PRECISION="tf32"),
    ],
    # Persistent grid, tile loop and K loop separate.
    "persist": [
        V(PERSIST=3),
        V(PERSIST=3, NUM_STAGES=2),
        V(PERSIST=2),
        V(PERSIST=4, BLOCK_K=8),
    ],
    # Persistent grid with the tile loop and the K loop fused (tl.range(..., flatten=True)).
    "flat": [
        V(PERSIST=3, FLATTEN=1),
        V(PERSIST=2, FLATTEN=1),
        V(PERSIST=3, FLATTEN=1, NUM_STAGES=4),
        V(PERSIST=3, FLATTEN=1, NUM_STAGES=2),
        V(PERSIST=3, FLATTEN=1, STORE_CS=1),
        V(PERSIST=3, FLATTEN=1, BLOCK_K=8, NUM_STAGES=4),
        V(PERSIST=4, FLATTEN=1, BLOCK_K=8, NUM_STAGES=4),
        V(PERSIST=3, FLATTEN=1, PRECISION="tf32"),
    ],
}


def name(c):
    s = (
        f"{c['PRECISION']}/M{c['BLOCK_M']}K{c['BLOCK_K']}/w{c['NUM_WARPS']}s{c['NUM_STAGES']}"
        f"{'/P' + str(c['PERSIST']) if c['PERSIST'] else ''}{'F' if c['FLATTEN'] else ''}"
        f"{'/cs' if c['STORE_CS'] else ''}{'/r' + str(c['MAXNREG']) if c['MAXNREG'] else ''}"
    )
    return s


def emit(rec):
    with open(fe.JSONL, "a") as f:
        f.write(json.dumps(rec) + "\n")


def main():
    groups = sys.argv[1:]
    configs = [(g, c) for g in groups for c in GROUPS[g]]
    seen = 0
    for pi, (pname, n, ci, co, ks, dhw, floor) in enumerate(fe.PROBLEMS):
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
        emit(dict(kind="cudnn", round="4", problem=pname, name="cudnn-default", ms=cudnn_ms))
        print(f"{pname}: cudnn {cudnn_ms:.3f} ms", flush=True)
        for group, c in configs:
            rec = dict(kind="triton", round="4", group=group, problem=pname, name=name(c), cfg=c)
            rec["floor_ms"] = floor
            if time.time() - T0 > BUDGET_S:
                rec["skipped"] = "time budget"
                emit(rec)
                continue
            missing = [k for k in KEYS if not hasattr(cf, k) and c[k] != BASE[k]]
            if missing:
                rec["skipped"] = f"kernel file has no {missing}"
                emit(rec)
                continue
            for k in KEYS:
                if hasattr(cf, k):
                    setattr(cf, k, c[k])
            try:
                buf.fill_(float("nan"))
                t1 = time.time()
                cf.conv3d_fast(x, w, out=buf)
                torch.cuda.synchronize()
                rec["first_call_s"] = time.time() - t1
                rec.update(fe.errors(buf, ref64, ref32))
                ms = fe.bench(cf.conv3d_fast, x, w, out=buf)
                rec["ms"] = ms
                rec["cudnn_ms"] = cudnn_ms
                rec["speedup_vs_cudnn"] = cudnn_ms / ms
                rec["pct_of_floor"] = 100 * floor / ms
                reps = fe.kernel_report()
                if len(reps) > seen:
                    rec["kernel"] = reps[-1]
                    seen = len(reps)
            except Exception as e:  # noqa: BLE001 - keep measuring the others
                rec["error"] = repr(e)[-600:]  # the cause is at the end
                torch.cuda.synchronize()
            emit(rec)
            k = rec.get("kernel") or {}
            print(
                f"  {group:7s} {rec['name']:36s} {rec.get('ms', float('nan')):7.3f} ms "
                f"x{rec.get('speedup_vs_cudnn', float('nan')):.2f} "
                f"rel {rec.get('rel_err', float('nan')):.1e} ok={rec.get('allclose')} "
                f"regs={k.get('n_regs')} spills={k.get('n_spills')} smem={k.get('shared')} "
                f"{rec.get('error', '')[:300]}",
                flush=True,
            )
        del x, w, ref64, ref32, buf
        torch.cuda.empty_cache()
    print(f"total {time.time() - T0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
