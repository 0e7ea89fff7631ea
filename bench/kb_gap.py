"""Why `conv3d-bench bench` and the independent judge time one exported file differently (issue 10).

On the H200 on 2026-12-02 the judge (bench/kernelbench_judge.py) timed the exported L1/54 winner at
0.738 ms by KernelBench's protocol and the workbench's `bench` at 0.933 ms (L1/66: 0.790 vs 0.888;
L1/59 and L1/60 within 4 %). This script takes the two apart, step by step, on the GPU:

    python3 bench/kb_gap.py EXPORTED.py PROBLEM.py L1/54 --out OUT.json

1. the judge, in its own process; 2. `bench --json`, in its own process (a fresh worker);
3. in one process: the worker's own trial (runner.worker.handle, in process), then the same
   process times (a) the judge's model and inputs with the judge's timing function and with the
   workbench's, (b) the worker's model and inputs, with and without the worker's config forcing;
4. the judge and `bench` again (order effects, clocks).
Each step's mean (and median) lands in OUT.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _judge_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "kb_judge", ROOT / "bench" / "kernelbench_judge.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def judge_process(kernel: str, problem_file: str, work: Path, tag: str) -> dict[str, Any]:
    out = work / f"judge-{tag}.json"
    t0 = time.monotonic()
    subprocess.run([sys.executable, str(ROOT / "bench" / "kernelbench_judge.py"), kernel, problem_file,
                    "--json", str(out)], check=False, timeout=240, capture_output=True)  # fmt: skip
    data = json.loads(out.read_text()) if out.exists() else {}
    stats = data.get("runtime_stats") or {}
    return {"step": f"judge process ({tag})", "mean_ms": stats.get("mean_unrounded"),
            "median_ms": stats.get("median_unrounded"), "wall_s": time.monotonic() - t0,
            "verdict": data.get("verdict")}  # fmt: skip


def bench_process(kernel: str, problem: str, tag: str) -> dict[str, Any]:
    t0 = time.monotonic()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run([sys.executable, "-m", "workbench", "bench", kernel, "--problem", problem, "--gpu", "h200",
                           "--json"], capture_output=True, text=True, timeout=300, env=env)  # fmt: skip
    try:
        data = json.loads(done.stdout)
    except ValueError:
        data = {}
    kb = data.get("kernelbench_timing") or {}
    return {"step": f"bench process ({tag})", "mean_ms": kb.get("mean_ms"), "p20_ms": kb.get("p20_ms"),
            "p80_ms": kb.get("p80_ms"), "wall_s": time.monotonic() - t0, "status": data.get("status"),
            "phases_s": data.get("phases_s"), "stderr": done.stderr[-400:]}  # fmt: skip


def in_process(kernel: str, problem_file: str, problem_id: str) -> list[dict[str, Any]]:
    """The worker's trial in this process, then the same process timing every combination."""
    import torch

    from workbench.core.gpus import find_gpu
    from workbench.kernel.kernelfile import KernelFile
    from workbench.kernel.problemfile import load_problem
    from workbench.runner import timing, worker
    from workbench.runner.local import make_request

    jm = _judge_module()
    rows: list[dict[str, Any]] = []
    kf = KernelFile.load(kernel)
    problem = load_problem(problem_id)
    gpu = find_gpu("h200")
    state = worker.BatchState()
    request = make_request(kf, problem, {}, gpu, "gpu")
    result = worker.handle(request, state)
    kb = result.kernelbench_timing
    rows.append({"step": "worker.handle in process", "mean_ms": kb.mean_ms if kb else None,
                 "p20_ms": kb.p20_ms if kb else None, "status": str(result.status),
                 "config": result.config, "message": result.message})  # fmt: skip

    def both(label: str, fn: Any) -> None:
        for name in ("judge timing", "workbench timing"):
            if name == "judge timing":
                stats = jm.time_cuda_events(torch, fn, [], "cuda", 3, 100)
                mean, median = stats["mean_unrounded"], stats["median_unrounded"]
            else:
                t = timing.time_kernelbench(fn)
                mean, median = t.mean_ms, None
            rows.append({"step": f"{label}: {name}", "mean_ms": mean, "median_ms": median})

    # (a) the judge's model and inputs.
    context = jm.load_problem(Path(problem_file).read_text())
    jm.set_seed(torch, jm.SEED)
    init = context["get_init_inputs"]()
    model_new, _ = jm.load_model_new(Path(kernel).read_text())
    jm.set_seed(torch, jm.SEED)
    with torch.no_grad():
        judged = model_new(*init)
    judged = judged.to("cuda")
    jm.set_seed(torch, jm.SEED)
    xs = jm.moved(torch, list(context["get_inputs"]()), "cuda")
    both("judge's model and input", lambda: judged(*xs))
    # (b) the worker's model and inputs (its state still holds them), with and without forcing.
    module = state.module(state.kernel(request), "gpu")
    built = worker.build_model_new(module, problem, "gpu")
    ref = next(iter(state.references.values()))
    x = ref.inputs[0]
    both("worker's model and input", lambda: built(x))
    full = kf.full_config(problem, {})
    with kf.forcing(full, module):
        both("worker's model, forced to its full config", lambda: built(x))
    del ref, state
    torch.cuda.empty_cache()
    both("judge's model, after the worker's state is freed", lambda: judged(*xs))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kernel")
    parser.add_argument("problem_file")
    parser.add_argument("problem")
    parser.add_argument("--out", required=True)
    parser.add_argument("--in-process-only", action="store_true")
    args = parser.parse_args()
    work = Path(args.out).parent
    rows: list[dict[str, Any]] = []
    if args.in_process_only:
        rows = in_process(args.kernel, args.problem_file, args.problem)
    else:
        rows.append(judge_process(args.kernel, args.problem_file, work, "first"))
        rows.append(bench_process(args.kernel, args.problem, "first"))
        child = subprocess.run([sys.executable, __file__, args.kernel, args.problem_file, args.problem, "--out",
                                str(work / "in-process.json"), "--in-process-only"],
                               capture_output=True, text=True, timeout=300)  # fmt: skip
        if (work / "in-process.json").exists():
            rows += json.loads((work / "in-process.json").read_text())["rows"]
        else:
            rows.append({"step": "in process", "error": child.stderr[-1500:]})
        rows.append(bench_process(args.kernel, args.problem, "again"))
        rows.append(judge_process(args.kernel, args.problem_file, work, "again"))
    Path(args.out).write_text(
        json.dumps({"problem": args.problem, "kernel": args.kernel, "rows": rows}, indent=1)
    )
    for row in rows:
        print(f"{row['step']:<60} {row.get('mean_ms')}")


if __name__ == "__main__":
    main()
