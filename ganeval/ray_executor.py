"""Scale-out on Ray: each cell of a bench is one Ray task.

A task trains and evaluates its cell in a scratch folder on whatever node runs it and returns
every file it wrote; the driver writes them into the bench folder (``metrics.json`` last, each
file atomically), so the run-folder layout, the resume rules and the results are the same as with
the local executor, with or without a shared file system. A task starts from the files the driver
already has for its cell (checkpoints included), so a bench interrupted under one executor resumes
under the other. Ray retries a task whose worker died; it then restarts from the driver's files.

Optional: ``pip install ganeval[ray]``.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from ganeval import fileio
from ganeval.errors import GanevalError, SpecError
from ganeval.evaluate import METRICS_FILE

log = logging.getLogger(__name__)
#: Test hook: if set to a path that does not exist yet, the first task creates it and kills its own
#: worker process half-way through training (to test that Ray retries the cell).
CHAOS_ENV = "GANEVAL_RAY_CHAOS_MARKER"


def _require_ray():
    try:
        import ray
    except ImportError:
        raise SpecError("--executor ray needs Ray: pip install 'ganeval[ray]'") from None
    return ray


def init_ray(address: str | None):
    """Connect to ``address`` (a running cluster), or reuse the current session, or start a local one."""
    ray = _require_ray()
    if ray.is_initialized():
        return ray
    try:
        if address:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        else:
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level=logging.WARNING,
                     log_to_driver=False)
    except Exception as exc:  # noqa: BLE001 - Ray raises many kinds; all mean "no cluster here"
        raise GanevalError(f"cannot start or reach Ray{f' at {address}' if address else ''}: "
                           f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from None
    return ray


def read_tree(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` as ``{relative path: bytes}`` (lock and temporary files excluded)."""
    out = {}
    for path in sorted(Path(root).rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            out[str(path.relative_to(root))] = path.read_bytes()
    return out


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    """Write files atomically; each seed's ``metrics.json`` (its completion mark) goes last."""
    ordered = sorted(files, key=lambda rel: (Path(rel).name == METRICS_FILE, rel))
    for rel in ordered:
        fileio.write_bytes(Path(root) / rel, files[rel])


def cell_task(run_dict: dict[str, Any], seeds: list[int], files: dict[str, bytes], device: str, resume: bool,
              batch_seeds: bool, threads: int) -> tuple[dict[str, bytes], int, int]:
    """Body of one Ray task: returns (files written, seed-runs trained, seed-runs already done)."""
    import torch

    from ganeval.bench import run_cell
    from ganeval.device import resolve_device
    from ganeval.progress import Progress
    from ganeval.spec import RunSpec

    torch.set_num_threads(threads)
    run = RunSpec(**run_dict)
    progress = Progress()
    marker = os.environ.get(CHAOS_ENV)
    if marker and not os.path.exists(marker):
        class Chaos(Progress):
            def advance(self, seed_steps: int) -> None:
                Path(marker).write_text("died once")
                os._exit(1)  # a worker dying mid-cell

        progress = Chaos()
    with tempfile.TemporaryDirectory(prefix="ganeval-cell-") as tmp:
        root = Path(tmp)
        write_tree(root, files)
        dirs = {s: root / f"seed-{s}" for s in seeds}
        trained, skipped = run_cell(run, dirs, resolve_device(device), resume, batch_seeds, progress)
        return read_tree(root), trained, skipped


def run_cells(jobs: list[tuple[Any, dict[int, Path]]], device: str, resume: bool, batch_seeds: bool,
              address: str | None, on_done) -> None:
    """Run ``jobs`` = [(RunSpec, {seed: run folder})] as Ray tasks; ``on_done(run, trained, skipped,
    error)`` is called in the driver as each finishes."""
    ray = init_ray(address)
    resources = ray.cluster_resources()
    gpus = 1 if device == "cuda" or (device == "auto" and resources.get("GPU", 0) > 0) else 0
    cpus = 1
    remote = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=3)(cell_task)
    pending = {}
    for run, dirs in jobs:
        cell_root = next(iter(dirs.values())).parent
        files = read_tree(cell_root) if resume else {}
        ref = remote.remote(run.to_dict(), list(dirs), files, device, resume, batch_seeds, cpus)
        pending[ref] = (run, cell_root)
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        run, cell_root = pending.pop(done[0])
        try:
            files, trained, skipped = ray.get(done[0])
        except Exception as exc:  # noqa: BLE001 - a task that failed after its retries
            on_done(run, 0, 0, f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}")
            continue
        write_tree(cell_root, files)
        on_done(run, trained, skipped, None)
