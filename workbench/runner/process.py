"""Worker processes: start them, watch them under a time limit, end their whole tree.

Every worker starts in its own session (its own process group), so Ctrl-C in the terminal
reaches only the parent, which then ends the workers. Nothing is left running:
- on a time limit, a cancel or a superseded request the worker's whole tree is killed (psutil,
  children first), ptxas and the user's own subprocesses included;
- on every exit path of the parent (normal exit, exception, SIGINT, SIGTERM) the live workers
  are killed by an atexit hook (the CLI turns SIGTERM into an exit);
- when the parent dies without running any of that (SIGKILL), each worker's watchdog thread sees
  its parent change and kills its own process group (see entry.py: it starts before the
  worker's imports, and knows the parent's pid from the environment spawn() gives it).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil

PROGRESS_PREFIX = "@@conv3d-bench progress: "
DETAIL_LINES = 30


@dataclass(eq=False)  # identity: workers live in a set
class Worker:
    """A started worker process and the file that collects its stderr."""

    proc: subprocess.Popen[str]
    err_file: IO[str]
    env: dict[str, str]
    started: float = field(default_factory=time.monotonic)


@dataclass
class WorkerOutcome:
    results: list[dict[str, Any]]  # what the worker wrote, one per request it finished
    returncode: int | None
    timed_out: bool
    cancelled: bool
    stderr_tail: str
    stdout: str
    wall_s: float


_live: set[Worker] = set()  # every worker not yet reaped, for the exit hook
_live_lock = threading.Lock()


def spawn(
    argv: list[str], env: dict[str, str] | None, stdin_pipe: bool = False, direct: bool = True
) -> Worker:
    """Start a worker. `direct`: it is our own child, so its watchdog is told our pid (under a
    wrapper such as ncu it watches the wrapper, its parent)."""
    if _exiting:  # a supervising thread must not start one after the exit paths ran
        raise RuntimeError("the workbench is exiting: no new worker is started")
    child_env = dict(os.environ if env is None else env)
    child_env.pop(PARENT_PID_ENV, None)
    if direct:
        child_env[PARENT_PID_ENV] = str(os.getpid())
    # Closed by supervise() or retire(), which outlive this call.
    err_file = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=err_file,
        env=child_env,
        text=True,
        errors="replace",
        start_new_session=True,  # Ctrl-C in the terminal reaches the parent, which ends us
    )
    worker = Worker(proc, err_file, dict(env or {}))
    with _live_lock:
        _live.add(worker)
        late = _exiting  # the exit paths ran while it started: it would be missed
    if late:
        retire(worker)
        raise RuntimeError("the workbench is exiting: no new worker is started")
    return worker


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


def retire(worker: Worker) -> None:
    """Kill a worker's tree (if still running), reap it and close its files."""
    if worker.proc.poll() is None:
        kill_tree(worker.proc.pid)
    with contextlib.suppress(Exception):
        worker.proc.wait(timeout=10)
    with _live_lock:
        _live.discard(worker)
    with contextlib.suppress(Exception):
        if worker.proc.stdin is not None:
            worker.proc.stdin.close()
    with contextlib.suppress(Exception):
        if worker.proc.stdout is not None:
            worker.proc.stdout.close()
    # Two threads may retire one worker at once (the TUI's quit and the supervising thread):
    # a close racing another close raises from its flush, and the file is closed either way.
    with contextlib.suppress(ValueError, OSError):
        worker.err_file.close()


def end_all() -> None:
    """Kill every live worker (the parent's exit paths call this)."""
    with _live_lock:
        workers = list(_live)
    for worker in workers:
        retire(worker)


def end_all_for_exit() -> None:
    """The parent is exiting: no worker starts from now on, and every live one is killed.

    Called as the main thread unwinds (the CLI's every exit path), not only at exit: Python
    joins the threads that supervise workers (a runner's pool) before it runs atexit hooks, so
    a worker that never ends would keep the parent waiting for it there."""
    global _exiting
    _exiting = True
    end_all()


_exiting = False
atexit.register(end_all)


def exit_on_sigterm() -> None:
    """SIGTERM runs the exit hooks (so workers die with the parent) instead of killing at once."""

    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    with contextlib.suppress(ValueError):  # only the main thread may set handlers
        signal.signal(signal.SIGTERM, handler)


def _gone(proc: psutil.Process) -> bool:
    try:
        return bool(
            proc.status() == psutil.STATUS_ZOMBIE
        )  # dead; only its parent's reaping is left
    except psutil.NoSuchProcess:
        return True


def _wait_gone(procs: list[psutil.Process], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while procs and time.monotonic() < deadline:
        procs = [p for p in procs if not _gone(p)]
        if procs:
            time.sleep(0.02)


def read_results(path: Path | None) -> list[dict[str, Any]]:
    """The results a worker appended, one JSON object per line; a torn last line is dropped."""
    if path is None or not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            value = json.loads(line)
            if isinstance(value, dict):
                out.append(value)
    return out


def supervise(
    worker: Worker,
    timeout_s: float,
    *,
    cancel: threading.Event | None = None,
    progress: Callable[[str], None] | None = None,
    result_path: Path | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> WorkerOutcome:
    """Wait for a worker under a time limit and a cancel flag; end its tree if either trips.

    The limit is per request: a batch's clock restarts at each result it appends. Stdout lines
    with the progress prefix go to `progress`; the rest is kept. `on_result` sees each result
    as the worker appends it (a batch streams)."""
    started = time.monotonic()
    clock = started
    proc = worker.proc
    out_lines: list[str] = []
    seen = 0

    def pump() -> None:
        assert proc.stdout is not None
        with contextlib.suppress(ValueError, OSError):
            for line in proc.stdout:
                if line.startswith(PROGRESS_PREFIX):
                    if progress is not None:
                        with contextlib.suppress(Exception):
                            progress(line[len(PROGRESS_PREFIX) :].rstrip("\n"))
                elif len(out_lines) < 2000:
                    out_lines.append(line)

    size = -1

    def drain() -> None:
        nonlocal seen, clock, size
        if result_path is None or not result_path.is_file():
            return
        now = result_path.stat().st_size
        if now == size:
            return
        size = now
        results = read_results(result_path)
        if len(results) > seen:
            clock = time.monotonic()
            for result in results[seen:]:
                if on_result is not None:
                    on_result(result)
            seen = len(results)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = cancelled = False
    stderr_tail = ""
    try:
        while proc.poll() is None:
            if cancel is not None and cancel.is_set():
                cancelled = True
                break
            drain()
            if time.monotonic() - clock > timeout_s:
                timed_out = True
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.05)
    finally:
        if proc.poll() is None:
            kill_tree(proc.pid)
        with contextlib.suppress(Exception):
            proc.wait(timeout=10)
        reader.join(timeout=2)
        with contextlib.suppress(OSError, ValueError):
            worker.err_file.seek(0)
            stderr_tail = "".join(worker.err_file.readlines()[-DETAIL_LINES:])
        retire(worker)
    drain()
    return WorkerOutcome(
        read_results(result_path),
        proc.returncode,
        timed_out,
        cancelled,
        stderr_tail,
        "".join(out_lines),
        time.monotonic() - started,
    )


def death(returncode: int | None) -> str:
    """Why a worker that left no result died, in words."""
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


# --- inside a worker: die with the parent ------------------------------------------------------
PARENT_PID_ENV = "CONV3D_BENCH_PARENT_PID"
POLL_S = 0.2


def expected_parent() -> int:
    """The pid this worker must have as its parent: the spawner's, or (under a wrapper such as
    ncu, which spawns the worker itself) whatever parent it has now."""
    text = os.environ.get(PARENT_PID_ENV, "")
    return int(text) if text.isdigit() else os.getppid()


def watch_parent() -> None:
    """Kill this worker's process group (it and everything it started) when its parent dies."""
    parent = expected_parent()

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os.killpg(os.getpgrp(), signal.SIGKILL)
            time.sleep(POLL_S)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()
