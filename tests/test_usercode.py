"""User code (generators, plugins) runs contained: its prints go to stderr, whatever it raises or
exits with is one UserCodeError naming it; Ctrl-C still stops."""

import os
import sys

import pytest

from ganeval.errors import GanevalError, SpecError
from ganeval.usercode import UserCodeError, run_user_code, user_code


@pytest.mark.parametrize("fn, said", [
    (lambda: sys.exit(0), "called sys.exit(0)"), (lambda: sys.exit(7), "called sys.exit(7)"),
    (lambda: sys.exit("bye"), "called sys.exit('bye')"), (lambda: {}["k"], "raised KeyError: 'k'"),
    (lambda: 1 / 0, "raised ZeroDivisionError: division by zero"),
    (lambda: (_ for _ in ()).throw(RecursionError("deep")), "raised RecursionError: deep"),
])
def test_whatever_user_code_raises_is_one_error_naming_it(fn, said):
    with pytest.raises(UserCodeError) as info:
        run_user_code("plugin p.py", fn)
    assert str(info.value) == f"plugin p.py {said}" and isinstance(info.value, GanevalError)


def test_ctrl_c_and_ganevals_own_errors_pass_through():
    with pytest.raises(KeyboardInterrupt):
        with user_code("plugin p.py"):
            raise KeyboardInterrupt
    with pytest.raises(SpecError, match="^its own$"):
        run_user_code("plugin p.py", lambda: (_ for _ in ()).throw(SpecError("its own")))
    assert run_user_code("plugin p.py", lambda x, y=0: x + y, 1, y=2) == 3


def test_its_prints_go_to_stderr_and_stdout_comes_back(capfd):
    def noisy():
        print("from print")
        os.write(1, b"from the fd\n")
        return 5

    assert run_user_code("plugin p.py", noisy) == 5
    print("ganeval's own")
    out, err = capfd.readouterr()
    assert out == "ganeval's own\n"
    assert "from print" in err and "from the fd" in err


class Boom(BaseException):
    pass


class BadStr(Exception):
    def __str__(self):
        raise RuntimeError("no")


@pytest.mark.parametrize("fn, said", [
    (lambda: (_ for _ in ()).throw(Boom("deep")), "raised Boom: deep"),
    (lambda: (_ for _ in ()).throw(GeneratorExit("bye")), "raised GeneratorExit: bye"),
    (lambda: (_ for _ in ()).throw(BadStr()), "raised BadStr: <BadStr whose message cannot be shown>"),
])
def test_base_exceptions_and_broken_messages_are_one_error_too(fn, said):
    """Issue 35, finding 7: these gave tracebacks."""
    with pytest.raises(UserCodeError) as info:
        run_user_code("plugin p.py", fn)
    assert str(info.value) == f"plugin p.py {said}"


def test_exit_handlers_registered_during_a_command_run_at_its_end_and_decide_nothing():
    """Issue 35, finding 4: an atexit handler of a plugin calling os._exit(0) turned exit 2 into 0.
    Inside `contained()` handlers are recorded, run (last first) when the block ends, with os._exit
    still guarded, and leave nothing for the interpreter's exit."""
    import atexit

    from ganeval.usercode import ProcessExit, contained

    ran, before, real_exit = [], atexit._ncallbacks(), os._exit
    with contained():
        assert os._exit is not real_exit  # guarded: calling it below must not end the test run
        atexit.register(ran.append, "first")
        atexit.register(lambda: os._exit(0))  # would end the process with status 0
        atexit.register(ran.append, "last")
        with pytest.raises(ProcessExit):
            os._exit(3)  # in the command's own process it raises: what called it fails in one line
        assert ran == []
    assert ran == ["last", "first"] and atexit._ncallbacks() == before
