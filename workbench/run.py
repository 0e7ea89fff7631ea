"""run_trial(): one config measured in its own worker process, with a time limit, classified.

The parent (CLI or TUI) never imports CUDA state: each trial runs `python -m workbench.measure`
in a fresh process (a faulting kernel poisons the whole CUDA context of its process), with plain
JSON in and out through files. On a time limit or a cancel the worker's whole process tree is
ended with psutil (children first). A worker that dies leaves no result; its exit status and the
tail of its stderr say why.

Usable from a plain script:

    from workbench.kernelfile import KernelFile
    from workbench.problem import parse_problem
    from workbench.run import run_trial
    result = run_trial(KernelFile.load(), parse_problem("L1/66"), {"BLOCK_M": 64, ...})

For many trials (the TUI, a sweep script) call `keep_warm(True)` first: a spare worker then
imports torch and Triton while the current trial runs (H100, L1/66, compile cached: ~2 s a
trial instead of ~7 s).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from workbench import device, ncu
from workbench.config import Config, validate
from workbench.errors import ConfigError
from workbench.gpus import GPU, find_gpu
from workbench.problem import Problem

STATUSES = (
    "ok",
    "compile_error",
    "out_of_resources",
    "runtime_fault",
    "timeout",
    "wrong_result",
    "invalid_config",
    "cancelled",
)
# Interpreter: the built-in kernel on reduced L1/66 takes ~3 s end to end on a 2-core VM (two
# workers: compile for the target, then the interpreted run; ~5 s with an uncached compile);
# 90 s allows for big tiles and a loaded machine. GPU (H100, L1/66): ~7 s cold, ~11 s with a
# first JIT compile and baseline; 240 s covers slow imports, big problems and a first baseline.
DEFAULT_TIMEOUT_S = {"interpreter": 90.0, "gpu": 240.0}
NCU_TIMEOUT_S = 300.0
DETAIL_LINES = 30
NOISE_WORD = "within noise"


# --- processes --------------------------------------------------------------------------------
@dataclass
class WorkerOutcome:
    result: dict | None  # what the worker wrote; None when it died or was ended
    returncode: int | None
    timed_out: bool
    cancelled: bool
    stderr_tail: str
    stdout: str
    wall_s: float


def kill_tree(pid: int) -> None:
    """End a process and everything it started: children first, then the process itself.

    The caller reaps `pid` (it is the caller's child); descendants are waited for here."""
    try:
        root = psutil.Process(pid)
        children = root.children(recursive=True)
    except psutil.NoSuchProcess:
        return
    for proc in [*reversed(children), root]:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    _wait_gone(children, timeout=5.0)


def _gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE  # dead; only its parent's reaping is left
    except psutil.NoSuchProcess:
        return True


def _wait_gone(procs: list[psutil.Process], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while procs and time.monotonic() < deadline:
        procs = [p for p in procs if not _gone(p)]
        if procs:
            time.sleep(0.02)


@dataclass
class Worker:
    """A started worker process and the file that collects its stderr."""

    proc: subprocess.Popen
    err_file: Any
    env: dict[str, str]


def spawn(argv: list[str], env: dict[str, str] | None, stdin_pipe: bool = False) -> Worker:
    # Closed by supervise() or close_spares(), which outlive this call.
    err_file = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=err_file,
        env=env,
        text=True,
        errors="replace",
        start_new_session=True,  # Ctrl-C in the terminal reaches the parent, which ends us
    )
    return Worker(proc, err_file, dict(env or {}))


def supervise(
    worker: Worker,
    timeout_s: float,
    *,
    cancel: threading.Event | None = None,
    progress: Callable[[str], None] | None = None,
    result_path: Path | None = None,
) -> WorkerOutcome:
    """Wait for a worker under a time limit and a cancel flag; end its tree if either trips.

    Stdout lines with the progress prefix go to `progress`; the rest is kept."""
    from workbench.measure import PROGRESS_PREFIX  # light: measure imports torch lazily

    started = time.monotonic()
    proc = worker.proc
    out_lines: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(PROGRESS_PREFIX):
                if progress is not None:
                    with contextlib.suppress(Exception):
                        progress(line[len(PROGRESS_PREFIX) :].rstrip("\n"))
            elif len(out_lines) < 2000:
                out_lines.append(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = cancelled = False
    stderr_tail = ""
    try:
        while proc.poll() is None:
            if cancel is not None and cancel.is_set():
                cancelled = True
                break
            if time.monotonic() - started > timeout_s:
                timed_out = True
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.05)
    finally:
        if proc.poll() is None:
            kill_tree(proc.pid)
            proc.wait()
        reader.join(timeout=2)
        with contextlib.suppress(OSError, ValueError):
            worker.err_file.seek(0)
            stderr_tail = "".join(worker.err_file.readlines()[-DETAIL_LINES:])
        worker.err_file.close()
    result = None
    if not (timed_out or cancelled) and result_path is not None and result_path.is_file():
        with contextlib.suppress(OSError, ValueError):
            result = json.loads(result_path.read_text(encoding="utf-8"))
    return WorkerOutcome(
        result,
        proc.returncode,
        timed_out,
        cancelled,
        stderr_tail,
        "".join(out_lines),
        time.monotonic() - started,
    )


def run_worker(
    argv: list[str],
    timeout_s: float,
    *,
    env: dict[str, str] | None = None,
    cancel: threading.Event | None = None,
    progress: Callable[[str], None] | None = None,
    result_path: Path | None = None,
) -> WorkerOutcome:
    """Run `argv` as a worker (see supervise)."""
    return supervise(
        spawn(argv, env), timeout_s, cancel=cancel, progress=progress, result_path=result_path
    )


# --- warm spares --------------------------------------------------------------------------
# Importing torch and Triton costs 2-5 s per worker. With keep_warm(True) a spare worker per
# mode is started after each trial: it imports them and waits for one request on stdin. Each
# worker still runs exactly one trial, so no CUDA context outlives a trial.
_spares: dict[str, Worker] = {}
_spares_lock = threading.Lock()
_keep_warm = False


def keep_warm(on: bool = True) -> None:
    """Keep a pre-imported spare worker ready for the next trial (for the TUI and scripts that
    run many trials). Off by default: a one-shot CLI call would only waste the spare."""
    global _keep_warm
    _keep_warm = on
    if not on:
        close_spares()


def close_spares() -> None:
    with _spares_lock:
        spares = list(_spares.values())
        _spares.clear()
    for spare in spares:
        if spare.proc.poll() is None:
            kill_tree(spare.proc.pid)
            spare.proc.wait()
        spare.err_file.close()


atexit.register(close_spares)


def _serve_argv() -> list[str]:
    return [sys.executable, "-m", "workbench.measure", "--serve"]


def _take_spare(mode: str, env: dict[str, str]) -> Worker | None:
    with _spares_lock:
        spare = _spares.pop(mode, None)
    if spare is None:
        return None
    if spare.proc.poll() is None and spare.env == env:
        return spare
    if spare.proc.poll() is None:  # started under another environment: not this trial's
        kill_tree(spare.proc.pid)
        spare.proc.wait()
    spare.err_file.close()
    return None


def _start_spare(mode: str, env: dict[str, str]) -> None:
    with _spares_lock:
        if mode in _spares:
            return
        _spares[mode] = spawn(_serve_argv(), env, stdin_pipe=True)


def _death(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        what = {
            "SIGABRT": "aborted",
            "SIGSEGV": "crashed (segmentation fault)",
            "SIGKILL": "was killed (out of memory?)",
            "SIGBUS": "crashed (bus error)",
        }.get(name, "died")
        return f"the worker {what}: {name}"
    return f"the worker exited with code {returncode} before reporting"


def _worker_env(mode: str) -> dict[str, str]:
    """The worker's environment; mode "interpreter" turns Triton's interpreter on, "compile"
    and "gpu" keep it off (a real compile fails under TRITON_INTERPRET=1)."""
    env = dict(os.environ)
    env.pop("TRITON_INTERPRET", None)
    if mode == "interpreter":
        env["TRITON_INTERPRET"] = "1"  # before the worker imports Triton (its library needs it)
        env.setdefault("CUDA_VISIBLE_DEVICES", "")  # the interpreter must not touch a GPU
    env["PYTHONUNBUFFERED"] = "1"
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


# --- the trial --------------------------------------------------------------------------------
def resolve_mode(mode: str) -> str:
    if mode not in ("auto", "gpu", "interpreter"):
        raise ConfigError(f"mode must be auto, gpu or interpreter, got {mode!r}")
    if mode == "auto":
        return "gpu" if device.gpu_present() else "interpreter"
    return mode


def _skeleton(kf: Any, problem: Problem, config: Config, gpu: GPU, mode: str) -> dict:
    fp = device.fingerprint(mode)
    shown = problem if mode == "gpu" else problem.reduced()
    return {
        "status": None,
        "message": None,
        "device": fp["name"] if mode == "gpu" else device.INTERPRETER_DEVICE,
        "device_fingerprint": fp,
        "mode": mode,
        "target": gpu.key,
        "kernel": {"path": str(kf.path), "sha256": kf.sha256, "name": kf.name},
        "problem": {"spec": shown.spec(), "label": shown.label(), "reduced": mode != "gpu"},
        "config": dict(config),
        "resources": None,
        "launch": None,
        "inspect": None,
        "correctness": None,
        "timing": None,
        "kernelbench_timing": None,
        "baseline": None,
        "speedup": None,
        "kernelbench_speedup": None,
        "vs_previous": None,
        "ncu": None,
        "wall_s": None,
    }


def _load_kf(kf: Any) -> Any:
    if kf is None or isinstance(kf, str | Path):
        from workbench.kernelfile import KernelFile

        return KernelFile.load(kf)
    return kf


def run_trial(
    kf: Any,
    problem: Problem,
    config: Config,
    *,
    gpu: GPU | str | None = None,
    mode: str = "auto",
    timeout_s: float | None = None,
    previous: dict | None = None,
    ncu: bool = False,
    cancel: threading.Event | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Measure `config` of kernel file `kf` on `problem`; returns the trial result (plain data).

    kf: a KernelFile (or a path, or None for the built-in kernel). gpu: the target the config is
    compiled for (default 4090). mode: "auto" (GPU if there is one, else the interpreter on the
    reduced problem), "gpu" or "interpreter". previous: an earlier result to compare with.
    cancel: set it from another thread to end the worker (status "cancelled").
    Never raises for a failing kernel: the failure is the result's `status` and `message`.
    """
    started = time.monotonic()
    kf = _load_kf(kf)
    gpu = gpu if isinstance(gpu, GPU) else find_gpu(gpu)
    mode = resolve_mode(mode)
    config = dict(config or {})
    result = _skeleton(kf, problem, config, gpu, mode)
    result["timing"] = {"median_ms": None, "reason": "not measured"}
    try:
        validate(config)
    except ConfigError as err:
        result.update(status="invalid_config", message=str(err))
        return _finish(result, previous, started)
    if mode != "gpu":
        result["baseline"] = {"median_ms": None, "reason": "the cuDNN baseline needs a CUDA GPU"}
    limit = timeout_s if timeout_s is not None else DEFAULT_TIMEOUT_S[mode]
    request = {
        "phase": "trial",
        "mode": mode,
        "kernel": {"path": str(kf.path), "source": kf.source},
        "problem": problem.to_dict(),
        "target": gpu.key,
        "config": config,
    }
    if mode == "interpreter":
        # Compile for the target in a worker without the interpreter, then run in one with it.
        if progress is not None:
            progress("starting a compile worker")
        outcome = _run_request({**request, "phase": "compile"}, "compile", limit, cancel, progress)
        _merge(result, outcome, limit)
        if result["status"] is None:
            request.update(config=result["config"], compile=False)
            left = max(1.0, limit - (time.monotonic() - started))
            if progress is not None:
                progress("starting an interpreter worker")
            outcome = _run_request(request, mode, left, cancel, progress)
            _merge(result, outcome, limit)
    else:
        if progress is not None:
            progress("starting a GPU worker")
        outcome = _run_request(request, mode, limit, cancel, progress)
        _merge(result, outcome, limit)
    if ncu and result["status"] == "ok":
        if mode != "gpu":
            result["ncu"] = {"ok": False, "message": "ncu needs a CUDA GPU"}
        else:
            if progress is not None:
                progress("profiling one launch with ncu")
            ncu_request = {**request, "phase": "ncu", "config": result["config"]}
            result["ncu"] = run_ncu(kf, ncu_request, cancel=cancel)
    return _finish(result, previous, started)


def _run_request(
    request: dict,
    mode: str,
    limit: float,
    cancel: threading.Event | None,
    progress: Callable[[str], None] | None,
    prefix: list[str] | None = None,
) -> WorkerOutcome:
    """One request in one worker: a warm spare if there is one (keep_warm), else a new one."""
    env = _worker_env(mode)
    with tempfile.TemporaryDirectory(prefix="conv3d-bench-") as tmp:
        req_path, res_path = Path(tmp) / "request.json", Path(tmp) / "result.json"
        req_path.write_text(json.dumps(request), encoding="utf-8")
        if prefix:  # a wrapper such as ncu: start the worker under it
            argv = [*prefix, sys.executable, "-m", "workbench.measure", str(req_path)]
            argv.append(str(res_path))
            worker = spawn(argv, env)
        else:
            worker = _take_spare(mode, env) or spawn(_serve_argv(), env, stdin_pipe=True)
            assert worker.proc.stdin is not None
            try:
                worker.proc.stdin.write(f"{req_path}\t{res_path}\n")
                worker.proc.stdin.close()
            except OSError:
                pass  # the worker died already: supervise() reports how
        if _keep_warm and not prefix:
            _start_spare(mode, env)  # imports while this trial runs
        return supervise(worker, limit, cancel=cancel, progress=progress, result_path=res_path)


def _merge(result: dict, outcome: WorkerOutcome, limit: float) -> None:
    """The worker's result, or a classification of its death, into `result`."""
    tail = outcome.stderr_tail.strip()
    if outcome.cancelled:
        result.update(status="cancelled", message="cancelled: the worker was ended")
    elif outcome.timed_out:
        result.update(
            status="timeout",
            message=f"timeout: no result within {limit:g} s; the worker and its children were"
            " ended (an endless loop, or raise --timeout)",
        )
    elif outcome.result is None:
        result.update(status="runtime_fault", message=_death(outcome.returncode))
    else:
        worker = outcome.result
        details = worker.pop("device_details", None)
        for key, value in worker.items():
            if key == "detail" or value is not None or key not in result:
                result[key] = value
        if details:
            result["device_fingerprint"].update(details)
            result["device"] = details.get("name", result["device"])
    if tail and (result["status"] != "ok" or "detail" in result):
        previous = result.get("detail")
        result["detail"] = f"{previous}\n--- worker stderr ---\n{tail}" if previous else tail
    result["worker_returncode"] = outcome.returncode


# Precisions whose rounding Triton's interpreter does not reproduce: it runs tl.dot in fp32.
NOT_EMULATED = {
    "tf32": "the interpreter does tl.dot in fp32, so tf32's rounding is not seen here;"
    " on a GPU tf32 errs ~7e-4 and fails KernelBench's 1e-4 check",
}


def _finish(result: dict, previous: dict | None, started: float) -> dict:
    caveat = NOT_EMULATED.get(str((result.get("config") or {}).get("precision")))
    if caveat and result.get("mode") == "interpreter" and result.get("correctness"):
        result["correctness"]["caveat"] = caveat
        result["message"] = f"{result.get('message') or ''} ({caveat})".strip()
    timing, base = result.get("timing") or {}, result.get("baseline") or {}
    if timing.get("median_ms") is None and timing.get("reason") == "not measured":
        timing["reason"] = f"not measured: the trial ended with {result.get('status')}"
    if timing.get("median_ms") and base.get("median_ms"):
        result["speedup"] = base["median_ms"] / timing["median_ms"]
    kb = result.get("kernelbench_timing") or {}
    if kb.get("mean_ms") and base.get("kernelbench_mean_ms"):
        result["kernelbench_speedup"] = base["kernelbench_mean_ms"] / kb["mean_ms"]
    if previous is not None:
        result["vs_previous"] = compare(result, previous)
    result["wall_s"] = time.monotonic() - started
    return result


# --- comparing with the previous config ------------------------------------------------------
def compare(result: dict, previous: dict) -> dict:
    """Change of the median in percent and a word: faster, slower or within noise.

    "within noise" when the [p20, p80] ranges overlap: the runs cannot tell the two apart."""
    now, then = result.get("timing") or {}, previous.get("timing") or {}
    out = {
        "change_pct": None,
        "verdict": None,
        "previous_median_ms": then.get("median_ms"),
        "same_device": result.get("device") == previous.get("device"),
    }
    if not now.get("median_ms") or not then.get("median_ms"):
        out["reason"] = (
            "no timing to compare ("
            + (now.get("reason") or then.get("reason") or "not measured")
            + ")"
        )
        return out
    out["change_pct"] = 100.0 * (now["median_ms"] - then["median_ms"]) / then["median_ms"]
    lo_a, hi_a = now.get("p20_ms") or now["median_ms"], now.get("p80_ms") or now["median_ms"]
    lo_b, hi_b = then.get("p20_ms") or then["median_ms"], then.get("p80_ms") or then["median_ms"]
    if lo_a <= hi_b and lo_b <= hi_a:
        out["verdict"] = NOISE_WORD
    else:
        out["verdict"] = "faster" if now["median_ms"] < then["median_ms"] else "slower"
    return out


# --- Nsight Compute ---------------------------------------------------------------------------
def run_ncu(
    kf: Any,
    request: dict,
    *,
    timeout_s: float = NCU_TIMEOUT_S,
    cancel: threading.Event | None = None,
) -> dict:
    """Profile one launch of the trial's kernel under ncu, in a worker; plain data back."""
    exe = ncu.find_ncu()
    if exe is None:
        return {"ok": False, "message": ncu.MISSING}
    names = ncu.kernel_names(kf.source)
    if not names:
        return {"ok": False, "message": "no @triton.jit kernel name found to select in ncu"}
    request = {**request, "warmups": ncu.WARMUPS}
    with tempfile.TemporaryDirectory(prefix="conv3d-bench-ncu-") as tmp:
        log = Path(tmp) / "ncu.csv"
        prefix = ncu.command(exe, names, [], log)
        outcome = _run_request(request, "gpu", timeout_s, cancel, None, prefix=prefix)
        text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
    if outcome.timed_out:
        return {"ok": False, "message": f"ncu timed out after {timeout_s:g} s"}
    if outcome.cancelled:
        return {"ok": False, "message": "ncu cancelled"}
    everything = "\n".join([text, outcome.stdout, outcome.stderr_tail])
    parsed = ncu.parse_csv(text) or ncu.parse_csv(outcome.stdout)
    reason = ncu.failure(everything, outcome.returncode or 0)
    if not parsed.get("metrics"):
        return {
            "ok": False,
            "message": reason or "ncu reported no metrics",
            "detail": everything[-3000:],
        }
    worker = outcome.result or {}
    return {
        "ok": True,
        "message": "profiled one launch after warm-up",
        **parsed,
        "worker_status": worker.get("status"),
        "command": " ".join(prefix),
    }
