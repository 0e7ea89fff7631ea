"""The worker process's entry point: watch the parent first, then import the worker and run it.

`python -m workbench.runner.entry REQUESTS.json RESULTS.jsonl` (or `--serve`). The watchdog
starts before torch and Triton are imported (seconds, more on a loaded machine), so a parent
killed at any moment, even while its worker is still importing, takes the worker's whole process
group with it. The parent's pid comes from the environment (process.spawn sets it): a parent that
died before the watchdog started is noticed at its first look.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

PARENT_PID_ENV = "CONV3D_BENCH_PARENT_PID"
POLL_S = 0.2


def expected_parent() -> int:
    """The pid this worker must have as its parent: the spawner's, or (under a wrapper such as
    ncu, which spawns the worker itself) whatever parent it has now."""
    text = os.environ.get(PARENT_PID_ENV, "")
    return int(text) if text.isdigit() else os.getppid()


def watch_parent() -> None:
    """Kill this worker's process group (it and everything it started) when its parent dies."""
    parent = expected_parent()

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os.killpg(os.getpgrp(), signal.SIGKILL)
            time.sleep(POLL_S)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


if __name__ == "__main__":
    watch_parent()
    from workbench.runner import worker  # torch and Triton: seconds

    worker.run(sys.argv[1:])
