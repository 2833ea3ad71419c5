"""The default executor: the cells one after another, in this process."""

from __future__ import annotations

from collections.abc import Sequence

from ganeval.executors.base import CellBody, CellJob, Executor, OnDone, execute, register_executor
from ganeval.progress import Progress


class LocalExecutor(Executor):
    name = "local"
    runs_here = True

    def __init__(self, address: str | None = None):
        if address is not None:
            from ganeval.errors import SpecError, arg, given

            raise SpecError(f"{arg('address')} only goes with {given('executor', 'ray')}")

    def run(self, jobs: Sequence[CellJob], body: CellBody, on_done: OnDone, progress: Progress) -> None:
        for job in jobs:
            on_done(job, execute(job, body, progress))


register_executor("local", LocalExecutor)
