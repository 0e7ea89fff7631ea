"""Nothing left running: a real `conv3d-bench bench` killed mid-trial leaves no worker behind.

The trial runs a kernel whose wrapper never returns (and starts a child process of its own), so
the kill always lands mid-trial. The bench is signalled once its worker exists (found with
psutil): SIGKILL (nothing of the parent runs: each worker's watchdog must notice), SIGTERM and
SIGINT (the parent's exit paths end its workers). SIGKILL is also sent deep in the trial, when
the worker has started the wrapper's own child. Within 5 s no process of that bench may be alive
(the test stops looking once none is).
bench/kill_bench.py does the same 100 times at random moments, with a session.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = "N=1,Ci=2,Co=8,D=4,H=4,W=5,k=3,pad=1"
GRACE_S = 5.0


def alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def marked(mark: str) -> list[psutil.Process]:
    """Every live process started for this test (workers inherit the parent's environment)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("CONV3D_TEST_MARK") == mark and alive(proc):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def wait_for(what: str, done: Callable[[], object], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"no {what} after {timeout:g} s"
        time.sleep(0.05)


SCENARIOS = {
    "SIGKILL": (signal.SIGKILL, "worker started"),
    "SIGTERM": (signal.SIGTERM, "worker started"),
    "SIGINT": (signal.SIGINT, "worker started"),
    "SIGKILL-deep": (signal.SIGKILL, "wrapper running"),
}


@dataclass
class Killed:
    sig: signal.Signals
    when: str
    returncode: int
    stderr: str
    left: list[int]  # pids alive GRACE_S after the kill
    deep: bool  # the wrapper's own child had been started when the kill came


def kill_one(sig: signal.Signals, when: str, folder: Path, kernel: Path, cache: Path) -> Killed:
    """Start a bench of the endless kernel, signal it at `when`, look again GRACE_S later."""
    folder.mkdir()
    mark = uuid.uuid4().hex
    pid_file = folder / "wrapper-started"  # the hang kernel writes "worker child" pids here
    env = {
        **os.environ,
        "CONV3D_BENCH_CACHE": str(cache),
        "CONV3D_TEST_MARK": mark,
        "CONV3D_TEST_PID_FILE": str(pid_file),
    }
    env.pop("TRITON_INTERPRET", None)
    argv = [sys.executable, "-m", "workbench", "bench", str(kernel), "-p", TINY,
            "--timeout", "300"]  # fmt: skip
    bench = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    parent = psutil.Process(bench.pid)

    def workers() -> list[psutil.Process]:
        try:
            return [p for p in parent.children(recursive=True) if alive(p)]
        except psutil.NoSuchProcess:
            return []

    try:
        if when == "wrapper running":
            wait_for("wrapper", lambda: pid_file.is_file() and pid_file.read_text().strip())
        else:
            wait_for("worker", workers)
        seen = workers()
        bench.send_signal(sig)
        _, stderr = bench.communicate(timeout=60)

        def left_alive() -> list[int]:
            return [p.pid for p in seen if alive(p)] + [p.pid for p in marked(mark)]

        # Up to GRACE_S for the last of them to go; once none is alive, none can start another
        # (each is a process of this bench, marked), so looking again later could find nothing.
        deadline = time.monotonic() + GRACE_S
        left = left_alive()
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = left_alive()
    finally:
        for proc in marked(mark):  # never leave one running for the next test
            proc.kill()
        if bench.poll() is None:
            bench.kill()
            bench.wait()
    deep = pid_file.is_file() and bool(pid_file.read_text().split())
    return Killed(sig, when, bench.returncode, stderr, sorted(set(left)), deep)


@pytest.fixture(scope="module")
def killed(
    tmp_path_factory: pytest.TempPathFactory, measure_kernels: dict[str, Path], bench_cache: Path
) -> dict[str, Killed]:
    """The four kills at once (most of each is waiting)."""
    base = tmp_path_factory.mktemp("killed")
    with ThreadPoolExecutor(max_workers=len(SCENARIOS)) as pool:
        futures = {
            name: pool.submit(
                kill_one, sig, when, base / name, measure_kernels["hang"], bench_cache
            )
            for name, (sig, when) in SCENARIOS.items()
        }
        return {name: f.result() for name, f in futures.items()}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_killed_bench_leaves_no_worker(name: str, killed: dict[str, Killed]) -> None:
    k = killed[name]
    assert not k.left, f"alive {GRACE_S:g} s after {k.sig.name} ({k.when}): {k.left}"
    if k.when == "wrapper running":
        assert k.deep, "the kill was not deep in the trial"
    if k.sig == signal.SIGKILL:
        assert k.returncode == -signal.SIGKILL
    elif k.sig == signal.SIGINT:
        assert k.returncode == 130 and k.stderr.strip() == "interrupted", k.stderr
    else:
        assert k.returncode == 128 + signal.SIGTERM
        assert "Traceback" not in k.stderr, k.stderr
