"""SIGTERM and SIGHUP handled like Ctrl-C, so a killed command cleans up as an interrupted one does:
every ``finally`` runs (locks released, no temporary file left), finished runs and checkpoints
stay, and the same command resumes.

An interruption is never lost: Python raises it wherever the main thread is, and when that is a
finalizer or a weakref callback run by the garbage collector it prints "Exception ignored" and
swallows it, so the command would run on as if never asked to stop (seen in CI, by chance of
timing). The handlers below remember the signal, and :func:`check`, called at every progress step,
raises it again; the swallowed one is not printed.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

#: the signal of an interruption raised but not yet seen through to the end of the command
_pending: int | None = None


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the process was, like Ctrl-C's KeyboardInterrupt."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _interruption(signum: int) -> KeyboardInterrupt:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def _raise_terminated(signum, frame) -> None:
    global _pending
    _pending = signum
    raise _interruption(signum)


def check() -> None:
    """Raise again an interruption that Python swallowed (see the module doc); nothing otherwise."""
    if _pending is not None:
        raise _interruption(_pending)


def _unraisable(hook):
    def quiet(unraisable) -> None:  # the swallowed interruption: check() raises it where it counts
        if _pending is not None and isinstance(unraisable.exc_value, KeyboardInterrupt):
            return
        hook(unraisable)
    return quiet


def catch_termination() -> dict[Any, Any]:
    """Route SIGTERM and SIGHUP to :class:`Terminated` and Ctrl-C to KeyboardInterrupt, each
    remembered for :func:`check`; returns what to :func:`restore`. A SIGINT that is ignored (a
    background job, ``nohup``) stays ignored."""
    global _pending
    _pending = None
    previous: dict[Any, Any] = {}
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is None or (name == "SIGINT" and signal.getsignal(sig) is not signal.default_int_handler):
            continue
        try:
            previous[sig] = signal.signal(sig, _raise_terminated)
        except (ValueError, OSError):  # not the main thread: leave the handlers alone
            pass
    previous["unraisablehook"] = sys.unraisablehook
    sys.unraisablehook = _unraisable(sys.unraisablehook)
    return previous


def restore(previous: dict[Any, Any]) -> None:
    global _pending
    _pending = None
    for sig, handler in previous.items():
        if sig == "unraisablehook":
            sys.unraisablehook = handler
        else:
            signal.signal(sig, handler)


def exit_status(exc: KeyboardInterrupt) -> tuple[int, str]:
    """Ctrl-C: 130; SIGTERM / SIGHUP: 128 + the signal number; and the one line that says so."""
    how = f"terminated by {signal.Signals(exc.signum).name}" if isinstance(exc, Terminated) else "interrupted"
    code = 128 + exc.signum if isinstance(exc, Terminated) else 130
    return code, f"ganeval: {how}; finished runs and checkpoints are kept — re-run the same command to resume"
