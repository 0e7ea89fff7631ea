"""The worker process's entry point: watch the parent first, then import the worker and run it.

`python -m workbench.runner.entry REQUESTS.json RESULTS.jsonl` (or `--serve`). The watchdog
starts before torch and Triton are imported (seconds, more on a loaded machine), so a parent
killed at any moment, even while its worker is still importing, takes the worker's whole process
group with it. The parent's pid comes from the environment (process.spawn sets it): a parent that
died before the watchdog started is noticed at its first look.
"""

from __future__ import annotations

import sys

from workbench.runner.process import watch_parent  # light: no torch, no Triton

if __name__ == "__main__":
    watch_parent()
    from workbench.runner import worker  # torch and Triton: seconds

    worker.run(sys.argv[1:])
