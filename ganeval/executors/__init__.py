"""Executors run a bench's cells: one interface (:class:`~ganeval.executors.base.Executor`),
looked up by name; ``local`` runs them here one after another, ``ray`` as tasks on a Ray cluster."""

from ganeval.executors import local, ray  # noqa: F401 - each registers itself
from ganeval.executors.base import (
    EXECUTORS,
    CellBody,
    CellJob,
    CellOutcome,
    Executor,
    Member,
    execute,
    get_executor,
    register_executor,
)

__all__ = ["EXECUTORS", "CellBody", "CellJob", "CellOutcome", "Executor", "Member", "execute", "get_executor", "register_executor"]
