"""The local runner: trials in worker processes on this machine, with time limits, classified.

The parent (CLI or TUI) never imports CUDA state: every request runs in a worker process
(`python -m workbench.runner.entry`; a faulting kernel poisons the whole CUDA context of its
process), with plain JSON in and out through files. Compiles for a target run in parallel over
the machine's cores; GPU trials run one at a time in one warm worker that takes config after
config and is restarted after a fault. An interpreter trial takes two workers: a real compile for
the target cannot run with TRITON_INTERPRET=1, and the interpreter needs it set from the start.

Usable from a plain script:

    from workbench.kernel.kernelfile import KernelFile
    from workbench.core.problem import parse_problem
    from workbench.runner.local import run_trial
    result = run_trial(KernelFile.load(), parse_problem("L1/66"), {"BLOCK_M": 64, ...})

For many trials (the TUI) call `keep_warm(True)` first: a spare worker then imports torch and
Triton while the current trial runs (H100, L1/66, compile cached: ~2 s a trial instead of ~7 s).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.core.config import Config, changed_keys, validate
from workbench.core.errors import ConfigError, UsageError, WorkbenchError
from workbench.core.gpus import GPU, find_gpu
from workbench.core.jsonio import dumps
from workbench.core.paths import PROJECT_ROOT
from workbench.core.problem import Problem
from workbench.core.records import (
    Baseline,
    Comparison,
    InspectReport,
    KernelRef,
    NcuReport,
    Status,
    Timing,
    TrialRequest,
    TrialResult,
)
from workbench.runner import device, ncu
from workbench.runner.base import OnProgress, OnResult
from workbench.runner.process import (
    Worker,
    WorkerOutcome,
    death,
    retire,
    spawn,
    supervise,
)

if TYPE_CHECKING:  # imported where used: they import torch, which a runner's own process
    from workbench.kernel.kernelfile import KernelFile  # (a Ray worker, an actor) need not load

# Seconds per request before its worker is ended. Interpreter: the built-in kernel on reduced
# L1/66 takes ~3 s here (~5 s with an uncached compile); 90 s allows for big tiles and a loaded
# machine. GPU (H100, L1/66): ~7 s cold, ~11 s with a first JIT compile and the baseline.
# Compile: a cold compile of a big tile can take a minute on 2 cores.
DEFAULT_TIMEOUT_S = {"interpreter": 90.0, "gpu": 240.0, "compile": 180.0}
NCU_TIMEOUT_S = 300.0
NOISE_WORD = "within noise"


# --- warm spares --------------------------------------------------------------------------
# Importing torch and Triton costs 2-5 s per worker. With keep_warm(True) a spare worker per
# environment is started after each request: it imports them and waits for its paths on stdin.
_spares: dict[str, Worker] = {}
_spares_lock = threading.Lock()
_keep_warm = False


def keep_warm(on: bool = True) -> None:
    """Keep a pre-imported spare worker ready for the next request (the TUI and sweeps).
    Off by default: a one-shot CLI call would only waste the spare."""
    global _keep_warm
    _keep_warm = on
    if not on:
        close_spares()


def close_spares() -> None:
    with _spares_lock:
        spares = list(_spares.values())
        _spares.clear()
    for spare in spares:
        retire(spare)


def _serve_argv() -> list[str]:
    return [sys.executable, "-m", "workbench.runner.entry", "--serve"]


def _take_spare(mode: str, env: dict[str, str]) -> Worker | None:
    with _spares_lock:
        spare = _spares.pop(mode, None)
    if spare is None:
        return None
    if spare.proc.poll() is None and spare.env == env:
        return spare
    retire(spare)  # died, or started under another environment: not this request's
    return None


def _start_spare(mode: str, env: dict[str, str]) -> None:
    with _spares_lock:
        if mode in _spares:
            return
        _spares[mode] = spawn(_serve_argv(), env, stdin_pipe=True)


def worker_env(mode: str) -> dict[str, str]:
    """The worker's environment; mode "interpreter" turns Triton's interpreter on, "compile"
    and "gpu" keep it off (a real compile fails under TRITON_INTERPRET=1)."""
    env = dict(os.environ)
    env.pop("TRITON_INTERPRET", None)
    if mode == "interpreter":
        env["TRITON_INTERPRET"] = "1"  # before the worker imports Triton (its library needs it)
    if mode != "gpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # compiles and the interpreter must not touch a GPU
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    return env


def run_worker_batch(
    requests: Sequence[TrialRequest],
    mode: str,
    timeout_s: float,
    *,
    cancel: threading.Event | None = None,
    progress: OnProgress | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    prefix: list[str] | None = None,
) -> WorkerOutcome:
    """One worker runs `requests` one after another (a warm spare if there is one)."""
    env = worker_env(mode)
    with tempfile.TemporaryDirectory(prefix="conv3d-bench-") as tmp:
        req_path, res_path = Path(tmp) / "requests.json", Path(tmp) / "results.jsonl"
        req_path.write_text(dumps([r.to_json() for r in requests], indent=None), encoding="utf-8")
        if prefix:  # a wrapper such as ncu: start the worker under it
            argv = [
                *prefix,
                sys.executable,
                "-m",
                "workbench.runner.entry",
                str(req_path),
                str(res_path),
            ]
            worker = spawn(argv, env, direct=False)  # the wrapper is the worker's parent
        else:
            worker = _take_spare(mode, env) or spawn(_serve_argv(), env, stdin_pipe=True)
            assert worker.proc.stdin is not None
            try:
                worker.proc.stdin.write(f"{req_path}\t{res_path}\n")
                worker.proc.stdin.close()
            except OSError:
                pass  # the worker died already: supervise() reports how
        if _keep_warm and not prefix:
            _start_spare(mode, env)  # imports while this batch runs
        return supervise(
            worker, timeout_s, cancel=cancel, progress=progress, result_path=res_path,
            on_result=on_result,
        )  # fmt: skip


def _lost(outcome: WorkerOutcome, limit: float) -> tuple[Status, str, str]:
    """How the request a worker was on when it ended failed: (status, message, detail)."""
    tail = outcome.stderr_tail.strip()
    if outcome.cancelled:
        return Status.CANCELLED, "cancelled: the worker was ended", tail
    if outcome.timed_out:
        return (
            Status.TIMEOUT,
            f"timeout: no result within {limit:g} s; the worker and its children were ended"
            " (an endless loop, or raise --timeout)",
            tail,
        )
    return Status.RUNTIME_FAULT, death(outcome.returncode), tail


# --- the runner -------------------------------------------------------------------------------
class LocalRunner:
    """Runs trial requests in worker processes on this machine (see the module docstring)."""

    name = "local"

    def __init__(self, compile_workers: int | None = None, timeout_s: float | None = None) -> None:
        self.compile_workers = max(1, compile_workers or (os.cpu_count() or 1))
        self.timeout_s = timeout_s

    def available_parallelism(self, mode: str) -> int:
        return self.compile_workers if mode == "compile" else 1

    def close(self) -> None:
        close_spares()

    def limit(self, mode: str) -> float:
        return self.timeout_s if self.timeout_s is not None else DEFAULT_TIMEOUT_S[mode]

    def run(
        self,
        requests: list[TrialRequest],
        *,
        on_result: OnResult | None = None,
        cancel: threading.Event | None = None,
        progress: OnProgress | None = None,
    ) -> list[TrialResult]:
        results: list[TrialResult | None] = [None] * len(requests)
        lock = threading.Lock()

        def done(index: int, result: TrialResult) -> None:
            result = complete(result, requests[index])
            with lock:
                results[index] = result
            if on_result is not None:
                on_result(index, result)

        by_mode: dict[str, list[int]] = {}
        for i, request in enumerate(requests):
            by_mode.setdefault(request.mode, []).append(i)
        for mode in ("compile", "interpreter", "gpu"):
            indices = by_mode.get(mode, [])
            if not indices:
                continue
            if mode == "compile":
                self._parallel(requests, indices, done, cancel, progress)
            elif mode == "interpreter":
                self._interpreter(requests, indices, done, cancel, progress)
            else:
                self._sequential(requests, indices, "gpu", done, cancel, progress)
        return [
            r if r is not None else _failed(requests[i], Status.CANCELLED, "cancelled")
            for i, r in enumerate(results)
        ]

    # --- modes ----------------------------------------------------------------------------
    def _sequential(
        self,
        requests: list[TrialRequest],
        indices: list[int],
        env_mode: str,
        done: OnResult,
        cancel: threading.Event | None,
        progress: OnProgress | None,
        limit: float | None = None,
    ) -> None:
        """One warm worker takes the requests in turn; a death costs only the request it was on."""
        todo = list(indices)
        limit = (
            limit if limit is not None else self.limit(requests[todo[0]].mode if todo else env_mode)
        )
        while todo:
            if cancel is not None and cancel.is_set():
                for i in todo:
                    done(i, _failed(requests[i], Status.CANCELLED, "cancelled before it ran"))
                return
            finished: list[int] = []

            def got(
                raw: dict[str, Any], batch: list[int] = todo, finished: list[int] = finished
            ) -> None:
                index = batch[len(finished)]
                finished.append(index)
                done(index, TrialResult.from_json(raw))

            outcome = run_worker_batch(
                [requests[i] for i in todo],
                env_mode,
                limit,
                cancel=cancel,
                progress=progress,
                on_result=got,
            )
            todo = todo[len(finished) :]  # supervise() has passed on every result the worker wrote
            if not todo:
                return
            clean = outcome.returncode == 0 and not (outcome.timed_out or outcome.cancelled)
            if clean and finished:
                continue  # it stopped after a GPU fault, as it should: a fresh worker takes the rest
            status, message, detail = _lost(outcome, limit)
            lost = todo.pop(0)
            failed = _failed(requests[lost], status, message)
            failed.detail = detail
            failed.worker_returncode = outcome.returncode
            done(lost, failed)
            if status is Status.CANCELLED:
                for i in todo:
                    done(i, _failed(requests[i], Status.CANCELLED, "cancelled before it ran"))
                return

    def _parallel(
        self,
        requests: list[TrialRequest],
        indices: list[int],
        done: OnResult,
        cancel: threading.Event | None,
        progress: OnProgress | None,
    ) -> None:
        """Compiles: the requests split over up to `compile_workers` workers, each a batch."""
        workers = min(self.compile_workers, len(indices))
        chunks = [indices[k::workers] for k in range(workers)]
        if workers == 1:
            self._sequential(requests, indices, "compile", done, cancel, progress)
            return
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [
                pool.submit(self._sequential, requests, chunk, "compile", done, cancel, progress)
                for chunk in chunks
            ]
            for future in futures:
                future.result()

    def _interpreter(
        self,
        requests: list[TrialRequest],
        indices: list[int],
        done: OnResult,
        cancel: threading.Event | None,
        progress: OnProgress | None,
    ) -> None:
        """Compile for the target in a worker without the interpreter, then run in one with it.
        One trial's time limit covers both workers; a batch's applies to each request."""
        compiled: dict[int, TrialResult] = {}
        started = time.monotonic()

        def got_compile(index: int, result: TrialResult) -> None:
            compiled[index] = result

        if progress is not None:
            progress("starting a compile worker")
        compile_requests = [r.replace(phase="compile", mode="compile") for r in requests]
        self._sequential(compile_requests, indices, "compile", got_compile, cancel, progress)
        ready: list[int] = []
        run_requests = list(requests)
        for i in indices:
            first = compiled[i]
            if first.status is not Status.OK:
                first.mode = "interpreter"
                done(i, first)
                continue
            run_requests[i] = requests[i].replace(config=first.config, compile=False)
            ready.append(i)
        if not ready:
            return
        if progress is not None:
            progress("starting an interpreter worker")

        def got_run(index: int, result: TrialResult) -> None:
            first = compiled[index]
            result.inspect = first.inspect
            result.launch = first.launch
            result.config = first.config
            result.phases_s = {**first.phases_s, **result.phases_s}
            done(index, result)

        left = None
        if len(indices) == 1:
            left = max(1.0, self.limit("interpreter") - (time.monotonic() - started))
        self._sequential(run_requests, ready, "interpreter", got_run, cancel, progress, limit=left)


def _failed(request: TrialRequest, status: Status, message: str) -> TrialResult:
    return TrialResult(
        status=status,
        message=message,
        mode=request.mode,
        target=request.target,
        config=dict(request.config),
    )


# --- one trial, as the verbs and the TUI ask for it -------------------------------------------
def resolve_mode(mode: str) -> str:
    """ "auto" is a GPU where there is one, else the interpreter; "gpu" without one is an error."""
    if mode not in ("auto", "gpu", "interpreter"):
        raise UsageError(f"--mode must be auto, gpu or interpreter, got {mode!r}")
    if mode == "auto":
        return "gpu" if device.gpu_present() else "interpreter"
    if mode == "gpu" and not device.gpu_present():
        raise UsageError(
            "--mode gpu needs a CUDA GPU and a CUDA build of torch; none here: use --mode interpreter"
        )
    return mode


def make_request(
    kf: KernelFile, problem: Problem, config: Config, gpu: GPU, mode: str, **extra: Any
) -> TrialRequest:
    from workbench.kernel.problemfile import ProblemFile

    pf = ProblemFile.for_problem(problem)
    return TrialRequest(
        phase=extra.pop("phase", "trial"),
        mode=mode,
        kernel_path=str(kf.path),
        kernel_source=kf.source,
        problem=problem.to_json(),
        target=gpu.key,
        config=dict(config),
        reference_path=str(pf.path) if pf else "",
        reference_source=pf.source if pf else "",
        **extra,
    )


def run_trial(
    kf: KernelFile | str | Path | None,
    problem: Problem,
    config: Config,
    *,
    gpu: GPU | str | None = None,
    mode: str = "auto",
    timeout_s: float | None = None,
    previous: TrialResult | None = None,
    ncu: bool = False,
    cancel: threading.Event | None = None,
    progress: OnProgress | None = None,
) -> TrialResult:
    """Measure `config` of kernel file `kf` on `problem`; returns the trial's result.

    kf: a KernelFile (or a path, or None for the built-in kernel). gpu: the target the config is
    compiled for (default 4090). mode: "auto" (GPU if there is one, else the interpreter on the
    reduced problem), "gpu" or "interpreter". previous: an earlier result to compare with.
    cancel: set it from another thread to end the worker (status "cancelled").
    Never raises for a failing kernel: the failure is the result's `status` and `message`.
    """
    started = time.monotonic()
    from workbench.kernel.kernelfile import KernelFile

    kf = kf if isinstance(kf, KernelFile) else KernelFile.load(kf)
    gpu = gpu if isinstance(gpu, GPU) else find_gpu(gpu)
    mode = resolve_mode(mode)
    config = dict(config or {})
    try:
        validate(config)
    except ConfigError as err:
        result = TrialResult(
            status=Status.INVALID_CONFIG, message=str(err), mode=mode, target=gpu.key, config=config
        )
        return finish(result, kf, previous, started)
    request = make_request(kf, problem, config, gpu, mode)
    runner = LocalRunner(compile_workers=1, timeout_s=timeout_s)
    if progress is not None and mode == "gpu":
        progress("starting a GPU worker")
    (result,) = runner.run([request], cancel=cancel, progress=progress)
    if ncu and result.status is Status.OK:
        if mode != "gpu":
            result.ncu = NcuReport(ok=False, message="ncu needs a CUDA GPU")
        else:
            if progress is not None:
                progress("profiling one launch with ncu")
            result.ncu = run_ncu(
                kf, request.replace(phase="ncu", config=result.config), cancel=cancel
            )
    return finish(result, kf, previous, started)


def inspect_in_worker(
    kf: KernelFile,
    problem: Problem,
    config: Config,
    gpu: GPU,
    *,
    timeout_s: float | None = None,
    cancel: threading.Event | None = None,
) -> InspectReport:
    """The inspect report, made in a worker under a time limit (the user's wrapper runs there).

    Raises the WorkbenchError the compile raised, or one for a timeout or a dead worker."""
    validate(config)
    request = make_request(kf, problem, config, gpu, "compile", phase="inspect")
    (result,) = LocalRunner(compile_workers=1, timeout_s=timeout_s).run([request], cancel=cancel)
    if result.status is Status.OK and result.inspect is not None:
        return result.inspect
    raise InspectFailed(result.status, result.message, result.detail)


class InspectFailed(WorkbenchError):
    """A compile for the target that failed; `status` says how (compile_error, timeout, ...)."""

    def __init__(self, status: Status | None, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail  # the compiler's or worker's own lines, for a log (not the message)


def complete(result: TrialResult, request: TrialRequest) -> TrialResult:
    """What every runner adds to a worker's result: where it ran, the kernel it ran, speedups,
    and a reason wherever nothing was measured."""
    if not result.device_fingerprint:
        fp_mode = "gpu" if result.mode == "gpu" else "interpreter"
        result.device_fingerprint = device.fingerprint(fp_mode)
    if not result.device:
        result.device = result.device_fingerprint.get("name") or device.INTERPRETER_DEVICE
    if result.kernel is None:
        sha = hashlib.sha256(request.kernel_source.encode()).hexdigest()
        result.kernel = KernelRef(
            path=request.kernel_path, sha256=sha, name=Path(request.kernel_path).stem
        )
    if result.timing is None:
        result.timing = Timing(reason=f"not measured: the trial ended with {result.status}")
    if result.mode != "gpu" and result.baseline is None:
        result.baseline = Baseline(reason="the cuDNN baseline needs a CUDA GPU")
    timing, base, kb = result.timing, result.baseline, result.kernelbench_timing
    if timing.median_ms and base is not None and base.median_ms:
        result.kernel_only_speedup = base.median_ms / timing.median_ms
    if kb is not None and kb.mean_ms and base is not None and base.kernelbench_mean_ms:
        result.kernelbench_speedup = base.kernelbench_mean_ms / kb.mean_ms
    return result


def finish(
    result: TrialResult, kf: KernelFile, previous: TrialResult | None, started: float
) -> TrialResult:
    """What run_trial adds: the kernel file's own reference, the comparison, the wall time."""
    result.kernel = KernelRef(path=str(kf.path), sha256=kf.sha256, name=kf.name)
    if result.timing is None:  # refused before any worker ran (invalid config)
        result.timing = Timing(reason=f"not measured: the trial ended with {result.status}")
    if not result.device_fingerprint:
        result.device_fingerprint = device.fingerprint(
            "gpu" if result.mode == "gpu" else "interpreter"
        )
        result.device = (
            result.device or result.device_fingerprint.get("name") or device.INTERPRETER_DEVICE
        )
    if result.mode != "gpu" and result.baseline is None:
        result.baseline = Baseline(reason="the cuDNN baseline needs a CUDA GPU")
    if previous is not None:
        result.vs_previous = compare(result, previous)
    result.wall_s = time.monotonic() - started
    return result


# --- comparing with an earlier trial ----------------------------------------------------------
def compare(result: TrialResult, previous: TrialResult) -> Comparison:
    """Change of the headline time in percent and a word: faster, slower or within noise.

    The headline is KernelBench's protocol where both have it, else kernel only. "within noise"
    when the [p20, p80] ranges overlap: the runs cannot tell the two apart."""
    out = Comparison(
        same_device=result.device == previous.device,
        previous_id=previous.id,
        changed=changed_keys(result.config, previous.config),
    )
    use_kb = result.kernelbench_ms is not None and previous.kernelbench_ms is not None
    now = result.kernelbench_timing if use_kb else result.timing
    then = previous.kernelbench_timing if use_kb else previous.timing
    now_ms = (now.mean_ms if use_kb else now.median_ms) if now else None
    then_ms = (then.mean_ms if use_kb else then.median_ms) if then else None
    out.previous_median_ms = then_ms
    if not now_ms or not then_ms:
        out.reason = (
            "no timing to compare ("
            + ((now.reason if now else "") or (then.reason if then else "") or "not measured")
            + ")"
        )
        return out
    out.change_pct = 100.0 * (now_ms - then_ms) / then_ms
    assert now is not None and then is not None
    lo_a, hi_a = now.p20_ms or now_ms, now.p80_ms or now_ms
    lo_b, hi_b = then.p20_ms or then_ms, then.p80_ms or then_ms
    if lo_a <= hi_b and lo_b <= hi_a:
        out.verdict = NOISE_WORD
    else:
        out.verdict = "faster" if now_ms < then_ms else "slower"
    return out


# --- Nsight Compute ---------------------------------------------------------------------------
def run_ncu(
    kf: KernelFile,
    request: TrialRequest,
    *,
    timeout_s: float = NCU_TIMEOUT_S,
    cancel: threading.Event | None = None,
) -> NcuReport:
    """Profile one launch of the trial's kernel under ncu, in a worker."""
    exe = ncu.find_ncu()
    if exe is None:
        return NcuReport(ok=False, message=ncu.MISSING)
    names = ncu.kernel_names(kf.source)
    if not names:
        return NcuReport(ok=False, message="no @triton.jit kernel name found to select in ncu")
    with tempfile.TemporaryDirectory(prefix="conv3d-bench-ncu-") as tmp:
        log = Path(tmp) / "ncu.csv"
        prefix = ncu.command(exe, names, [], log)
        outcome = run_worker_batch(
            [request.replace(compile=False)], "gpu", timeout_s, cancel=cancel, prefix=prefix
        )
        text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
    if outcome.timed_out:
        return NcuReport(ok=False, message=f"ncu timed out after {timeout_s:g} s")
    if outcome.cancelled:
        return NcuReport(ok=False, message="ncu cancelled")
    everything = "\n".join([text, outcome.stdout, outcome.stderr_tail])
    parsed = ncu.parse_csv(text) or ncu.parse_csv(outcome.stdout)
    reason = ncu.failure(everything, outcome.returncode or 0)
    if not parsed.get("metrics"):
        return NcuReport(
            ok=False, message=reason or "ncu reported no metrics", detail=everything[-3000:]
        )
    worker = outcome.results[0] if outcome.results else {}
    return NcuReport(
        ok=True,
        message="profiled one launch after warm-up",
        kernel=parsed.get("kernel"),
        block=parsed.get("block"),
        grid=parsed.get("grid"),
        metrics=parsed.get("metrics", {}),
        units=parsed.get("units", {}),
        worker_status=worker.get("status"),
        command=" ".join(prefix),
    )
