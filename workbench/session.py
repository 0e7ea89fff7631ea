"""A tuning session: the problem, target, kernel source and every trial, saved after each trial.

The file is JSON (schema in docs/sessions.md). Every write is atomic (temporary file in the same
directory, fsync, rename, fsync of the directory), so a kill at any moment leaves the old or the
new file. A writer holds an advisory `flock` on `<session>.lock`; a second writer is refused, and
a dead writer's lock vanishes with its process. Readers (replay, export) take no lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import json
import math
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench import __version__
from workbench.errors import ProblemError, SessionError
from workbench.gpus import GPU, GPUS, find_gpu
from workbench.problem import PRESETS, Problem

if TYPE_CHECKING:
    from workbench.kernelfile import KernelFile

SCHEMA = "conv3d-bench/session/1"
SCHEMA_PREFIX = "conv3d-bench/session/"
PROJECT_ROOT = Path(__file__).resolve().parents[1]

# Trial keys in file order; a result's other keys follow, sorted, so saves are stable.
TRIAL_KEYS = (
    "id",
    "timestamp",
    "note",
    "config",
    "status",
    "message",
    "mode",
    "device",
    "device_fingerprint",
    "problem",
    "inspect",
    "correctness",
    "timing",
    "baseline",
    "speedup",
    "vs_previous",
    "ncu",
)
# The parts of an inspect report a trial keeps (the rest is recomputable from the config).
INSPECT_KEYS = ("resources", "occupancy", "grid", "grid_blocks", "waves", "waste", "rules")
OCCUPANCY_KEYS = ("blocks_per_sm", "limits", "limiters", "active_warps", "max_warps", "fraction")
# Facts about this tool's cache, not the kernel: left out so records of one config compare equal.
VOLATILE_RESOURCE_KEYS = ("compile_s", "cached")


# --- plain data ---------------------------------------------------------------------------------
def now_utc() -> str:
    return (
        dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    )


def plain(value: Any) -> Any:
    """JSON-safe copy: tuples -> lists, paths -> str, NaN/inf -> "NaN"/"Infinity" (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict"):
        return plain(value.to_dict())
    return str(value)


def problem_id(problem: Problem) -> str:
    """The preset id when the problem is one, else its spec string."""
    preset = PRESETS.get(problem.name)
    if preset is not None and _same_problem(preset, problem):
        return problem.name
    return problem.spec()


def problem_record(problem: Problem) -> dict:
    return {"id": problem_id(problem), **problem.to_dict()}


def problem_from_record(record: dict) -> Problem:
    return Problem.from_dict({k: v for k, v in record.items() if k != "id"})


def _same_problem(a: Problem, b: Problem) -> bool:
    strip = lambda p: {k: v for k, v in p.to_dict().items() if k != "name"}  # noqa: E731
    return strip(a) == strip(b)


def target_record(gpu: GPU) -> dict:
    return {
        "key": gpu.key,
        "name": gpu.name,
        "cc": f"{gpu.cc[0]}.{gpu.cc[1]}",
        "sm": gpu.sm,
        "sms": gpu.sms,
    }


def summarize_inspect(report: dict | None) -> dict | None:
    """The target-side facts of a trial: resources, occupancy summary, grid, waves, waste, rules."""
    if not report:
        return None
    out = {k: report[k] for k in INSPECT_KEYS if k in report}
    if isinstance(out.get("resources"), dict):
        out["resources"] = _trim_resources(out["resources"])
    occ = out.get("occupancy")
    if isinstance(occ, dict):
        out["occupancy"] = {k: occ[k] for k in OCCUPANCY_KEYS if k in occ} or occ
    return plain(out)


def _trim_resources(resources: dict) -> dict:
    return {k: v for k, v in resources.items() if k not in VOLATILE_RESOURCE_KEYS}


def make_trial(config: dict, inspect_report: dict | None, result: dict, note: str = "") -> dict:
    """A trial record from a config, its inspect report and a run_trial() result (no id yet).

    The worker already puts the trial's inspect report in the result; `inspect_report` is only
    needed where a result lacks one."""
    trial = dict(result)
    report = inspect_report or result.get("inspect")
    trial.update(config=dict(config), inspect=summarize_inspect(report), note=note or "")
    return trial


def order_trial(trial: dict) -> dict:
    """Known keys in a fixed order, then the rest sorted; the session-level kernel record and
    the launch's per-argument shapes (both the same for every trial) are left out."""
    trial = {k: v for k, v in trial.items() if k != "kernel"}
    if isinstance(trial.get("launch"), dict):
        trial["launch"] = {k: v for k, v in trial["launch"].items() if k != "args"}
    if isinstance(trial.get("resources"), dict):
        trial["resources"] = _trim_resources(trial["resources"])
    out = {k: trial.get(k) for k in TRIAL_KEYS}
    out.update({k: trial[k] for k in sorted(trial) if k not in out})
    return plain(out)


def is_correct(trial: dict) -> bool:
    """Ran and met KernelBench's check (status ok and kernelbench_pass)."""
    correctness = trial.get("correctness") or {}
    return trial.get("status") == "ok" and correctness.get("kernelbench_pass") is True


def measured_ms(trial: dict) -> float | None:
    """The trial's median time where one was measured on a GPU, else None."""
    median = (trial.get("timing") or {}).get("median_ms")
    if trial.get("mode") != "gpu" or isinstance(median, bool):
        return None
    return float(median) if isinstance(median, int | float) and math.isfinite(median) else None


# --- atomic write and the writer's lock --------------------------------------------------------
def atomic_write_text(path: Path, text: str) -> None:
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


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    with contextlib.suppress(OSError):
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


class WriterLock:
    """`flock` on `<session>.lock`: held while a Session is open for writing; gone if we die."""

    def __init__(self, session_path: Path) -> None:
        self.path = session_path.with_name(session_path.name + ".lock")
        self.fd: int | None = None

    def acquire(self, display: str) -> None:
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as err:
                raise SessionError(f"cannot open {display} for writing: {err.strerror}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                owner = _read_owner(fd)
                os.close(fd)
                if err.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise SessionError(f"cannot lock {display}: {err.strerror}") from None
                raise SessionError(
                    f"{display} is open for writing by another conv3d-bench{owner};"
                    " close it there, or record into another session file"
                ) from None
            # The previous holder may have unlinked the file between our open and flock.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is None:
            return
        # Unlink while still holding the lock, so nobody locks a file that is going away.
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self.fd)
        self.fd = None


def _read_owner(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        pid = int(os.pread(fd, 32, 0).decode().strip() or "0")
        if pid:
            return f" (pid {pid})"
    return ""


# --- the session --------------------------------------------------------------------------------
class Session:
    """One session file in memory. Open for writing (locked) unless loaded with readonly=True."""

    def __init__(self, path: Path, data: dict, lock: WriterLock | None) -> None:
        self.path = Path(path)
        self.data = data
        self._lock = lock
        self._saving = threading.Lock()  # the TUI may save from a worker thread
        self.warning = ""  # set by kernel_file() when the recorded kernel is used instead

    # --- opening ----------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, kf: KernelFile, problem: Problem, gpu: GPU) -> Session:
        """A new, empty session, saved at once. Refuses to overwrite an existing file."""
        path = Path(path)
        lock = WriterLock(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire(str(path))
        if path.exists():
            lock.release()
            raise SessionError(
                f"{path} already exists; resume it, or choose another session file name"
            )
        data = {
            "schema": SCHEMA,
            "created": now_utc(),
            "updated": None,
            "tool": f"conv3d-bench {__version__}",
            "problem": problem_record(problem),
            "target": target_record(gpu),
            "kernel": kernel_record(kf),
            "trials": [],
        }
        session = cls(path, data, lock)
        session.save()
        return session

    @classmethod
    def load(cls, path: str | Path, readonly: bool = False) -> Session:
        """Read a session; unless readonly, also take the writer's lock (a second writer fails)."""
        path = Path(path)
        lock = None
        if not readonly:
            if not path.exists():
                raise SessionError(f"{path} does not exist")
            lock = WriterLock(path)
            lock.acquire(str(path))
        try:
            data = read_session_file(path)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        if lock is not None:
            _remove_stale_temps(path)
        return cls(path, data, lock)

    @classmethod
    def open(cls, path: str | Path, kf: KernelFile, problem: Problem, gpu: GPU) -> Session:
        """Load the session at `path` for writing, or create it; refuse one of another problem,
        target or kernel."""
        path = Path(path)
        if not path.exists():
            return cls.create(path, kf, problem, gpu)
        session = cls.load(path)
        mismatch = session.mismatch(kf, problem, gpu)
        if mismatch:
            session.close()
            raise SessionError(mismatch)
        return session

    def close(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    # --- contents ---------------------------------------------------------------------------
    @property
    def trials(self) -> list[dict]:
        return self.data["trials"]

    @property
    def problem(self) -> Problem:
        return problem_from_record(self.data["problem"])

    @property
    def problem_id(self) -> str:
        return self.data["problem"].get("id") or self.problem.spec()

    @property
    def gpu(self) -> GPU:
        target = self.data["target"]
        key = target.get("key", "")
        if key in GPUS:
            return GPUS[key]
        return find_gpu(target.get("name") or key)

    @property
    def kernel(self) -> dict:
        return self.data["kernel"]

    @property
    def readonly(self) -> bool:
        return self._lock is None

    def trial(self, trial_id: int) -> dict:
        for t in self.trials:
            if t.get("id") == trial_id:
                return t
        ids = ", ".join(str(t.get("id")) for t in self.trials) or "none"
        raise SessionError(f"{self.path} has no trial {trial_id} (trials: {ids})")

    def best(self) -> dict | None:
        """The fastest correct trial measured on a GPU (interpreter trials never count)."""
        timed = [(measured_ms(t), t["id"], t) for t in self.trials if is_correct(t)]
        timed = [x for x in timed if x[0] is not None]
        return min(timed, key=lambda x: (x[0], x[1]))[2] if timed else None

    def latest(self) -> dict | None:
        return self.trials[-1] if self.trials else None

    def mismatch(self, kf: KernelFile, problem: Problem, gpu: GPU) -> str:
        """Why a trial of (kf, problem, gpu) does not belong in this session; "" if it does."""
        if not _same_problem(self.problem, problem):
            return (
                f"{self.path} is a session of problem {self.problem_id}, not {problem_id(problem)};"
                " record into another session file"
            )
        target = self.data["target"]
        if target.get("key") != gpu.key:
            return (
                f"{self.path} targets {target.get('name')} ({target.get('key')}), not {gpu.name};"
                f" pass --gpu {target.get('key')} or record into another session file"
            )
        if self.kernel.get("sha256") != kf.sha256:
            return (
                f"{self.path} records kernel {self.kernel.get('path')}"
                f" (sha256 {str(self.kernel.get('sha256'))[:12]}), but this kernel {kf.path}"
                f" differs (sha256 {kf.sha256[:12]}); record into another session file"
            )
        return ""

    def kernel_file(self) -> KernelFile:
        """The session's kernel: the file on disk if unchanged, else the recorded source
        (with self.warning saying why)."""
        from workbench.kernelfile import KernelFile

        record = self.kernel
        on_disk = resolve_kernel_path(record.get("path"), self.path)
        self.warning = ""
        if on_disk is not None:
            kf = KernelFile.load(on_disk)
            if kf.sha256 == record.get("sha256"):
                return kf
            self.warning = (
                f"{record.get('path')} changed since the session was recorded (sha256"
                f" {kf.sha256[:12]}, recorded {str(record.get('sha256'))[:12]}); using the recorded source"
            )
        else:
            self.warning = f"{record.get('path')} is not on this machine; using the source recorded in the session"
        return KernelFile.from_source(record["source"], record.get("path") or "recorded.py")

    # --- writing ----------------------------------------------------------------------------
    def append(self, trial: dict) -> dict:
        """Add a trial record (see make_trial), give it the next id and a timestamp, save."""
        if self.readonly:
            raise SessionError(f"{self.path} was opened read-only; it cannot take trials")
        record = dict(trial)
        sha = (record.get("kernel") or {}).get("sha256")
        if sha and sha != self.kernel.get("sha256"):
            raise SessionError(
                f"this trial ran kernel sha256 {sha[:12]}, but {self.path} records"
                f" {str(self.kernel.get('sha256'))[:12]}; record it into another session file"
            )
        if "inspect" in record and isinstance(record["inspect"], dict):
            record["inspect"] = summarize_inspect(record["inspect"])
        record["id"] = max((t.get("id", 0) for t in self.trials), default=0) + 1
        record["timestamp"] = record.get("timestamp") or now_utc()
        record.setdefault("note", "")
        record = order_trial(record)
        self.trials.append(record)
        self.save()
        return record

    def record(
        self, config: dict, inspect_report: dict | None, result: dict, note: str = ""
    ) -> dict:
        return self.append(make_trial(config, inspect_report, result, note))

    def set_note(self, trial_id: int, note: str) -> dict:
        trial = self.trial(trial_id)
        trial["note"] = note
        self.save()
        return trial

    def save(self) -> None:
        if self.readonly:
            raise SessionError(f"{self.path} was opened read-only; it cannot be saved")
        with self._saving:
            self.data["updated"] = now_utc()
            try:
                atomic_write_text(self.path, dumps(self.data))
            except OSError as err:
                raise SessionError(f"cannot save {self.path}: {err.strerror or err}") from None

    def save_as(self, path: str | Path) -> Session:
        """Copy this session to a new file and continue there (the old file is released)."""
        path = Path(path)
        if path.resolve() == self.path.resolve() and not self.readonly:
            self.save()
            return self
        if path.exists():  # never overwrite another session's work
            raise SessionError(f"{path} already exists; choose another name")
        lock = WriterLock(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire(str(path))
        self.close()
        self.path, self._lock = path, lock
        self.save()
        return self


# --- file format --------------------------------------------------------------------------------
def dumps(data: dict) -> str:
    return json.dumps(plain(data), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def read_session_file(path: Path) -> dict:
    """Parse and check a session file; any problem is one SessionError line, the file untouched."""
    path = Path(path)

    def bad(why: str) -> SessionError:
        return SessionError(f"{path} is not a conv3d-bench session ({why}); it was left untouched")

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SessionError(f"{path} does not exist") from None
    except OSError as err:
        raise SessionError(f"cannot read {path}: {err.strerror}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise bad("not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise bad(f"line {err.lineno}: {err.msg}") from None
    if not isinstance(data, dict):
        raise bad(f"top level is a {type(data).__name__}, not an object")
    schema = data.get("schema")
    if schema != SCHEMA:
        if isinstance(schema, str) and schema.startswith(SCHEMA_PREFIX):
            raise bad(f"schema {schema!r} is newer than this conv3d-bench reads: {SCHEMA!r}")
        raise bad(f"schema is {schema!r}, expected {SCHEMA!r}")
    for key, kind in (("problem", dict), ("target", dict), ("kernel", dict), ("trials", list)):
        if not isinstance(data.get(key), kind):
            raise bad(f"no {key!r} {kind.__name__}")
    if not isinstance(data["kernel"].get("source"), str):
        raise bad("the kernel record has no source text")
    try:
        problem_from_record(data["problem"])
    except (ProblemError, TypeError) as err:
        raise bad(f"problem: {err}") from None
    for i, trial in enumerate(data["trials"]):
        if not isinstance(trial, dict) or not isinstance(trial.get("id"), int):
            raise bad(f"trial #{i + 1} has no id")
    return data


def _remove_stale_temps(path: Path) -> None:
    # Left by writers killed mid-save; we hold the lock, so no live writer owns them.
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            tmp.unlink()


# --- kernel record ------------------------------------------------------------------------------
def kernel_record(kf: KernelFile) -> dict:
    return {
        "path": portable_path(kf.path),
        "name": getattr(kf, "name", None),
        "sha256": kf.sha256 or hashlib.sha256(kf.source.encode()).hexdigest(),
        "source": kf.source,
    }


def portable_path(path: str | Path | None) -> str | None:
    """Inside the project: relative to its root (so a session moves between machines)."""
    if path is None:
        return None
    p = Path(path).resolve()
    try:
        return str(p.relative_to(PROJECT_ROOT))
    except ValueError:
        return str(p)


def resolve_kernel_path(recorded: str | None, session_path: Path) -> Path | None:
    if not recorded:
        return None
    p = Path(recorded)
    candidates = (
        [p] if p.is_absolute() else [PROJECT_ROOT / p, Path.cwd() / p, session_path.parent / p]
    )
    return next((c for c in candidates if c.is_file()), None)


# --- what `bench --session` calls ---------------------------------------------------------------
def append_trial(
    path: str | Path,
    kf: KernelFile,
    problem: Problem,
    gpu: GPU,
    config: dict,
    inspect_report: dict | None,
    result: dict,
    note: str = "",
) -> dict:
    """Load or create the session at `path`, append one trial, save, release. Returns the trial."""
    with Session.open(path, kf, problem, gpu) as session:
        return session.record(config, inspect_report, result, note)
