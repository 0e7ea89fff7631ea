"""Issue 16: kernels/conv3d_fast4.py variants against conv3d_fast3 (control) and cuDNN, as KernelBench.

Run on the GPU machine from the repo root: `python3 bench/fast4_explore.py --out "$OUT"`.
Measurement is bench/fast3_explore.py's, imported (not copied): for each L1 problem (L1/54, 59,
60, 66) and variant (a kernel file with its config-block constants rewritten, the init-input
adapter added where the problem needs it, written to a temporary .py and imported from there),
`torch.manual_seed(42); ModelNew(*get_init_inputs())` (weights checked equal to the reference
nn.Conv3d's under seed 42), KernelBench's 5 correctness trials at atol = rtol = 1e-4 with the
output memory poisoned with NaN, max abs error against fp64 (trial 1) and fp32 (all trials), then
KB ms (workbench.runner.timing.time_kernelbench: 3 warm-ups, mean of 100 CUDA-event trials, L2
flushed before each) and kernel-only ms (do_bench median), and the host time of one forward.
cuDNN: the reference Model timed once per problem the way KernelBench times it (no_grad, 5 warm-ups).

Before measuring, every (problem, variant) is compiled in parallel worker processes (one forward
each on the real shape, --jobs at a time), so the measuring loop finds Triton's cache warm; a
worker that fails leaves the error to the measuring loop. All four problems' references are
built first (held on the GPU), then the variants run in priority order across the problems; a
deadline (--deadline-s, default 380 s from start) stops starting new ones, and what was measured
is still written.
Writes $OUT/fast4-results.json (env, every record, summary) and $OUT/fast4.jsonl (one record per
line as measured), and prints a table last. The pack kernel's own kernel-only ms (for f4-k16s3)
and the f4-k16s3-outplane variant were added after the H200 run of 2026-12-02.
`--only a,b` runs those variants (and the control). `--dry-run` runs the same path on this CPU in
Triton's interpreter on the problems' reduced shapes, one fast4 variant and the control, no
timing (a check of this script, not a measurement).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

T0 = time.time()
ROOT = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ".")))
    ap.add_argument("--dry-run", action="store_true", help="CPU interpreter, reduced shapes")
    ap.add_argument("--problems", default="L1/54,L1/59,L1/60,L1/66")
    ap.add_argument("--only", default="", help="comma-separated variant labels (default: all)")
    ap.add_argument("--jobs", type=int, default=10, help="parallel compile workers (0: none)")
    ap.add_argument("--deadline-s", type=float, default=380.0)
    ap.add_argument("--warm-one", nargs=2, metavar=("PROBLEM", "LABEL"), help=argparse.SUPPRESS)
    return ap.parse_args()


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None and ARGS.dry_run:
    # before torch and triton are imported (fast3_explore reads these at import)
    os.environ["TRITON_INTERPRET"] = "1"
    os.environ["FAST3_CPU_SMOKE"] = "1"
if ARGS is not None:
    os.environ["OUT"] = str(ARGS.out)

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import fast3_explore as f3x  # noqa: E402
import torch  # noqa: E402
import triton  # noqa: E402

from workbench.core import kernelbench as kb  # noqa: E402
from workbench.core.problem import parse_problem  # noqa: E402

F3, F4 = "conv3d_fast3", "conv3d_fast4"
ALL = ("L1/54", "L1/59", "L1/60", "L1/66")
NO59 = ("L1/54", "L1/60", "L1/66")
# (label, kernel stem, config-block constants, problems), in priority order within a problem.
# The list run on the H200 on 2026-12-02 (docs/performance.md, fast4-explore-h200-2026-12-02.json),
# plus the last entry.
VARIANTS = [
    ("f3-defaults", F3, {}, ALL),  # the control: today's best single config
    ("f4-k16s3", F4, {}, ALL),  # fast4 defaults: rows unfolded (pairs on L1/59), 3 dots
    ("f4-k16s2", F4, dict(NUM_STAGES=2), ALL),
    ("f4-dots2-k16s2", F4, dict(DOTS=2, NUM_STAGES=2), NO59),  # one 16-byte A tile, 2 dots
    ("f4-pairs-k16s3", F4, dict(UNFOLD=0), NO59),  # fast3's gather count, no split, 2 dots
    ("f4-k32s2", F4, dict(BLOCK_K=32, NUM_STAGES=2), ALL),
    ("f4-m256w8s3", F4, dict(BLOCK_M=256, NUM_WARPS=8), ALL),  # weights read once per 256
    ("f4-k16s3-plainlaunch", F4, dict(FAST_LAUNCH=0), ("L1/54", "L1/59", "L1/66")),
    ("f4-dots2-k16s3", F4, dict(DOTS=2), ("L1/60", "L1/66")),
    ("f4-k16s4", F4, dict(NUM_STAGES=4), ("L1/66",)),
    ("f4-k16s3-unrolled", F4, dict(ROLLED=0), ("L1/60", "L1/66")),  # ptxas unrolls 23 steps
    # added after the H200 run of 2026-12-02 (not measured yet): output-plane tiles
    ("f4-k16s3-outplane", F4, dict(ROW_W=-2), ALL),
    # 2026-12-02b: fast3's cached launch (FAST_LAUNCH=1 is now its default) against the plain one,
    # and the best fast4 tile of round 7 with 4 stages and with output-plane tiles
    ("f3-plainlaunch", F3, dict(FAST_LAUNCH=0), ALL),
    ("f3-k16s2", F3, dict(BLOCK_K=16, NUM_STAGES=2), ALL),
    ("f4-m256w8s4", F4, dict(BLOCK_M=256, NUM_WARPS=8, NUM_STAGES=4), NO59),
    ("f4-m256w8-outplane", F4, dict(BLOCK_M=256, NUM_WARPS=8, ROW_W=-2), NO59),
    # 2026-12-02b, call 3: the tap table with BLOCK_K=32 on the kw = 7 problems (315 taps in 10
    # steps instead of 12 row steps), and BLOCK_M=64; the persistent variants of that call ran
    # the kernel of 2f324d5 (PERSISTENT, removed since: slower everywhere; docs/performance.md)
    ("f3-m64k32s2", F3, dict(BLOCK_M=64, NUM_STAGES=2), ("L1/54", "L1/59")),
    ("f3-table-k32s3", F3, dict(TAPS="table"), ("L1/60", "L1/66")),
    ("f3-table-k32s4", F3, dict(TAPS="table", NUM_STAGES=4), ("L1/60", "L1/66")),
    # 2026-12-02c: x split once per call (bf16x3p) at the defaults, and the row taps on the
    # one-step L1/59 (K = 27: the offsets become constants, no tap-table load before the gathers)
    ("f3p-defaults", F3, dict(PRECISION="bf16x3p"), ALL),
    ("f3p-k16s3", F3, dict(PRECISION="bf16x3p", BLOCK_K=16), ALL),
    ("f3-rows", F3, dict(TAPS="rows"), ("L1/59",)),
    ("f3p-rows", F3, dict(PRECISION="bf16x3p", TAPS="rows"), ("L1/59",)),
    # 2026-12-02c, call 2 (the file's defaults are bf16x3p now, row taps at kw = 1): the old
    # precision as control, a register cap for 4 blocks per SM, and 64-point tiles
    ("f3r-defaults", F3, dict(PRECISION="bf16x3r"), ALL),
    ("f3p-maxnreg128", F3, dict(MAXNREG=128), ("L1/60", "L1/66")),
    ("f3p-m64s2", F3, dict(BLOCK_M=64, NUM_STAGES=2), ("L1/54", "L1/59")),
    ("f3r-m64s2", F3, dict(PRECISION="bf16x3r", BLOCK_M=64, NUM_STAGES=2), ("L1/54",)),
    ("f3r-s2", F3, dict(PRECISION="bf16x3r", NUM_STAGES=2), ("L1/54",)),
    # call 5 ran the tile loop again at 593a165 (each tile's weights and taps loaded in the loop):
    # f3-p5-m64s2, f3-p4-m64s3, f3-p3-w8s2, f3-p3-s2 on L1/59, all slower; removed since
    # 2026-12-02d, call 2, at 934a619: L1/59's tiles stored by TMA (TMA_STORE=1, that commit's
    # default) against the per-thread stores; TMA lost 19-23 % and was taken out again, so these
    # labels need that commit's kernel file
    ("f3-notma", F3, dict(TMA_STORE=0), ("L1/59",)),
    ("f3r-k16s3", F3, dict(PRECISION="bf16x3r", BLOCK_K=16), ("L1/59",)),
    ("f3r-k16s3-notma", F3, dict(PRECISION="bf16x3r", BLOCK_K=16, TMA_STORE=0), ("L1/59",)),
    ("f3p-s4", F3, dict(NUM_STAGES=4), ("L1/59",)),
    ("f3p-m256w8", F3, dict(BLOCK_M=256, NUM_WARPS=8), ("L1/59",)),
    ("f3p-m64s2-tma", F3, dict(BLOCK_M=64, NUM_STAGES=2), ("L1/59",)),
    # 2026-12-02d, call 4, at dccdcec: K_MAJOR (bf16x3p's A tile
    # k-major in shared memory, read as 8-byte k-pairs; ptxas: 184 registers at BLOCK_K=32,
    # 136-138 at 16, 126-128 with MAXNREG=128 and no spill) against the defaults and bf16x3p at
    # BLOCK_K=16 (f3p-k16s3); it lost 29-46 % and was taken out again
    ("kmaj-k16-r128", F3, dict(K_MAJOR=1, BLOCK_K=16, MAXNREG=128), NO59),
    ("kmaj-k16-r128-s2", F3, dict(K_MAJOR=1, BLOCK_K=16, MAXNREG=128, NUM_STAGES=2), NO59),
    ("kmaj-k16-r128-s4", F3, dict(K_MAJOR=1, BLOCK_K=16, MAXNREG=128, NUM_STAGES=4), NO59),
    ("kmaj-k16", F3, dict(K_MAJOR=1, BLOCK_K=16), NO59),
    ("kmaj-k32", F3, dict(K_MAJOR=1), NO59),
    # 2026-12-02e, call 1, at 8e4c740: bf16x3s / bf16x3c (the split words read as bf16 pairs, A
    # left in shared memory for wgmma); 1.6-2x slower and taken out again, so these labels need
    # that commit's kernel file
    ("s-k32s2", F3, dict(PRECISION="bf16x3s", NUM_STAGES=2), ALL),
    ("s-k16s3", F3, dict(PRECISION="bf16x3s", BLOCK_K=16), ALL),
    ("s-k16s4", F3, dict(PRECISION="bf16x3s", BLOCK_K=16, NUM_STAGES=4), ALL),
    ("s-k16s2", F3, dict(PRECISION="bf16x3s", BLOCK_K=16, NUM_STAGES=2), ALL),
    ("s-k32s3", F3, dict(PRECISION="bf16x3s"), ALL),
    ("s-m64s3", F3, dict(PRECISION="bf16x3s", BLOCK_M=64), ALL),
    ("s-m64k16s4", F3, dict(PRECISION="bf16x3s", BLOCK_M=64, BLOCK_K=16, NUM_STAGES=4), ALL),
    ("c-m64k16s3", F3, dict(PRECISION="bf16x3c", BLOCK_M=64, BLOCK_K=16), ALL),
    ("c-m64k16s4", F3, dict(PRECISION="bf16x3c", BLOCK_M=64, BLOCK_K=16, NUM_STAGES=4), ALL),
    ("c-m64s2", F3, dict(PRECISION="bf16x3c", BLOCK_M=64, NUM_STAGES=2), ALL),
    ("c-k16s3", F3, dict(PRECISION="bf16x3c", BLOCK_K=16), ALL),
    # 2026-12-02e, call 2: bf16x3g (Gluon: A fragments loaded straight from global memory into
    # wgmma's register layout, the packed weight resident in shared memory)
    ("g-defaults", F3, dict(PRECISION="bf16x3g"), ALL),
    ("g-wait3", F3, dict(PRECISION="bf16x3g", WG_WAIT=3), ALL),
    ("g-k16", F3, dict(PRECISION="bf16x3g", BLOCK_K=16), ALL),
    ("g-m64", F3, dict(PRECISION="bf16x3g", BLOCK_M=64), ALL),
    ("g-m256w8", F3, dict(PRECISION="bf16x3g", BLOCK_M=256, NUM_WARPS=8), ALL),
    # call 3: a persistent grid (WG_TILES blocks per SM, the weight copied once per block) and
    # 32-channel tiles (48 KB of weight per block on L1/60 and L1/66: 4 blocks per SM)
    ("g-t2w3", F3, dict(PRECISION="bf16x3g", WG_WAIT=3, WG_TILES=2), ALL),
    ("g-t2", F3, dict(PRECISION="bf16x3g", WG_TILES=2), ALL),
    ("g-n32", F3, dict(PRECISION="bf16x3g", BLOCK_N=32), ALL),
    ("g-n32w3", F3, dict(PRECISION="bf16x3g", BLOCK_N=32, WG_WAIT=3), ALL),
    ("g-n32t3w3", F3, dict(PRECISION="bf16x3g", BLOCK_N=32, WG_WAIT=3, WG_TILES=3), ALL),
    ("g-n32t4", F3, dict(PRECISION="bf16x3g", BLOCK_N=32, WG_TILES=4), ALL),
    ("g-m64w3", F3, dict(PRECISION="bf16x3g", BLOCK_M=64, WG_WAIT=3), ALL),
    ("g-m64t4w3", F3, dict(PRECISION="bf16x3g", BLOCK_M=64, WG_WAIT=3, WG_TILES=4), ALL),
]


def variants(only: str) -> list[tuple[str, str, dict, tuple[str, ...]]]:
    vs = VARIANTS
    if only:
        keep = set(only.split(","))
        vs = [v for v in vs if v[0] in keep or v[0] == "f3-defaults"]
    return vs


def dry_consts(stem: str, consts: dict) -> dict:
    """Tiny tiles for the interpreter (slow); the variant's own constants win elsewhere."""
    if not f3x.SMOKE:
        return consts
    tiny = {"BLOCK_M": 32} if consts.get("PERSISTENT") else {"BLOCK_M": 32, "BLOCK_N": 16}
    return {**tiny, **consts}


def problem_of(pid: str):
    problem = parse_problem(pid)
    return problem.reduced() if f3x.SMOKE else problem


def warm_one(pid: str, label: str) -> None:
    """Compile one variant's kernels by one forward on the problem's shape (a worker process)."""
    stem, consts = next((v[1], v[2]) for v in variants("") if v[0] == label)
    problem = problem_of(pid)
    mod = f3x.load_as_kernelbench(f3x.kernel_source(stem, dry_consts(stem, consts), problem))
    torch.manual_seed(kb.SEED)
    model = mod.ModelNew(*problem.model_init_inputs()).to(f3x.DEV)
    x = torch.rand(problem.input_shape).to(f3x.DEV)
    with torch.no_grad():
        model(x)
    f3x.sync()


def prewarm(jobs: list[tuple[str, str]], n: int, dry: bool) -> dict:
    """Run warm_one for every job in up to n worker processes; returns seconds and failures."""
    t, running, failed = time.time(), [], []
    queue = list(jobs)
    env = dict(os.environ)
    while queue or running:
        while queue and len(running) < n:
            pid, label = queue.pop(0)
            cmd = [sys.executable, __file__, "--warm-one", pid, label]
            cmd += ["--dry-run"] if dry else []
            p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            running.append((p, pid, label, time.time()))
        for item in list(running):
            p, pid, label, t0 = item
            if p.poll() is None and time.time() - t0 < 240:
                continue
            if p.poll() is None:
                p.kill()
            _, err = p.communicate()
            if p.returncode:
                failed.append(dict(problem=pid, label=label, rc=p.returncode,
                                   stderr=err.decode(errors="replace")[-400:]))  # fmt: skip
            running.remove(item)
        time.sleep(0.2)
    return dict(prewarm_s=round(time.time() - t, 1), prewarm_failed=failed)


def pack_ms(problem, stem: str, consts: dict, x) -> float | None:
    """Kernel-only ms of fast4's pack launch alone (do_bench median), on the seed-42 input: what
    the per-call split of x costs inside the variant's kernel-only time."""
    mod = f3x.load_as_kernelbench(f3x.kernel_source(stem, consts, problem))
    torch.manual_seed(kb.SEED)
    model = mod.ModelNew(*problem.model_init_inputs()).to(f3x.DEV)
    with torch.no_grad():
        model(x)
    plan = next(iter(mod._PLANS.values()))
    xp_numel, pack = plan[1], plan[-2]
    buf = torch.empty(xp_numel, device=x.device, dtype=torch.bfloat16)
    if f3x.SMOKE:
        pack(x.contiguous(), buf)
        return None
    return f3x.time_kernel_only(lambda: pack(x.contiguous(), buf)).median_ms


def main(args: argparse.Namespace) -> None:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    jsonl = out / "fast4.jsonl"
    vs = variants(args.only)
    if f3x.SMOKE:
        from workbench.runner.tf32 import emulating_gpu_dot

        emulation = emulating_gpu_dot()
        emulation.__enter__()  # bf16 dots as a GPU computes them
        if not args.only:
            vs = [v for v in vs if v[0] in ("f3-defaults", "f4-k16s3")]
        dev_name, sms = "cpu (interpreter dry run)", 0
    else:
        prop = torch.cuda.get_device_properties(0)
        dev_name, sms = prop.name, prop.multi_processor_count
    problems = args.problems.split(",")
    env = dict(kind="env", device=dev_name, sms=sms, torch=torch.__version__,
               triton=triton.__version__, cudnn=torch.backends.cudnn.version(),
               date=time.strftime("%Y-%m-%d %H:%M:%S"),
               protocol=kb.PROTOCOL, dry_run=bool(f3x.SMOKE))  # fmt: skip
    records: list[dict] = [env]

    def emit(rec: dict) -> None:
        records.append(rec)
        with open(jsonl, "a") as f:
            f.write(json.dumps(rec) + "\n")

    print(env, flush=True)
    jobs = [(p, v[0]) for p in problems for v in vs if p in v[3]]
    if f3x.SMOKE:
        jobs = jobs[-1:]  # the path checked once; the interpreter has no compile to warm
    if args.jobs > 0:
        warm = prewarm(jobs, args.jobs, bool(f3x.SMOKE))
        env.update(warm)
        print(f"prewarm: {warm['prewarm_s']} s, {len(warm['prewarm_failed'])} failed", flush=True)
    deadline = T0 + args.deadline_s
    # every problem's reference first (held on the GPU, ~35 GB for the four), then the variants
    # in priority order across the problems, so a deadline cuts the least important ones
    refs, cudnn = {}, {}
    for pid in problems:
        problem = problem_of(pid)
        refs[pid] = (problem, f3x.reference(problem))
        model_ref, xp = refs[pid][1][0], refs[pid][1][4]
        cudnn_kb = cudnn_ko = None
        if not f3x.SMOKE:
            with torch.no_grad():  # measure_ref_program_time: no_grad, 5 warm-ups
                run = lambda m=model_ref, x=xp: m(x)  # noqa: E731
                cudnn_kb = f3x.time_kernelbench(run, warmups=5).mean_ms
                cudnn_ko = f3x.time_kernel_only(run).median_ms
        cudnn[pid] = cudnn_kb
        emit(dict(kind="cudnn", problem=pid, kb_ms=cudnn_kb, kernel_only_ms=cudnn_ko))
        print(f"{pid}: cuDNN KB {cudnn_kb} ms, kernel only {cudnn_ko} ms", flush=True)
    for label, stem, consts, where in vs:
        for pid in problems:
            if pid not in where:
                continue
            if time.time() > deadline:
                emit(dict(kind="variant", problem=pid, label=label, skipped="deadline"))
                continue
            problem, ref = refs[pid]
            t = time.time()
            try:
                rec = f3x.run_variant(problem, label, stem, dry_consts(stem, consts), ref)
            except Exception as err:  # a variant that does not compile or run is a result too
                rec = dict(kind="variant", problem=pid, label=label, kernel=stem, config=consts,
                           error=f"{type(err).__name__}: {str(err).strip()[-600:]}",
                           trace=traceback.format_exc()[-1500:])  # fmt: skip
            rec["problem"], rec["config"], rec["wall_s"] = pid, consts, round(time.time() - t, 1)
            rec["cudnn_kb_ms"] = cudnn[pid]
            if label == "f4-k16s3" and rec.get("kernelbench_pass"):
                try:
                    rec["pack_kernel_only_ms"] = pack_ms(
                        problem, stem, dry_consts(stem, consts), ref[4]
                    )
                except Exception as err:  # an extra, never a reason to lose the record
                    rec["pack_error"] = f"{type(err).__name__}: {err}"[:300]
            if rec.get("kb_ms") and cudnn[pid]:
                rec["speedup_kb"] = cudnn[pid] / rec["kb_ms"]
            emit(rec)
            regs = [(k.get("n_regs"), k.get("shared")) for k in rec.get("kernels", [])]
            print(
                f"  {pid} {label:26s} pass={rec.get('kernelbench_pass')} kb={rec.get('kb_ms')} "
                f"pack={rec.get('pack_kernel_only_ms')} {rec.get('pack_error', '')}"
                f"ko={rec.get('kernel_only_ms')} host_us={rec.get('host_us')} "
                f"err64={rec.get('max_abs_vs_fp64')} regs/smem={regs} {rec['wall_s']}s "
                f"{rec.get('error', '') or rec.get('failure', '')}"[:400],
                flush=True,
            )
            if not f3x.SMOKE:
                torch.cuda.empty_cache()
    summary = summarize(records)
    env["elapsed_s"] = round(time.time() - T0, 1)
    (out / "fast4-results.json").write_text(
        json.dumps(dict(env=env, records=records[1:], summary=summary), indent=1)
    )
    print(f"wrote {out / 'fast4-results.json'} ({env['elapsed_s']} s)")


def geomean(xs: list[float]) -> float | None:
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else None


def summarize(records: list[dict]) -> dict:
    cudnn = {r["problem"]: r["kb_ms"] for r in records if r.get("kind") == "cudnn"}
    runs = [r for r in records if r.get("kind") == "variant"]
    ok = [r for r in runs if r.get("kernelbench_pass") and r.get("kb_ms")]
    best: dict[str, dict] = {}
    for r in ok:
        if r["problem"] not in best or r["kb_ms"] < best[r["problem"]]["kb_ms"]:
            best[r["problem"]] = r
    by_label: dict[str, dict[str, float]] = {}
    for r in ok:
        by_label.setdefault(r["label"], {})[r["problem"]] = cudnn[r["problem"]] / r["kb_ms"]
    n_problems = len(cudnn)
    single = {lab: geomean(list(s.values())) for lab, s in by_label.items() if len(s) == n_problems}
    f4 = [r for r in ok if r["kernel"] == F4]
    best4: dict[str, dict] = {}
    for r in f4:
        if r["problem"] not in best4 or r["kb_ms"] < best4[r["problem"]]["kb_ms"]:
            best4[r["problem"]] = r
    summary = dict(
        best={p: dict(label=r["label"], kb_ms=r["kb_ms"], kernel_only_ms=r["kernel_only_ms"],
                      cudnn_kb_ms=cudnn[p], speedup=cudnn[p] / r["kb_ms"])
              for p, r in best.items()},
        geomean_best=geomean([cudnn[p] / r["kb_ms"] for p, r in best.items()]),
        geomean_best_fast4=geomean([cudnn[p] / r["kb_ms"] for p, r in best4.items()]),
        geomean_single_config=single,
        failed=[dict(problem=r["problem"], label=r["label"],
                     why=r.get("failure") or r.get("error", "")[:200])
                for r in runs if not r.get("kernelbench_pass") and not r.get("skipped")],
    )  # fmt: skip
    runs = sorted(runs, key=lambda r: r["problem"])  # stable: priority order within a problem
    print("\nproblem  variant                     KB ms  kernel ms  host us  speedup(KB)  err64")
    for r in runs:
        kbm, ko = r.get("kb_ms"), r.get("kernel_only_ms")
        if kbm and r.get("kernelbench_pass"):
            sp = cudnn[r["problem"]] / kbm
            status = f"{kbm:6.3f}  {ko:9.3f}  {r.get('host_us') or 0:7.1f}  {sp:10.2f}x"
        elif r.get("kernelbench_pass") is not None and r.get("kernelbench_pass"):
            status = "pass (not timed: dry run)"
        else:
            status = (
                "SKIP " + r["skipped"]
                if r.get("skipped")
                else "FAIL " + str(r.get("failure") or r.get("error", ""))[:70]
            )
        e64 = r.get("max_abs_vs_fp64")
        print(
            f"{r['problem']:7s}  {r['label']:26s}  {status}  {'' if e64 is None else f'{e64:.1e}'}"
        )
    print(f"cuDNN KB ms: {cudnn}")
    print(f"best per problem: { {p: (r['label'], round(r['kb_ms'], 3)) for p, r in best.items()} }")
    print(f"geomean over cuDNN (KB protocol): best per problem {summary['geomean_best']}, "
          f"best fast4 per problem {summary['geomean_best_fast4']}")  # fmt: skip
    print(f"single config on all problems: {single}")
    return summary


if __name__ == "__main__":
    assert ARGS is not None
    if ARGS.warm_one:
        warm_one(ARGS.warm_one[0], ARGS.warm_one[1])
    else:
        main(ARGS)
