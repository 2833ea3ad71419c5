"""Running the user's own code (a generator module, a plugin) without letting it decide ganeval's
exit status or output.

Inside :func:`user_code` the user's ``print`` goes to stderr (stdout stays ganeval's, so
``--json`` is valid JSON whatever the code prints), and anything it raises — an exception,
``sys.exit(0)``, ``os._exit(0)`` (see :func:`contained`), a ``RecursionError``, a
``BaseException`` subclass, ``GeneratorExit`` — becomes one :class:`UserCodeError` naming the code
and what it raised (exit 2 at the CLI). ``KeyboardInterrupt`` passes through: Ctrl-C still stops.
A :class:`~ganeval.errors.GanevalError` raised from inside (ganeval's own checks called by the
user's code) passes through unchanged.

A whole command runs inside :func:`contained` (``ganeval.cli.main``): user code there cannot end the
process with ``os._exit`` (it raises :class:`ProcessExit` instead, which fails what called it), and
exit handlers registered during the command (``atexit``) run at its end, where nothing they do can
change its exit status; the command line then exits without waiting for threads user code left
running (:func:`stray_threads`). A forked child process keeps the real ``os._exit``.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from ganeval.errors import GanevalError

T = TypeVar("T")
log = logging.getLogger(__name__)


class UserCodeError(GanevalError):
    """The user's code (a generator, a plugin) raised or exited: one line naming it."""


class ProcessExit(SystemExit):
    """``os._exit(code)`` called by user code inside :func:`contained`: raised instead of ending the
    process, so what called the code fails in one line instead of exiting with the code's status."""


def safe_text(exc: BaseException) -> str:
    """``str(exc)``, or a stand-in when the exception's own ``__str__`` fails (user code's may)."""
    try:
        text = str(exc)
    except BaseException:  # noqa: BLE001 - a broken __str__ must not turn one line into a traceback
        return f"<{type(exc).__name__} whose message cannot be shown>"
    return text if isinstance(text, str) else ""


def describe(exc: BaseException) -> str:
    """One line for what user code raised: the type and the first line of its message."""
    if isinstance(exc, ProcessExit):
        return f"called os._exit({exc.code!r})"
    if isinstance(exc, SystemExit):
        try:
            return f"called sys.exit({exc.code!r:.200})"
        except BaseException:  # noqa: BLE001 - a code whose repr fails
            return "called sys.exit(...)"
    text = safe_text(exc).strip()
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
        except (GanevalError, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001 - sys.exit, GeneratorExit, a BaseException subclass: all theirs
            raise UserCodeError(f"{what} {describe(exc)}") from None


def run_user_code(what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` inside :func:`user_code`."""
    with user_code(what):
        return fn(*args, **kwargs)


# --- a whole command ----------------------------------------------------------------------------
@contextlib.contextmanager
def contained() -> Iterator[None]:
    """Run a command so that user code cannot choose how the process ends (see the module doc).

    ``os._exit`` raises :class:`ProcessExit` in this process (a forked child keeps the real one,
    so ``multiprocessing`` workers exit as they should); ``atexit.register`` records the handlers
    registered meanwhile, which run at the end of the block, each contained, in the order ``atexit``
    would run them (last first), and are then forgotten: by the time the interpreter exits they
    have run, and none can turn the command's exit status into another."""
    pid = os.getpid()
    real_exit, real_register, real_unregister = os._exit, atexit.register, atexit.unregister
    handlers: list[tuple[Callable[..., Any], tuple, dict]] = []

    def guarded_exit(code: int) -> None:
        if os.getpid() != pid:
            real_exit(code)
        raise ProcessExit(code)

    def register(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
        handlers.append((fn, args, kwargs))
        return fn

    def unregister(fn: Callable[..., Any]) -> None:
        handlers[:] = [h for h in handlers if h[0] != fn]
        real_unregister(fn)

    os._exit, atexit.register, atexit.unregister = guarded_exit, register, unregister
    try:
        yield
    finally:
        atexit.register, atexit.unregister = real_register, real_unregister
        try:
            while handlers:
                fn, args, kwargs = handlers.pop()
                try:
                    with _stdout_to_stderr():
                        fn(*args, **kwargs)
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:  # noqa: BLE001 - an exit handler never decides the exit status
                    log.info("an exit handler (%s) %s; ignored", getattr(fn, "__qualname__", fn), describe(exc))
        finally:
            os._exit = real_exit


def stray_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    """Non-daemon threads alive now that were not in ``before``: started by user code and left
    running, they would keep the interpreter from exiting."""
    return [t for t in threading.enumerate()
            if t.is_alive() and not t.daemon and t is not threading.main_thread() and t not in before]

