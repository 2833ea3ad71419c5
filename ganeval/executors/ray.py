"""Scale-out on Ray: each cell of a bench is one Ray task (optional: ``pip install ganeval[ray]``).

A task runs the cell through the same :func:`~ganeval.executors.base.execute` as the local
executor, in a scratch folder on whatever node runs it, and returns the files it wrote or
changed; the driver writes them into the bench folder (``metrics.json`` last, each file
atomically), so layout, resume rules and results are those of the local executor, with or without
a shared file system. The driver reads a cell's files only when it submits that cell, and only
what resuming needs (small files and the newest checkpoint every seed has), and keeps at most as
many cells in flight as the cluster has CPUs. Progress streams back through a Ray queue. A task
whose worker died is retried up to ``WORKER_RETRIES`` times from the driver's files. The device
(``auto``, ``cuda``) is resolved inside each task, so a CPU-only head node can drive GPU workers.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ganeval import rundir
from ganeval.errors import DeviceError, GanevalError, SpecError, given
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
from ganeval.progress import Progress, QueueProgress, replay

log = logging.getLogger(__name__)
#: torch threads per task: a task asks Ray for one CPU
TASK_THREADS = 1


def require_ray():
    try:
        import ray
    except ImportError:
        raise SpecError(f"{given('executor', 'ray')} needs Ray: pip install 'ganeval[ray]'") from None
    return ray


def cell_task(job: CellJob, files: dict[str, bytes], body: CellBody, queue, threads: int
              ) -> tuple[CellOutcome, dict[str, bytes]]:
    """Body of one Ray task: (the cell's outcome, the files it wrote or changed, relative to the cell)."""
    import torch

    from ganeval.plugins import load_shipped

    torch.set_num_threads(threads)
    progress = QueueProgress(queue)
    with tempfile.TemporaryDirectory(prefix="ganeval-cell-") as tmp:
        root = Path(tmp)
        rundir.write_tree(root, files)
        base = job_root(job)
        local = dataclasses.replace(job, members=[dataclasses.replace(m, dir=root / m.dir.relative_to(base))
                                                  for m in job.members])
        try:  # the bench's losses, stabilizers, ... registered in this worker too
            load_shipped(job.plugins)
        except GanevalError as exc:
            return CellOutcome(error=str(exc)), {}
        outcome = execute(local, body, progress)
        progress.flush()
        written = {rel: data for rel, data in rundir.read_tree(root).items() if files.get(rel) != data}
    return outcome, written


def job_root(job: CellJob) -> Path:
    """The folder every member's run folder lies in (files travel relative to it)."""
    return Path(os.path.commonpath([str(m.dir) for m in job.members])) if len(job.members) > 1 \
        else job.members[0].dir.parent


def cell_files(job: CellJob) -> dict[str, bytes]:
    """What the task needs to resume the cell: ``{member folder relative to the job's root/path: bytes}``."""
    if not job.resume:
        return {}
    common = None
    for d in job.dirs:
        steps = set(rundir.checkpoint_steps(d))
        common = steps if common is None else common & steps
    step = max(common) if common else None
    root = job_root(job)
    return {f"{d.relative_to(root).as_posix()}/{rel}": data
            for d in job.dirs for rel, data in rundir.resume_files(d, step).items()}


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, address: str | None = None):
        self.address = address
        require_ray()

    def connect(self):
        """Connect to ``address`` (a running cluster), or reuse the current session, or start a local one."""
        ray = require_ray()
        if ray.is_initialized():
            return ray
        try:
            if self.address:
                ray.init(address=self.address, logging_level=logging.WARNING, log_to_driver=False)
            else:
                ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level=logging.WARNING,
                         log_to_driver=False)
        except Exception as exc:  # noqa: BLE001 - Ray raises many kinds; all mean "no cluster here"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise GanevalError(f"cannot start or reach Ray{f' at {self.address}' if self.address else ''}: {first}") \
                from None
        return ray

    def cell_threads(self, jobs: Sequence[CellJob]) -> int:
        return TASK_THREADS

    def run(self, jobs: Sequence[CellJob], body: CellBody, on_done: OnDone, progress: Progress) -> None:
        ray = self.connect()
        from ray.util.queue import Queue

        resources = ray.cluster_resources()
        gpus = resources.get("GPU", 0)
        if gpus == 0 and any(j.device == "cuda" for j in jobs):  # a task asking for one would wait forever
            raise DeviceError(f"{given('device', 'cuda')} was asked for, but the Ray cluster has no GPU")
        wants_gpu = any(j.device == "cuda" or (j.device == "auto" and gpus > 0) for j in jobs)
        remote = ray.remote(num_cpus=1, num_gpus=1 if wants_gpu else 0, max_retries=WORKER_RETRIES)(cell_task)
        limit = max(1, int(resources.get("GPU" if wants_gpu else "CPU", 1)))
        queue = Queue(actor_options={"num_cpus": 0})
        waiting, pending = list(jobs), {}
        try:
            while waiting or pending:
                while waiting and len(pending) < limit:
                    job = waiting.pop(0)
                    pending[remote.remote(job, cell_files(job), body, queue, TASK_THREADS)] = job
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                self._forward(queue, progress)
                for ref in ready:
                    job = pending.pop(ref)
                    try:
                        outcome, files = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - a task that failed after its retries
                        outcome, files = CellOutcome(error=describe(exc)), {}
                    rundir.write_tree(job_root(job), files)
                    on_done(job, outcome)
        finally:
            self._forward(queue, progress)
            ray.kill(queue.actor)

    @staticmethod
    def _forward(queue, progress: Progress) -> None:
        while not queue.empty():
            replay(queue.get_nowait(), progress)


register_executor("ray", RayExecutor)
