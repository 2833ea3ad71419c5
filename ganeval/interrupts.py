"""SIGTERM and SIGHUP handled like Ctrl-C, so a killed command cleans up as an interrupted one does:
every ``finally`` runs (locks released, no temporary file left), finished runs and checkpoints
stay, and the same command resumes."""

from __future__ import annotations

import signal
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the process was, like Ctrl-C's KeyboardInterrupt."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum, frame) -> None:
    raise Terminated(signum)


def catch_termination() -> dict[int, Any]:
    """Route SIGTERM and SIGHUP to :class:`Terminated`; returns the handlers to restore."""
    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        try:
            previous[sig] = signal.signal(sig, _raise_terminated)
        except (ValueError, OSError):  # not the main thread: leave the handlers alone
            pass
    return previous


def restore(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def exit_status(exc: KeyboardInterrupt) -> tuple[int, str]:
    """Ctrl-C: 130; SIGTERM / SIGHUP: 128 + the signal number; and the one line that says so."""
    how = f"terminated by {signal.Signals(exc.signum).name}" if isinstance(exc, Terminated) else "interrupted"
    code = 128 + exc.signum if isinstance(exc, Terminated) else 130
    return code, f"ganeval: {how}; finished runs and checkpoints are kept — re-run the same command to resume"
