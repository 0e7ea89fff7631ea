"""A `--mode compile` sweep of 100 configs of the built-in kernel for the RTX 4090, on this machine
(no GPU): wall time from an empty compile cache, again from the warm cache, and a sweep SIGKILLed
mid-stage and rerun, which must finish with exactly the configs of the space, none twice.

    python3 bench/compile_sweep_cpu.py OUT.json
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPACE = "BLOCK_M=32,64,128,256;BLOCK_N=16,32,64,128,256;BLOCK_K=16;num_warps=1,2,4,8,16;num_stages=2;precision=tf32x3"


def sweep(work: Path, cache: Path, session: str) -> tuple[float, dict]:
    env = {**os.environ, "CONV3D_BENCH_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "workbench", "sweep", "--mode", "compile", "--gpu", "4090", "--space", SPACE,
            "--session", session, "--json", "--max-spill", "100000"]  # fmt: skip
    t0 = time.monotonic()
    done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, check=False)
    return time.monotonic() - t0, json.loads(done.stdout)


def main(out: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="compile-sweep-"))
    cache = work / "cache"
    cold_s, cold = sweep(work, cache, "cold.json")
    warm_s, warm = sweep(work, cache, "warm.json")
    # Killed mid-stage (a fresh cache so the kill lands while it compiles), then rerun.
    kill_cache = work / "kill-cache"
    env = {**os.environ, "CONV3D_BENCH_CACHE": str(kill_cache), "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "workbench", "sweep", "--mode", "compile", "--gpu", "4090", "--space", SPACE,
            "--session", "killed.json", "--json", "--max-spill", "100000"]  # fmt: skip
    child = subprocess.Popen(
        argv, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    recorded = 0
    while child.poll() is None and recorded < 30:
        time.sleep(0.5)
        try:
            recorded = len(json.loads((work / "killed.json").read_text())["trials"])
        except (OSError, ValueError, KeyError):
            recorded = 0
    child.send_signal(signal.SIGKILL)
    child.wait()
    resumed_s, resumed = sweep(work, kill_cache, "killed.json")
    trials = json.loads((work / "killed.json").read_text())["trials"]
    keys = [json.dumps(t["config"], sort_keys=True) for t in trials]
    result = {
        "machine": f"{os.cpu_count()} cores, no GPU (shared with other work: times are upper bounds)",
        "space": SPACE, "configs": cold["space_size"],
        "cold_s": cold_s, "cached_s": warm_s, "fits": cold["fits"], "dropped": cold["dropped"],
        "killed_after_trials": recorded, "resumed_s": resumed_s, "resumed": resumed["resumed"],
        "resumed_trials": len(keys), "distinct": len(set(keys)),
        "exactly_the_space": len(keys) == cold["space_size"] == len(set(keys)),
    }  # fmt: skip
    Path(out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1])
