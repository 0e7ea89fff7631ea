"""Stage 1 of a sweep (compile every config for the 4090, no GPU), local vs Ray: wall time cold
and cached.

Runs `conv3d-bench sweep --mode compile` on the built-in kernel, L1/66, a 200-config space, four
times, each in a fresh process and a fresh session:
  local, --workers 1 (one worker process compiles config after config), cold then cached;
  --backend ray --workers 2 (a local Ray cluster of 2 CPUs, compile tasks), cold then cached.
Cold: empty compile cache and Triton cache (fresh folders); cached: the same folders again.
Each compile may take up to 900 s (--timeout): under load the default 180 s ended some cold
compiles of big tiles, which then compiled again in the "cached" run.
Writes one JSON (default docs/measurements/ray_stage1.json): per run the process's wall time
(imports, Ray start and stop included), the sweep's own wall time, what fit, the winner, and
the machine's load average (this machine is shared: read the times with it).

    python bench/ray_stage1.py [--out FILE] [--only local|ray] [--space SPACE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SPACE = (
    "BLOCK_M=32,64,128;BLOCK_N=32,64,128;BLOCK_K=16,32;num_warps=2,4,8;num_stages=2,3;"
    "precision=ieee,tf32x3;BLOCK_M*BLOCK_N<16384 or num_warps==8"
)  # 200 configs: 216, less the 128x128 tiles with 2 or 4 warps
TIMEOUT_S = 900  # per compile: the default 180 s can end a big tile's cold compile on a loaded box
RUNS = {
    "local": ["--workers", "1"],
    "ray": ["--backend", "ray", "--workers", "2"],
}


def version(module: str) -> str | None:
    try:
        return str(__import__(module).__version__)
    except ImportError:
        return None


def ray_workers(trials: list[dict[str, Any]]) -> dict[str, Any]:
    """Per Ray worker process: how many configs it compiled and when it was busy (seconds from
    the first task's start), to show how the batches balanced over the CPUs."""
    spans = [(t["ray_pid"], t["ray_started"], t["ray_finished"]) for t in trials if "ray_pid" in t]
    if not spans:
        return {}
    zero = min(s for _, s, _ in spans)
    out: dict[str, Any] = {}
    for pid, start, end in spans:
        w = out.setdefault(str(pid), {"configs": 0, "first_s": start - zero, "last_s": end - zero})
        w["configs"] += 1
        w["first_s"], w["last_s"] = min(w["first_s"], start - zero), max(w["last_s"], end - zero)
    return {pid: {k: round(v, 1) for k, v in w.items()} for pid, w in out.items()}


def sweep(extra: list[str], cache: Path, session: Path, space: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "CONV3D_BENCH_CACHE": str(cache / "bench"),
        "TRITON_CACHE_DIR": str(cache / "triton"),
        "RAY_AUTH_MODE": "disabled",
    }
    env.pop("RAY_ADDRESS", None)
    argv = [sys.executable, "-m", "workbench", "sweep", "--problem", "L1/66", "--gpu", "4090",
            "--space", space, "--mode", "compile", "--session", str(session), "--timeout", str(TIMEOUT_S),
            "--json", *extra]  # fmt: skip
    load = os.getloadavg()
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    wall = time.monotonic() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"sweep failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout)
    trials = json.loads(session.read_text())["trials"]
    return {
        "argv_tail": extra,
        "process_wall_s": round(wall, 2),
        "sweep_wall_s": round(out["wall_s"], 2),
        "start_and_stop_s": round(wall - out["wall_s"], 2),
        "configs": out["space_size"],
        "fits": out["fits"],
        "dropped": out["dropped"],
        "compile_trials": len(trials),
        "statuses": {k: [t.get("status") for t in trials].count(k) for k in sorted({t.get("status") for t in trials})},
        "winner": out["winner"]["config"] if out["winner"] else None,
        "loadavg_before": [round(x, 2) for x in load],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "ray_workers": ray_workers(trials),
        "resources": {
            json.dumps(t["config"], sort_keys=True): [t.get("status"), ((t.get("inspect") or {}).get("resources") or {}).get("registers")]
            for t in trials
        },
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "measurements" / "ray_stage1.json"))
    parser.add_argument("--only", choices=sorted(RUNS), default=None)
    parser.add_argument(
        "--space", default=SPACE, help="another space (a quick check of the script)"
    )
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ray-stage1-") as tmp:
        for name, extra in RUNS.items():
            if args.only and name != args.only:
                continue
            cache = Path(tmp) / name
            for state in ("cold", "cached"):
                session = Path(tmp) / f"{name}-{state}.json"
                print(f"{name} {state} ...", file=sys.stderr, flush=True)
                results[f"{name}_{state}"] = run = sweep(extra, cache, session, args.space)
                print(
                    f"  {run['process_wall_s']} s (sweep {run['sweep_wall_s']} s)", file=sys.stderr
                )
    same, differences = None, []
    if "local_cold" in results and "ray_cold" in results:
        same = all(
            results["local_cold"][k] == results[f"ray_{s}"][k]
            for k in ("resources", "winner", "fits")
            for s in ("cold", "cached")
        )
        base = results["local_cold"]["resources"]
        for name, run in results.items():
            for config, got in run["resources"].items():
                if got != base.get(config):
                    differences.append(
                        {"run": name, "config": config, "got": got, "local_cold": base.get(config)}
                    )
    for run in results.values():
        run.pop("resources")  # compared above; too long to keep
    report = {
        "what": "stage 1 of `conv3d-bench sweep --mode compile`: built-in kernel, L1/66, 4090 (sm_89), 200 configs",
        "space": args.space,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "versions": {m: version(m) for m in ("triton", "torch", "ray")},
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "script": "bench/ray_stage1.py",
        "same_resources_and_winner_local_vs_ray": same,
        "differences": differences,
        "runs": results,
        "note": "process_wall_s: the whole command (imports, Ray start and stop); sweep_wall_s: Sweep.run; the machine is shared with other jobs (see loadavg)",
    }  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(
        json.dumps(
            {
                k: {kk: v[kk] for kk in ("process_wall_s", "sweep_wall_s")}
                for k, v in results.items()
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
