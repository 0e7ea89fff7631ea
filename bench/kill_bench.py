"""SIGKILL `conv3d-bench bench --session` at random moments; count unreadable sessions and orphans.

    python3 bench/kill_bench.py [--runs 100] [--seed 1] [--out docs/measurements/kill-bench.json]

Each run starts a real `conv3d-bench bench K --session S` (K a copy of the built-in kernel, a tiny
problem, the Triton interpreter: no GPU needed) and SIGKILLs it at a random moment between its
start and a little past the time a whole trial takes here (measured first, by runs left alone). All runs
append to one session file, so kills land in every phase: start-up, the session lock, the
compile worker, the interpreter worker, the save. After each kill:
- the session must still read (`read_session_file`): else it counts as unreadable;
- 5 s later no worker may be alive: every process whose command line runs `workbench.runner`
  and whose environment carries this run's private CONV3D_BENCH_CACHE is found with psutil (so a
  worker started a moment before the kill is found too); one alive and not a zombie is an orphan
  (it is then killed, so the next run starts clean).
Expected: 0 unreadable sessions and 0 orphaned workers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.core.errors import SessionError  # noqa: E402
from workbench.session.store import read_session_file  # noqa: E402

PROBLEM = "N=1,Ci=2,Co=8,D=4,H=4,W=5,k=3,pad=1"
CONFIG = "BLOCK_M=32,BLOCK_N=16,BLOCK_K=16,num_warps=4,num_stages=2,precision=tf32x3"
ORPHAN_WAIT_S = 5.0


def bench_argv(kernel: Path, session: Path) -> list[str]:
    return [
        sys.executable, "-m", "workbench", "bench", str(kernel), "--problem", PROBLEM,
        "--config", CONFIG, "--session", str(session), "--json",
    ]  # fmt: skip


def workers_of(cache: str) -> list[psutil.Process]:
    """Live processes of a worker started for this cache (the bench process itself excluded)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if "workbench.runner" not in " ".join(proc.info["cmdline"] or []):
                continue
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get("CONV3D_BENCH_CACHE") == cache:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def session_state(path: Path) -> tuple[bool, int, str]:
    """(readable, trials, why not) of the session file; a missing file is readable (none yet)."""
    if not path.exists():
        return True, 0, ""
    try:
        _, trials = read_session_file(path)
    except SessionError as err:
        return False, 0, str(err)
    return True, len(trials), ""


def one_run(kernel: Path, session: Path, env: dict[str, str], kill_at: float | None) -> dict:
    started = time.monotonic()
    proc = subprocess.Popen(
        bench_argv(kernel, session),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    workers_seen: set[int] = set()
    while proc.poll() is None:
        elapsed = time.monotonic() - started
        try:
            kids = psutil.Process(proc.pid).children(recursive=True)
            workers_seen |= {k.pid for k in kids}
        except psutil.NoSuchProcess:
            pass
        if kill_at is not None and elapsed >= kill_at:
            break
        time.sleep(0.02)
    killed = proc.poll() is None
    alive_at_kill = 0
    if killed:
        alive_at_kill = len(workers_of(env["CONV3D_BENCH_CACHE"]))
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    wall = time.monotonic() - started
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if killed:
        time.sleep(ORPHAN_WAIT_S)
    orphans = workers_of(env["CONV3D_BENCH_CACHE"])
    for orphan in orphans:  # so the next run starts clean
        try:
            os.killpg(orphan.pid, signal.SIGKILL)
        except OSError:
            orphan.kill()
    readable, trials, why = session_state(session)
    return {
        "kill_at_s": None if kill_at is None else round(kill_at, 3),
        "killed": killed,
        "returncode": proc.returncode,
        "wall_s": round(wall, 3),
        "workers_alive_at_kill": alive_at_kill,
        "processes_started": len(workers_seen),
        "orphans": [o.pid for o in orphans],
        "session_readable": readable,
        "session_trials": trials,
        "session_error": why,
        "stderr_tail": stderr.strip().splitlines()[-1:],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100, help="SIGKILLs to make (default 100)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the kill moments")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="conv3d-kill-bench-") as tmp:
        cache = str(Path(tmp) / "cache")
        env = {**os.environ, "CONV3D_BENCH_CACHE": cache}
        session = Path(tmp) / "killed.json"
        kernel = Path(tmp) / "conv3d_igemm.py"  # a copy: an edit of the repo's mid-run is not ours
        shutil.copy(ROOT / "kernels" / "conv3d_igemm.py", kernel)
        sha = hashlib.sha256(kernel.read_bytes()).hexdigest()
        calibration = one_run(kernel, session, env, None)  # a whole trial; compile cached after
        again = one_run(kernel, session, env, None)
        if not (calibration["returncode"] == 0 and again["returncode"] == 0):
            print(f"the unkilled runs failed: {calibration} {again}", file=sys.stderr)
            return 1
        span = max(again["wall_s"], 1.0) * 1.2
        runs = []
        for i in range(args.runs):
            run = one_run(kernel, session, env, rng.uniform(0.0, span))
            runs.append(run)
            print(
                f"{i + 1:3d}/{args.runs} kill at {run['kill_at_s']:6.2f} s"
                f" {'killed' if run['killed'] else 'had finished'},"
                f" workers then {run['workers_alive_at_kill']}, orphans {len(run['orphans'])},"
                f" session {'ok' if run['session_readable'] else 'UNREADABLE'}"
                f" ({run['session_trials']} trials)",
                flush=True,
            )
        final = one_run(kernel, session, env, None)  # the session still takes a trial after all
    killed = [r for r in runs if r["killed"]]
    report = {
        "what": "SIGKILL of `conv3d-bench bench --session` at random moments (bench/kill_bench.py)",
        "command": " ".join(bench_argv(Path("KERNEL.py"), Path("S.json"))[1:]),
        "kernel": f"a copy of kernels/conv3d_igemm.py (sha256 {sha[:12]})",
        "date": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "machine": f"{platform.node()}: {os.cpu_count()} cores, {platform.platform()}",
        "python": platform.python_version(),
        "seed": args.seed,
        "runs": len(runs),
        "killed_mid_run": len(killed),
        "finished_before_the_kill": len(runs) - len(killed),
        "killed_with_a_worker_alive": sum(1 for r in killed if r["workers_alive_at_kill"]),
        "kill_window_s": round(span, 3),
        "unkilled_trial_wall_s": [calibration["wall_s"], again["wall_s"], final["wall_s"]],
        "unreadable_sessions": sum(1 for r in runs if not r["session_readable"]),
        "orphaned_workers": sum(len(r["orphans"]) for r in runs),
        "orphan_wait_s": ORPHAN_WAIT_S,
        "trials_recorded": final["session_trials"],
        "after_all_kills": {
            "returncode": final["returncode"],
            "session_trials": final["session_trials"],
            "stderr_tail": final["stderr_tail"],
        },
        "per_run": runs,
    }
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(
        f"{report['runs']} runs, {report['killed_mid_run']} killed mid-run"
        f" ({report['killed_with_a_worker_alive']} with a worker alive):"
        f" {report['unreadable_sessions']} unreadable sessions,"
        f" {report['orphaned_workers']} orphaned workers"
    )
    ok = report["unreadable_sessions"] == 0 and report["orphaned_workers"] == 0
    return 0 if ok and final["returncode"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
