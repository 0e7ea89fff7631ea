"""Sessions as the performance model's calibration data: every trial measured on a GPU, with the
model's features from its compile.

A trial recorded before compiles carried the SASS instruction mix (the shipped H100 sessions:
Triton 3.6 on the device) gets the mix of an offline compile of the same config for the same
target here, and says so; its registers, shared memory and occupancy stay the recorded ones
(what actually ran). A session file may be gzipped (`.json.gz`, as docs/measurements/ keeps the
device's sessions): it is read as it is, never written.
"""

from __future__ import annotations

import gzip
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.analysis.calibrate import Measurement, full_config, measurement
from workbench.core.errors import CalibrationError, SessionError, WorkbenchError
from workbench.core.gpus import GPU, find_gpu
from workbench.core.records import HelperLaunch, TrialResult
from workbench.session.store import Session


@dataclass
class Loaded:
    """Measurements read from sessions, with what was skipped and which compiles fed them."""

    measurements: list[Measurement] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "file #id: why", one per trial left out
    compiled: list[str] = field(default_factory=list)  # "file: what compiled what"
    sources: list[str] = field(default_factory=list)  # the session files read


def device_gpu(name: str, override: GPU | None = None) -> GPU:
    """The spec sheet of the device a trial was measured on (`override`: the user's --gpu)."""
    if override is not None:
        return override
    try:
        return find_gpu(name)
    except WorkbenchError:
        raise CalibrationError(
            f"no spec sheet matches the measuring device {name!r}: name it with --gpu"
        ) from None


def load_measurements(
    paths: Sequence[str | Path],
    gpu: GPU | None = None,
    recompile: bool = True,
    progress: Callable[[str], None] | None = None,
    offline_shared: bool = False,
    recount_shared: bool = False,
) -> Loaded:
    """Every trial of the sessions measured on a GPU, as calibration measurements.

    `gpu`: the spec sheet of the measuring device (default: matched from the trial's device
    name). `recompile`: compile here for the session's target where a trial has no instruction
    mix (otherwise the model runs without the issue terms for it). `offline_shared`: where a
    trial's compile recorded no shared-memory accesses (sessions made before compiles carried
    the TTGIR's layouts), attach those of an offline compile of the same config for the
    session's target here (its bank conflicts; everything else stays as recorded).
    `recount_shared`: the same for every trial, replacing what its compile recorded (a record
    counted by an earlier rule: model v6 counts a warp's wavefronts over the whole warp and an
    FMA dot's operand reads, which the device's compiles of 2026-12-02c did not)."""
    out = Loaded()
    for path in paths:
        session = read_session(path)
        out.sources.append(str(path))
        problem = session.problem
        target = session.gpu
        kernel = str(session.kernel.get("name") or session.kernel.get("path") or "")
        recorded: set[str] = set()
        offline: set[tuple[str, str]] = set()  # (what compiled the resources, Triton here)
        shared_offline: set[str] = set()  # Triton versions that gave the shared accesses here
        kf: Any = None
        recaptured = 0  # trials whose helper launches were captured here (none recorded)
        unmeasured: list[tuple[str, int | None]] = []  # (mode, id): a sweep's compile-only
        # trials, listed in one line
        for trial in session.trials:
            where = f"{path} #{trial.id}"
            why = _unusable(trial)
            if why.startswith("not measured on a GPU"):
                unmeasured.append((trial.mode or "?", trial.id))
                continue
            if why:
                out.skipped.append(f"{where}: {why}")
                continue
            device = device_gpu(trial.device, gpu)
            if device.sm != target.sm:
                out.skipped.append(
                    f"{where}: compiled for {target.sm} but measured on {trial.device}"
                    f" ({device.sm}): its compile is not the one that ran"
                )
                continue
            res = trial.inspect.resources if trial.inspect else None
            mix = None
            compiled = res.source if res else ""
            if res is not None and not res.instruction_mix and recompile:
                if progress:
                    progress(f"compiling {kernel} {trial.config} for {target.sm}")
                try:
                    if kf is None:
                        kf = session.kernel_file()
                    mix, version = _offline_mix(kf, problem, trial, target)
                except WorkbenchError as err:
                    out.skipped.append(f"{where}: no instruction mix ({err})")
                    continue
                compiled = (
                    f"resources: {res.source} (recorded); instruction mix: compiled offline"
                    f" for {target.sm} by Triton {version}"
                )
                offline.add((res.source, version))
            elif res is not None:
                recorded.add(res.source)
            accesses = None
            missing = res is not None and res.shared_accesses is None and offline_shared
            if missing or (res is not None and recount_shared):
                try:
                    if kf is None:
                        kf = session.kernel_file()
                    accesses, version = _offline_shared(kf, problem, trial, target)
                except WorkbenchError as err:
                    out.skipped.append(f"{where}: no shared-memory accesses ({err})")
                    accesses = None
                else:
                    compiled += (
                        f"; shared-memory accesses: compiled offline for {target.sm} by Triton"
                        f" {version}"
                    )
                    shared_offline.add(version)
            helpers = None
            if trial.inspect is not None and trial.inspect.helpers is None:
                try:
                    if kf is None:
                        kf = session.kernel_file()
                    helpers = _offline_helpers(kf, problem, trial)
                except WorkbenchError as err:
                    out.skipped.append(f"{where}: no helper launches ({err})")
                    continue
                recaptured += 1
            try:
                m = measurement(
                    trial, problem, device, label=where, kernel=kernel, instruction_mix=mix,
                    compiled=compiled, source=str(session.kernel.get("source") or ""),
                    shared_accesses=accesses, helpers=helpers,
                )  # fmt: skip
            except ValueError as err:
                out.skipped.append(f"{where}: {err}")
                continue
            if m is not None:
                out.measurements.append(m)
        if unmeasured:
            n, first, last = len(unmeasured), unmeasured[0][1], unmeasured[-1][1]
            out.skipped.append(
                f"{path}: {n} trial{'s' * (n != 1)} not measured on a GPU (mode"
                f" {', '.join(sorted({mode for mode, _ in unmeasured}))};"
                f" #{first}{f' .. #{last}' if n > 1 else ''})"
            )
        for source in sorted(recorded):
            out.compiled.append(f"{path}: {source} (instruction mix recorded with the trial)")
        for source, version in sorted(offline):
            out.compiled.append(
                f"{path}: registers, shared memory and occupancy as recorded ({source}, what ran);"
                f" instruction mix compiled offline here for {target.sm} by Triton {version}"
            )
        if recaptured:
            out.compiled.append(
                f"{path}: helper launches (the wrapper's other kernels per call) captured here on"
                f" meta tensors from the session's source and each trial's config ({recaptured}"
                " trials)"
            )
        for version in sorted(shared_offline):
            out.compiled.append(
                f"{path}: shared-memory accesses (bank conflicts, from the TTGIR) compiled offline"
                f" here for {target.sm} by Triton {version}, standing in for the Triton that ran"
            )
    return out


def read_session(path: str | Path) -> Session:
    """A session read-only: a `.json`, or a gzipped one (`.json.gz`), unpacked into a temporary
    file that is read and removed (the original stays as it is)."""
    p = Path(path)
    if not p.name.endswith(".gz"):
        return Session.load(p, readonly=True)
    try:
        data = gzip.decompress(p.read_bytes())
    except FileNotFoundError:
        raise SessionError(f"{p} does not exist: give the path of a session .json") from None
    except (OSError, EOFError) as err:
        raise SessionError(f"{p} is not a readable gzipped session ({err}): gunzip it") from None
    with tempfile.TemporaryDirectory(prefix="workbench-session-") as tmp:
        plain = Path(tmp) / p.name[: -len(".gz")]
        plain.write_bytes(data)
        return Session.load(plain, readonly=True)  # read into memory: no lock, nothing kept


def _unusable(trial: TrialResult) -> str:
    if trial.mode != "gpu":
        return f"not measured on a GPU (mode {trial.mode or '?'})"
    if not trial.ok:
        return f"status {trial.status}: no time"
    if trial.kernel_only_ms is None and trial.kernelbench_ms is None:
        return "no time measured"
    if trial.inspect is None:
        return "no inspect record"
    return ""


def _offline_mix(kf: Any, problem: Any, trial: TrialResult, target: GPU) -> tuple[Any, str]:
    """The instruction mix of this trial's config compiled here for `target` (cached)."""
    import triton

    from workbench.kernel.compile import compile_for_target

    config = {k: v for k, v in full_config(trial).items() if k in _tunable_names(kf, problem)}
    resources, _ = compile_for_target(kf, problem, kf.full_config(problem, config), target)
    if not resources.instruction_mix:
        raise CalibrationError("the offline compile gave no SASS instruction mix")
    return resources.instruction_mix, str(triton.__version__)


def _offline_shared(kf: Any, problem: Any, trial: TrialResult, target: GPU) -> tuple[Any, str]:
    """The shared-memory accesses of this trial's config compiled here for `target` (cached; a
    compile that stops at the TTGIR where the full one is not cached)."""
    import triton

    from workbench.kernel.compile import shared_accesses_for_target

    config = {k: v for k, v in full_config(trial).items() if k in _tunable_names(kf, problem)}
    accesses = shared_accesses_for_target(kf, problem, kf.full_config(problem, config), target)
    if accesses is None:
        raise CalibrationError("the offline compile gave no TTGIR shared-memory accesses")
    return accesses, str(triton.__version__)


def _offline_helpers(kf: Any, problem: Any, trial: TrialResult) -> list[HelperLaunch]:
    """The helper launches of one steady-state call with this trial's config (meta tensors)."""
    from workbench.analysis.report import helper_records

    config = {k: v for k, v in full_config(trial).items() if k in _tunable_names(kf, problem)}
    return helper_records(kf.helper_launches(problem, kf.full_config(problem, config)))


def _tunable_names(kf: Any, problem: Any) -> set[str]:
    return {t.name for t in kf.tunables(problem)}
