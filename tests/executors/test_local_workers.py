"""The local executor's worker processes (``--workers``; the command line's default ``auto``):
the same bits as one process, failures and dead workers reported per cell, Ctrl-C and kill -9
leave no worker behind and the bench resumes to the uninterrupted numbers."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import TINY
from test_executors import Recorder
from test_runner import ENV, bench_cmd, finish_like_an_uninterrupted_bench, like_a_terminal, measured

from ganeval import rundir
from ganeval.cli import main
from ganeval.errors import SpecError
from ganeval.executors import get_executor
from ganeval.executors.local import LocalExecutor, parse_workers
from ganeval.progress import Progress
from ganeval.runner import jobs_for, run_bench, run_cell
from ganeval.spec import BenchSpec

SETTINGS = {"steps": 60, "hidden": 16, "batch_size": 32, "eval_samples": 500, "ckpt_every": 20}


def spec(sweep=None):
    s = BenchSpec(benchmarks=["ring8", "grid25"], losses=["bce", "hinge", "lsgan"], seeds=[0, 1])
    s.run.update(SETTINGS)
    if sweep:
        s.sweep = sweep
    return s.validate()


def test_two_workers_write_the_bits_one_process_writes(tmp_path):
    study = {"lr_d": [1e-4, 1e-3]}
    progress = Recorder()
    alone = run_bench(spec(study), tmp_path / "one")
    side_by_side = run_bench(spec(study), tmp_path / "two", progress=progress, workers=2)
    assert alone.failures == side_by_side.failures == [] and side_by_side.trained == 2 * 3 * 2 * 2
    pd.testing.assert_frame_equal(measured(tmp_path / "one"), measured(tmp_path / "two"), check_exact=True)
    for rel in ("ring8/hinge@lr_d-1e-03/seed-1", "grid25/bce@lr_d-1e-04/seed-0"):
        a, b = (rundir.load_checkpoint(tmp_path / side / rel, 40) for side in ("one", "two"))
        for net in ("G", "D", "opt_D"):
            for key, value in a[net].items():
                if isinstance(value, torch.Tensor):
                    assert torch.equal(value, b[net][key]), (rel, net, key)
        assert (tmp_path / "one" / rel / "events.json").read_bytes() == (tmp_path / "two" / rel / "events.json").read_bytes()
    # progress from the workers: every cell started and done once, every member-step counted once
    assert sorted(progress.started) == sorted(progress.done) and len(progress.done) == 6
    assert progress.steps == 6 * 2 * 2 * SETTINGS["steps"]
    assert rundir.read_env(tmp_path / "two")["workers"] == "2"
    again = Recorder()
    outcome = run_bench(spec(study), tmp_path / "two", progress=again, workers=2)
    assert outcome.trained == 0 and outcome.skipped == 24 and again.steps == 0


def test_the_command_line_runs_workers_by_default_and_a_plugin_loss_reaches_them(tmp_path, monkeypatch, capsys):
    plugin = tmp_path / "my_loss.py"
    plugin.write_text(
        "from ganeval import Loss, register_loss\n"
        "register_loss(Loss('softer', 'a plugin loss', '', lambda r, f: (r.neg().exp().log1p() + f.exp().log1p()).mean(-1),\n"
        "                   lambda f, r: f.neg().exp().log1p().mean(-1)))\n")
    args = ["bench", "--benchmarks", "ring8", "--losses", "bce,softer", "--seeds", "2", *TINY, "--no-report",
            "--plugin", str(plugin)]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0  # GANEVAL_WORKERS=1 (conftest)
    monkeypatch.delenv("GANEVAL_WORKERS")
    assert main([*args, "--out", str(tmp_path / "auto")]) == 0
    assert rundir.read_env(tmp_path / "auto")["workers"] == "auto"
    pd.testing.assert_frame_equal(measured(tmp_path / "one"), measured(tmp_path / "auto"), check_exact=True)
    assert set(measured(tmp_path / "auto")["loss"]) == {"bce", "softer"}


def test_auto_is_one_worker_per_core_and_the_plan_never_depends_on_what_is_left(tmp_path, monkeypatch):
    from ganeval.executors import local

    jobs = jobs_for(spec(), tmp_path / "b", True)
    monkeypatch.setattr(local, "cpu_cores", lambda: 2)
    torch.set_num_threads(2)
    assert LocalExecutor(workers="auto").plan(jobs) == (2, 1)
    assert LocalExecutor(workers="auto").plan(jobs[:1]) == (0, 2)  # a bench of one cell: in this process
    assert LocalExecutor(workers=4).plan(jobs) == (4, 1)
    assert LocalExecutor(workers=1).plan(jobs) == (0, 2)
    for job in jobs:
        job.device = "cuda"
    assert LocalExecutor(workers="auto").plan(jobs) == (0, 2)  # one GPU: one process


def note_threads(job, progress):
    """A cell body that notes the torch threads its cell trains on."""
    (job.dirs[0].parent / "threads.txt").write_text(str(torch.get_num_threads()))
    return run_cell(job, progress)


def test_a_resumed_bench_trains_its_last_cell_on_the_threads_it_started_with(tmp_path, caplog):
    out = tmp_path / "b"
    run_bench(spec(), out, workers=2)
    assert rundir.read_env(out)["threads_per_cell"] == 1
    for seed in (0, 1):  # one cell left to finish, from its checkpoints
        (out / "grid25" / "hinge" / f"seed-{seed}" / "metrics.json").unlink()
    jobs = jobs_for(spec(), out, True, ship_plugins=True)
    outcomes = {}
    get_executor("local", workers=2).run(jobs, note_threads, lambda job, o: outcomes.__setitem__(job.cell.key, o),
                                         Progress())
    assert outcomes["grid25/hinge"].trained == 2 and (out / "grid25" / "hinge" / "threads.txt").read_text() == "1"
    assert sum(o.trained for o in outcomes.values()) == 2
    # resumed with another thread count per cell: said, since a convolution's last bits can change
    (out / "grid25" / "hinge" / "seed-0" / "metrics.json").unlink()
    run_bench(spec(), out, workers=1)
    assert "started with 1 torch thread(s) per cell and resumes with 2" in caplog.text


def fail_some(job, progress):
    """A cell body (module level, so a spawned worker can import it)."""
    if job.run.loss == "hinge":
        raise RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate 20 GiB")
    if job.run.loss == "lsgan" and job.run.benchmark == "ring8":
        os.kill(os.getpid(), signal.SIGKILL)  # the worker dies, every time
    return run_cell(job, progress)


def test_a_failing_cell_and_a_dying_worker_are_one_line_each_and_the_others_finish(tmp_path):
    outcomes = {}
    jobs = jobs_for(spec(), tmp_path / "b", True, ship_plugins=True)
    get_executor("local", workers=2).run(jobs, fail_some, lambda job, o: outcomes.__setitem__(job.cell.key, o),
                                         Progress())
    assert outcomes["ring8/hinge"].error.startswith("out of memory (DefaultCPUAllocator")
    assert outcomes["ring8/lsgan"].error.startswith("its worker process died (killed, or out of memory) 4 times")
    for key in ("ring8/bce", "grid25/bce", "grid25/lsgan"):  # started again after each death, resumed, finished
        assert outcomes[key].error is None and outcomes[key].trained + outcomes[key].skipped == 2, key


@pytest.mark.parametrize("bad", ["0", "two", "-1", "1.5"])
def test_a_bad_worker_count_is_one_line(tmp_path, capsys, bad):
    assert main(["bench", "--benchmarks", "ring8", "--losses", "bce", *TINY, "--workers", bad,
                 "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "workers must be 'auto' or a whole number >= 1" in err
    assert not (tmp_path / "b").exists()
    with pytest.raises(SpecError, match="workers must be"):
        parse_workers(bad)


def test_workers_go_with_the_local_executor_only(tmp_path, capsys):
    pytest.importorskip("ray", reason="the Ray extra is not installed")
    assert main(["bench", "--benchmarks", "ring8", "--losses", "bce", *TINY, "--executor", "ray", "--workers", "2",
                 "--out", str(tmp_path / "b")]) == 2
    assert "workers go with the local executor" in capsys.readouterr().err


def worker_pids(pid: int) -> list[int]:
    """The children of ``pid`` (its worker processes), from /proc."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def cmd(out: Path) -> list[str]:
    # 2,000 steps: the signal lands mid-cell even when a loaded machine delays the test's polling
    return [*bench_cmd(out), "--benchmarks", "ring8,grid25", "--steps", "2000", "--workers", "2"]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads worker processes from /proc")
@pytest.mark.parametrize("how", ["ctrl-c", "kill -9"])
def test_stopped_with_workers_it_leaves_none_behind_and_resumes_to_the_same_numbers(tmp_path, how):
    killed = tmp_path / "killed"
    trigger = killed / "grid25" / "bce" / "seed-1" / "checkpoints" / "step-100.pt.sha256"
    proc = subprocess.Popen(cmd(killed), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=like_a_terminal)
    deadline = time.monotonic() + 300
    while not trigger.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    workers = worker_pids(proc.pid)
    assert trigger.exists() and len(workers) >= 2 and proc.poll() is None, proc.stderr.read()[-2000:]
    if how == "ctrl-c":  # a terminal sends SIGINT to the whole foreground group
        os.killpg(proc.pid, signal.SIGINT)
        err = proc.communicate(timeout=60)[1]
        assert proc.returncode == 130, err
        assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("ganeval: interrupted; ")
        assert not list(killed.rglob("*.tmp"))  # the workers unwound their writes
    else:  # the bench process alone, killed outright: its workers must not go on writing
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    deadline = time.monotonic() + 15
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(p) for p in workers)
    finish_like_an_uninterrupted_bench(cmd, killed, tmp_path / "whole", "grid25/bce/seed-1/trace.csv")
    assert len(measured(killed)) == 2 * 2 * 2


def test_the_time_estimate_counts_the_cells_side_by_side_on_their_threads(tmp_path, monkeypatch, caplog):
    import logging

    from ganeval import feasibility

    seen = []

    def estimate(cells, device):
        seen.append(torch.get_num_threads())
        return 600.0

    monkeypatch.setattr(feasibility, "LARGE_GRID", 10)
    monkeypatch.setattr(feasibility, "estimate_time", estimate)
    torch.set_num_threads(2)
    with caplog.at_level(logging.WARNING):
        run_bench(spec(), tmp_path / "b", workers=2)
    assert seen == [1] and torch.get_num_threads() == 2  # timed on a worker's one thread, then restored
    assert ": 5 min (2 cells at a time, measured now" in caplog.text  # 600 s of cells, two at a time
