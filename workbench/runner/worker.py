"""What runs INSIDE a worker process: compile for the target, build inputs and models, check, time.

Run as `python -m workbench.runner.entry REQUESTS.json RESULTS.jsonl` (or `--serve`, a warm
spare that reads those two paths from stdin) by the local runner; never imported by a process
that must stay free of CUDA. A request file holds one TrialRequest or a list of them (a batch:
a sweep's configs, compiled or timed one after another in one warm process); each result is
appended to the results file as one JSON line the moment it is done, so a worker that dies
mid-batch loses nothing it finished. After a GPU fault the worker stops (its CUDA context may be
poisoned); the runner starts another for the rest.

Every failure is caught here and written as a classified result; only a death (signal, abort,
time limit) leaves no result, and the runner classifies that from the outside. A watchdog
thread (entry.py, started before this module's heavy imports) kills the worker's whole process
group when its parent dies, so nothing is orphaned.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from workbench.analysis.report import problem_ref, report_from_compile
from workbench.core import kernelbench
from workbench.core.errors import TrialFailure, WorkbenchError
from workbench.core.gpus import GPU, find_gpu
from workbench.core.jsonio import dumps
from workbench.core.problem import Problem
from workbench.core.records import Correctness, Status, Timing, TrialRequest, TrialResult
from workbench.kernel.bake import bake_config
from workbench.kernel.compile import compile_for_target
from workbench.kernel.kernelfile import KernelFile
from workbench.kernel.launch import device_redirect
from workbench.kernel.problemfile import ProblemFile
from workbench.runner import baseline, checks, timing
from workbench.runner.device import fingerprint, worker_details
from workbench.runner.process import PROGRESS_PREFIX
from workbench.runner.tf32 import emulating_gpu_dot

GPU_CORRECTNESS_TRIALS = kernelbench.CORRECTNESS_TRIALS
CPU_CORRECTNESS_TRIALS = 1  # the interpreter is slow: one trial on the reduced problem
NO_TIMING = "timing needs a CUDA GPU; the Triton interpreter on the CPU measures nothing useful"

_marks: list[tuple[str, float]] = []  # (phase, start time): where a worker's seconds go


def progress(text: str) -> None:
    _marks.append((text, time.perf_counter()))
    print(PROGRESS_PREFIX + text, flush=True)


def _phases(started: float, ended: float) -> dict[str, float]:
    marks = [("start (imports)", started), *_marks, ("", ended)]
    return {name: round(marks[i + 1][1] - t, 3) for i, (name, t) in enumerate(marks[:-1])}


# --- what a batch shares ----------------------------------------------------------------------
@dataclass
class Reference:
    """The reference of one problem on one device: its model, the inputs of every correctness
    trial and its outputs (fp32, as KernelBench compares; fp64 for the error figure)."""

    model: torch.nn.Module
    inputs: list[torch.Tensor]
    outputs: list[torch.Tensor]
    output64: torch.Tensor
    weight: torch.Tensor | None


@dataclass
class BatchState:
    """Loaded once per worker and reused by every request of a batch."""

    kernels: dict[str, Any] = field(default_factory=dict)  # (sha, mode) -> (kf, module)
    references: dict[str, Reference] = field(default_factory=dict)  # problem spec+mode -> ref
    details: dict[str, Any] | None = None

    def kernel(self, request: TrialRequest) -> KernelFile:
        kf = KernelFile.from_source(request.kernel_source, request.kernel_path)
        return self.kernels.setdefault(kf.sha256, kf)  # type: ignore[no-any-return]

    def module(self, kf: KernelFile, mode: str) -> Any:
        key = f"{kf.sha256}:{mode}"
        if key not in self.kernels:
            self.kernels[key] = kf.import_module(mode)
        return self.kernels[key]


# --- the reference ----------------------------------------------------------------------------
def _reference_model(problem: Problem, request: TrialRequest) -> torch.nn.Module:
    """KernelBench's Model under seed 42, built on the CPU: the problem file's own, or for a preset
    or spec the nn.Conv3d its Model builds (a Level-2 preset is its conv part)."""
    if request.reference_source:
        pf = ProblemFile.from_source(request.reference_source, request.reference_path)
        return pf.build_model()
    torch.manual_seed(kernelbench.SEED)
    return torch.nn.Conv3d(*problem.conv_args())


def reference(state: BatchState, problem: Problem, request: TrialRequest, device: str) -> Reference:
    key = f"{problem.spec()}|{request.reference_path}|{device}"
    hit = state.references.get(key)
    if hit is not None:
        return hit
    dtype = getattr(torch, problem.dtype)
    model = _reference_model(problem, request).to(device=device, dtype=dtype)
    trials = GPU_CORRECTNESS_TRIALS if device == "cuda" else CPU_CORRECTNESS_TRIALS
    inputs, outputs = [], []
    with torch.no_grad():
        for seed in kernelbench.correctness_seeds(trials):
            torch.manual_seed(seed)  # drawn on the CPU, then moved, as KernelBench does
            x = torch.rand(problem.input_shape, dtype=dtype).to(device)
            inputs.append(x)
            outputs.append(model(x))
        model64 = _double_copy(model)
        output64 = model64(inputs[0].double())
        del model64
    conv = next((m for m in model.modules() if isinstance(m, torch.nn.Conv3d)), None)
    weight = conv.weight.detach() if conv is not None else None
    ref = Reference(model, inputs, outputs, output64, weight)
    state.references = {key: ref}  # one problem at a time: free the last one's memory
    return ref


def _double_copy(model: torch.nn.Module) -> torch.nn.Module:
    return copy.deepcopy(model).double()


# --- building ModelNew as KernelBench does ----------------------------------------------------
def build_model_new(module: Any, problem: Problem, mode: str) -> torch.nn.Module:
    """`torch.manual_seed(42); ModelNew(*get_init_inputs())` on the CPU, then to the device."""
    device = "cuda" if mode == "gpu" else "cpu"
    redirect = device_redirect("cpu") if mode == "interpreter" else contextlib.nullcontext()
    with redirect, torch.no_grad():
        torch.manual_seed(kernelbench.SEED)
        model = module.ModelNew(*problem.model_init_inputs())
    return model.to(device=device, dtype=getattr(torch, problem.dtype))  # type: ignore[no-any-return]


def weights_note(model: torch.nn.Module, ref: Reference) -> str:
    """Whether ModelNew drew the reference's weights under seed 42 (KernelBench copies none)."""
    if ref.weight is None:
        return ""
    shape = tuple(ref.weight.shape)
    tensors = [t for _, t in model.named_parameters()] + [t for _, t in model.named_buffers()]
    mine = next((t for t in tensors if tuple(t.shape) == shape), None)
    if mine is None:
        return f"ModelNew has no parameter shaped like the reference's weight {shape}"
    if torch.equal(mine.detach().to(ref.weight.device, ref.weight.dtype), ref.weight):
        return "equal to the reference's under seed 42"
    return (
        "differ from the reference's under seed 42: ModelNew must draw them as nn.Conv3d does"
        " (kaiming_uniform_(a=sqrt(5)) on the weight, then the bias), before anything else"
    )


# --- one request ------------------------------------------------------------------------------
def handle(request: TrialRequest, state: BatchState) -> TrialResult:
    """Run one request; always returns a result (failures classified)."""
    _marks.clear()
    started = time.perf_counter()
    out = TrialResult(mode=request.mode, target=request.target, config=dict(request.config))
    code_path: str | None = None
    try:
        problem = Problem.from_json(request.problem)
        kf = state.kernel(request).for_problem(problem)  # ModelNew built as KernelBench builds it
        code_path = str(kf.code_path)
        gpu = find_gpu(request.target)
        config = dict(request.config)
        if request.compile:
            config = _compile(kf, problem, config, gpu, out)
        if request.phase in ("inspect", "compile"):
            out.status, out.message = Status.OK, f"compiled for {gpu.sm}"
        elif request.phase == "ncu":
            _ncu_target(kf, problem, config, state)
            out.status, out.message = Status.OK, "profiled"
        else:
            _trial(request, kf, problem, config, out, state)
    except BaseException as err:  # noqa: BLE001 - every failure becomes a classified result
        failure = checks.classify(err, code_path)
        out.status, out.message = Status(failure.status), failure.message
        if failure.detail:
            out.detail = failure.detail
    ended = time.perf_counter()
    out.worker_s = ended - started
    out.phases_s = _phases(started, ended)
    return out


def _compile(
    kf: KernelFile, problem: Problem, config: dict[str, Any], gpu: GPU, out: TrialResult
) -> dict[str, Any]:
    """Compile once for the target; the trial's inspect report is made from that compile."""
    progress(f"compiling for {gpu.name} ({gpu.sm})")
    config = kf.full_config(problem, config)
    out.config = config
    resources, launch = compile_for_target(kf, problem, config, gpu)
    out.inspect = report_from_compile(kf, problem, config, gpu, resources, launch)
    out.launch = {k: v for k, v in launch.to_json().items() if k != "args"}
    hard = [r for r in out.inspect.rules if r.severity == "error"]
    if hard:
        raise TrialFailure(Status.INVALID_CONFIG, hard[0].message)
    return config


def _trial(
    request: TrialRequest,
    kf: KernelFile,
    problem: Problem,
    config: dict[str, Any],
    out: TrialResult,
    state: BatchState,
) -> None:
    mode = request.mode
    on_gpu = mode == "gpu"
    run_problem = problem if on_gpu else problem.reduced()
    out.problem = problem_ref(run_problem, None if on_gpu else problem)
    if on_gpu:
        if not torch.cuda.is_available():
            raise TrialFailure(
                Status.RUNTIME_FAULT, "no usable CUDA device in the worker: use --mode interpreter"
            )
        state.details = state.details or worker_details()
        out.device_fingerprint = {**fingerprint("gpu"), **state.details}
        out.device = str(state.details.get("name"))
    device = "cuda" if on_gpu else "cpu"
    progress("building the reference and its inputs")
    ref = reference(state, run_problem, request, device)
    progress("building ModelNew as KernelBench does")
    module, forced = as_exported(kf, run_problem, config, state, out)
    model = build_model_new(module, run_problem, mode)
    weights = weights_note(model, ref)
    progress("checking correctness" + ("" if on_gpu else " (Triton interpreter)"))
    out.correctness = _correctness(kf, module, model, forced, ref, run_problem, mode)
    out.correctness.weights = weights
    out.status, out.message = checks.verdict(out.correctness)
    if out.status is Status.WRONG_RESULT and problem.whole_model:
        out.message += (
            f" (the problem's Model does more than the conv: {problem.origin}'s whole forward is"
            " the reference, so a ModelNew that computes only the conv fails here)"
        )
    if out.status is not Status.OK and weights.startswith(("differ", "ModelNew has no")):
        out.message += f" (weights {weights})" if weights.startswith("differ") else f" ({weights})"
    if not on_gpu or out.status is not Status.OK:
        out.timing = Timing(reason=NO_TIMING if not on_gpu else "not timed: the result is wrong")
        return
    x = ref.inputs[0]
    with kf.forcing(forced, module):
        progress("timing (kernel only)")
        out.timing = timing.time_kernel_only(lambda: model(x), screen=request.screen)
        if not request.screen:
            progress("timing (KernelBench's protocol)")
            out.kernelbench_timing = timing.time_kernelbench(lambda: model(x))
    timing.add_rates(out.timing, run_problem, config.get("precision"))
    if request.screen:
        return
    progress("timing the reference (cuDNN)")
    out.baseline = baseline.get(
        run_problem, lambda: _reference_call(ref.model, x), out.device_fingerprint, _time_both
    )


def as_exported(
    kf: KernelFile, problem: Problem, config: dict[str, Any], state: BatchState, out: TrialResult
) -> tuple[Any, dict[str, Any]]:
    """The module a trial runs, and the config still to force on it at each launch.

    KernelBench runs the exported file: the config baked into the source, nothing between the
    wrapper and the launch. Forcing a launch through the workbench's override costs host time on
    every forward (0.07-0.1 ms of L1/54's 0.7 ms on the H200, measured by bench/kb_gap.py), so on
    a GPU the config is baked in as export writes it, and a config equal to the file's own is not
    forced at all. In the interpreter (nothing is timed) the override is kept."""
    defaults = kf.default_config(problem)
    overrides = {k: v for k, v in config.items() if defaults.get(k) != v}
    if not overrides:
        out.extra["ran_as"] = "the file as it is (the config is its own)"
        return state.module(kf, out.mode), {}
    if out.mode != "gpu":
        return state.module(kf, out.mode), config
    try:
        baked = KernelFile.from_source(bake_config(kf.source, config, str(kf.path)), kf.path)
    except WorkbenchError as err:
        out.extra["ran_as"] = (
            f"forced at each launch (the config could not be baked in: {err}); the exported file"
            " may run faster by the override's host time"
        )
        return state.module(kf, out.mode), config
    baked.adapter_note = kf.adapter_note  # already built as KernelBench builds it
    out.extra["ran_as"] = "the config baked into the source, as export writes it"
    return state.module(baked, out.mode), {}


def _reference_call(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The reference as KernelBench's baseline times it (measure_ref_program_time: no_grad)."""
    with torch.no_grad():
        return model(x)  # type: ignore[no-any-return]


def _time_both(fn: Any) -> tuple[Timing, Timing]:
    """The reference's two times; KernelBench's protocol as measure_ref_program_time runs it."""
    kernel_only = timing.time_kernel_only(fn)
    return kernel_only, timing.time_kernelbench(fn, warmups=kernelbench.REF_WARMUPS)


def _correctness(
    kf: KernelFile,
    module: Any,
    model: torch.nn.Module,
    config: dict[str, Any],
    ref: Reference,
    problem: Problem,
    mode: str,
) -> Correctness:
    """KernelBench's trials (reference first, shapes, allclose at 1e-4, all must pass), plus the
    fp64 error and the poison counts of the first. In the interpreter, tl.dot rounds as a GPU's."""
    tol = kernelbench.TOLERANCE.get(problem.dtype, 1e-4)
    result: Correctness | None = None
    passed: bool | None = True
    failure = ""
    emulation = None
    for i, x in enumerate(ref.inputs):
        shape = tuple(ref.outputs[i].shape)
        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.no_grad())
            stack.enter_context(kf.forcing(config, module))
            if mode == "interpreter":
                stack.enter_context(device_redirect("cpu"))
                emulation = stack.enter_context(emulating_gpu_dot())
            elif i == 0:  # the caching allocator hands this block to the kernel's torch.empty
                scratch = torch.empty(shape, dtype=x.dtype, device=x.device)
                checks.poison_fill(scratch)
                del scratch
            if i == 0:
                stack.enter_context(checks.Poison(shape, x.dtype))
            y = model(x)
        if mode == "gpu":
            torch.cuda.synchronize()
        if i == 0:
            result = checks.compare(y, ref.output64, tol)
        ok, why = checks.kernelbench_close(ref.outputs[i], y, tol)
        del y
        if not ok:
            passed, failure = False, f"trial {i + 1}: {why}"
            break
    assert result is not None
    result.trials = len(ref.inputs)
    result.reference = "the reference Model in fp64 (error); in fp32 for KernelBench's allclose"
    if emulation is not None:
        result.emulated = sorted(emulation.seen)
        if not emulation.checked and passed:
            passed = None
            result.caveat = (
                "not checked on CPU: the interpreter cannot round "
                + ", ".join(sorted(emulation.not_emulated))
                + " dots as a GPU does"
            )
        elif emulation.seen - {"ieee"}:
            result.caveat = (
                "tl.dot rounded as on an NVIDIA GPU ("
                + ", ".join(sorted(emulation.seen))
                + "; tf32 operands truncated, as the H200 does)"
            )
    result.kernelbench_pass = passed
    if failure and not result.problem:
        result.caveat = "; ".join(filter(None, [failure, result.caveat]))
    return result


def _ncu_target(
    kf: KernelFile, problem: Problem, config: dict[str, Any], state: BatchState
) -> None:
    """The program ncu profiles: warm-up calls, then one more (the profiled launch)."""
    module = state.module(kf, "gpu")
    model = build_model_new(module, problem, "gpu")
    torch.manual_seed(kernelbench.correctness_seeds(1)[0])
    x = torch.rand(problem.input_shape, dtype=getattr(torch, problem.dtype)).to("cuda")
    with torch.no_grad(), kf.forcing(config, module):
        for _ in range(kernelbench.WARMUPS + 1):
            model(x)
    torch.cuda.synchronize()


# --- entry point ------------------------------------------------------------------------------
def _requests(path: Path) -> list[TrialRequest]:
    data = json.loads(path.read_text(encoding="utf-8"))
    items = data if isinstance(data, list) else [data]
    return [TrialRequest.from_json(item) for item in items]


def run_batch(request_path: Path, result_path: Path) -> None:
    state = BatchState()
    with result_path.open("a", encoding="utf-8") as out:
        for request in _requests(request_path):
            result = handle(request, state)
            out.write(dumps(result, indent=None) + "\n")
            out.flush()
            os.fsync(out.fileno())
            if result.status is Status.RUNTIME_FAULT and request.mode == "gpu":
                break  # the CUDA context may be poisoned: the runner restarts us for the rest


def main(argv: list[str]) -> None:
    run_batch(Path(argv[0]), Path(argv[1]))
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: after a GPU fault, CUDA's exit handlers can hang or abort.
    os._exit(0)


def serve() -> None:
    """A worker started ahead of its request (heavy imports done): the request's two paths
    arrive on stdin as `REQUESTS<TAB>RESULTS`. An empty line or EOF: exit."""
    line = sys.stdin.readline().strip()
    if not line:
        os._exit(0)
    main(line.split("\t"))


def run(argv: list[str]) -> None:
    """The command line of a worker process (see entry.py, which starts the parent watchdog)."""
    if argv == ["--serve"]:
        serve()
    else:
        main(argv)


if __name__ == "__main__":
    from workbench.runner.process import watch_parent

    watch_parent()
    run(sys.argv[1:])
