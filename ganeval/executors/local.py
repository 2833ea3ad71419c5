"""The default executor: the cells on this machine, one after another in this process, or side by
side in worker processes (``workers``), each with its share of the CPU threads.

Why processes: a cell's step on a CPU is bound by per-operation overhead, which a second thread
barely shortens, so two cells on two single-threaded workers train more seed-steps than one cell
on two threads (``benchmarks/perf_levers.py``). What it changes: a cell trains on its share of
the threads (:meth:`LocalExecutor.plan`). The MLP benchmarks' step gives the same bits on one
thread as on two (tested), so their numbers are identical with any ``workers``; a convolution's
last bits can depend on the thread count, as on another machine, so the plan never depends on
how many cells are left (a resumed bench trains each cell on the threads it started with), and
``env.json`` records it.

Workers are started fresh (``spawn``: no copy of this process's threads or CUDA state) and load
the bench's plugins as shipped (hash-checked), like Ray workers. They write the run folders
directly, so layout, atomic writes and resume rules are the in-process ones. They ignore Ctrl-C:
the bench process stops them (SIGTERM ends a worker at once), removes the temporary files their
writes left, and re-raises; they die with it if it is killed outright. A stopped or killed worker
leaves what a killed bench leaves, finished files and checkpoints, which the same command resumes.
"""

from __future__ import annotations

import logging
import os
import queue as queue_module
import signal
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ganeval.errors import SpecError, arg, given
from ganeval.executors.base import (
    WORKER_RETRIES,
    CellBody,
    CellJob,
    CellOutcome,
    Executor,
    OnDone,
    describe,
    execute,
    register_executor,
)
from ganeval.interrupts import check
from ganeval.progress import Progress, QueueProgress, replay

log = logging.getLogger(__name__)

#: ``workers="auto"``: one worker per CPU core (at most one per cell of the bench) on a CPU, one on a GPU
AUTO = "auto"


def parse_workers(value: int | str | None) -> int | str:
    """``auto`` or a whole number >= 1 (a flag's text, an int); one clear error otherwise."""
    if value is None:
        return 1
    if isinstance(value, str):
        text = value.strip().lower()
        if text == AUTO:
            return AUTO
        if text.isdigit() and int(text) >= 1:
            return int(text)
    elif isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise SpecError(f"{arg('workers')} must be 'auto' or a whole number >= 1, got {value!r}")


def cpu_cores() -> int:
    """Cores this process may run on (its affinity mask, e.g. a container's share), else all."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


class LocalExecutor(Executor):
    name = "local"
    runs_here = True

    def __init__(self, address: str | None = None, workers: int | str = 1):
        if address is not None:
            raise SpecError(f"{arg('address')} only goes with {given('executor', 'ray')}")
        self.workers = parse_workers(workers)

    @property
    def ships_plugins(self) -> bool:  # type: ignore[override]
        """Whether cells may run in worker processes, which need the bench's plugins."""
        return self.workers != 1

    def plan(self, jobs: Sequence[CellJob]) -> tuple[int, int]:
        """(worker processes, torch threads per cell) for a bench of these ``jobs`` (all its cells,
        finished ones included); 0 workers: in this process, on all its threads.

        ``auto`` uses processes on a CPU only: one per core, at most one per cell. The threads a
        cell trains on depend on this plan alone, never on how many cells are still to run, so a
        resumed bench computes with the thread count the interrupted one did (a convolution's last
        bits can depend on it)."""
        import torch

        if not jobs:
            return 0, torch.get_num_threads()
        wanted = self.workers if self.workers != AUTO else (cpu_cores() if _device_type(jobs[0].device) == "cpu" else 1)
        workers = min(int(wanted), len(jobs))
        if workers <= 1:
            return 0, torch.get_num_threads()
        return workers, max(1, torch.get_num_threads() // workers)

    def cell_threads(self, jobs: Sequence[CellJob]) -> int:
        return self.plan(jobs)[1]

    def cells_at_once(self, jobs: Sequence[CellJob]) -> int:
        pending = sum(1 for job in jobs if job.pending())
        return max(1, min(self.plan(jobs)[0], pending))

    def run(self, jobs: Sequence[CellJob], body: CellBody, on_done: OnDone, progress: Progress) -> None:
        workers, threads = self.plan(jobs)
        pending = [job for job in jobs if job.pending()] if workers else []
        todo = {id(job) for job in pending}
        for job in jobs:  # in this process: every cell, or (with workers) the finished ones, said at once
            if id(job) not in todo:
                on_done(job, execute(job, body, progress))
        if pending:
            log.info("running %d cells on %d worker processes of %d thread(s) each", len(pending),
                     min(workers, len(pending)), threads)
            run_in_workers(pending, body, on_done, progress, min(workers, len(pending)), threads)


def _device_type(requested: str) -> str:
    """What a cell's device request comes to, without raising here (the cell reports a bad one)."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested.split(":")[0]


def _cost(job: CellJob) -> float:
    """Roughly how long a cell trains: its steps, critic steps and members (longest cells start first,
    so the last cell to finish is a short one)."""
    run = job.run
    return run.steps * (run.n_critic + run.g_steps) * len(job.members)


def run_in_workers(jobs: Sequence[CellJob], body: CellBody, on_done: OnDone, progress: Progress,
                   workers: int, threads: int) -> None:
    """Run ``jobs`` on ``workers`` spawned processes; ``on_done`` is called here as each ends.

    Each worker is a pool of one, so a worker that dies (killed, out of memory) takes only its own
    cell with it: that cell starts again on a fresh worker from its files (it resumes), up to
    ``WORKER_RETRIES`` times; then it fails in one line, and the other cells go on regardless."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    waiting = deque(sorted(range(len(jobs)), key=lambda i: _cost(jobs[i]), reverse=True))
    attempts = [0] * len(jobs)
    slots: list[ProcessPoolExecutor | None] = [None] * workers
    running: dict[Future, tuple[int, int]] = {}  # future -> (slot, job index)
    finished = False
    try:
        while waiting or running:
            busy = {slot for slot, _ in running.values()}
            for slot in range(workers):
                if waiting and slot not in busy:
                    if slots[slot] is None:
                        slots[slot] = ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_start_worker,
                                                          initargs=(threads, messages, os.getpid()))
                    i = waiting.popleft()
                    running[slots[slot].submit(_run_cell, jobs[i], body)] = (slot, i)
            done, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
            check()  # an interruption Python swallowed in a finalizer stops the workers here
            _drain(messages, progress)
            for future in done:
                slot, i = running.pop(future)
                try:
                    outcome = future.result()
                except BrokenProcessPool:  # this cell's worker died, perhaps mid-write
                    slots[slot].shutdown(wait=False)
                    slots[slot] = None
                    _clean(jobs[i])
                    attempts[i] += 1
                    if attempts[i] <= WORKER_RETRIES:
                        log.warning("%s: its worker process died; starting it again from its files", jobs[i].name)
                        waiting.appendleft(i)
                        continue
                    outcome = CellOutcome(error=f"its worker process died (killed, or out of memory) {attempts[i]} "
                                                "times; re-run the same command to resume it")
                except Exception as exc:  # noqa: BLE001 - e.g. a job that cannot be sent to a worker
                    outcome = CellOutcome(error=describe(exc))
                on_done(jobs[i], outcome)
        finished = True
    finally:  # done, or Ctrl-C, SIGTERM, a failure here: stop the workers now, not after their cells
        for pool in slots:
            if pool is not None:
                _stop(pool)
        if not finished:  # the stopped workers' half-done writes (this process holds the bench's lock)
            for job in jobs:
                _clean(job)
        _drain(messages, progress)


def _clean(job: CellJob) -> None:
    from ganeval.rundir import clean_stray_temp

    for folder in job.dirs:
        if folder.is_dir():
            clean_stray_temp(folder)


def _drain(messages, progress: Progress) -> None:
    while True:
        try:
            replay(messages.get_nowait(), progress)
        except (queue_module.Empty, OSError, ValueError):
            return


def _stop(pool: ProcessPoolExecutor) -> None:
    processes = list(getattr(pool, "_processes", {}).values())  # the pool offers no public way to kill them
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


# --- in the worker process ------------------------------------------------------------------------
_progress: QueueProgress | None = None


def _start_worker(threads: int, messages, parent: int) -> None:
    """Each worker: its threads, no Ctrl-C of its own and an immediate end on SIGTERM (the bench
    process stops it, then removes what its writes left half done), death with the bench process."""
    global _progress
    import torch

    torch.set_num_threads(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    _die_with(parent)
    _progress = QueueProgress(messages)


def _die_with(parent: int) -> None:
    """End this worker as soon as the bench process is gone (kill -9 included), so no orphan goes on
    writing into a bench folder that a new run of the same command now owns."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass

    def watch() -> None:  # elsewhere, and if the parent died before prctl took effect
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="ganeval-parent-watch", daemon=True).start()


def _run_cell(job: CellJob, body: CellBody) -> CellOutcome:
    from ganeval.errors import GanevalError
    from ganeval.plugins import load_shipped

    assert _progress is not None
    try:  # the bench's losses, stabilizers, ... registered in this worker too
        load_shipped(job.plugins)
    except GanevalError as exc:
        return CellOutcome(error=str(exc))
    outcome = execute(job, body, _progress)
    _progress.flush()
    return outcome


register_executor("local", LocalExecutor)
