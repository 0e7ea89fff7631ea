"""The TUI's timing targets, measured in a real terminal (a private tmux server) on this machine.

    python bench/tui_timing.py [--out docs/measurements/tui-timing.json] [--samples 15]

- keypress-to-echo: a digit typed into a field until tmux shows it, idle (the value typed is
  never a valid tile, so nothing compiles because of it); and while a compile runs, a letter
  typed into the save-as dialog's line (an edit of a field would supersede the compile), counted
  only while the Occupancy pane says "compiling ... (Esc cancels)";
- edit-to-occupancy: the keystroke that completes a value until the Occupancy pane's subtitle
  names the new config (0.3 s of debounce included), for configs in the compile cache and for
  configs never compiled (a fresh compile cache and a fresh Triton cache);
- 20 fast edits: the most worker processes (`python -m workbench.runner.*`, and ptxas under
  them) alive at once under the app, edits 0.1 s apart (faster than the debounce) and 0.4 s
  apart (each one starts a compile the next must kill). The count includes the app's one spare
  pre-imported worker, so it is an upper bound on the compile processes;
- `q` during a compile: from the key to the app's exit (its process ended: a zombie until tmux
  reaps it, which is timed too), and whether any child is left.

The app runs the frozen kernel copy (tests/snapshots/snapshot_kernel.py) on L1/66 for the 4090.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shlex
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from workbench.core.jsonio import write_json

ROOT = Path(__file__).resolve().parents[1]
KERNEL = ROOT / "tests" / "snapshots" / "snapshot_kernel.py"
SIZE = (200, 50)


class Tmux:
    """One app in its own tmux server, driven by keys and read from the screen."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.server = f"conv3d-bench-tui-{os.getpid()}-{time.monotonic_ns()}"
        cmd = f"conv3d-bench tui {shlex.quote(str(KERNEL))} --problem L1/66 --gpu 4090"
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        self._tmux("new-session", "-d", "-s", "app", "-x", str(SIZE[0]), "-y", str(SIZE[1]),
                   f"cd {shlex.quote(str(cwd))} && exec env {exports} {cmd}")  # fmt: skip
        # tmux holds an ESC for 500 ms to see if a key follows, and sends ESC+Tab as alt+Tab.
        self._tmux("set-option", "-g", "escape-time", "0")
        self.pid = int(self._tmux("list-panes", "-t", "app", "-F", "#{pane_pid}").strip())

    def _tmux(self, *args: str) -> str:
        out = subprocess.run(["tmux", "-L", self.server, *args], capture_output=True, text=True)
        return out.stdout

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "app", *keys)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "app")

    def wait(self, cond: Callable[[str], bool], timeout: float = 120.0, poll: float = 0.0) -> float:
        """Seconds until `cond(screen)` holds (raises after `timeout`)."""
        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            if cond(self.screen()):
                return time.perf_counter() - start
            if poll:
                time.sleep(poll)
        raise TimeoutError(f"screen condition not met in {timeout} s:\n{self.screen()}")

    def close(self) -> None:
        self._tmux("kill-server")


def field_line(screen: str, name: str) -> str:
    return next((line for line in screen.splitlines() if f"│ {name} " in line), "")


def field_value(screen: str, name: str) -> str:
    parts = field_line(screen, name).split()
    return parts[2] if len(parts) > 2 else ""


def workers_of(pid: int) -> tuple[int, int]:
    """(worker processes, ptxas processes) under `pid` now."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return 0, 0
    workers = ptxas = 0
    for child in children:
        try:
            cmd = " ".join(child.cmdline())
        except psutil.Error:
            continue
        workers += "workbench.runner." in cmd
        ptxas += "ptxas" in cmd
    return workers, ptxas


def dead(proc: psutil.Process, timeout: float) -> float | None:
    """perf_counter() when `proc` has ended (a zombie or gone), polled every 5 ms. The app's
    exit is that moment: tmux, its parent, reaps it later (up to 2 s later here), which a
    shell waiting on it would not."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return time.perf_counter()
        except psutil.NoSuchProcess:
            return time.perf_counter()
        time.sleep(0.005)
    return None


class Peak(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.workers, self.ptxas, self.done = pid, 0, 0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            w, p = workers_of(self.pid)
            self.workers, self.ptxas = max(self.workers, w), max(self.ptxas, p)
            time.sleep(0.02)


def set_value(app: Tmux, name: str, value: str, old: str) -> float:
    """Replace a focused field's text; returns the time of the last keystroke."""
    app.keys("C-e", "C-u")  # to the end, then delete everything left of the cursor
    time.sleep(0.25)  # Textual runs ctrl+u as an action, after keys typed right behind it
    for ch in value[:-1]:
        app.keys(ch)
    sent = time.perf_counter()
    app.keys(value[-1])
    return sent


def occupancy_done(tile: str) -> Callable[[str], bool]:
    """The compile of this config has ended: its occupancy, or its failure, is on screen."""
    failed = re.compile(r"─ [a-z_]+ after \d+\.\d s ─")
    return lambda screen: f"─ {tile}" in screen or failed.search(screen) is not None


def occupancy_shows(tile: str) -> Callable[[str], bool]:
    """The Occupancy pane's subtitle names this config (it reads "compiling ..." until then)."""
    return lambda screen: f"─ {tile}" in screen


FIELDS = ["BLOCK_M", "BLOCK_N", "BLOCK_K", "precision", "num_warps", "num_stages"]


def focus(app: Tmux, name: str) -> None:
    """Esc leaves the field we are in (never press it outside one: it cancels the compile),
    then Tab from nothing focused walks the fields in order."""
    app.keys("Escape")
    time.sleep(0.2)  # else ESC and the next key arrive as one alt+key
    app.keys(*(["Tab"] * (FIELDS.index(name) + 1)))
    time.sleep(0.6)  # the focus must have moved before ctrl+e reaches the field
    app.keys("C-e")  # a field selects its text on focus: type after it (ctrl+e: end of line)
    time.sleep(0.6)


def echo(
    app: Tmux, name: str, samples: int, busy: Callable[[], bool] = lambda: True
) -> list[float]:
    """Type a digit after the field's value (never a valid value: 161, 31, ...) and delete it;
    the seconds until tmux shows each. Only samples taken while `busy()` are kept (and none
    where the digit replaced the field's selected text instead: then the value is put back)."""
    out = []
    for i in range(samples):
        before = field_value(app.screen(), name)
        ok = busy()
        sent = time.perf_counter()
        app.keys("1")
        app.wait(lambda s, b=before: field_value(s, name) in (b + "1", "1"), 10, 0.005)
        took = time.perf_counter() - sent
        if field_value(app.screen(), name) == "1" and before != "":
            app.keys(*before)  # replaced the selection: type the value back after the 1
            app.wait(lambda s, b=before: field_value(s, name) == "1" + b, 10, 0.01)
            app.keys("C-a")
            time.sleep(0.6)
            app.keys("Delete")
            app.wait(lambda s, b=before: field_value(s, name) == b, 10, 0.01)
            app.keys("C-e")
            time.sleep(0.6)
            continue
        if ok and busy():
            out.append(took)
        app.keys("BSpace")
        app.wait(lambda s, b=before: field_value(s, name) == b, 10, 0.005)
        time.sleep(0.05 + 0.05 * (i % 3))
    return out


def echo_in_dialog(app: Tmux, samples: int, busy: Callable[[str], bool]) -> list[float]:
    """In the save-as dialog (its line ends in ".json"): type an "x" after the path and delete
    it; the seconds until tmux shows each, kept only while `busy(screen)` holds before and
    after."""
    out = []
    for i in range(samples):
        if not busy(app.screen()):
            break
        sent = time.perf_counter()
        app.keys("x")
        app.wait(lambda s: ".jsonx" in s, 10, 0.005)
        took = time.perf_counter() - sent
        if busy(app.screen()):
            out.append(took)
        app.keys("BSpace")
        app.wait(lambda s: ".jsonx" not in s, 10, 0.005)
        time.sleep(0.05 + 0.05 * (i % 3))
    return out


def compiling(screen: str) -> bool:
    return "(Esc cancels)" in screen


def edit_to_occupancy(app: Tmux, name: str, new: str, tile: str, timeout: float) -> float:
    """Set a field and time the last keystroke to the occupancy of the new config. A keystroke
    the terminal path drops (seen now and then under load) is retried, not counted."""
    for _ in range(5):
        focus(app, name)
        sent = set_value(app, name, new, field_value(app.screen(), name))
        try:
            app.wait(lambda s: field_value(s, name) == new, 3, 0.01)
        except TimeoutError:
            continue
        app.wait(occupancy_shows(tile), timeout, 0.01)
        return time.perf_counter() - sent
    raise TimeoutError(f"could not set {name}={new}:\n{app.screen()}")


# Each a config never compiled before in this run (BLOCK_N x num_warps of the 256x?x16 s3 tile).
UNCACHED = [
    ("BLOCK_N", "32", "256x32x16 w8 s3 tf32x3"),
    ("num_warps", "4", "256x32x16 w4 s3 tf32x3"),
    ("BLOCK_N", "16", "256x16x16 w4 s3 tf32x3"),
    ("num_warps", "2", "256x16x16 w2 s3 tf32x3"),
    ("BLOCK_N", "64", "256x64x16 w2 s3 tf32x3"),
]
# Then back and forth between two of them (both in the compile cache by then).
CACHED = [("BLOCK_N", "16", "256x16x16 w2 s3 tf32x3"), ("BLOCK_N", "64", "256x64x16 w2 s3 tf32x3")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="docs/measurements/tui-timing.json")
    parser.add_argument("--samples", type=int, default=15)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="conv3d-bench-tui-timing-"))
    env = {  # fresh caches: "uncached" means no compile of ours and no Triton cache either
        "CONV3D_BENCH_CACHE": str(work / "cache"),
        "TRITON_CACHE_DIR": str(work / "triton"),
        "TERM": "xterm-256color",
    }
    import textual
    import triton

    result: dict[str, object] = {
        "made_by": "bench/tui_timing.py",
        "date": datetime.date.today().isoformat(),
        "terminal": f"tmux {SIZE[0]}x{SIZE[1]} "
        + subprocess.run(["tmux", "-V"], capture_output=True, text=True).stdout.strip(),
        "machine": f"{os.cpu_count()} cores, no GPU, shared with other work (see the load)",
        "software": f"Python {platform.python_version()}, Triton {triton.__version__}, "
        f"Textual {textual.__version__}",
        "app": "conv3d-bench tui tests/snapshots/snapshot_kernel.py --problem L1/66 --gpu 4090",
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    app = Tmux(env, work)
    try:
        started = time.perf_counter()
        app.wait(lambda s: "numbers: sm_89 compile" in s, 300, 0.05)
        result["start_to_first_occupancy_uncached_s"] = round(time.perf_counter() - started, 2)

        focus(app, "BLOCK_K")
        idle = echo(app, "BLOCK_K", args.samples)
        result["keypress_to_echo_idle_ms"] = _summary([e * 1000 for e in idle])

        uncached = [edit_to_occupancy(app, n, v, t, 300) for n, v, t in UNCACHED]
        result["edit_to_occupancy_uncached_s"] = _summary(uncached, 2)
        cached = [
            edit_to_occupancy(app, *CACHED[i % 2], 60) for i in range(2 * (args.samples // 2))
        ]
        result["edit_to_occupancy_cached_this_run_s"] = _summary(cached, 3)  # ends on BLOCK_N=64

        # Keystroke echo while a compile runs: start one, then type in the save-as dialog.
        # 128x64x64, 3 stages: 96 of the 4090's 99 KiB, a compile of several seconds.
        edit_to_occupancy(app, "BLOCK_M", "128", "128x64x16 w2 s3", 300)
        focus(app, "BLOCK_K")
        set_value(app, "BLOCK_K", "64", field_value(app.screen(), "BLOCK_K"))
        app.wait(compiling, 30, 0.02)
        app.keys("Escape")  # leaves the field (the compile goes on)
        time.sleep(0.2)
        app.keys("s")
        app.wait(lambda s: "Save the session as" in s, 10, 0.01)
        app.keys("End")
        time.sleep(0.3)
        busy = echo_in_dialog(app, 4 * args.samples, compiling)
        app.keys("Escape")  # closes the dialog
        result["keypress_to_echo_while_compiling_ms"] = _summary(
            [d * 1000 for d in busy] or [float("nan")]
        )
        app.wait(occupancy_done("128x64x64 w2 s3"), 300, 0.05)

        for spacing in (0.1, 0.4):
            focus(app, "BLOCK_N")
            peak = Peak(app.pid)
            peak.start()
            old = field_value(app.screen(), "BLOCK_N")
            for i in range(20):
                new = ("8", "128", "16", "32")[i % 4] if i < 19 else "64"
                set_value(app, "BLOCK_N", new, old)
                old = new
                time.sleep(spacing)
            app.wait(occupancy_done("128x64x64 w2 s3"), 300, 0.05)
            peak.done.set()
            peak.join()
            result[f"twenty_edits_{spacing}s_apart"] = {
                "max_worker_processes": peak.workers,
                "max_ptxas": peak.ptxas,
            }

        # q during a compile.
        focus(app, "BLOCK_K")
        set_value(app, "BLOCK_K", "32", field_value(app.screen(), "BLOCK_K"))
        app.wait(lambda s: workers_of(app.pid)[0] > 0, 60, 0.02)
        time.sleep(1.0)  # well into it
        proc = psutil.Process(app.pid)
        children = proc.children(recursive=True)
        app.keys("Escape")  # leaves the field
        time.sleep(0.3)
        sent = time.perf_counter()
        app.keys("q")
        gone = psutil.wait_procs(children, timeout=30)[0]
        children_gone = time.perf_counter() - sent if gone else None
        exited = dead(proc, 30)
        exited = exited - sent if exited is not None else None
        try:
            proc.wait(timeout=30)
            reaped: float | None = time.perf_counter() - sent
        except psutil.TimeoutExpired:
            reaped = None
        left = psutil.wait_procs(children, timeout=0.5)[1]
        result["quit_during_compile"] = {
            "exit_s": round(exited, 3) if exited is not None else "did not exit in 30 s",
            "reaped_by_tmux_s": round(reaped, 3) if reaped is not None else None,
            "children_before": len(children),
            "children_gone_s": round(children_gone, 3) if children_gone is not None else None,
            "children_left": len(left),
        }
    finally:
        app.close()
    # A second run on the same caches: each config of the first run is now a compile-cache hit
    # read in-process (debounce included): what a user sees coming back the next day.
    app = Tmux(env, work)
    try:  # what the first run measured is written whatever happens here
        second_run(app, result)
    except Exception as err:
        result["second_run_error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
    finally:
        app.close()
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    write_json(Path(args.out), result, indent=1)
    for key, value in result.items():
        print(f"{key}: {value}")


def second_run(app: Tmux, result: dict[str, object]) -> None:
    """What a user sees coming back the next day: each config of the first run is now a
    compile-cache hit, read in-process (debounce included)."""
    started = time.perf_counter()
    app.wait(lambda s: "numbers: sm_89 compile" in s, 300, 0.05)
    result["start_to_first_occupancy_cached_s"] = round(time.perf_counter() - started, 2)
    disk = [edit_to_occupancy(app, n, v, t, 120) for n, v, t in UNCACHED]
    result["edit_to_occupancy_compile_cache_s"] = _summary(disk, 3)
    proc = psutil.Process(app.pid)
    for _ in range(3):  # a key the terminal path drops under load: try again
        app.keys("Escape")
        time.sleep(0.3)
        app.keys("q")
        if dead(proc, 10) is not None:
            break


def _summary(values: list[float], digits: int = 1) -> dict[str, object]:
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "n": len(values),
        "samples": [round(v, digits + 1) for v in values],
    }


if __name__ == "__main__":
    main()
