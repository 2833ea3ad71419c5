"""ganeval's exception types.

The library raises these and nothing else on bad input, so the CLI can turn any of them into one
line on stderr and exit status 2 without hiding real bugs (which stay tracebacks).

A message names the argument at fault as its caller wrote it: ``n`` when
:func:`ganeval.score` was called from Python, ``-n/--samples`` inside the ``ganeval`` command
(:func:`arg`; the CLI runs its commands inside :func:`cli_wording`).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

#: Python keyword -> the command's flag, where the flag is not ``--`` + the keyword with dashes.
CLI_FLAGS = {"n": "-n/--samples", "output": "-o", "samples": "SAMPLES", "bench_dir": "BENCH_DIR",
             "run_dir": "RUN_DIR", "set_pairs": "--set", "sets": "--set", "tolerances": "--tolerance",
             "plugins": "--plugin"}
_FLAGS: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("ganeval_cli_flags", default=None)


def arg(name: str) -> str:
    """How a message names the argument ``name`` (a Python keyword of the API): the keyword itself,
    or inside :func:`cli_wording` the command's flag for it."""
    flags = _FLAGS.get()
    if flags is None:
        return name
    return flags.get(name, "--" + name.replace("_", "-"))


def given(name: str, value: Any = True) -> str:
    """An argument with a value as its caller would write it: ``resize=True`` / ``resume=False`` /
    ``pixel_range='0,1'`` from Python, ``--resize`` / ``--no-resume`` / ``--pixel-range 0,1`` on the
    command line."""
    if speaking_cli():
        if isinstance(value, bool):  # a --name/--no-name switch
            return arg(name) if value else "--no-" + arg(name).removeprefix("--")
        return f"{arg(name)} {value}"
    return f"{name}={value!r}"


def speaking_cli() -> bool:
    """Whether messages are for a ``ganeval`` command line (inside :func:`cli_wording`)."""
    return _FLAGS.get() is not None


@contextlib.contextmanager
def cli_wording(**flags: str) -> Iterator[None]:
    """Within it, :func:`arg` names the command's flags: :data:`CLI_FLAGS`, and ``flags`` where one
    command spells an argument otherwise (``ganeval check --update`` writes ``output`` to
    ``--baseline``)."""
    token = _FLAGS.set({**CLI_FLAGS, **flags})
    try:
        yield
    finally:
        _FLAGS.reset(token)


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
