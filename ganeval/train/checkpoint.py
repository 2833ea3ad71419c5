"""Per-seed checkpoints: ``checkpoints/step-<n>.pt`` plus a ``.sha256`` sidecar.

A checkpoint holds everything the next step depends on: G and D weights, both optimiser states,
the step and the elapsed time. No RNG state is needed: ganeval's random streams are counter-based,
so the step is the data stream's position. Files load with ``weights_only=True`` only.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from ganeval import fileio
from ganeval.errors import IntegrityError, RunFolderError

log = logging.getLogger(__name__)
FORMAT = 1
_NAME = re.compile(r"^step-(\d+)\.pt$")


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return checkpoint_dir(run_dir) / f"step-{step}.pt"


def list_steps(run_dir: Path) -> list[int]:
    """Steps that have a checkpoint file, ascending (validity is checked on load)."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _NAME.match(p.name)))


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


def valid_steps(run_dir: Path, config: dict[str, Any] | None = None) -> list[int]:
    """Steps whose checkpoint loads and verifies, ascending; corrupt ones are reported and skipped."""
    good = []
    for step in list_steps(run_dir):
        try:
            load(run_dir, step, config)
        except IntegrityError as exc:
            log.warning("skipping corrupt checkpoint: %s", exc)
            continue
        good.append(step)
    return good


def latest(run_dir: Path, config: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The newest checkpoint that verifies, falling back past corrupt ones; None if there is none."""
    for step in reversed(list_steps(run_dir)):
        try:
            return load(run_dir, step, config)
        except IntegrityError as exc:
            log.warning("skipping corrupt checkpoint: %s", exc)
    return None


def ensure_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".ganeval-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise RunFolderError(f"cannot write to {folder}: {exc.strerror or exc}") from None
