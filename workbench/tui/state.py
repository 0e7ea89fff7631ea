"""What the screen works on (kernel file, problem, target, session) and how it is opened.

Building a workspace runs in a worker thread: loading a kernel file imports torch and the user's
module, so none of it may run before the first paint. The session file is not created on open:
opening the app and quitting leaves nothing behind; the file appears with the first trial (or a
save), and an existing session is resumed (and locked) at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.core.config import Config, format_config
from workbench.core.errors import SessionError
from workbench.core.gpus import GPU, find_gpu
from workbench.core.problem import Problem
from workbench.core.records import InspectReport, TrialResult

# Capturing a launch imports the kernel file and patches module state (Triton's run, torch's
# device): the threads that do it (loading, cached reads, the occupancy chart) take turns.
KERNEL_LOCK = threading.RLock()

if TYPE_CHECKING:  # both import torch: the first paint must not
    from workbench.kernel.kernelfile import KernelFile, Tunable
    from workbench.session.store import Session


@dataclass
class Workspace:
    """One kernel file on one problem for one target, and the session recording its trials."""

    kf: KernelFile
    problem: Problem
    gpu: GPU
    session: Session | None  # None until the first trial or save (then at `session_path`)
    session_path: Path
    tunables: list[Tunable]
    untunable: list[str]
    config: Config
    device: str
    mode: str  # "gpu" | "interpreter": where trials will run
    warnings: list[str] = field(default_factory=list)
    config_origin: str = ""  # where the parameters came from, in words
    named_session: bool = False  # --session given: never move to a sibling file
    reports: dict[str, InspectReport] = field(default_factory=dict)  # config_key -> this run's
    peeked: dict[str, float | None] = field(default_factory=dict)  # config_key -> cached occupancy
    in_process: bool = True  # cached configs are read here (off once a capture hangs)

    @property
    def trials(self) -> list[TrialResult]:
        return self.session.trials if self.session is not None else []

    @property
    def path(self) -> Path:
        return self.session.path if self.session is not None else self.session_path

    def ensure_session(self) -> tuple[Session, str]:
        """The session to record into, created now if this is its first trial; and a warning
        line when the planned file was taken meanwhile and a sibling is used."""
        if self.session is not None:
            return self.session, ""
        from workbench.session.store import Session

        wanted = self.session_path
        session, path, warning = open_session(
            self.kf, self.problem, self.gpu, wanted if self.named_session else None, None, wanted
        )
        self.session = session or Session.create(path, self.kf, self.problem, self.gpu)
        self.session_path = self.session.path
        return self.session, warning

    def kf_full(self, config: Config) -> Config:
        """`config` with the file's defaults filled in (a trial records what it overrode). Reads
        the launch captured at load, so it needs no KERNEL_LOCK (the UI thread calls it)."""
        try:
            return self.kf.full_config(self.problem, dict(config))
        except Exception:
            return dict(config)

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


def open_session(
    kf: KernelFile,
    problem: Problem,
    gpu: GPU,
    path: str | Path | None,
    held: Session | None = None,
    start: Path | None = None,
) -> tuple[Session | None, Path, str]:
    """The session to resume (loaded and locked) or None with the path a new one will take;
    and a warning line (or "").

    A named path must match its problem, target and kernel; the default path, if it holds
    another kernel's trials or is in use, gives way to a numbered sibling so nothing is
    overwritten. `start`: begin the search there (a planned default path).
    """
    from workbench.session.store import Session, default_session_path

    def reusable(candidate: Path) -> bool:  # the session we hold already (its lock is ours)
        return (
            held is not None
            and Path(held.path).resolve() == candidate.resolve()
            and not held.mismatch(kf, problem, gpu)
        )

    if path is not None:
        path = Path(path)
        if reusable(path):
            return held, path, ""
        if not path.exists():
            return None, path, ""
        return Session.open(path, kf, problem, gpu), path, ""
    base = default_session_path(problem, gpu)
    candidates = [base] + [base.with_name(f"{base.stem}-{n}.json") for n in range(2, 50)]
    if start is not None and start in candidates:
        candidates = candidates[candidates.index(start) :]
    first_error = ""
    for candidate in candidates:
        moved = (
            f"{base} holds another kernel or is in use ({first_error}); recording into {candidate}"
            if candidate != base and first_error
            else ""
        )
        if reusable(candidate):
            return held, candidate, ""
        if not candidate.exists():
            return None, candidate, moved
        try:
            return Session.open(candidate, kf, problem, gpu), candidate, moved
        except SessionError as err:
            first_error = first_error or str(err)
    raise SessionError(f"no free session file next to {base}: {first_error}")


def device_line() -> tuple[str, str]:
    """Where trials run here, without initialising CUDA in this process (workers own CUDA)."""
    from workbench.runner import device

    if device.gpu_present():
        return "gpu", device.describe(device.fingerprint("gpu"))
    return "interpreter", "no CUDA GPU: Triton interpreter on CPU, reduced problem"


def build_workspace(
    kernel_path: str | None,
    problem_text: str | None,
    gpu_text: str | None,
    session_path: str | None,
    *,
    problem: Problem | None = None,
    gpu: GPU | None = None,
    kf: KernelFile | None = None,
    previous: Workspace | None = None,
    keep_config: bool = False,
) -> Workspace:
    """Load everything the screen shows. A `.json` path resumes that session; `kf` reuses a
    loaded kernel file (switching problem or target). `keep_config`: carry the previous
    workspace's parameters over (a target switch: same kernel, same problem, same tunables)."""
    from workbench.kernel.kernelfile import KernelFile
    from workbench.kernel.problemfile import load_problem
    from workbench.session.store import Session

    warnings: list[str] = []
    session: Session | None
    if kernel_path and kernel_path.endswith(".json"):
        session = Session.load(kernel_path)
        try:
            kf = session.kernel_file()
        except BaseException:
            session.close()
            raise
        if session.warning:
            warnings.append(session.warning)
        problem, gpu, path = session.problem, session.gpu, session.path
    else:
        kf = kf or (KernelFile.load(kernel_path) if kernel_path else KernelFile.load())
        problem = problem or load_problem(problem_text)
        gpu = gpu or find_gpu(gpu_text)
        held = previous.session if previous else None
        session, path, warning = open_session(kf, problem, gpu, session_path, held)
        if warning:
            warnings.append(warning)
    tunables = kf.tunables(problem)
    defaults = kf.default_config(problem)
    names = {t.name for t in tunables}
    last = session.latest() if session is not None else None
    if keep_config and previous is not None and previous.kf is kf and previous.problem == problem:
        config, origin = dict(previous.config), "kept from before the switch"
    elif last is not None:
        config, origin = dict(last.config), f"the session's last trial (#{last.id})"
    else:
        config, origin = {}, "the kernel file's defaults"
    config = {**defaults, **{k: v for k, v in config.items() if k in names}}
    mode, device = (previous.mode, previous.device) if previous else device_line()
    raw = kf.untunable(problem)
    return Workspace(
        kf=kf,
        problem=problem,
        gpu=gpu,
        session=session,
        session_path=Path(path),
        tunables=tunables,
        untunable=[f"{name}: {why}" for name, why in raw.items()],
        config=config,
        device=device,
        mode=mode,
        warnings=warnings,
        config_origin=origin,
        named_session=session_path is not None,
    )


def reset_note(old: Config, new: Config, origin: str) -> str:
    """What a switch did to the parameters, in one line ("" when nothing changed)."""
    changed = [f"{k} {old[k]}→{new[k]}" for k in new if k in old and old[k] != new[k]]
    if not changed:
        return ""
    shown = ", ".join(changed[:4]) + (f" and {len(changed) - 4} more" if len(changed) > 4 else "")
    return f"parameters reset to {origin}: {shown} (now {format_config(new)})"
