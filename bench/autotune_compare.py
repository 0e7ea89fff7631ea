"""Triton's own @triton.autotune over a sweep's configs, as a user would run it (GPU machine).

    python3 bench/autotune_compare.py KERNEL.py PROBLEM "SPACE"|CONFIGS.json OUT.json

The kernel file gets an @triton.autotune list of every config of the space (the workbench's
bake_autotune, keyed on the launch's shape arguments), is loaded from its path as KernelBench
loads a file, and ModelNew's first call is timed: that is autotune's wall time to choose. Its
choice is then timed by KernelBench's protocol and checked against nn.Conv3d at 1e-4.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from workbench.core import kernelbench
from workbench.kernel.bake import bake_autotune
from workbench.kernel.kernelfile import KernelFile
from workbench.kernel.problemfile import load_problem
from workbench.runner.timing import time_kernelbench
from workbench.search.sweep import build_space


def main(kernel: str, problem_text: str, space_text: str, out: str) -> None:
    kf = KernelFile.load(kernel)
    problem = load_problem(problem_text)
    if space_text.endswith(".json"):  # the configs a sweep measured (those that fit)
        configs = [kf.full_config(problem, c) for c in json.loads(Path(space_text).read_text())]
    else:
        configs = [
            kf.full_config(problem, c) for c in build_space(kf, problem, space_text).configs()
        ]
    launch = kf.capture_launch(problem)
    key = [n for n, v in launch.args.items() if n not in launch.constexprs and type(v) is int]
    text = bake_autotune(kf.for_problem(problem).source, configs, kernel, key)
    path = Path(tempfile.mkdtemp()) / "autotuned.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("autotuned", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(kernelbench.SEED)
    reference = torch.nn.Conv3d(*problem.conv_args()).cuda()
    torch.manual_seed(kernelbench.SEED)
    model = module.ModelNew(*problem.model_init_inputs()).cuda()
    seeds = kernelbench.correctness_seeds()
    torch.manual_seed(seeds[0])
    x = torch.rand(problem.input_shape).cuda()
    torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.no_grad():
        y = model(x)
    torch.cuda.synchronize()
    choose_s = time.perf_counter() - start
    tuners = [v for v in vars(module).values() if type(v).__name__ == "Autotuner"]
    best = tuners[0].best_config if tuners else None
    worst = 0.0
    correct = True
    with torch.no_grad():
        for seed in seeds:
            torch.manual_seed(seed)
            x = torch.rand(problem.input_shape).cuda()
            ref, new = reference(x), model(x)
            worst = max(worst, float((ref - new).abs().max()))
            correct = correct and bool(torch.allclose(ref, new, atol=1e-4, rtol=1e-4))
    timing = time_kernelbench(lambda: model(x))
    result = {
        "kernel": kernel,
        "problem": problem_text,
        "configs": len(configs),
        "choose_wall_s": choose_s,
        "best_config": {**best.kwargs, "num_warps": best.num_warps, "num_stages": best.num_stages}
        if best
        else None,
        "kernelbench_ms": timing.mean_ms,
        "correct": correct,
        "max_abs_error": worst,
        "first_output_shape": list(y.shape),
        "method": timing.method,
    }
    Path(out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:5])
