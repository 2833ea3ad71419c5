"""The executor interface: cells in, one outcome per cell out through one callback.

Every executor runs a cell through :func:`execute`, so they all report progress and failures the
same way: a cell that raises (out of memory included, on CPU or GPU) is reported as failed with
one line and the bench goes on; nothing is retried inside a process (ganeval is deterministic: a
cell that failed once fails again). What an executor may add is retrying a cell whose *worker
died* (Ray does, up to :data:`WORKER_RETRIES` times), from the files the bench folder holds.
Folders are cleared (``--no-resume``) by the bench before any executor sees them.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ganeval.errors import GanevalError, SpecError, StorageError, arg
from ganeval.progress import Progress
from ganeval.registry import Registry
from ganeval.spec import CellId

log = logging.getLogger(__name__)
WORKER_RETRIES = 3


@dataclass
class Member:
    """One member of a cell: a seed under its own resolved settings, and its run folder."""

    run: object  # RunSpec
    seed: int
    dir: Path


@dataclass
class CellJob:
    """One cell to run: its members (seeds, or a study's (setting, seed) pairs whose settings differ
    only where a batched model allows) and each member's run folder."""

    members: list[Member]
    resume: bool = True
    batch_seeds: bool = True
    device: str = "auto"  # resolved where the cell runs, not where it is submitted
    #: the bench's plugins as :func:`ganeval.plugins.shipped` packs them, for cells run in another process
    plugins: list = field(default_factory=list)

    @property
    def run(self):
        """The settings every member shares (the first member's; others differ in batchable ones only)."""
        return self.members[0].run

    @property
    def cell(self) -> CellId:
        """The cell, with its setting when every member trains the same one."""
        cells = {CellId.of(m.run) for m in self.members}
        return cells.pop() if len(cells) == 1 else CellId.of(self.run).base

    @property
    def name(self) -> str:
        """How progress and failures name the job: the cell's key, and how many settings it batches."""
        settings = len({CellId.of(m.run) for m in self.members})
        return self.cell.key + (f" ({settings} settings)" if settings > 1 else "")

    @property
    def dirs(self) -> list[Path]:
        return [m.dir for m in self.members]

    def incomplete(self) -> list[Member]:
        """The members whose run folder lacks a complete ``metrics.json`` (for these settings)."""
        from ganeval import rundir

        return [m for m in self.members if not rundir.is_complete(m.dir, m.run.eval_config())]

    def pending(self) -> list[Member]:
        """The members this run trains or evaluates: the incomplete ones, or all without resume."""
        return self.incomplete() if self.resume else list(self.members)


@dataclass
class CellOutcome:
    trained: int = 0  # seed-runs trained (and evaluated) now
    skipped: int = 0  # seed-runs that were already complete
    device: str | None = None  # where the cell ran
    error: str | None = None  # one line, when the cell failed


#: The work of one cell; ``ganeval.runner.run_cell`` in a bench. Must be picklable for remote executors.
CellBody = Callable[[CellJob, Progress], CellOutcome]
OnDone = Callable[[CellJob, CellOutcome], None]


def describe(exc: BaseException) -> str:
    """One line for a failed cell."""
    import torch

    from ganeval.usercode import describe as describe_user, safe_text

    if not isinstance(exc, Exception):  # sys.exit, os._exit, GeneratorExit, a BaseException subclass: user code's
        return f"user code {describe_user(exc)} during the cell"
    text = safe_text(exc).strip()
    # torch raises OutOfMemoryError on a GPU, a RuntimeError ("DefaultCPUAllocator: not enough memory") on a CPU
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)) or any(
            s in text.lower() for s in ("out of memory", "not enough memory")):
        return f"out of memory ({text.splitlines()[0] if text else type(exc).__name__})"
    if isinstance(exc, GanevalError):
        return text
    last = text.splitlines()[-1] if text else ""
    return f"{type(exc).__name__}: {last}" + " (run with -v for the traceback)"


def execute(job: CellJob, body: CellBody, progress: Progress) -> CellOutcome:
    """Run ``body`` on ``job``, turning any exception into a failed outcome (see the module doc).

    Whatever user code in the cell does — raise, ``sys.exit(0)``, ``os._exit(0)`` under
    :func:`ganeval.usercode.contained`, a ``BaseException`` subclass — fails the cell in one line;
    only Ctrl-C (and SIGTERM / SIGHUP) stop the bench. A body that returns without every seed-run's
    ``metrics.json`` in place failed too: a seed-run without one is never counted as done."""
    from ganeval.interrupts import check

    check()  # between cells too
    progress.cell_started(job.name, len(job.members))
    try:
        outcome = body(job, progress)
        missing = job.incomplete() if outcome.error is None else []
        if missing:
            return CellOutcome(device=outcome.device, error=f"seed-run {missing[0].dir} ended without metrics.json")
        return outcome
    except (StorageError, KeyboardInterrupt):  # the disk is full (every cell would fail alike), Ctrl-C: stop
        raise
    except BaseException as exc:  # noqa: BLE001 - every other failure of one cell is that cell's, not the bench's
        log.info("cell %s failed", job.name, exc_info=True)  # -v shows the traceback
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001 - cleaning up must not hide the failure
            pass
        return CellOutcome(error=describe(exc))


class Executor(ABC):
    """Runs cells and calls ``on_done(job, outcome)`` in the calling process as each one ends."""

    name: str
    #: whether cells run on this machine (so its device must be checked here before anything runs)
    runs_here: bool = False
    #: whether cells may run in other processes, which then need the bench's plugins shipped (:func:`ganeval.plugins.shipped`)
    ships_plugins: bool = True

    @abstractmethod
    def run(self, jobs: Sequence[CellJob], body: CellBody, on_done: OnDone, progress: Progress) -> None:
        """Run every job; never raises for one cell's failure (that is an outcome with ``error``)."""

    def cell_threads(self, jobs: Sequence[CellJob]) -> int | None:
        """The torch threads each cell of a bench of ``jobs`` trains on, where the executor fixes it
        (recorded in ``env.json``); None where it cannot say."""
        return None

    def cells_at_once(self, jobs: Sequence[CellJob]) -> int:
        """How many of ``jobs``' cells train at the same time on this machine (for the time estimate)."""
        return 1


EXECUTORS: Registry[Callable[..., Executor]] = Registry("executor")


def register_executor(name: str, factory: Callable[..., Executor]) -> None:
    """Make an executor available by name (``--executor NAME``); ``factory(address=...)`` returns an
    :class:`Executor`, which must run each cell through :func:`execute`."""
    if not callable(factory):
        raise TypeError(f"executor {name!r}: the factory must be callable")
    EXECUTORS.register(name, factory)


def get_executor(name: str, address: str | None = None, workers: int | str | None = None) -> Executor:
    """The executor called ``name``; ``address`` is a cluster to connect to, ``workers`` how many
    local worker processes (``auto``: one per core), where each applies."""
    factory = EXECUTORS.get(name)
    if workers is None:
        return factory(address=address)
    if name != "local":
        raise SpecError(f"{arg('workers')} go with the local executor (executor {name} sets its own parallelism)")
    return factory(address=address, workers=workers)
