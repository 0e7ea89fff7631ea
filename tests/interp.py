"""Run a script in a child Python under Triton's interpreter and read back its JSON.

TRITON_INTERPRET must be set before triton is imported, so interpreter checks never run in the
test process itself: the child gets the variable, and prints its results as one JSON line last.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


def run_in_interpreter(code: str, *args: str, timeout: float = 240, prefix: str = "") -> Any:
    """Run `python -c code args...` with TRITON_INTERPRET=1; return the JSON of its last line
    that starts with `prefix` (the prefix removed). A failing child fails the calling test."""
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**os.environ, "TRITON_INTERPRET": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, (
        f"interpreter run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(prefix) and ln.strip()]
    assert lines, f"no results printed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return json.loads(lines[-1][len(prefix) :])
