"""A tuning session: the problem, target, kernel source and every trial, saved after each trial.

The file is JSON (schema in docs/sessions.md). Every write is atomic (core.jsonio), so a kill at
any moment leaves the old or the new file. A writer holds an advisory `flock` on
`<session>.lock`; a second writer is refused, and a dead writer's lock vanishes with its process.
Readers (replay, export) take no lock. Files of schema /1 (the shipped sessions) are read
without loss and written back as /2.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import json
import os
import re
import statistics
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench import __version__
from workbench.core.config import config_key
from workbench.core.errors import ProblemError, SessionError
from workbench.core.gpus import GPU, GPUS, find_gpu
from workbench.core.jsonio import atomic_write_text, dumps
from workbench.core.paths import PROJECT_ROOT, portable_path
from workbench.core.problem import PRESETS, Problem
from workbench.core.records import Status, TargetRef, TrialResult

if TYPE_CHECKING:  # a session reads and writes without torch; only kernel_file() needs it
    from workbench.kernel.kernelfile import KernelFile

SCHEMA = "conv3d-bench/session/2"
SCHEMAS_READ = ("conv3d-bench/session/1", SCHEMA)
SCHEMA_PREFIX = "conv3d-bench/session/"
HEADER_KEYS = ("schema", "created", "updated", "tool", "problem", "target", "kernel")
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
    "kernelbench_timing",
    "timing",
    "baseline",
    "kernelbench_speedup",
    "kernel_only_speedup",
    "vs_previous",
    "ncu",
)


def now_utc() -> str:
    return (
        dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    )


def problem_id(problem: Problem) -> str:
    """The preset id when the problem is one, the problem file's path, else its spec string."""
    preset = PRESETS.get(problem.name)
    if preset is not None and preset == problem:
        return problem.name
    if problem.file_sha256:
        return problem.origin
    return problem.spec()


def problem_slug(problem: Problem) -> str:
    """`L1/66` -> `l1-66`; a problem file -> its name; a spec -> `custom-<8 hex of it>`."""
    pid = problem_id(problem)
    if re.fullmatch(r"L\d+/\d+", pid):
        return pid.lower().replace("/", "-")
    if problem.file_sha256:
        return Path(problem.origin).stem.lower()[:40]
    return "custom-" + hashlib.sha1(pid.encode()).hexdigest()[:8]


def default_session_path(problem: Problem, gpu: GPU, suffix: str = "") -> Path:
    """`sessions/<problem>-<gpu><suffix>.json`, where the TUI and the sweep record by default."""
    return Path("sessions") / f"{problem_slug(problem)}-{gpu.key}{suffix}.json"


def problem_record(problem: Problem) -> dict[str, Any]:
    return {"id": problem_id(problem), **problem.to_json()}


def problem_from_record(record: dict[str, Any]) -> Problem:
    problem = Problem.from_json({k: v for k, v in record.items() if k != "id"})
    preset = PRESETS.get(problem.name)
    if preset is not None and not problem.init_inputs and problem.same_conv(preset):
        return (
            preset  # a /1 record of a preset predates the KernelBench facts: they are the preset's
        )
    return problem


def target_record(gpu: GPU) -> dict[str, Any]:
    return TargetRef(key=gpu.key, name=gpu.name, cc=gpu.cc_text, sm=gpu.sm, sms=gpu.sms).to_json()


def kernel_record(kf: KernelFile) -> dict[str, Any]:
    return {
        "path": portable_path(kf.path),
        "name": kf.name,
        "sha256": kf.sha256,
        "source": kf.source,
    }


def trial_record(trial: TrialResult) -> dict[str, Any]:
    """A trial as the file keeps it: known keys in a fixed order, then the rest sorted; the
    per-trial kernel record (the session has one) is left out."""
    data = trial.to_json()
    data.pop("kernel", None)
    out = {k: data.get(k) for k in TRIAL_KEYS}
    out.update({k: data[k] for k in sorted(data) if k not in out})
    return out


# --- the writer's lock ------------------------------------------------------------------------
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
                raise SessionError(
                    f"cannot open {display} for writing: {err.strerror}; choose a folder you can"
                    " write to"
                ) from None
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


# --- the session ------------------------------------------------------------------------------
class Session:
    """One session file in memory. Open for writing (locked) unless loaded with readonly=True."""

    def __init__(
        self, path: Path, header: dict[str, Any], trials: list[TrialResult], lock: WriterLock | None
    ) -> None:
        self.path = Path(path)
        self.header = header  # schema, created, updated, tool, problem, target, kernel, ...
        self.trials = trials
        self._lock = lock
        self._saving = threading.Lock()  # the TUI may save from a worker thread
        self.warning = ""  # set by kernel_file() when the recorded kernel is used instead

    # --- opening ----------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, kf: KernelFile, problem: Problem, gpu: GPU) -> Session:
        """A new, empty session, saved at once. Refuses to overwrite an existing file."""
        path = Path(path)
        lock = WriterLock(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise SessionError(
                f"cannot create {path.parent} for the session: {err.strerror}"
            ) from None
        lock.acquire(str(path))
        if path.exists():
            lock.release()
            raise SessionError(
                f"{path} already exists; resume it, or choose another session file name"
            )
        header = {
            "schema": SCHEMA,
            "created": now_utc(),
            "updated": None,
            "tool": f"conv3d-bench {__version__}",
            "problem": problem_record(problem),
            "target": target_record(gpu),
            "kernel": kernel_record(kf),
        }
        session = cls(path, header, [], lock)
        session.save()
        return session

    @classmethod
    def load(cls, path: str | Path, readonly: bool = False) -> Session:
        """Read a session; unless readonly, also take the writer's lock (a second writer fails)."""
        path = Path(path)
        lock = None
        if not readonly:
            if not path.exists():
                raise SessionError(f"{path} does not exist: give the path of a session .json")
            lock = WriterLock(path)
            lock.acquire(str(path))
        try:
            header, trials = read_session_file(path)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        if lock is not None:
            _remove_stale_temps(path)
        return cls(path, header, trials, lock)

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
    def problem(self) -> Problem:
        return problem_from_record(self.header["problem"])

    @property
    def problem_id(self) -> str:
        return str(self.header["problem"].get("id") or self.problem.spec())

    @property
    def target(self) -> dict[str, Any]:
        return dict(self.header["target"])

    @property
    def gpu(self) -> GPU:
        key = str(self.header["target"].get("key", ""))
        if key in GPUS:
            return GPUS[key]
        return find_gpu(self.header["target"].get("name") or key)

    @property
    def kernel(self) -> dict[str, Any]:
        return dict(self.header["kernel"])

    @property
    def readonly(self) -> bool:
        return self._lock is None

    @property
    def sweeps(self) -> list[dict[str, Any]]:
        """The sweep blocks (space, strategy, target, budget, state) recorded in this session."""
        return list(self.header.get("sweeps") or [])

    def trial(self, trial_id: int) -> TrialResult:
        for t in self.trials:
            if t.id == trial_id:
                return t
        ids = ", ".join(str(t.id) for t in self.trials) or "none"
        raise SessionError(f"{self.path} has no trial {trial_id} (trials: {ids})")

    def best(self) -> TrialResult | None:
        """The fastest correct config measured on a GPU, as its fastest trial (see ranked())."""
        ranked = self.ranked()
        return ranked[0] if ranked else None

    def ranked(self) -> list[TrialResult]:
        """One trial per correct config measured on a GPU (interpreter trials never count),
        fastest config first. Ranked by KernelBench's protocol, the mean of the config's full
        runs, where any config has one: a sweep screens by kernel-only time, which is not
        KernelBench's score and must not outrank it. Sessions without any full run rank by
        kernel-only time. Each config is given as its fastest trial."""
        correct = [t for t in self.trials if t.correct and t.measured_ms is not None]
        full = [t for t in correct if t.kernelbench_ms is not None]
        runs: dict[str, list[tuple[float, int, TrialResult]]] = {}
        for t in full or correct:
            ms = t.kernelbench_ms if full else t.measured_ms
            if ms is not None:
                runs.setdefault(config_key(t.config), []).append((ms, t.id or 0, t))
        order = sorted(runs.values(), key=lambda r: (statistics.fmean(x[0] for x in r), min(r)[1]))
        return [min(r, key=lambda x: (x[0], x[1]))[2] for r in order]

    def latest(self) -> TrialResult | None:
        return self.trials[-1] if self.trials else None

    def previous(self, device: str | None = None, before: int | None = None) -> TrialResult | None:
        """The one meaning of "previous": the last trial that ran and was checked (status ok) on
        `device` (None: any device), before trial `before` (None: of all); failed trials are
        skipped."""
        for t in reversed(self.trials):
            if before is not None and (t.id or 0) >= before:
                continue
            if t.status is Status.OK and (device is None or t.device == device):
                return t
        return None

    @property
    def baseline_id(self) -> int | None:
        value = self.header.get("baseline_trial")
        return value if isinstance(value, int) else None

    def baseline_trial(self) -> TrialResult | None:
        """The trial the user pinned as the baseline to compare against (None: none pinned)."""
        bid = self.baseline_id
        return next((t for t in self.trials if t.id == bid), None) if bid is not None else None

    def pin_baseline(self, trial_id: int | None) -> None:
        if trial_id is not None:
            self.trial(trial_id)  # refuses an id that is not here
        self.header["baseline_trial"] = trial_id
        self.save()

    def mismatch(self, kf: KernelFile, problem: Problem, gpu: GPU) -> str:
        """Why a trial of (kf, problem, gpu) does not belong in this session; "" if it does."""
        if self.problem != problem:
            return (
                f"{self.path} is a session of problem {self.problem_id}, not {problem_id(problem)};"
                " record into another session file"
            )
        recorded = self.problem.file_sha256
        if recorded != problem.file_sha256:  # the same conv, but another reference Model
            return (
                f"{self.path} was recorded with problem file {self.problem.origin} of sha256"
                f" {recorded[:12]}, not {problem.file_sha256[:12]}: restore that file, or record"
                " into another session file"
            )
        target = self.header["target"]
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
        from workbench.kernel.kernelfile import KernelFile  # heavy (torch): only when asked

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
    def record(self, result: TrialResult, note: str = "") -> TrialResult:
        """Add a trial (a run_trial result), give it the next id and a timestamp, save."""
        trial = self.record_unsaved(result, note)
        self.save()
        return trial

    def record_unsaved(self, result: TrialResult, note: str = "") -> TrialResult:
        """record() without the save: for a flood of compile-only trials, saved in batches (a
        kill loses at most the batch, which the compile cache gives back at once)."""
        if self.readonly:
            raise SessionError(f"{self.path} was opened read-only; it cannot take trials")
        sha = result.kernel.sha256 if result.kernel else None
        if sha and sha != self.kernel.get("sha256"):
            raise SessionError(
                f"this trial ran kernel sha256 {sha[:12]}, but {self.path} records"
                f" {str(self.kernel.get('sha256'))[:12]}; record it into another session file"
            )
        trial = TrialResult.from_json(result.to_json())  # a copy: the caller keeps its own
        trial.kernel = None
        if trial.inspect is not None:
            trial.inspect = trial.inspect.for_trial()
        trial.id = max((t.id or 0 for t in self.trials), default=0) + 1
        trial.timestamp = trial.timestamp or now_utc()
        trial.note = note or trial.note or ""
        self.trials.append(trial)
        return trial

    def set_note(self, trial_id: int, note: str) -> TrialResult:
        trial = self.trial(trial_id)
        trial.note = note
        self.save()
        return trial

    def set_sweep(self, index: int | None, block: dict[str, Any]) -> int:
        """Add (index None) or replace a sweep block; returns its index. Saved at once."""
        sweeps = self.sweeps
        if index is None:
            sweeps.append(block)
            index = len(sweeps) - 1
        else:
            sweeps[index] = block
        self.header["sweeps"] = sweeps
        self.save()
        return index

    def to_json(self) -> dict[str, Any]:
        data = {k: self.header.get(k) for k in HEADER_KEYS}
        data.update({k: v for k, v in self.header.items() if k not in data})
        data["schema"] = SCHEMA
        data["trials"] = [trial_record(t) for t in self.trials]
        return data

    def save(self) -> None:
        if self.readonly:
            raise SessionError(f"{self.path} was opened read-only; it cannot be saved")
        with self._saving:
            self.header["updated"] = now_utc()
            self.header["schema"] = SCHEMA
            try:
                atomic_write_text(self.path, dumps(self.to_json()))
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
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise SessionError(f"cannot create {path.parent}: {err.strerror}") from None
        lock.acquire(str(path))
        self.close()
        self.path, self._lock = path, lock
        self.save()
        return self


# --- file format ------------------------------------------------------------------------------
def read_session_file(path: Path) -> tuple[dict[str, Any], list[TrialResult]]:
    """Parse and check a session file; any problem is one SessionError line, the file untouched."""
    path = Path(path)

    def bad(why: str) -> SessionError:
        return SessionError(f"{path} is not a conv3d-bench session ({why}); it was left untouched")

    if path.is_dir():
        raise SessionError(f"{path} is a directory, not a session file: give a session .json")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SessionError(f"{path} does not exist: give the path of a session .json") from None
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
    if schema not in SCHEMAS_READ:
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
    except (ProblemError, TypeError, ValueError) as err:
        raise bad(f"problem: {err}") from None
    trials = []
    for i, raw_trial in enumerate(data.pop("trials")):
        if not isinstance(raw_trial, dict) or not isinstance(raw_trial.get("id"), int):
            raise bad(f"trial #{i + 1} has no id")
        try:
            trials.append(TrialResult.from_json(raw_trial))
        except (TypeError, ValueError, KeyError) as err:
            raise bad(f"trial {raw_trial['id']}: {err}") from None
    return data, trials


def _remove_stale_temps(path: Path) -> None:
    # Left by writers killed mid-save; we hold the lock, so no live writer owns them.
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            tmp.unlink()


def resolve_kernel_path(recorded: str | None, session_path: Path) -> Path | None:
    if not recorded:
        return None
    p = Path(recorded)
    candidates = (
        [p] if p.is_absolute() else [PROJECT_ROOT / p, Path.cwd() / p, session_path.parent / p]
    )
    return next((c for c in candidates if c.is_file()), None)


def looks_like_session(path: Path) -> bool:
    """A `.json` file, or any file whose text starts with `{` (never a kernel file)."""
    if path.suffix.lower() == ".json":
        return True
    if not path.is_file():
        return False
    try:
        with path.open("rb") as fh:
            return fh.read(64).lstrip().startswith(b"{")
    except OSError:
        return False


def append_trial(
    path: str | Path,
    kf: KernelFile,
    problem: Problem,
    gpu: GPU,
    result: TrialResult,
    note: str = "",
) -> TrialResult:
    """Load or create the session at `path`, append one trial, save, release (for scripts)."""
    with Session.open(path, kf, problem, gpu) as session:
        return session.record(result, note)
