"""What the app works on (kernel file, problem, target, session) and how it is opened.

Everything here runs in a worker thread: loading a kernel file imports torch and the user's
module, so none of it may run before the first paint.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.config import Config
from workbench.core.errors import SessionError
from workbench.core.gpus import GPU, find_gpu
from workbench.core.problem import Problem


@dataclass
class Workspace:
    """One kernel file on one problem for one target, and the session recording its trials."""

    kf: Any  # workbench.kernelfile.KernelFile (imported lazily: it imports torch)
    problem: Problem
    gpu: GPU
    session: Any  # workbench.session.Session
    tunables: list[Any]
    untunable: list[str]
    config: Config
    device: str
    mode: str  # "gpu" | "interpreter": where trials will run
    warnings: list[str] = field(default_factory=list)


def problem_slug(problem: Problem) -> str:
    """`L1/66` -> `l1-66`; a custom spec -> `custom-<8 hex of its spec>` (specs make bad names)."""
    from workbench.session.store import problem_id

    pid = problem_id(problem)
    if re.fullmatch(r"L\d+/\d+", pid):
        return pid.lower().replace("/", "-")
    return "custom-" + hashlib.sha1(pid.encode()).hexdigest()[:8]


def default_session_path(problem: Problem, gpu: GPU) -> Path:
    return Path("sessions") / f"{problem_slug(problem)}-{gpu.key}.json"


def open_session(
    kf: Any, problem: Problem, gpu: GPU, path: str | Path | None, held: Any = None
) -> tuple[Any, str]:
    """Open (or create) the session to record into; returns it and a warning line (or "").

    A named path must match; the default path, if it holds another kernel's trials, gives way
    to a numbered sibling so nothing is overwritten.
    """
    from workbench.session.store import Session

    def reusable(candidate: Path) -> bool:  # the session we hold already (its lock is ours)
        return (
            held is not None
            and Path(held.path).resolve() == candidate.resolve()
            and not held.mismatch(kf, problem, gpu)
        )

    if path is not None:
        if reusable(Path(path)):
            return held, ""
        return Session.open(path, kf, problem, gpu), ""
    base = default_session_path(problem, gpu)
    first_error = ""
    for n in range(1, 50):
        candidate = base if n == 1 else base.with_name(f"{base.stem}-{n}.json")
        if reusable(candidate):
            return held, ""
        try:
            return Session.open(candidate, kf, problem, gpu), (
                f"{base} holds another kernel or is in use ({first_error}); recording into {candidate}"
                if n > 1
                else ""
            )
        except SessionError as err:
            first_error = first_error or str(err)
    raise SessionError(f"no free session file next to {base}: {first_error}")


def device_line() -> tuple[str, str]:
    """Where trials run here, without initialising CUDA in this process (workers own CUDA)."""
    from workbench.runner import device

    if device.gpu_present():
        return "gpu", device.describe(device.fingerprint("gpu"))
    return "interpreter", "no CUDA GPU: Triton interpreter on CPU, reduced problem"


def _untunable_lines(kf: Any, problem: Problem) -> list[str]:
    raw = kf.untunable(problem)
    if isinstance(raw, dict):
        return [f"{name}: {why}" for name, why in raw.items()]
    return [str(x) for x in raw]


def build_workspace(
    kernel_path: str | None,
    problem_text: str | None,
    gpu_text: str | None,
    session_path: str | None,
    *,
    problem: Problem | None = None,
    gpu: GPU | None = None,
    kf: Any = None,
    previous: Workspace | None = None,
) -> Workspace:
    """Load everything the screen shows. A `.json` path resumes that session; `kf` reuses a
    loaded kernel file (switching problem or target)."""
    from workbench.kernel.kernelfile import KernelFile
    from workbench.kernel.problemfile import load_problem
    from workbench.session.store import Session

    warnings: list[str] = []
    config: Config = {}
    if kernel_path and kernel_path.endswith(".json"):
        session = Session.load(kernel_path)
        try:
            kf = session.kernel_file()
        except BaseException:
            session.close()
            raise
        if session.warning:
            warnings.append(session.warning)
        problem, gpu = session.problem, session.gpu
        last = session.latest()
        config = dict(last.config if last else {})
    else:
        kf = kf or (KernelFile.load(kernel_path) if kernel_path else KernelFile.load())
        problem = problem or load_problem(problem_text)
        gpu = gpu or find_gpu(gpu_text)
        held = previous.session if previous else None
        session, warning = open_session(kf, problem, gpu, session_path, held)
        if warning:
            warnings.append(warning)
        last = session.latest()
        config = dict(last.config if last else {})
    tunables = kf.tunables(problem)
    defaults = kf.default_config(problem)
    names = {t.name for t in tunables}
    config = {**defaults, **{k: v for k, v in config.items() if k in names}}
    mode, device = (previous.mode, previous.device) if previous else device_line()
    return Workspace(
        kf,
        problem,
        gpu,
        session,
        tunables,
        _untunable_lines(kf, problem),
        config,
        device,
        mode,
        warnings,
    )
