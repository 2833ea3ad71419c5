"""An interruption is never lost: one that Python swallows (raised inside a finalizer or weakref
callback, "Exception ignored in ...") is raised again at the next progress step, and not printed."""

import os
import signal
import weakref

import pytest

from ganeval import interrupts


class Thing:
    pass


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interruption_swallowed_in_a_finalizer_is_raised_again_at_the_next_check(sig, capfd):
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, however pytest was started
    previous = interrupts.catch_termination()
    try:
        interrupts.check()  # nothing pending: nothing raised
        thing = Thing()
        ref = weakref.ref(thing, lambda r: os.kill(os.getpid(), sig))  # the signal lands inside the callback
        del thing
        assert ref() is None  # the callback ran, and Python swallowed what the handler raised there
        with pytest.raises(KeyboardInterrupt) as raised:
            interrupts.check()
        assert interrupts.exit_status(raised.value)[0] == 128 + sig
    finally:
        interrupts.restore(previous)
        signal.signal(signal.SIGINT, before)
    interrupts.check()  # restored: nothing pending any more
    assert "Exception ignored" not in capfd.readouterr().err


def test_an_ignored_ctrl_c_stays_ignored():
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a background job, nohup
    try:
        previous = interrupts.catch_termination()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        interrupts.restore(previous)
    finally:
        signal.signal(signal.SIGINT, before)
