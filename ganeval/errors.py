"""ganeval's exception types.

The library raises these and nothing else on bad input, so the CLI can turn any of them into one
line on stderr and exit status 2 without hiding real bugs (which stay tracebacks).
"""


class GanevalError(Exception):
    """Base class of every error ganeval raises on purpose."""


class SpecError(GanevalError):
    """A bench or run specification is invalid (unknown name, bad value, unknown key)."""


class UnknownNameError(SpecError):
    """A name that is not in a registry."""


class DataError(GanevalError):
    """Data or weights are missing, unreadable or fail their checksum."""


class IntegrityError(DataError):
    """A file's content does not match its recorded SHA-256."""


class RunFolderError(GanevalError):
    """A run or bench folder is missing, unwritable, or belongs to a different configuration."""


class StorageError(RunFolderError):
    """The disk refused a write (full, over quota, read-only): a fault of the machine, not of one cell,
    so a bench stops at once (every other cell would fail alike) and resumes once space is freed."""


class DeviceError(GanevalError):
    """The requested device is not available."""


class SampleError(GanevalError):
    """Samples passed to an evaluator have the wrong shape, dtype or range."""
