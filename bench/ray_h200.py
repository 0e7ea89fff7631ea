"""Issue 15 on the lent H200: the same grid sweep of conv3d_fast2 on L1/66 with `--backend local`
and with `--backend ray` (a local Ray cluster: 16 CPUs, the one GPU); the winners, the wall times
and where the time went, as JSON.

Run by bench/ray_h200.sh after it installs Ray (see there). By hand, from the repo root:
    python3 bench/ray_h200.py --out $OUT                   # both backends, one after the other
    python3 bench/ray_h200.py --backend ray --out DIR      # one backend in this process
Here, without a GPU, to check the script (the interpreter on a tiny problem):
    python3 bench/ray_h200.py --out /tmp/rh --smoke
$OUT gets two files: ray_h200.json (both runs, the winners, the wall times, where the time went)
and ray_h200_bundle.tar.gz (each run's JSON and session, and the logs in --work).

Each backend runs in its own process with its own empty compile cache and Triton cache, so both
start cold, as on a fresh machine: stage 1 compiles all configs for sm_90 on the 16 cores, stage 2
screens every config that fits on the GPU (one warm worker), gives the top 3 KernelBench's full
protocol and times the winner again. Local runs first, then Ray (the second run may find the
machine's file cache warm: the JSON says the order).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KERNEL = "kernels/conv3d_fast2.py"
PROBLEM = "L1/66"
GPU = "h200"
# 54 configs that compile quickly: no 256x32 tiles (the slowest to compile), no 64x32 tiles on 8
# warps; tf32x3r passes KernelBench's 1e-4.
SPACE = (
    "BLOCK_M=64,128,256;BLOCK_N=32,64;BLOCK_K=16,32;num_warps=4,8;num_stages=1,2,3;"
    "precision=tf32x3r;BLOCK_M*BLOCK_K<=4096;not (BLOCK_M==64 and BLOCK_N==32 and num_warps==8)"
)
SMOKE = {
    "problem": "N=1,Ci=2,Co=8,D=4,H=4,W=5,k=3,pad=1",
    "space": "BLOCK_M=32,64;BLOCK_N=16;BLOCK_K=16;num_warps=2,4;num_stages=1;precision=tf32x3",
    "gpu": "4090",
}
TOP = 3


def nvidia_gpus() -> int | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    out = subprocess.run([exe, "-L"], capture_output=True, text=True, check=False)
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU ")) or None


def one(backend: str, session: Path, smoke: bool, workers: int, space: str) -> dict[str, Any]:
    """One sweep in this process, with a clock on every stage."""
    from workbench.core.gpus import find_gpu
    from workbench.kernel.kernelfile import KernelFile
    from workbench.kernel.problemfile import load_problem
    from workbench.runner.base import Runner
    from workbench.runner.local import LocalRunner, keep_warm
    from workbench.search.sweep import Sweep, SweepEvent, SweepSpec, build_space
    from workbench.session.store import Session

    problem = load_problem(SMOKE["problem"] if smoke else PROBLEM)
    gpu = find_gpu(SMOKE["gpu"] if smoke else GPU)
    kf = KernelFile.load(None if smoke else ROOT / KERNEL)
    mode = "interpreter" if smoke else "gpu"
    spec = SweepSpec(
        space=build_space(kf, problem, SMOKE["space"] if smoke else space).text(),
        strategy="grid", target=gpu.key, mode=mode, top_k=TOP,
    )  # fmt: skip
    started = time.monotonic()
    runner: Runner
    if backend == "ray":
        from workbench.runner.ray import RayRunner

        runner = RayRunner(workers=workers, num_gpus=0 if smoke else nvidia_gpus())
        cluster = {"cpus": runner.cpus, "gpus": runner.gpus}
    else:
        keep_warm(True)  # as `conv3d-bench sweep` does
        runner = LocalRunner(compile_workers=workers)
        cluster = {}
    runner_start = time.monotonic() - started
    stages: dict[str, dict[str, float]] = {}
    lock = threading.Lock()

    def on_event(event: SweepEvent) -> None:
        now = time.monotonic() - started
        with lock:
            stage = stages.setdefault(event.stage, {"first_s": now, "last_s": now, "events": 0})
            stage["last_s"] = now
            stage["events"] += 1

    try:
        with Session.open(session, kf, problem, gpu) as s:
            result = Sweep(kf, problem, gpu, spec, s, runner, on_event=on_event).run()
            trials = list(s.trials)
    finally:
        closing = time.monotonic()
        runner.close()
        close_s = time.monotonic() - closing
    by_mode: dict[str, dict[str, Any]] = {}
    for t in trials:
        m = by_mode.setdefault(
            t.mode, {"trials": 0, "worker_s": 0.0, "phases_s": {}, "statuses": {}, "ray": set()}
        )
        m["trials"] += 1
        m["worker_s"] += t.worker_s or 0.0
        for phase, seconds in (t.phases_s or {}).items():  # the worker's own clock, summed
            m["phases_s"][phase] = m["phases_s"].get(phase, 0.0) + seconds
        m["statuses"][str(t.status)] = m["statuses"].get(str(t.status), 0) + 1
        if "ray_actor" in t.extra:
            m["ray"].add(f"{t.extra['ray_actor']} cvd={t.extra.get('cuda_visible_devices')!r}")
        if t.extra.get("ray_attempt", 1) > 1:
            m["retried"] = m.get("retried", 0) + 1
    for m in by_mode.values():
        m["worker_s"] = round(m["worker_s"], 2)
        m["phases_s"] = {k: round(v, 2) for k, v in m["phases_s"].items()}
        m["ray"] = sorted(m["ray"])
    w = result.winner
    return {
        "backend": backend,
        "cluster": cluster,
        "kernel": str(kf.path),
        "problem": result.problem,
        "target": gpu.key,
        "space": spec.space,
        "space_size": result.space_size,
        "fits": result.fits,
        "dropped": result.dropped,
        "measured": result.measured,
        "winner": None
        if w is None
        else {
            "config": w.config,
            "kernelbench_ms": w.kernelbench_ms,
            "kernel_only_ms": w.kernel_only_ms,
            "runs_ms": w.runs_ms,
            "speedup_vs_cudnn": w.speedup,
            "correct": w.correct,
        },  # fmt: skip
        "winner_basis": result.winner_basis,
        "top": [
            {"config": r.config, "kernelbench_ms": r.kernelbench_ms, "correct": r.correct}
            for r in result.ranked[:TOP]
        ],
        "wall_s": round(time.monotonic() - started, 2),
        "where_the_time_went": {
            "runner_start_s": round(runner_start, 2),
            "sweep_s": round(result.wall_s, 2),
            "stages_s_since_start": {
                k: {kk: round(v, 2) for kk, v in d.items()} for k, d in stages.items()
            },
            "gpu_worker_s": round(result.gpu_s, 2),
            "seconds_per_measured_config": result.seconds_per_config,
            "runner_close_s": round(close_s, 2),
            "by_mode": by_mode,
        },
        "device": result.device,
        "rank_correlation": result.rank_correlation,
        "notes": result.notes,
    }


def both(work: Path, smoke: bool, workers: int, timeout: float, space: str) -> dict[str, Any]:
    """Each backend in its own process, cold caches; local first. Its files go to `work`."""
    report: dict[str, Any] = {"order": ["local", "ray"], "runs": {}, "errors": {}}
    with tempfile.TemporaryDirectory(prefix="ray-h200-") as tmp:
        for backend in ("local", "ray"):
            env = {
                **os.environ,
                "CONV3D_BENCH_CACHE": f"{tmp}/{backend}/bench",
                "TRITON_CACHE_DIR": f"{tmp}/{backend}/triton",
                "RAY_AUTH_MODE": "disabled",
                "PYTHONUNBUFFERED": "1",
            }
            argv = [sys.executable, __file__, "--backend", backend, "--out", str(work), "--workers", str(workers),
                    "--space", space, *(["--smoke"] if smoke else [])]  # fmt: skip
            print(f"--- {backend}", flush=True)
            t = time.monotonic()
            try:
                done = subprocess.run(argv, env=env, cwd=ROOT, timeout=timeout, check=False)
                rc: int | str = done.returncode
            except subprocess.TimeoutExpired:
                rc = f"timed out after {timeout:.0f} s"
            print(f"--- {backend}: {rc} in {time.monotonic() - t:.1f} s", flush=True)
            path = work / f"ray_h200_{backend}.json"
            if path.is_file():
                report["runs"][backend] = json.loads(path.read_text())
                report["runs"][backend]["process_wall_s"] = round(time.monotonic() - t, 2)
            else:
                report["errors"][backend] = f"no result (exit {rc}); see the output above"
    runs = report["runs"]
    if "local" in runs and "ray" in runs:
        a, b = runs["local"]["winner"], runs["ray"]["winner"]
        report["same_winner"] = bool(a and b and a["config"] == b["config"])
        report["wall_s"] = {k: runs[k]["wall_s"] for k in ("local", "ray")}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out", required=True, help="ray_h200.json and ray_h200_bundle.tar.gz go here"
    )
    parser.add_argument(
        "--work", default="/tmp/ray_h200_work", help="per-run files, sessions, logs"
    )
    parser.add_argument(
        "--backend", choices=("local", "ray"), default=None, help="one backend here"
    )
    parser.add_argument("--smoke", action="store_true", help="no GPU: interpreter, tiny problem")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=170.0, help="seconds per backend")
    parser.add_argument("--space", default=SPACE)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.backend:
        session = out / f"ray_h200_{args.backend}_session.json"
        session.unlink(missing_ok=True)
        result = one(args.backend, session, args.smoke, args.workers, args.space)
        (out / f"ray_h200_{args.backend}.json").write_text(json.dumps(result, indent=1) + "\n")
        print(json.dumps({k: result[k] for k in ("backend", "winner", "wall_s")}), flush=True)
        return
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    report = both(work, args.smoke, args.workers, args.timeout, args.space)
    (out / "ray_h200.json").write_text(json.dumps(report, indent=1) + "\n")
    # Two files back from the device call: the summary above and everything else in one bundle.
    with tarfile.open(out / "ray_h200_bundle.tar.gz", "w:gz") as tar:
        tar.add(work, arcname="ray_h200")
    print(json.dumps({k: report.get(k) for k in ("same_winner", "wall_s", "errors")}), flush=True)


if __name__ == "__main__":
    main()
