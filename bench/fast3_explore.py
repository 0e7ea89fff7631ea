"""Issue 16: kernels/conv3d_fast3.py variants against conv3d_fast2 and cuDNN, timed as KernelBench.

Run on the GPU machine from the repo root: `PYTHONUNBUFFERED=1 python3 bench/fast3_explore.py`.
For each L1 problem (L1/54, L1/59, L1/60, L1/66) and each variant (a kernel file with its
config-block constants rewritten), exactly as KernelBench judges a file:
- the file text (with the workbench's init-input adapter where the problem needs one, L1/59) is
  written to a temporary .py and imported with importlib from there;
- `torch.manual_seed(42); ModelNew(*get_init_inputs())` on the CPU, then `.cuda()`; the weight
  must equal the reference Model's (nn.Conv3d under seed 42, also built on the CPU);
- 5 correctness trials on KernelBench's trial seeds (torch.rand on the CPU, moved), reference first,
  shapes, then `torch.allclose(ref, new, atol=1e-4, rtol=1e-4)`; the output memory is poisoned
  with NaN before each trial (the caching allocator hands that block to the kernel's torch.empty);
  max abs error against the fp32 reference on every trial and against an fp64 conv on trial 1;
- timing (only when correct): workbench.runner.timing.time_kernelbench (3 warm-ups, mean of 100
  CUDA-event trials, 256 MB L2 flush before each, autograd on) and time_kernel_only (do_bench
  median) on the seed-42 input, plus the host time of one forward (no sync);
- cuDNN: the reference Model, KernelBench's measure_ref_program_time way (no_grad, 5 warm-ups),
  and do_bench.
Writes $OUT/fast3.jsonl (one JSON record per line) and $OUT/fast3-summary.json, prints a table last.
A per-problem time budget (FAST3_PROBLEM_S, default 68 s) skips the tail of the variant list.
`python3 bench/fast3_explore.py --ncu-target L1/66` runs the best variant of $OUT/fast3-summary.json
on that problem four times, for Nsight Compute to profile one launch (see the GPU command in
docs/performance.md).
`FAST3_CPU_SMOKE=1 TRITON_INTERPRET=1 python3 bench/fast3_explore.py` runs the same path on the
CPU in Triton's interpreter, on the problems' reduced shapes and without timing (a check of this
script, not a measurement).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch
import torch.nn.functional as F
import triton

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from workbench.core import kernelbench as kb  # noqa: E402
from workbench.core.problem import parse_problem  # noqa: E402
from workbench.kernel.bake import add_init_adapter  # noqa: E402
from workbench.runner.timing import time_kernel_only, time_kernelbench  # noqa: E402

OUT = Path(os.environ.get("OUT", "."))
JSONL = OUT / "fast3.jsonl"
PER_PROBLEM_S = float(os.environ.get("FAST3_PROBLEM_S", "68"))
PROBLEMS = os.environ.get("FAST3_PROBLEMS", "L1/54,L1/59,L1/60,L1/66").split(",")
TOL = kb.TOLERANCE["float32"]
SMOKE = os.environ.get("FAST3_CPU_SMOKE") == "1"
DEV = "cpu" if SMOKE else "cuda"
T0 = time.time()
_EMULATION = None

F2, F3 = "conv3d_fast2", "conv3d_fast3"
ALL = ("L1/54", "L1/59", "L1/60", "L1/66")
# (label, kernel stem, config-block constants, problems). In priority order within a problem.
VARIANTS = [
    ("fast2", F2, {}, ALL),
    ("f3-bf16-k16s3", F3, dict(PRECISION="bf16x3r", BLOCK_K=16, NUM_STAGES=3), ALL),
    ("f3-bf16-k16s2", F3, dict(PRECISION="bf16x3r", BLOCK_K=16, NUM_STAGES=2), ALL),
    ("f3-bf16-k32s3", F3, dict(PRECISION="bf16x3r", BLOCK_K=32, NUM_STAGES=3), ALL),
    ("f3-bf16-k16s4", F3, dict(PRECISION="bf16x3r", BLOCK_K=16, NUM_STAGES=4), ALL),
    ("f3-tf32-k16s3", F3, dict(PRECISION="tf32x3r", BLOCK_K=16, NUM_STAGES=3), ALL),
    # fast2's arithmetic and tap table with fast3's per-call caching: what the caching alone buys
    ("f3-tf32-table-k16s2", F3, dict(PRECISION="tf32x3r", TAPS="table", NUM_STAGES=2), ALL),
    ("f3-bf16-k32s2", F3, dict(PRECISION="bf16x3r", BLOCK_K=32, NUM_STAGES=2), ALL),
    ("f3-bf16-rows-k16s3", F3, dict(PRECISION="bf16x3r", TAPS="rows", NUM_STAGES=3), ("L1/54",)),
    (
        "f3-bf16-rows-k32s3",
        F3,
        dict(PRECISION="bf16x3r", TAPS="rows", BLOCK_K=32, NUM_STAGES=3),
        ("L1/54",),
    ),  # fmt: skip
    (
        "f3-bf16-table-k16s3",
        F3,
        dict(PRECISION="bf16x3r", TAPS="table", NUM_STAGES=3),
        ("L1/60", "L1/66"),
    ),  # fmt: skip
    (
        "f3-bf16-m256w8s3",
        F3,
        dict(PRECISION="bf16x3r", BLOCK_M=256, NUM_WARPS=8, NUM_STAGES=3),
        ALL,
    ),
    ("f3-bf16-m64s3", F3, dict(PRECISION="bf16x3r", BLOCK_M=64, NUM_STAGES=3), ALL),
    ("f3-ffma", F3, dict(PRECISION="ffma"), ("L1/59", "L1/54")),
    ("fast2-s3", F2, dict(NUM_STAGES=3), ("L1/59",)),
]


def emit(rec: dict) -> None:
    with open(JSONL, "a") as f:
        f.write(json.dumps(rec) + "\n")


def kernel_source(stem: str, consts: dict, problem) -> str:
    """The file as it would be submitted: its config block rewritten, the adapter added."""
    text = (ROOT / "kernels" / f"{stem}.py").read_text()
    for name, value in consts.items():
        text, n = re.subn(rf"^{name} = .*$", f"{name} = {value!r}", text, count=1, flags=re.M)
        if n != 1:
            raise ValueError(f"{stem}: no config constant {name}")
    if problem.needs_adapter:
        text = add_init_adapter(text, problem, f"kernels/{stem}.py")
    return text


def load_as_kernelbench(text: str):
    """KernelBench's load_custom_model_with_tempfile: a temp .py, imported from its path."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(text)
        path = f.name
    spec = importlib.util.spec_from_file_location("temp_module", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def kernel_stats(mod) -> list[dict]:
    out = []
    for obj in vars(mod).values():
        caches = getattr(obj, "device_caches", None)
        if not caches:
            continue
        for cache in caches.values():
            for ck in cache[0].values():
                out.append(
                    dict(
                        kernel=obj.__name__ if hasattr(obj, "__name__") else str(obj),
                        n_regs=getattr(ck, "n_regs", None),
                        n_spills=getattr(ck, "n_spills", None),
                        shared=getattr(ck.metadata, "shared", None),
                    )
                )
    return out


def sync() -> None:
    if DEV == "cuda":
        torch.cuda.synchronize()


def poison(shape) -> None:
    scratch = torch.empty(shape, device=DEV)
    scratch.fill_(float("nan"))
    del scratch


def host_us(fn, calls: int = 30) -> float:
    """Host time of one call (the launch queue is far from full at this count)."""
    sync()
    t = time.perf_counter()
    for _ in range(calls):
        fn()
    dt = (time.perf_counter() - t) / calls
    sync()
    return dt * 1e6


def reference(problem):
    torch.manual_seed(kb.SEED)
    model = torch.nn.Conv3d(*problem.conv_args())  # on the CPU, as KernelBench builds it
    model = model.to(DEV)
    inputs, outputs = [], []
    with torch.no_grad():
        for seed in kb.correctness_seeds(5):
            torch.manual_seed(seed)
            x = torch.rand(problem.input_shape).to(DEV)
            inputs.append(x)
            outputs.append(model(x))
        w64 = model.weight.detach().double()
        ref64 = F.conv3d(inputs[0].double(), w64)
    torch.manual_seed(kb.SEED)
    xp = torch.rand(problem.input_shape).to(DEV)
    return model, inputs, outputs, ref64, xp


def run_variant(problem, label, stem, consts, ref) -> dict:
    model_ref, inputs, outputs, ref64, xp = ref
    rec = dict(kind="variant", problem=problem.name, label=label, kernel=stem, config=consts)
    rec["problem"] = rec["problem"].replace(" (reduced)", "")
    mod = load_as_kernelbench(kernel_source(stem, consts, problem))
    torch.manual_seed(kb.SEED)
    model = mod.ModelNew(*problem.model_init_inputs()).to(DEV)
    shape = tuple(model_ref.weight.shape)
    mine = [p for p in model.parameters() if tuple(p.shape) == shape]
    rec["weights_equal"] = bool(mine) and torch.equal(mine[0].detach(), model_ref.weight.detach())
    ok, errs = True, []
    with torch.no_grad():
        for i, x in enumerate(inputs):
            poison(outputs[i].shape)
            t = time.time()
            y = model(x)
            sync()
            if i == 0:
                rec["first_call_s"] = round(time.time() - t, 2)
            if tuple(y.shape) != tuple(outputs[i].shape):
                ok = False
                rec["failure"] = (
                    f"trial {i + 1}: shape {tuple(y.shape)} vs {tuple(outputs[i].shape)}"
                )
                break
            errs.append(float((y - outputs[i]).abs().max()))
            if i == 0:
                d = y.double() - ref64
                rec["max_abs_vs_fp64"] = float(d.abs().max())
                rec["rel_vs_fp64"] = float(d.norm() / ref64.norm())
            if not torch.allclose(outputs[i], y, atol=TOL, rtol=TOL):
                ok = False
                rec["failure"] = f"trial {i + 1}: allclose 1e-4 failed, max abs {errs[-1]:.3g}"
                break
            del y
    rec["max_abs_vs_fp32"] = max(errs) if errs else None
    rec["kernelbench_pass"] = ok and rec["weights_equal"]
    rec["kernels"] = kernel_stats(mod)
    if rec["kernelbench_pass"] and not SMOKE:
        rec["kb_ms"] = time_kernelbench(lambda: model(xp)).mean_ms
        rec["kernel_only_ms"] = time_kernel_only(lambda: model(xp)).median_ms
        with torch.no_grad():
            rec["host_us"] = round(host_us(lambda: model(xp)), 1)
    return rec


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    if SMOKE:
        from workbench.runner.tf32 import emulating_gpu_dot

        global _EMULATION  # kept: the context ends when its generator is collected
        _EMULATION = emulating_gpu_dot()
        _EMULATION.__enter__()  # bf16 and tf32 dots as a GPU computes them
        dev = type("Dev", (), dict(name="cpu (interpreter smoke)", multi_processor_count=0))
    else:
        dev = torch.cuda.get_device_properties(0)
    env = dict(
        kind="env", device=dev.name, sms=dev.multi_processor_count, torch=torch.__version__,
        triton=triton.__version__, cudnn=torch.backends.cudnn.version(),
        date=time.strftime("%Y-%m-%d %H:%M:%S"),
    )  # fmt: skip
    emit(env)
    print(env)
    records = []
    for pi, pid in enumerate(PROBLEMS):
        tp = time.time()
        problem = parse_problem(pid)
        if SMOKE:
            problem = problem.reduced()
        ref = reference(problem)
        model_ref, xp = ref[0], ref[4]
        cudnn_kb = cudnn_ko = 1.0
        if not SMOKE:
            with torch.no_grad():  # measure_ref_program_time: no_grad, 5 warm-ups
                run = lambda m=model_ref, x=xp: m(x)  # noqa: E731
                cudnn_kb = time_kernelbench(run, warmups=5).mean_ms
                cudnn_ko = time_kernel_only(run).median_ms
        rec = dict(kind="cudnn", problem=pid, kb_ms=cudnn_kb, kernel_only_ms=cudnn_ko)
        emit(rec)
        print(
            f"{pid}: cuDNN KernelBench {cudnn_kb:.3f} ms, kernel only {cudnn_ko:.3f} ms", flush=True
        )
        records.append(rec)
        budget = PER_PROBLEM_S + max(0.0, (pi * PER_PROBLEM_S) - (time.time() - T0))
        for label, stem, consts, where in VARIANTS:
            if pid not in where:
                continue
            if time.time() - tp > budget:
                rec = dict(kind="variant", problem=pid, label=label, skipped="time budget")
                emit(rec)
                records.append(rec)
                continue
            try:
                rec = run_variant(problem, label, stem, consts, ref)
            except Exception as err:  # a variant that does not compile or run is a result too
                rec = dict(kind="variant", problem=pid, label=label, kernel=stem, config=consts,
                           error=f"{type(err).__name__}: {str(err).strip()[-600:]}",
                           trace=traceback.format_exc()[-1500:])  # fmt: skip
            rec["cudnn_kb_ms"] = cudnn_kb
            if rec.get("kb_ms"):
                rec["speedup_kb"] = cudnn_kb / rec["kb_ms"]
            emit(rec)
            records.append(rec)
            regs = [k.get("n_regs") for k in rec.get("kernels", [])]
            print(
                f"  {label:22s} pass={rec.get('kernelbench_pass')} kb={rec.get('kb_ms')} "
                f"ko={rec.get('kernel_only_ms')} host_us={rec.get('host_us')} "
                f"err64={rec.get('max_abs_vs_fp64')} regs={regs} "
                f"{rec.get('error', '') or rec.get('failure', '')}"[:400],
                flush=True,
            )
        del ref, model_ref, xp
        if not SMOKE:
            torch.cuda.empty_cache()
    summarize(records)


def summarize(records: list[dict]) -> None:
    cudnn = {r["problem"]: r["kb_ms"] for r in records if r["kind"] == "cudnn"}
    best = {}
    for r in records:
        better = r["problem"] not in best or r.get("kb_ms", 1e9) < best[r["problem"]]["kb_ms"]
        if r["kind"] == "variant" and r.get("kb_ms") and better:
            best[r["problem"]] = r
    speedups = [cudnn[p] / best[p]["kb_ms"] for p in best if p in cudnn]
    geo = math.exp(sum(map(math.log, speedups)) / len(speedups)) if speedups else None
    summary = dict(
        best={p: dict(label=r["label"], kb_ms=r["kb_ms"], kernel_only_ms=r["kernel_only_ms"],
                      cudnn_kb_ms=cudnn.get(p), speedup=cudnn[p] / r["kb_ms"])
              for p, r in best.items()},
        geomean_speedup=geo, elapsed_s=round(time.time() - T0, 1),
    )  # fmt: skip
    (OUT / "fast3-summary.json").write_text(json.dumps(summary, indent=1))
    print("\nproblem  variant                 KB ms   kernel ms  cuDNN KB ms  speedup  err vs fp64")
    for r in records:
        if r["kind"] != "variant":
            continue
        kbm, ko = r.get("kb_ms"), r.get("kernel_only_ms")
        status = (
            f"{kbm:7.3f}  {ko:9.3f}  {r['cudnn_kb_ms']:11.3f}  {r['cudnn_kb_ms'] / kbm:6.2f}x"
            if kbm
            else (r.get("skipped") or r.get("failure") or (r.get("error") or "")[:60])
        )
        e64 = r.get("max_abs_vs_fp64")
        print(
            f"{r['problem']:7s}  {r['label']:22s} {status}  {'' if e64 is None else f'{e64:.1e}'}"
        )
    print(f"best per problem: { {p: (r['label'], round(r['kb_ms'], 3)) for p, r in best.items()} }")
    print(f"geomean speedup over cuDNN (KernelBench protocol, best per problem): {geo}")


def ncu_target(pid: str) -> None:
    best = json.loads((OUT / "fast3-summary.json").read_text())["best"][pid]["label"]
    label, stem, consts, _ = next(v for v in VARIANTS if v[0] == best)
    problem = parse_problem(pid)
    mod = load_as_kernelbench(kernel_source(stem, consts, problem))
    torch.manual_seed(kb.SEED)
    model = mod.ModelNew(*problem.model_init_inputs()).cuda()
    torch.manual_seed(kb.SEED)
    x = torch.rand(problem.input_shape).cuda()
    with torch.no_grad():
        for _ in range(4):
            model(x)
    torch.cuda.synchronize()
    print(f"ncu target: {pid} {label}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--ncu-target":
        ncu_target(sys.argv[2])
    else:
        main()
