"""Where things live: the project's folders, the built-in kernels and the workbench's caches."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
KERNELS_DIR = PROJECT_ROOT / "kernels"
BUILTIN_KERNEL = KERNELS_DIR / "conv3d_igemm.py"
CALIBRATIONS_DIR = Path(__file__).resolve().parents[1] / "analysis" / "calibrations"


def cache_root() -> Path:
    """Where the workbench keeps its caches: `$CONV3D_BENCH_CACHE` or ~/.cache/conv3d-bench."""
    env = os.environ.get("CONV3D_BENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "conv3d-bench"


def portable_path(path: str | Path | None) -> str | None:
    """Inside the project: relative to its root (so a session moves between machines)."""
    if path is None:
        return None
    p = Path(path).resolve()
    try:
        return str(p.relative_to(PROJECT_ROOT))
    except ValueError:
        return str(p)
