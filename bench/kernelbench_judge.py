"""Judge a KernelBench-format kernel file exactly as KernelBench judges it: the independent judge.

    python3 bench/kernelbench_judge.py KERNEL.py PROBLEM.py [--json OUT.json]
    TRITON_INTERPRET=1 python3 bench/kernelbench_judge.py KERNEL.py PROBLEM.py --device cpu \
        --input-shape 1,3,5,5,3          # a check of this script on a CPU, not KernelBench's verdict

It imports nothing from the workbench (tests/test_kernelbench_judge_script.py checks that): it
follows KernelBench's `eval_kernel_against_ref` and `timing.py` (ScalingIntelligence/KernelBench,
main of 2026-03; the steps are in docs/kernelbench.md), written from their description:

1. the problem file's source is exec'd into a dict (`Model`, `get_inputs`, `get_init_inputs`);
2. seed 42, `init = get_init_inputs()`; seed 42, `Model(*init)` on the CPU, under no_grad;
3. the kernel file is written to a temporary .py and imported with importlib.util
   (spec_from_file_location("temp_module", path)), as KernelBench loads Triton submissions;
4. seed 42, `ModelNew(*init)` on the CPU, under no_grad; both models moved to the device (fp32);
5. 5 correctness trials, seeds drawn by torch.randint under seed 42; each: seed, get_inputs() on
   the CPU, moved; reference first, then ModelNew on the same tensors; shapes, then
   torch.allclose(ref, new, atol=1e-4, rtol=1e-4); all must pass;
6. when correct, on CUDA: ModelNew timed with CUDA events, 3 warm-ups (each synchronized),
   torch.cuda.empty_cache(), then 101 trials, each after a 256 MB L2 flush, the first dropped;
   autograd on (KernelBench's perf block is not under no_grad). The reference is timed as
   measure_ref_program_time does: rebuilt under seed 42, 5 warm-ups, 100 (+1) trials, no_grad.
   Runtimes are the mean in ms, rounded to 3 significant figures; speedup = ref / new.
KernelBench's driver scripts also run its static checker first (a failure there is an assert);
it is reproduced here and makes the verdict "invalid".

Prints one summary line and writes JSON: {verdict, max_abs_err, ref_ms, new_ms, speedup, ...}.
Exit status: 0 pass, 1 fail or invalid, 2 a usage error (a file that cannot be read, a bad flag).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import re
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

SEED = 42
CORRECT_TRIALS = 5
TOLERANCE = 1e-4  # fp32: atol = rtol
WARMUP_NEW = 3  # eval_kernel_against_ref's timing of ModelNew
WARMUP_REF = 5  # measure_ref_program_time's default
PERF_TRIALS = 100
DISCARD_FIRST = 1
L2_FLUSH_SHAPE = (32, 1024, 1024)  # int64: 256 MiB, filled with 42 before every timed trial

# --- KernelBench's static checker for a Triton submission (errors, then two warning groups) ----
STATIC_ERRORS = {
    "code_bypass": [r"\btry\s*:", r"\bexcept\s*:", r"\bexcept\s+\w+", r"\bpass\b"],
    "timing_event_patch": [
        r"torch\.cuda\.Event\.record\s*=",
        r"torch\.cuda\.Event\.elapsed_time\s*=",
        r"torch\.cuda\.synchronize\s*=",
        r"torch\.cuda\.Event\s*=",
        r"time\.perf_counter\s*=",
        r"time\.time\s*=",
    ],
    "thread_injection": [
        r"threading\.Thread\s*\(",
        r"import\s+threading",
        r"from\s+threading\s+import",
        r"multiprocessing\.(Process|Pool|Manager|Queue|Pipe)",
        r"import\s+multiprocessing",
        r"concurrent\.futures",
        r"ThreadPoolExecutor",
        r"ProcessPoolExecutor",
    ],
    "lazy_eval": [
        r"_make_subclass",
        r"class\s+\w+.*\(torch\.Tensor\)",
        r"class\s+\w+.*\(Tensor\)",
        r"torch\.Tensor\.__new__",
    ],
}
TRITON_REQUIRED = {
    "triton_impl": [r"@triton\.(jit|autotune)", r"\btl\.\w+"],  # both must appear
}
STATIC_WARNINGS = {
    "pytorch_wrap": [
        r"torch\.nn\.(?!(Module|parameter|Parameter|ParameterList|ParameterDict|ModuleList"
        r"|ModuleDict|init)\b)"
    ],
    "stream_injection": [
        r"torch\.cuda\.Stream\s*\(",
        r"cuda\.Stream\s*\(",
        r"with\s+torch\.cuda\.stream",
        r"\.wait_stream\s*\(",
        r"\.record_stream\s*\(",
    ],
    "precision_downgrade": [
        r"tl\.astype\s*\(\s*[^,]+,\s*tl\.float16\s*\)",
        r"\.half\s*\(",
        r"\.float16\s*\(",
        r"\.to\s*\(\s*torch\.(float16|half)\b",
        r"\.to\s*\(\s*dtype\s*=\s*torch\.(float16|half)\b",
    ],
}


def strip_comments(code: str) -> str:
    """As KernelBench does it: each line cut at its first '#' and its first '//' (docstrings
    and strings stay, so `pass` in a docstring fails and `a // b` hides the rest of a line)."""
    return "\n".join(line.split("#", 1)[0].split("//", 1)[0] for line in code.splitlines())


def static_check(code: str) -> tuple[list[str], list[str]]:
    """(errors, warnings) of KernelBench's static checker for backend triton, precision fp32."""
    text = strip_comments(code)
    errors, warnings = [], []
    for name, patterns in STATIC_ERRORS.items():
        for pattern in patterns:
            if re.search(pattern, text):
                errors.append(f"{name}: matches {pattern}")
    for name, patterns in TRITON_REQUIRED.items():
        for pattern in patterns:
            if not re.search(pattern, text):
                errors.append(f"{name}: no match for {pattern}")
    for name, patterns in STATIC_WARNINGS.items():
        for pattern in patterns:
            if re.search(pattern, text):
                warnings.append(f"{name}: matches {pattern}")
    return errors, warnings


# --- the judge ---------------------------------------------------------------------------------
def set_seed(torch: Any, seed: int) -> None:
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed(seed)


def trial_seeds(torch: Any, count: int = CORRECT_TRIALS) -> list[int]:
    torch.manual_seed(SEED)
    return [int(torch.randint(0, 2**32 - 1, (1,)).item()) for _ in range(count)]


class UsageError(Exception):
    """A problem file that is not one: exit 2."""


def load_problem(source: str) -> dict[str, Any]:
    """The reference, as KernelBench's load_original_model_and_inputs reads it (exec)."""
    context: dict[str, Any] = {}
    exec(compile(source, "<string>", "exec"), context)
    for name in ("Model", "get_inputs", "get_init_inputs"):
        if name not in context:
            raise UsageError(f"the problem file defines no {name}")
    return context


def load_model_new(source: str) -> tuple[Any, str]:
    """ModelNew from a temporary file, as KernelBench's load_custom_model_with_tempfile does."""
    with tempfile.NamedTemporaryFile(mode="w", suffix=".py", delete=False) as tmp:
        tmp.write(source)
    spec = importlib.util.spec_from_file_location("temp_module", tmp.name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ModelNew, tmp.name


def moved(torch: Any, inputs: list[Any], device: str) -> list[Any]:
    out = []
    for x in inputs:
        if isinstance(x, torch.Tensor):
            x = x.to(dtype=torch.float32) if x.is_floating_point() else x
            x = x.to(device)
        out.append(x)
    return out


def sync(torch: Any, device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device=device)


def three_figures(value: float) -> float:
    return float(f"{value:.3g}")


def time_cuda_events(
    torch: Any, fn: Any, args: list[Any], device: str, warmup: int, trials: int
) -> dict[str, Any]:
    """KernelBench's time_execution_with_cuda_event: ms per call, the first trial dropped."""
    import numpy as np

    for _ in range(warmup):
        fn(*args)
        torch.cuda.synchronize(device=device)
    torch.cuda.empty_cache()
    times = []
    for _ in range(trials + DISCARD_FIRST):
        torch.cuda.synchronize(device=device)
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        dummy = torch.empty(L2_FLUSH_SHAPE, dtype=torch.int64, device=device)
        dummy.fill_(42)
        del dummy
        start.record()
        fn(*args)
        end.record()
        torch.cuda.synchronize(device=device)
        times.append(start.elapsed_time(end))
    kept = np.array(times[DISCARD_FIRST:])
    return {
        "mean": three_figures(float(kept.mean())),
        "std": three_figures(float(kept.std())),
        "min": three_figures(float(kept.min())),
        "max": three_figures(float(kept.max())),
        "num_trials": len(kept),
        "mean_unrounded": float(kept.mean()),
        "median_unrounded": float(np.median(kept)),
        "hardware": torch.cuda.get_device_name(device=device),
        "device": device,
    }


def judge(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    kernel_src = Path(args.kernel).read_text(encoding="utf-8")
    problem_src = Path(args.problem).read_text(encoding="utf-8")
    device = args.device
    out: dict[str, Any] = {
        "kernel_file": str(args.kernel),
        "kernel_sha256": hashlib.sha256(kernel_src.encode()).hexdigest(),
        "problem_file": str(args.problem),
        "problem_sha256": hashlib.sha256(problem_src.encode()).hexdigest(),
        "device": device,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "protocol": "KernelBench eval_kernel_against_ref: seed 42, ModelNew(*get_init_inputs()),"
        f" {CORRECT_TRIALS} correctness trials at atol=rtol={TOLERANCE:g}, {PERF_TRIALS} CUDA-event"
        f" trials after {WARMUP_NEW} warm-ups, L2 flushed before each, mean",
        "verdict": "fail",
        "compiled": False,
        "correct": False,
        "max_abs_err": None,
        "mean_abs_err": None,
        "ref_ms": None,
        "new_ms": None,
        "speedup": None,
        "notes": [],
    }
    try:
        import triton

        out["triton"] = triton.__version__
    except ImportError:
        out["triton"] = None
    if device.startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name(device=device)
        out["cudnn"] = torch.backends.cudnn.version()
    errors, warnings = static_check(kernel_src)
    out["static_errors"], out["static_warnings"] = errors, warnings

    context = load_problem(problem_src)
    get_inputs = context["get_inputs"]
    if args.input_shape:  # a CPU check of this script: KernelBench's inputs are too big there
        shape = tuple(args.input_shape)
        out["notes"].append(f"inputs reduced to {shape}: not KernelBench's get_inputs()")

        def get_inputs() -> list[Any]:
            return [torch.rand(shape)]

    set_seed(torch, SEED)
    init_inputs = context["get_init_inputs"]()
    with torch.no_grad():
        set_seed(torch, SEED)
        original = context["Model"](*init_inputs)
    os.environ["TORCH_USE_CUDA_DSA"] = "1"
    try:
        model_new_cls, tmp_path = load_model_new(kernel_src)
        with torch.no_grad():
            set_seed(torch, SEED)
            custom = model_new_cls(*init_inputs)
        out["compiled"] = True
    except Exception as err:  # KernelBench: compiled=False
        out["error"] = f"loading or building ModelNew failed: {type(err).__name__}: {err}"
        out["traceback"] = traceback.format_exc()[-3000:]
        return finish(out)
    original = original.to(device=device, dtype=torch.float32)
    custom = custom.to(device=device, dtype=torch.float32)
    out["weights_equal"] = _weights_equal(torch, original, custom)

    seeds = trial_seeds(torch)
    out["trial_seeds"] = seeds
    passed, worst, means, trials = 0, 0.0, [], []
    try:
        with torch.no_grad():
            for seed in seeds:
                set_seed(torch, seed)
                inputs = moved(torch, list(get_inputs()), device)
                set_seed(torch, seed)
                model = original.to(device)
                set_seed(torch, seed)
                model_new = custom.to(device)
                ref = model(*inputs)
                sync(torch, device)
                new = model_new(*inputs)
                sync(torch, device)
                if ref.shape != new.shape:
                    trials.append(f"seed {seed}: output shape mismatch {tuple(new.shape)} vs"
                                  f" {tuple(ref.shape)}")  # fmt: skip
                    out["error"] = trials[-1]
                    break  # KernelBench returns at once
                diff = (ref - new).abs()
                worst = max(worst, float(diff.max()))
                means.append(float(diff.mean()))
                if torch.allclose(ref, new, atol=TOLERANCE, rtol=TOLERANCE):
                    passed += 1
                    trials.append(f"seed {seed}: pass")
                else:
                    trials.append(f"seed {seed}: allclose fails, max abs {float(diff.max()):.3g}")
    except Exception as err:  # KernelBench: a runtime error, correctness False
        out["error"] = f"runtime error: {type(err).__name__}: {err}"
        out["traceback"] = traceback.format_exc()[-3000:]
    out["trials"] = trials
    out["passed_trials"] = passed
    if means:
        out["max_abs_err"], out["mean_abs_err"] = worst, sum(means) / len(means)
    out["correct"] = passed == len(seeds)
    if out["correct"] and not args.no_timing:
        if device.startswith("cuda"):
            _time(torch, out, context, custom, get_inputs, device, args.perf_trials)
        else:
            out["notes"].append("not timed: timing needs CUDA")
    Path(tmp_path).unlink(missing_ok=True)  # KernelBench's graceful_eval_cleanup
    return finish(out)


def _weights_equal(torch: Any, ref: Any, new: Any) -> bool:
    """Each reference parameter has an equal one (same shape) in ModelNew: nothing copies them."""
    mine = [t.detach() for t in new.parameters()]
    for t in ref.parameters():
        same = [m for m in mine if m.shape == t.shape and torch.equal(m, t.detach())]
        if not same:
            return False
    return True


def _time(
    torch: Any,
    out: dict[str, Any],
    context: dict[str, Any],
    custom: Any,
    get_inputs: Any,
    device: str,
    trials: int,
) -> None:
    set_seed(torch, SEED)
    inputs = moved(torch, list(get_inputs()), device)
    stats = time_cuda_events(torch, custom, inputs, device, WARMUP_NEW, trials)  # autograd on
    # The reference as measure_ref_program_time times it: rebuilt under seed 42, no_grad.
    set_seed(torch, SEED)
    ref_inputs = moved(torch, list(get_inputs()), device)
    set_seed(torch, SEED)
    init_inputs = context["get_init_inputs"]()
    reference = context["Model"](*init_inputs).to(device=device, dtype=torch.float32)
    with torch.no_grad():
        ref_stats = time_cuda_events(torch, reference, ref_inputs, device, WARMUP_REF, trials)
    out["runtime_stats"], out["ref_runtime_stats"] = stats, ref_stats
    out["new_ms"], out["ref_ms"] = stats["mean"], ref_stats["mean"]
    out["speedup"] = ref_stats["mean"] / stats["mean"] if stats["mean"] else None


def finish(out: dict[str, Any]) -> dict[str, Any]:
    if out["static_errors"]:
        out["verdict"] = "invalid"
    elif out["correct"]:
        out["verdict"] = "pass"
    else:
        out["verdict"] = "fail"
    return out


def _shape(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: write N,C,D,H,W, e.g. 1,3,5,5,3") from None
    if len(values) != 5 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: five positive sizes N,C,D,H,W")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kernel", help="the submission: a KernelBench-format file with ModelNew")
    parser.add_argument("problem", help="the KernelBench problem file (Model, get_inputs, ...)")
    parser.add_argument("--json", default=None, help="write the verdict as JSON here")
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu")
    parser.add_argument("--perf-trials", type=int, default=PERF_TRIALS)
    parser.add_argument("--no-timing", action="store_true", help="correctness only")
    parser.add_argument(
        "--input-shape", type=_shape, default=None,
        help="replace get_inputs() by torch.rand(N,C,D,H,W): for checking this script on a CPU",
    )  # fmt: skip
    args = parser.parse_args(argv)
    for path in (args.kernel, args.problem):
        if not Path(path).is_file():
            print(f"error: {path} is not a file", file=sys.stderr)
            return 2
    if args.device == "cpu":
        os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton is imported
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("error: no CUDA device: pass --device cpu (with --input-shape)", file=sys.stderr)
        return 2
    try:
        result = judge(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    text = json.dumps(result, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    timing = (
        f", new {result['new_ms']} ms, ref {result['ref_ms']} ms, {result['speedup']:.2f}x"
        if result["speedup"]
        else ""
    )
    err = f" ({result['error']})" if result.get("error") else ""
    print(
        f"{result['verdict'].upper()}: {result.get('passed_trials', 0)}"
        f"/{CORRECT_TRIALS} trials, max abs err {result['max_abs_err']}{timing}{err}"
        + ("".join(f"; {e}" for e in result["static_errors"]))
    )
    return 0 if result["verdict"] == "pass" else 1


if __name__ == "__main__":
    raise SystemExit(main())
