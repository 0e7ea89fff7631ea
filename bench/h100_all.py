"""Every GPU measurement of one session, in one script and one device call.

Run on the GPU machine from the repo root:
    PYTHONPATH=$PWD python3 bench/h100_all.py --out $OUT [--steps trials,faults,ncu,replay,export,fast]
Writes raw JSON under --out and session files under sessions/ (copied to --out too), and prints a
short table last. Each step is skipped (and says so) when the time budget is spent.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import torch

from workbench.gpus import find_gpu
from workbench.kernelfile import KernelFile
from workbench.problem import parse_problem
from workbench.run import keep_warm, run_trial
from workbench.session import Session

ROOT = Path(__file__).resolve().parents[1]
H100 = find_gpu("h100")
PROBLEMS = ["L1/54", "L1/59", "L1/60", "L1/66"]
PRECISIONS = ["ieee", "tf32", "tf32x3"]
# The config the issues name (BLOCK_M=128,BLOCK_N=64,BLOCK_K=32,num_warps=8,num_stages=2).
ISSUE_CONFIG = {
    "BLOCK_M": 128,
    "BLOCK_N": 64,
    "BLOCK_K": 32,
    "num_warps": 8,
    "num_stages": 2,
    "precision": "tf32x3",
}
MODE = "gpu"  # --smoke: the interpreter on a tiny problem, to check this script on a CPU
START = time.monotonic()
LOG: list[dict] = []
RESULTS: dict = {"trials": LOG}


def elapsed() -> float:
    return time.monotonic() - START


def say(text: str) -> None:
    print(f"[{elapsed():6.1f}s] {text}", flush=True)


def trial(
    kf: KernelFile, problem_id: str, config: dict, session: Session | None, note: str = "", **kw
) -> dict:
    problem = parse_problem(problem_id)
    result = run_trial(kf, problem, config, gpu=H100, mode=MODE, **kw)
    if session is not None:
        session.record(config, None, result, note)  # the result carries its inspect report
    t = result.get("timing") or {}
    c = result.get("correctness") or {}
    row = {
        "problem": problem_id,
        "kernel": kf.name,
        "config": config,
        "status": result["status"],
        "message": result.get("message"),
        "median_ms": t.get("median_ms"),
        "p20_ms": t.get("p20_ms"),
        "p80_ms": t.get("p80_ms"),
        "kb_mean_ms": (result.get("kernelbench_timing") or {}).get("mean_ms"),
        "baseline_ms": (result.get("baseline") or {}).get("median_ms"),
        "speedup": result.get("speedup"),
        "rel_error": c.get("rel_error"),
        "max_abs_error": c.get("max_abs_error"),
        "kernelbench_pass": c.get("kernelbench_pass"),
        "wall_s": result.get("wall_s"),
        "note": note,
    }
    LOG.append(row)
    if len(LOG) == 1 and result["status"] not in ("ok", "wrong_result"):
        # The first trial of a run is a known-good config: anything else is a bug in the GPU path.
        print(json.dumps(result, indent=2, default=str)[-6000:])
        raise SystemExit("the first trial failed: stopping to save device time")
    say(
        f"{problem_id} {kf.name} {config} -> {result['status']} {t.get('median_ms')} ms (cuDNN {row['baseline_ms']}) err {c.get('rel_error')} {result.get('message') or ''}"
    )
    return result


def session_for(path: Path, kf: KernelFile, problem_id: str) -> Session:
    if path.exists():
        path.unlink()  # a fresh recording each run of this script
    return Session.create(path, kf, parse_problem(problem_id), H100)


def step_trials(out: Path, budget: float) -> None:
    """Issue 3 + 4: the built-in kernel on four problems in each precision, one session per problem."""
    kf = KernelFile.load()
    for pid in PROBLEMS:
        slug = pid.lower().replace("/", "-")
        with session_for(ROOT / "sessions" / f"{slug}-h100.json", kf, pid) as session:
            for precision in PRECISIONS:
                if elapsed() > budget:
                    say("budget spent: stopping trials")
                    return
                trial(
                    kf, pid, {"precision": precision}, session, note=f"default tiles, {precision}"
                )
            if pid == "L1/66":
                for cfg in (
                    ISSUE_CONFIG,
                    {
                        "BLOCK_M": 64,
                        "BLOCK_N": 64,
                        "BLOCK_K": 32,
                        "num_warps": 4,
                        "num_stages": 3,
                        "precision": "tf32x3",
                    },
                    {
                        "BLOCK_M": 128,
                        "BLOCK_N": 64,
                        "BLOCK_K": 16,
                        "num_warps": 4,
                        "num_stages": 3,
                        "precision": "tf32x3",
                    },
                    # a config that cannot run: far over the H100's 227 KB of shared memory per block
                    {
                        "BLOCK_M": 256,
                        "BLOCK_N": 128,
                        "BLOCK_K": 64,
                        "num_warps": 8,
                        "num_stages": 4,
                        "precision": "tf32x3",
                    },
                ):
                    trial(kf, pid, cfg, session, note="tuning")
                # the same config again, compile now cached: the end-to-end wall time of a trial
                again = trial(
                    kf, pid, {"precision": "tf32x3"}, session, note="repeat, compile cached"
                )
                RESULTS["trial_wall"] = {"wall_s": again.get("wall_s")}


def _measure_kernel(name: str, out: Path) -> Path:
    """A measure fixture of the tests, written out (tests/measure_kernels.py makes them)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from measure_kernels import write_measure_kernels

    return write_measure_kernels(out / "measure-kernels")[name]


def step_faults(out: Path) -> None:
    """Issue 3: an out-of-bounds kernel is a runtime_fault, an endless one a timeout, then a good trial."""
    results = {}
    for name, path, timeout in (
        ("oob", _measure_kernel("oob", out), 120),
        ("endless", ROOT / "bench/fixtures/endless.py", 40),
    ):
        kf = KernelFile.load(path)
        r = trial(kf, "L1/66", {}, None, note=name, timeout_s=timeout)
        results[name] = {k: r.get(k) for k in ("status", "message", "wall_s")}
    r = trial(KernelFile.load(), "L1/66", {"precision": "tf32x3"}, None, note="after faults")
    results["after"] = {k: r.get(k) for k in ("status", "message", "wall_s")}
    RESULTS["faults"] = results


def step_ncu(out: Path) -> None:
    kf = KernelFile.load()
    r = trial(
        kf,
        "L1/66",
        ISSUE_CONFIG,
        None,
        note="ncu",
        ncu=True,
    )
    RESULTS["ncu"] = r.get("ncu")
    say(f"ncu: {json.dumps(r.get('ncu'))[:600]}")


def step_replay(out: Path) -> None:
    """Issue 4: replay the L1/66 session just recorded (a second, independent run)."""
    cmd = [sys.executable, "-m", "workbench", "replay", "sessions/l1-66-h100.json", "--json"]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=400)
    try:
        RESULTS["replay"] = {"exit": p.returncode, "report": json.loads(p.stdout)}
    except json.JSONDecodeError:
        RESULTS["replay"] = {
            "exit": p.returncode,
            "stdout": p.stdout[-5000:],
            "stderr": p.stderr[-2000:],
        }
    say(f"replay exit {p.returncode}; {p.stderr[-400:]}")
    print(p.stdout[-3000:])


def step_export(out: Path) -> None:
    """Issue 4: export the best trial and check it as KernelBench does (5 trials, seed 42, 1e-4)."""
    target = out / "conv3d_tuned.py"
    cmd = [
        sys.executable,
        "-m",
        "workbench",
        "export",
        "sessions/l1-66-h100.json",
        "-o",
        str(target),
    ]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    say(f"export exit {p.returncode} {p.stdout[-300:]} {p.stderr[-300:]}")
    if p.returncode != 0:
        return
    problem = parse_problem("L1/66")
    spec = importlib.util.spec_from_file_location("exported_conv3d", target)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    torch.manual_seed(42)
    ref = torch.nn.Conv3d(*problem.init_inputs()).cuda()
    torch.manual_seed(42)
    new = mod.ModelNew(*problem.init_inputs()).cuda()
    passes = []
    for t in range(5):
        torch.manual_seed(42 + t)
        x = torch.rand(problem.input_shape).cuda()
        with torch.no_grad():
            a, b = ref(x), new(x)
        passes.append(bool(a.shape == b.shape and torch.allclose(a, b, atol=1e-4, rtol=1e-4)))
    times = []
    flush = torch.empty(256 * 1024 * 1024 // 4, device="cuda")
    for i in range(103):
        flush.zero_()
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        with torch.no_grad():
            new(x)
        e.record()
        torch.cuda.synchronize()
        if i >= 3:
            times.append(s.elapsed_time(e))
    res = {"trials_pass": passes, "all_pass": all(passes), "mean_ms": sum(times) / len(times)}
    RESULTS["export_check"] = res
    say(f"export check: {res}")


def step_fast(
    out: Path,
    budget: float,
    kernel: str = "kernels/conv3d_fast.py",
    configs_file: str | None = None,
) -> None:
    """Issue 6: a fast kernel, tuned configs per problem, one session each.

    Sessions are named sessions/<problem>-h100-<tag>.json, the tag being the kernel file's stem
    without its "conv3d_" prefix ("fast" for kernels/conv3d_fast.py, "fast2" for
    kernels/conv3d_fast2.py). With --fast-configs only the problems that file lists are recorded.
    """
    path = ROOT / kernel
    if not path.exists():
        say(f"no {kernel}: skipping")
        return
    kf = KernelFile.load(path)
    tag = path.stem.removeprefix("conv3d_")
    cfg_path = ROOT / (configs_file or "bench/fast_configs.json")
    configs = json.loads(cfg_path.read_text()) if cfg_path.exists() else {}
    problems = list(configs) if configs_file else PROBLEMS + ["L2/43", "L2/47", "L2/90"]
    for pid in problems:
        slug = pid.lower().replace("/", "-")
        with session_for(ROOT / "sessions" / f"{slug}-h100-{tag}.json", kf, pid) as session:
            for cfg in configs.get(pid, [{}]):
                if elapsed() > budget:
                    say("budget spent: stopping fast trials")
                    return
                trial(kf, pid, cfg, session, note=f"{tag} kernel")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", default="trials,faults,ncu,replay,export,fast")
    ap.add_argument(
        "--budget", type=float, default=480.0, help="seconds before optional steps stop"
    )
    ap.add_argument("--smoke", action="store_true", help="CPU check of this script (interpreter)")
    ap.add_argument(
        "--fast-kernel",
        default="kernels/conv3d_fast.py",
        help="kernel file of the fast step (sessions named after its stem)",
    )
    ap.add_argument(
        "--fast-configs",
        default=None,
        help="configs of the fast step (default bench/fast_configs.json, all seven problems)",
    )
    args = ap.parse_args()
    if args.smoke:
        global MODE, PROBLEMS
        MODE, PROBLEMS = "interpreter", ["L1/66"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    say(f"device: {device}; torch {torch.__version__}; mode {MODE}")
    keep_warm(True)  # a spare worker imports torch/Triton while the current trial runs
    steps = args.steps.split(",")
    for name in steps:
        if elapsed() > args.budget:
            say(f"budget spent: skipping {name}")
            continue
        say(f"== step {name}")
        try:
            if name == "trials":
                step_trials(out, args.budget * 0.45)
            elif name == "fast":
                step_fast(out, args.budget, args.fast_kernel, args.fast_configs)
            else:
                globals()[f"step_{name}"](out)
        except Exception as err:  # one failing step must not lose the others' numbers
            say(f"step {name} failed: {type(err).__name__}: {err}")
        (out / "results.json").write_text(json.dumps(RESULTS, indent=2, default=str))
    with tarfile.open(out / "sessions.tgz", "w:gz") as tar:
        for f in sorted((ROOT / "sessions").glob("*-h100*.json")):
            tar.add(f, arcname=f.name)
    print(
        "\nproblem  kernel          status        median_ms  cuDNN_ms  speedup  rel_err   KB  config"
    )
    for r in LOG:
        print(
            f"{r['problem']:8} {r['kernel'][:15]:15} {r['status']:13} {r['median_ms'] or float('nan'):9.3f}"
            f" {r['baseline_ms'] or float('nan'):9.3f} {r['speedup'] or float('nan'):7.2f}"
            f"  {r['rel_error'] if r['rel_error'] is not None else float('nan'):.1e} {str(r['kernelbench_pass'])[:1]}  {r['config']}"
        )


if __name__ == "__main__":
    main()
