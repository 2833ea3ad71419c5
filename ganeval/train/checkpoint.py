"""Per-seed checkpoints: ``checkpoints/step-<n>.pt`` plus a ``.sha256`` sidecar (names in :mod:`ganeval.rundir`).

A checkpoint holds everything the next step depends on: G and D weights, both optimiser states,
the step and the elapsed time. No RNG state is needed: ganeval's random streams are counter-based,
so the step is the data stream's position. Files load with ``weights_only=True`` only.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ganeval import fileio
from ganeval.errors import IntegrityError, RunFolderError
from ganeval.rundir import checkpoint_path, checkpoint_steps

log = logging.getLogger(__name__)
FORMAT = 1


def save(run_dir: Path, step: int, payload: dict[str, Any]) -> Path:
    path = checkpoint_path(run_dir, step)
    fileio.save_tensors(path, {"format": FORMAT, "step": step, **payload})
    return path


def load(run_dir: Path, step: int, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load and verify one checkpoint; a config mismatch is a RunFolderError (never resumed)."""
    path = checkpoint_path(run_dir, step)
    payload = fileio.load_tensors(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or payload.get("step") != step:
        raise IntegrityError(f"{path}: not a ganeval checkpoint of step {step}")
    if config is not None and payload.get("config") != config:
        raise RunFolderError(f"{path} was written by a run with a different configuration; "
                             "use another output folder or --no-resume")
    return payload


def latest(run_dir: Path, config: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The newest checkpoint that verifies, falling back past corrupt ones; None if there is none."""
    for step in reversed(checkpoint_steps(run_dir)):
        try:
            return load(run_dir, step, config)
        except IntegrityError as exc:
            log.warning("skipping corrupt checkpoint: %s", exc)
    return None
