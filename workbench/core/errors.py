"""The one error vocabulary: every error a user can cause is a WorkbenchError with one line that
says what went wrong and what to do. The CLI and the TUI each catch it in one place."""

from __future__ import annotations


class WorkbenchError(Exception):
    """A user-facing error. `str(err)` is one line; the CLI prints it and exits 2."""


class UsageError(WorkbenchError):
    """A command-line value that cannot be used (a bad --timeout, an output path, ...)."""


class ProblemError(WorkbenchError):
    """A conv3d problem (preset, spec or KernelBench problem file) that is malformed."""


class UnknownGPU(WorkbenchError):
    """A target GPU name the workbench has no spec sheet for."""


class ConfigError(WorkbenchError):
    """A config string or value that cannot be applied."""


class SpaceError(WorkbenchError):
    """A sweep's search space that cannot be read (the message names the bad token)."""


class KernelFileError(WorkbenchError):
    """A kernel file that cannot be loaded or has nothing to tune."""


class CompileError(WorkbenchError):
    """The kernel does not compile for the target (message names file and line)."""


class OutOfResources(WorkbenchError):
    """The config needs more of a resource than the target has (e.g. shared memory)."""


class SessionError(WorkbenchError):
    """A session file that is corrupt, of another schema, or locked by another writer."""


class ExportError(WorkbenchError):
    """The kernel cannot be exported as asked (the message says why and what to do)."""


class CalibrationError(WorkbenchError):
    """Sessions that cannot calibrate the performance model (too few timed trials, mixed devices)."""


class TrialFailure(WorkbenchError):
    """A classified failure inside a trial: `status` is one of the trial statuses."""

    def __init__(self, status: str, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.detail = status, message, detail
