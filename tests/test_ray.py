"""The Ray backend on a real local Ray cluster (2 CPUs, 4 logical GPUs, one for the module):
the same sweep as the local backend, one GPU per actor, and a sweep that survives SIGKILLs of a
compile task's worker and of a GPU actor."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

ray = pytest.importorskip(
    "ray",
    reason="Ray is not installed, so the Ray backend tests are skipped: pip install -e '.[ray]'",
)

from workbench.core.config import config_key  # noqa: E402
from workbench.core.gpus import find_gpu  # noqa: E402
from workbench.core.problem import parse_problem  # noqa: E402
from workbench.core.records import Status, TrialResult  # noqa: E402
from workbench.kernel.kernelfile import KernelFile  # noqa: E402
from workbench.runner.local import LocalRunner, make_request  # noqa: E402
from workbench.runner.ray import RayRunner  # noqa: E402
from workbench.search.sweep import Sweep, SweepResult, SweepSpec, build_space  # noqa: E402
from workbench.session.store import Session  # noqa: E402

# A cluster start and real interpreter trials in Ray workers: ~60 s cold here (`-m slow`, run by CI)
pytestmark = pytest.mark.slow

TINY = "N=1,Ci=2,Co=8,D=4,H=4,W=5,k=3,pad=1"
SMALL = "BLOCK_M=32,64;BLOCK_N=16;BLOCK_K=16;num_warps=2,4;num_stages=1;precision=tf32x3"
GPUS = 4


@pytest.fixture(scope="module")
def cluster(bench_cache: Path) -> Iterator[Any]:
    """One local cluster for the module (each start costs 3-10 s here): 2 CPUs, 4 logical GPUs."""
    mp = pytest.MonkeyPatch()
    mp.setenv("RAY_AUTH_MODE", "disabled")
    mp.delenv("RAY_ADDRESS", raising=False)
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: AF_UNIX paths have 107 bytes
    ray.init(
        address="local", num_cpus=2, num_gpus=GPUS, include_dashboard=False, log_to_driver=False,
        logging_level="ERROR", object_store_memory=100 * 2**20, _temp_dir=temp,
        _system_config={"kill_child_processes_on_worker_exit": False},
    )  # fmt: skip
    yield ray
    ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)
    mp.undo()


@pytest.fixture(scope="module")
def gpu_runner(cluster: Any) -> Iterator[RayRunner]:
    """One runner on the 4 logical GPUs for the tests below: its actors live across sweeps, as
    they do across the files of `sweep-many` (each actor costs a process and a torch import)."""
    runner = RayRunner(compile_batch=2)
    assert len(runner.actors(GPUS)) == GPUS  # all four up front, so trials can spread at once
    yield runner
    runner.close()


def sweep(
    runner: Any, path: Path, mode: str, top_k: int, on_event: Any = None
) -> tuple[SweepResult, list[TrialResult]]:
    kf, problem, gpu = KernelFile.load(None), parse_problem(TINY), find_gpu("4090")
    spec = SweepSpec(space=build_space(kf, problem, SMALL).text(), mode=mode, top_k=top_k)
    with Session.open(path, kf, problem, gpu) as session:
        result = Sweep(kf, problem, gpu, spec, session, runner, on_event=on_event).run()
        return result, list(session.trials)


def facts(trials: list[TrialResult], mode: str) -> dict[str, tuple[Any, ...]]:
    """Per config: what must not depend on where a trial ran."""
    out = {}
    for t in trials:
        if t.mode != mode:
            continue
        res = t.resources
        assert config_key(t.config) not in out, f"{t.config} recorded twice"
        out[config_key(t.config)] = (
            str(t.status), t.correct,
            (res.registers, res.spill_bytes, res.shared_bytes, res.target_sm) if res else None,
        )  # fmt: skip
    return out


def test_ray_sweep_gives_what_the_local_backend_gives(cluster: Any, tmp_path: Path) -> None:
    local, local_trials = sweep(
        LocalRunner(compile_workers=1), tmp_path / "local.json", "interpreter", 2
    )
    # The 2 CPUs: compiles and interpreter checks as tasks (the GPU actors: the next test).
    runner = RayRunner(interpreter_on="cpu", compile_batch=2)
    try:
        assert runner.available_parallelism("compile") == 2
        assert runner.available_parallelism("interpreter") == 2
        on_ray, ray_trials = sweep(runner, tmp_path / "ray.json", "interpreter", 2)
    finally:
        runner.close()
    assert ray.is_initialized()  # the runner leaves a cluster it did not start running
    assert facts(ray_trials, "compile") == facts(local_trials, "compile")
    assert len(facts(ray_trials, "compile")) == 4
    assert facts(ray_trials, "interpreter") == facts(local_trials, "interpreter")
    assert len(facts(ray_trials, "interpreter")) == 2
    assert on_ray.winner is not None and local.winner is not None
    assert on_ray.winner.config == local.winner.config and on_ray.winner.correct
    assert [r.config for r in on_ray.ranked] == [r.config for r in local.ranked]
    assert all(t.extra["ray_actor"] == "cpu-task" for t in ray_trials)
    assert not any("ray_actor" in t.extra for t in local_trials)


def test_each_gpu_actor_has_its_own_gpu_and_one_trial_at_a_time(gpu_runner: RayRunner) -> None:
    kf, problem, gpu = KernelFile.load(None), parse_problem(TINY), find_gpu("4090")
    configs = [kf.full_config(problem, c) for c in build_space(kf, problem, SMALL).configs()]
    configs.append({**configs[0], "num_warps": 8})  # 5 trials for 4 actors: one takes two
    requests = [make_request(kf, problem, c, gpu, "interpreter") for c in configs]
    assert gpu_runner.available_parallelism("gpu") == GPUS
    results = gpu_runner.run(requests)
    assert [config_key(r.config) for r in results] == [config_key(c) for c in configs]
    assert all(r.status is Status.OK and r.correct for r in results), [r.message for r in results]
    devices: dict[str, set[str]] = {}
    for r in results:
        devices.setdefault(r.extra["ray_actor"], set()).add(r.extra["cuda_visible_devices"])
    assert all(len(d) == 1 for d in devices.values()), devices  # an actor keeps its GPU
    seen = [next(iter(d)) for d in devices.values()]
    assert len(seen) == len(set(seen)) and set(seen) <= {"0", "1", "2", "3"}  # shares it with none
    assert len(devices) >= 2  # the trials were spread over the GPUs
    for device in set(seen):  # one trial at a time on a GPU
        spans = sorted(
            (r.extra["ray_started"], r.extra["ray_finished"])
            for r in results
            if r.extra["cuda_visible_devices"] == device
        )
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), spans


def busy_ray_worker(title: str) -> psutil.Process | None:
    """A Ray worker running `title` now (Ray names a busy worker's process ray::<task>)."""
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info.get("cmdline") or []
        if cmd and cmd[0].startswith(f"ray::{title}"):
            return proc
    return None


def test_sweep_survives_sigkill_of_a_task_worker_and_of_an_actor(
    gpu_runner: RayRunner, tmp_path: Path
) -> None:
    killed: list[str] = []
    pids: list[int] = []
    orphans: list[psutil.Process] = []
    stop = threading.Event()

    def assassin() -> None:  # one compile task's worker in stage 1, one GPU actor in stage 2
        for title in ("cpu_batch", "Measurer.run"):
            while not stop.is_set():
                proc = busy_ray_worker(title)
                if proc is not None:
                    time.sleep(0.5)  # well inside its batch
                    try:
                        orphans.extend(proc.children(recursive=True))
                        proc.kill()
                        killed.append(title)
                        pids.append(proc.pid)
                        break
                    except psutil.NoSuchProcess:
                        continue
                time.sleep(0.05)

    thread = threading.Thread(target=assassin, daemon=True)
    thread.start()
    try:
        result, trials = sweep(gpu_runner, tmp_path / "killed.json", "interpreter", 2)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert killed == ["cpu_batch", "Measurer.run"]
    # Every config once per stage; the lost ones ran again (on another actor) and succeeded.
    assert len(facts(trials, "compile")) == 4 and len(facts(trials, "interpreter")) == 2
    assert all(t.status is Status.OK for t in trials), [t.message for t in trials]
    retried = [t for t in trials if t.extra.get("ray_attempt") == 2]
    assert {t.mode for t in retried} == {"compile", "interpreter"}
    assert not {t.extra["ray_pid"] for t in retried} & set(pids)  # elsewhere: another worker, actor
    assert result.winner is not None and result.winner.correct
    with Session.open(
        tmp_path / "killed.json", KernelFile.load(None), parse_problem(TINY), find_gpu("4090")
    ) as s:
        assert s.sweeps[-1]["state"] == "done"
    _, alive = psutil.wait_procs(orphans, timeout=10)  # the killed workers' trial workers ended too
    assert not alive, alive


def test_cancel_ends_the_running_trials_and_their_workers(gpu_runner: RayRunner) -> None:
    kf, problem, gpu = KernelFile.load(None), parse_problem(TINY), find_gpu("4090")
    configs = [kf.full_config(problem, c) for c in build_space(kf, problem, SMALL).configs()]
    requests = [make_request(kf, problem, c, gpu, "interpreter") for c in configs]
    cancel = threading.Event()
    workers: list[psutil.Process] = []
    cancelled_at: list[float] = []

    def canceller() -> None:  # cancel once a GPU actor is running a trial in its worker
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            proc = busy_ray_worker("Measurer.run")
            children = proc.children(recursive=True) if proc is not None else []
            if children:
                workers.extend(children)
                break
            time.sleep(0.05)
        cancelled_at.append(time.monotonic())
        cancel.set()

    thread = threading.Thread(target=canceller, daemon=True)
    thread.start()
    results = gpu_runner.run(requests, cancel=cancel)
    returned = time.monotonic()
    thread.join(timeout=10)
    assert cancelled_at and returned - cancelled_at[0] < 30  # at once, not after the trials
    assert workers, "no trial worker was seen running"
    statuses = [r.status for r in results]
    assert Status.CANCELLED in statuses and set(statuses) <= {Status.CANCELLED, Status.OK}
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, alive  # the running trials' workers ended with the cancel
