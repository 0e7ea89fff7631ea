"""JSON in and out, one way everywhere: plain values, strict text, atomic files.

Strict JSON has no NaN or infinity, so files write them as the strings "NaN", "Infinity" and
"-Infinity" (records read them back as floats). Every file is written atomically: a temporary
file in the same folder, fsync, rename, fsync of the folder, so a kill leaves the old file or
the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import json
import math
import os
from pathlib import Path
from typing import Any

NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def plain(value: Any) -> Any:
    """A JSON-safe copy: records and dataclasses as dicts, tuples as lists, paths as text,
    NaN and infinities as strings."""
    if hasattr(value, "to_json"):
        return plain(value.to_json())
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def dumps(value: Any, indent: int | None = 2) -> str:
    """Strict JSON text of `value` (see plain); a trailing newline when indented."""
    text = json.dumps(plain(value), indent=indent, ensure_ascii=False, allow_nan=False)
    return text + "\n" if indent is not None else text


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write so that a crash at any moment leaves the old file or the new one, never a mix."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def write_json(path: str | Path, value: Any, indent: int | None = 1) -> None:
    """Atomic JSON file (caches, calibrations, measurements)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, dumps(value, indent=indent))


def read_json(path: str | Path) -> Any | None:
    """A JSON file's value, or None when it is missing or unreadable (caches: recompute)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    with contextlib.suppress(OSError):
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
