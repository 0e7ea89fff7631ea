"""Errors a user can act on: each carries one line that says what went wrong and what to do."""


class WorkbenchError(Exception):
    """A user-facing error. `str(err)` is one line; the CLI prints it and exits 2."""


class ProblemError(WorkbenchError):
    """A conv3d problem that is malformed or has no output."""


class ConfigError(WorkbenchError):
    """A config string or value that cannot be applied."""


class KernelFileError(WorkbenchError):
    """A kernel file that cannot be loaded or has nothing to tune."""


class CompileError(WorkbenchError):
    """The kernel does not compile for the target (message names file and line)."""


class OutOfResources(WorkbenchError):
    """The config needs more of a resource than the target has (e.g. shared memory)."""


class SessionError(WorkbenchError):
    """A session file that is corrupt, of another schema, or locked by another writer."""
