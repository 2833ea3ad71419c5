"""Running the user's own code (a generator module, a plugin) without letting it decide ganeval's
exit status or output.

Inside :func:`user_code` the user's ``print`` goes to stderr (stdout stays ganeval's, so
``--json`` is valid JSON whatever the code prints), and anything it raises — an exception,
``sys.exit(0)``, a ``RecursionError`` — becomes one :class:`UserCodeError` naming the code and
what it raised (exit 2 at the CLI). ``KeyboardInterrupt`` passes through: Ctrl-C still stops.
A :class:`~ganeval.errors.GanevalError` raised from inside (ganeval's own checks called by the
user's code) passes through unchanged.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from ganeval.errors import GanevalError

T = TypeVar("T")


class UserCodeError(GanevalError):
    """The user's code (a generator, a plugin) raised or exited: one line naming it."""


def describe(exc: BaseException) -> str:
    """One line for what user code raised: the type and the first line of its message."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"raised {type(exc).__name__}" + (f": {first[:300]}" if first else "")


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Python-level and file-descriptor-level stdout to stderr for the block (a C extension's
    printf too), restored afterwards."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = None
    try:
        saved = os.dup(1)
        os.dup2(2, 1)
    except OSError:
        saved = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


@contextlib.contextmanager
def user_code(what: str) -> Iterator[None]:
    """Run the block as the user's code called ``what`` (e.g. ``"generator gen.py:G"``)."""
    with _stdout_to_stderr():
        try:
            yield
        except (GanevalError, KeyboardInterrupt, GeneratorExit):
            raise
        except (SystemExit, Exception) as exc:
            raise UserCodeError(f"{what} {describe(exc)}") from None


def run_user_code(what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` inside :func:`user_code`."""
    with user_code(what):
        return fn(*args, **kwargs)
