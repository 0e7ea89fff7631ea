"""Where a trial runs: the device fingerprint recorded with every result.

Computed without initialising CUDA in the calling process (the parent of trial workers must never
hold a CUDA context): the GPU is read from `nvidia-smi`, versions from the packages. The worker,
which does own a CUDA context, adds what only it can see (cuDNN version, torch's device name).
"""

from __future__ import annotations

import functools
import glob
import importlib.util
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

INTERPRETER_DEVICE = "Triton interpreter on CPU"


def gpu_present() -> bool:
    """A CUDA GPU this process could use, judged without touching CUDA."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    if torch_cuda_version() is None:  # a CPU-only build of torch cannot run on a GPU
        return False
    return bool(glob.glob("/dev/nvidia[0-9]*")) or _nvidia_smi() is not None


@functools.lru_cache(maxsize=1)
def torch_cuda_version() -> str | None:
    """The CUDA version torch was built for, read from torch/version.py without importing torch
    (the parent of trial workers stays light and CUDA-free)."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        version = Path(folder) / "version.py"
        if version.is_file():
            found = re.search(
                r"^cuda\s*(?::\s*[^=]+)?=\s*['\"]([^'\"]+)['\"]", version.read_text(), re.M
            )
            return found.group(1) if found else None
    return None


@functools.lru_cache(maxsize=1)
def _nvidia_smi() -> dict[str, str] | None:
    """Name, driver and compute capability of the first visible GPU, from nvidia-smi."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,driver_version,compute_cap", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=15,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    rows = [r for r in out.stdout.splitlines() if r.strip()]
    if out.returncode != 0 or not rows:
        return None
    index = 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    if visible.isdigit() and int(visible) < len(rows):
        index = int(visible)
    parts = [p.strip() for p in rows[index].split(",")]
    if len(parts) < 3:
        return None
    return {"name": parts[0], "driver": parts[1], "cc": parts[2]}


@functools.lru_cache(maxsize=1)
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _versions() -> dict[str, Any]:
    return {
        "torch": _package_version("torch"),
        "triton": _package_version("triton"),
        "cuda": torch_cuda_version(),
        "python": platform.python_version(),
    }


def _package_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def host() -> dict[str, Any]:
    return {
        "hostname": platform.node(),
        "os": f"{platform.system()} {platform.release()}",
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
    }


def fingerprint(mode: str) -> dict[str, Any]:
    """The device a trial in `mode` ("gpu" | "interpreter") runs on, as plain data."""
    data: dict[str, Any] = {"mode": mode}
    if mode == "gpu":
        smi = _nvidia_smi() or {}
        data.update(
            name=smi.get("name", "CUDA GPU (nvidia-smi unavailable)"),
            cc=smi.get("cc"),
            driver=smi.get("driver"),
        )
    else:
        data.update(name=INTERPRETER_DEVICE, cc=None, driver=None)
    data.update(_versions())
    data["host"] = host()
    return data


def worker_details() -> dict[str, Any]:
    """What only a process holding a CUDA context can add (called inside a GPU worker)."""
    import torch  # only a GPU worker, which owns CUDA, gets here

    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    return {
        "name": props.name,
        "cc": f"{props.major}.{props.minor}",
        "sms": props.multi_processor_count,
        "memory_gib": round(props.total_memory / 2**30, 1),
        "cudnn": torch.backends.cudnn.version(),
    }


def describe(fp: dict[str, Any], problem_label: str | None = None) -> str:
    """One line for people: `NVIDIA H100 80GB HBM3 (CC 9.0, driver 580.65)`."""
    if fp.get("mode") != "gpu":
        text = f"{INTERPRETER_DEVICE} ({fp.get('host', {}).get('cpu', 'unknown CPU')})"
        return f"{text}, reduced problem {problem_label}" if problem_label else text
    bits = [f"CC {fp['cc']}" if fp.get("cc") else None]
    bits.append(f"driver {fp['driver']}" if fp.get("driver") else None)
    bits.append(f"CUDA {fp['cuda']}" if fp.get("cuda") else None)
    inner = ", ".join(b for b in bits if b)
    return f"{fp.get('name')} ({inner})" if inner else str(fp.get("name"))
