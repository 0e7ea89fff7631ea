"""The Ray runner: compiles as tasks on a Ray cluster's CPUs, measurement on one actor per GPU.

Every batch a task or an actor takes runs through the local runner (runner/local.py), so each
trial still runs in its own isolated worker process under its time limit, and compiles go through
the compile cache: a faulting kernel kills that worker, never the Ray worker or the actor. Results
stream back one by one (Ray generators) and the driver calls `on_result` in its own thread, so
the driver is the only writer of the session.

- Compiles (mode "compile") are tasks of `num_cpus=1`, a few configs each.
- Measurement (mode "gpu") runs on actors of `num_gpus=1, num_cpus=0` (a GPU actor must not hold a
  CPU, or it takes the compiles' CPUs), one per GPU of the cluster: Ray sets each actor's
  CUDA_VISIBLE_DEVICES, its worker process inherits it, so a timing never shares a GPU. An actor
  takes one batch at a time and keeps a warm worker between batches. Interpreter trials run on the
  GPU actors where the cluster has GPUs (logical ones in the tests), else as CPU tasks.
- Losses: a batch whose Ray worker, actor or node dies is retried once (the requests it had not
  finished; measurement on another actor), then each of them is a failed result (runtime_fault)
  that says why.
- Cancel stops dispatch, force-cancels the compile tasks and closes then kills the busy actors
  (which end their workers' process trees).

Where compiles are cached: `$CONV3D_BENCH_CACHE` (the driver's value, when set, is passed to every
task), else ~/.cache/conv3d-bench of the host that runs the task. On one host all tasks share it.
A cluster of several hosts needs the workbench (same version) installed on every host, and either
a shared filesystem for `$CONV3D_BENCH_CACHE` (each config compiles once per cluster) or a cache
per host (each config compiles once per host). Kernel and problem sources travel in the requests.
Start external clusters with `RAY_kill_child_processes_on_worker_exit=0 ray start ...` so a
killed task's worker can end its own children (ptxas); the local cluster here sets that itself.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from workbench.core.errors import UsageError
from workbench.core.paths import PROJECT_ROOT
from workbench.core.records import Status, TrialRequest, TrialResult
from workbench.runner import device
from workbench.runner.base import OnProgress, OnResult
from workbench.runner.local import LocalRunner, close_spares, complete, keep_warm

INSTALL_HINT = "pip install -e '.[ray]'"
OBJECT_STORE_BYTES = 100 * 2**20  # results are small; Ray's default is 30% of RAM
ACTOR_START_S = 120.0  # an actor that cannot start (no free GPU) waits silently: bound it
# Configs per CPU task: each batch starts a worker process (2-5 s of imports), so a few configs
# at least; two batches per CPU balance compile times that vary (1-60 s a config, cold).
BATCHES_PER_CPU = 2
MIN_COMPILE_BATCH, MAX_COMPILE_BATCH = 4, 50
FORWARDED_ENV = ("CONV3D_BENCH_", "TRITON_")  # the driver's settings every task should see
CPU_TASK = "cpu-task"


def import_ray() -> Any:
    """Ray, or a one-line error that says how to install it (Ray is an optional extra)."""
    try:
        import ray
    except ImportError:
        raise UsageError(
            f"--backend ray needs Ray, which is not installed: {INSTALL_HINT}"
        ) from None
    return ray


def visible_gpus() -> int | None:
    """The GPUs a local cluster should offer: none without a usable one (a CPU build of torch,
    CUDA_VISIBLE_DEVICES empty), else nvidia-smi's count; None: let Ray detect them."""
    if not device.gpu_present():
        return 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        return len([v for v in visible.split(",") if v.strip()])
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    count = sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))
    return count if out.returncode == 0 and count else None


# --- what runs on the cluster -------------------------------------------------------------------
def _forwarded_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if k.startswith(FORWARDED_ENV) and k != "TRITON_INTERPRET"  # the runner sets that per mode
    }


def _apply_env(env: dict[str, str]) -> None:
    os.environ.update(env)


def _stream(
    requests: list[dict[str, Any]],
    timeout_s: float | None,
    cancel: threading.Event,
    where: dict[str, Any],
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Run a batch through a LocalRunner; yield (position in the batch, result) as each ends."""
    batch = [TrialRequest.from_json(r) for r in requests]
    out: queue.Queue[tuple[int, TrialResult] | BaseException | None] = queue.Queue()

    def put(position: int, result: TrialResult) -> None:
        out.put((position, result))

    def put_completed(position: int, result: TrialResult) -> None:
        out.put((position, complete(result, batch[position])))  # LocalRunner.run's own step

    def work() -> None:
        runner = LocalRunner(compile_workers=1, timeout_s=timeout_s)
        try:
            if all(r.mode == "interpreter" and not r.compile for r in batch):
                # The run step of interpreter trials whose compile the driver already has
                # (LocalRunner.run would compile them again first).
                indices = list(range(len(batch)))
                runner._sequential(batch, indices, "interpreter", put_completed, cancel, None)
            else:
                runner.run(batch, on_result=put, cancel=cancel)
            out.put(None)
        except BaseException as err:  # handed to the generator, which raises it to the driver
            out.put(err)

    thread = threading.Thread(target=work, name="ray-batch", daemon=True)
    thread.start()
    # A trial ran somewhere in [the previous result, this one]: a batch is sequential.
    since = time.time()
    while True:
        item = out.get()
        if item is None:
            break
        if isinstance(item, BaseException):
            raise item
        position, result = item
        now = time.time()
        result.extra.update(where, ray_started=round(since, 3), ray_finished=round(now, 3))
        since = now
        yield position, result.to_json()
    thread.join(timeout=5)


def _here(actor: str) -> dict[str, Any]:
    return {
        "ray_actor": actor,
        "ray_node": socket.gethostname(),
        "ray_pid": os.getpid(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
    }


def cpu_batch(
    requests: list[dict[str, Any]], timeout_s: float | None, env: dict[str, str]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """A Ray task: compiles (or interpreter trials where the cluster has no GPU) on one CPU."""
    _apply_env(env)
    keep_warm(False)  # a spare would compete for this task's one CPU
    yield from _stream(requests, timeout_s, threading.Event(), _here(CPU_TASK))


class Measurer:
    """A Ray actor on one GPU: it runs one batch at a time through a warm worker process."""

    def __init__(self, name: str, env: dict[str, str]) -> None:
        _apply_env(env)
        self.name = name
        self._cancel = threading.Event()

    def info(self) -> dict[str, Any]:
        return _here(self.name)

    def run(
        self, requests: list[dict[str, Any]], timeout_s: float | None
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        self._cancel = threading.Event()
        # Only a GPU worker is worth keeping warm (its GPU waits while it imports torch).
        keep_warm(all(r.get("mode") == "gpu" for r in requests))
        yield from _stream(requests, timeout_s, self._cancel, _here(self.name))

    def close(self) -> None:
        """End the running batch's worker tree and the warm spare (before the actor is killed)."""
        self._cancel.set()
        close_spares()


# --- the driver -----------------------------------------------------------------------------
@dataclass
class _Actor:
    name: str
    handle: Any
    info: dict[str, Any] = field(default_factory=dict)
    busy: bool = False


@dataclass
class _Batch:
    indices: list[int]  # request indices, in the order the batch runs them
    actor: _Actor | None  # None: a CPU task
    done: set[int] = field(default_factory=set)


class RayRunner:
    """Runs trial requests on a Ray cluster (see the module docstring).

    address: a cluster to join ("auto", "HOST:PORT"); None starts a local one with `workers` CPUs
    (default: this machine's cores) and `num_gpus` GPUs (default: `visible_gpus()`). A Ray already
    initialised in this process (a test's cluster) is used as it is and left running.
    interpreter_on: where interpreter trials run: "auto" (the GPU actors where the cluster has
    GPUs, else CPU tasks), "cpu" or "gpu".
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        timeout_s: float | None = None,
        *,
        num_gpus: int | None = None,
        compile_batch: int | None = None,
        actor_start_s: float = ACTOR_START_S,
        interpreter_on: str = "auto",
    ) -> None:
        if interpreter_on not in ("auto", "cpu", "gpu"):
            raise UsageError(f"interpreter_on must be auto, cpu or gpu, got {interpreter_on!r}")
        self.ray = import_ray()
        self.timeout_s = timeout_s
        self.compile_batch = compile_batch
        self.actor_start_s = actor_start_s
        self._owns_connection = False
        self._temp_dir: str | None = None
        self._actors: list[_Actor] = []
        self._made = 0
        self._remote_cpu: Any = None
        self._remote_actor: Any = None
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # Ray 2.60 turns token auth on else
        if not self.ray.is_initialized():
            self._connect(address, workers, num_gpus)
            self._owns_connection = True
        _raylet_lines_to_stderr(self.ray)
        resources = self.ray.cluster_resources()
        self.cpus = max(1, int(resources.get("CPU", 1)))
        self.gpus = int(resources.get("GPU", 0))
        self.compile_slots = min(workers, self.cpus) if workers else self.cpus
        self.env = _forwarded_env()
        self.interpreter_on_gpus = bool(self.gpus) and interpreter_on != "cpu"

    def _connect(self, address: str | None, workers: int | None, num_gpus: int | None) -> None:
        ray = self.ray
        try:
            if address:
                # Joining: Ray refuses num_cpus, num_gpus and _system_config here.
                ray.init(address=address, log_to_driver=False, logging_level="ERROR")
                return
            # Workers must import the workbench: the local cluster inherits this environment.
            paths = [str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]
            os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
            self._temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # AF_UNIX paths: short
            ray.init(
                address="local",  # never join a stray `ray start` cluster by accident
                num_cpus=workers or os.cpu_count() or 1,
                num_gpus=num_gpus if num_gpus is not None else visible_gpus(),
                include_dashboard=False,
                log_to_driver=False,
                logging_level="ERROR",
                object_store_memory=OBJECT_STORE_BYTES,
                _temp_dir=self._temp_dir,
                # Let a killed task's worker end its own tree (its watchdog): Ray's own cleanup
                # kills only the direct child and leaves ptxas running.
                _system_config={"kill_child_processes_on_worker_exit": False},
            )
        except (ConnectionError, ValueError, RuntimeError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
            hint = (
                "start it with `ray start --head` (see the README) or leave out --address"
                if address
                else "see the README's Ray section"
            )
            raise UsageError(f"cannot start or join {where} ({first}): {hint}") from None

    # --- the protocol -----------------------------------------------------------------------
    def on_cpus(self, mode: str) -> bool:
        """Whether requests of `mode` run as CPU tasks (else on the GPU actors)."""
        return mode == "compile" or (mode == "interpreter" and not self.interpreter_on_gpus)

    def available_parallelism(self, mode: str) -> int:
        return self.compile_slots if self.on_cpus(mode) else self.gpus

    def close(self) -> None:
        """Close and kill the actors; end this runner's connection to Ray (a local cluster it
        started ends with it; a cluster it joined, or a Ray started by the caller, stays up)."""
        for actor in self._actors:
            self._kill(actor)
        self._actors = []
        if self._owns_connection and self.ray.is_initialized():
            self.ray.shutdown()
        self._owns_connection = False
        if self._temp_dir:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def run(
        self,
        requests: list[TrialRequest],
        *,
        on_result: OnResult | None = None,
        cancel: threading.Event | None = None,
        progress: OnProgress | None = None,
    ) -> list[TrialResult]:
        return _Dispatch(self, requests, on_result, cancel, progress).run()

    # --- the cluster's pieces ----------------------------------------------------------------
    def _cpu_task(self) -> Any:
        if self._remote_cpu is None:
            self._remote_cpu = self.ray.remote(num_cpus=1, max_retries=0)(cpu_batch)
        return self._remote_cpu

    def _actor_class(self) -> Any:
        if self._remote_actor is None:
            # max_concurrency=2: close() must run while run() is busy; the driver never gives
            # an actor a second batch at once. Restarts and retries are the driver's (another
            # actor, not the same one restarted).
            self._remote_actor = self.ray.remote(
                num_gpus=1, num_cpus=0, max_restarts=0, max_task_retries=0, max_concurrency=2
            )(Measurer)
        return self._remote_actor

    def actors(self, want: int, progress: OnProgress | None = None) -> list[_Actor]:
        """The live GPU actors, up to `want` of them (at most one per GPU of the cluster), started
        where missing: an actor costs a process (and an import of torch) that idle GPUs need not."""
        missing = min(self.gpus, want) - len(self._actors)
        if missing <= 0:
            return self._actors
        if progress is not None:
            progress(f"starting {missing} GPU actor(s) on the Ray cluster")
        cls = self._actor_class()
        new = []
        for _ in range(missing):
            name = f"gpu-{self._made}"
            self._made += 1
            new.append(_Actor(name, cls.remote(name, self.env)))
        refs = {actor.handle.info.remote(): actor for actor in new}
        ready, _ = self.ray.wait(list(refs), num_returns=len(refs), timeout=self.actor_start_s)
        for ref, actor in refs.items():
            if ref in ready:
                with contextlib.suppress(Exception):
                    actor.info = self.ray.get(ref, timeout=10)
            if actor.info:
                self._actors.append(actor)
            else:  # never started (no GPU free) or died at once: nothing to close
                self._kill(actor, close=False)
        return self._actors

    def drop(self, actor: _Actor) -> None:
        if actor in self._actors:
            self._actors.remove(actor)
        self._kill(actor)

    def _kill(self, actor: _Actor, close: bool = True) -> None:
        if close:
            with contextlib.suppress(Exception):
                self.ray.get(actor.handle.close.remote(), timeout=10)
        with contextlib.suppress(Exception):
            self.ray.kill(actor.handle, no_restart=True)


class _Dispatch:
    """One `run`: hands batches to tasks and actors, streams results, retries what is lost.

    An interpreter trial takes two steps, as in the local runner (a real compile for the target
    cannot run under TRITON_INTERPRET=1): its compile as a CPU task, then, as soon as that is
    in, its run on a GPU actor (or a CPU task) without compiling again."""

    def __init__(
        self,
        runner: RayRunner,
        requests: list[TrialRequest],
        on_result: OnResult | None,
        cancel: threading.Event | None,
        progress: OnProgress | None,
    ) -> None:
        self.runner, self.ray = runner, runner.ray
        self.requests = requests
        self.current = list(requests)  # what each request runs now (an interpreter trial: 2 steps)
        self.compiled: dict[int, TrialResult] = {}  # interpreter trials whose compile is in
        self.on_result, self.cancel, self.progress = on_result, cancel, progress
        self.results: list[TrialResult | None] = [None] * len(requests)
        self.attempts = [0] * len(requests)
        self.losses: list[list[str]] = [[] for _ in requests]
        self.cpu_queue: deque[int] = deque()
        self.gpu_queue: deque[int] = deque()
        self.flying: dict[Any, _Batch] = {}  # generator -> its batch
        self.limit = runner.timeout_s

    def run(self) -> list[TrialResult]:
        for i, request in enumerate(self.requests):
            if request.mode == "interpreter" and request.compile:
                self.current[i] = request.replace(phase="compile", mode="compile")
                self.cpu_queue.append(i)
            elif request.mode == "gpu" and not self.runner.gpus:
                self.deliver(i, _failed(request, Status.RUNTIME_FAULT, NO_GPU))
            else:
                self._queue(i).append(i)
        self.cpu_size = self._cpu_batch_size(len(self.cpu_queue))
        self.cpu_queue = _interleaved(self.cpu_queue, self.cpu_size)
        try:
            while self.cpu_queue or self.gpu_queue or self.flying:
                if self.cancel is not None and self.cancel.is_set():
                    self._abort()
                    break
                self._dispatch()
                if not self.flying:
                    continue  # _dispatch failed what it could not place
                ready, _ = self.ray.wait(list(self.flying), num_returns=1, timeout=0.2)
                for gen in ready:
                    self._take(gen)
        except BaseException:
            self._abort()
            raise
        return [
            r if r is not None else _failed(self.requests[i], Status.CANCELLED, "cancelled")
            for i, r in enumerate(self.results)
        ]

    def _queue(self, index: int) -> deque[int]:
        return self.cpu_queue if self.runner.on_cpus(self.current[index].mode) else self.gpu_queue

    def deliver(self, index: int, result: TrialResult) -> None:
        if self.results[index] is not None:
            return  # a retried batch's late twin: recorded once
        self.results[index] = result
        if self.on_result is not None:
            self.on_result(index, result)

    def _arrived(self, index: int, result: TrialResult) -> None:
        request = self.requests[index]
        if request.mode != "interpreter" or not request.compile:
            self.deliver(index, result)
        elif index not in self.compiled:  # the compile step of an interpreter trial
            if result.status is not Status.OK:
                result.mode = "interpreter"
                self.deliver(index, result)
                return
            self.compiled[index] = result
            self.current[index] = request.replace(config=result.config, compile=False)
            self.attempts[index], self.losses[index] = 0, []
            self._queue(index).append(index)
        else:  # as LocalRunner._interpreter: the compile's report with the run's verdict
            first = self.compiled[index]
            result.inspect, result.launch, result.config = first.inspect, first.launch, first.config
            result.phases_s = {**first.phases_s, **result.phases_s}
            self.deliver(index, result)

    # --- dispatch ---------------------------------------------------------------------------
    def _cpu_batch_size(self, n: int) -> int:
        if self.runner.compile_batch:
            return self.runner.compile_batch
        slots = self.runner.compile_slots
        per = math.ceil(n / (BATCHES_PER_CPU * slots))
        # ... but never fewer batches than CPUs for the sake of the minimum
        return max(
            1, min(MAX_COMPILE_BATCH, max(per, min(MIN_COMPILE_BATCH, math.ceil(n / slots))))
        )

    def _dispatch(self) -> None:
        cpu_flying = sum(1 for b in self.flying.values() if b.actor is None)
        while self.cpu_queue and cpu_flying < self.runner.compile_slots:
            self._submit(self._take_from(self.cpu_queue, self.cpu_size), None)
            cpu_flying += 1
        if not self.gpu_queue:
            return
        busy = sum(1 for b in self.flying.values() if b.actor is not None)
        actors = self.runner.actors(busy + len(self.gpu_queue), self.progress)
        if not actors:
            reason = (
                f"no GPU actor could start on the Ray cluster within {self.runner.actor_start_s:g} s"
                f" (it has {self.runner.gpus} GPU(s): are they all taken?)"
            )
            while self.gpu_queue:
                i = self.gpu_queue.popleft()
                self.deliver(i, self._lost_result(i, reason))
            return
        for actor in actors:
            if not self.gpu_queue:
                break
            if not actor.busy:
                # Guided self-scheduling: a share of what is left, so batches shrink as the
                # queue does and a faster GPU takes more of them. One actor: the whole queue in
                # one batch, one warm worker, as the local runner does.
                size = math.ceil(len(self.gpu_queue) / len(actors))
                self._submit(self._take_from(self.gpu_queue, size), actor)

    def _take_from(self, q: deque[int], size: int) -> list[int]:
        """Up to `size` requests from the front, all of one kind: a worker runs one mode, and
        the run step of an interpreter trial must not be compiled again."""
        kind = self.current[q[0]].mode
        out: list[int] = []
        while q and len(out) < size and self.current[q[0]].mode == kind:
            out.append(q.popleft())
        return out

    def _submit(self, indices: list[int], actor: _Actor | None) -> None:
        payload = [self.current[i].to_json() for i in indices]
        for i in indices:
            self.attempts[i] += 1
        if actor is None:
            gen = self.runner._cpu_task().remote(payload, self.limit, self.runner.env)
        else:
            actor.busy = True
            gen = actor.handle.run.remote(payload, self.limit)
        self.flying[gen] = _Batch(indices, actor)

    # --- results ----------------------------------------------------------------------------
    def _take(self, gen: Any) -> None:
        batch = self.flying[gen]
        try:
            ref = next(gen)
            position, raw = self.ray.get(ref, timeout=60)
        except StopIteration:
            self._finished(gen, batch, None)
            return
        except Exception as err:  # noqa: BLE001 - any Ray failure loses the batch
            self._finished(gen, batch, err)
            return
        index = batch.indices[position]
        batch.done.add(index)
        result = TrialResult.from_json(raw)
        result.extra["ray_attempt"] = self.attempts[index]
        self._arrived(index, result)

    def _finished(self, gen: Any, batch: _Batch, err: BaseException | None) -> None:
        del self.flying[gen]
        if batch.actor is not None:
            batch.actor.busy = False
        left = [i for i in batch.indices if i not in batch.done and self.results[i] is None]
        if err is None and not left:
            return
        reason = _why(err) if err is not None else "the batch ended without their results"
        where = batch.actor.name if batch.actor is not None else "a CPU task"
        if batch.actor is not None and err is not None:
            self.runner.drop(batch.actor)  # another actor (or a new one) takes the retry
        if self.progress is not None:
            self.progress(f"{len(left)} trial(s) lost with {where} ({reason}): retrying once")
        q = self.cpu_queue if batch.actor is None else self.gpu_queue
        for i in reversed(left):
            self.losses[i].append(f"{where}: {reason}")
            if self.attempts[i] >= 2:
                self.deliver(i, self._lost_result(i, "; then ".join(self.losses[i])))
            else:
                q.appendleft(i)

    def _lost_result(self, index: int, reason: str) -> TrialResult:
        result = _failed(
            self.requests[index],
            Status.RUNTIME_FAULT,
            f"lost on the Ray cluster ({reason}); not retried again",
        )
        result.extra["ray_attempt"] = self.attempts[index]
        return result

    def _abort(self) -> None:
        """Stop what is running: force-cancel tasks, close and kill busy actors."""
        for gen, batch in list(self.flying.items()):
            if batch.actor is None:
                with contextlib.suppress(Exception):
                    self.ray.cancel(gen, force=True)
            else:
                self.runner.drop(batch.actor)
        self.flying.clear()
        for i in [*self.cpu_queue, *self.gpu_queue]:
            self.deliver(i, _failed(self.requests[i], Status.CANCELLED, "cancelled before it ran"))
        self.cpu_queue.clear()
        self.gpu_queue.clear()


NO_GPU = "the Ray cluster has no GPU: --mode gpu needs one (or use --mode interpreter)"


def _interleaved(q: deque[int], size: int) -> deque[int]:
    """The queue reordered so each batch of `size` is a strided sample of it: a space comes
    sorted (small tiles first), and consecutive slices would give one CPU all the slow compiles."""
    items = list(q)
    groups = max(1, math.ceil(len(items) / size))
    return deque(i for k in range(groups) for i in items[k::groups])


def _why(err: BaseException) -> str:
    """A Ray failure in a few words: its type and the first line of its message."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:200]}" if text else type(err).__name__


def _failed(request: TrialRequest, status: Status, message: str) -> TrialResult:
    result = TrialResult(
        status=status,
        message=message,
        mode=request.mode,
        target=request.target,
        config=dict(request.config),
    )
    return complete(result, request)


def _raylet_lines_to_stderr(ray: Any) -> None:
    """Ray prints "(raylet) A worker died ..." on the driver's stdout, with no switch to stop it;
    stdout is for results (`--json`), so send those lines to stderr. Ray-internal, hence guarded:
    when Ray changes, the lines just stay on stdout."""
    with contextlib.suppress(Exception):
        worker: Any = sys.modules["ray._private.worker"]
        original = worker.print_to_stdstream
        if getattr(original, "_conv3d_bench", False):
            return

        def to_stderr(data: dict[str, Any], ignore_prefix: bool) -> None:
            if data.get("pid") == "raylet":
                data = {**data, "is_err": True}
            original(data, ignore_prefix)

        to_stderr._conv3d_bench = True  # type: ignore[attr-defined]
        worker.print_to_stdstream = to_stderr
