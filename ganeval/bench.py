"""The bench: expand a BenchSpec into cells, train each cell's seeds (batched), evaluate, aggregate.

Resume rule: a seed-run with a valid ``metrics.json`` is done and skipped; any other seed-run
continues from the newest checkpoint its whole cell shares. Nothing here trusts a run folder whose
``config.json`` differs from what the spec now asks for: that is an error before any work starts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import platform
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ganeval import __version__, fileio
from ganeval.device import device_name, resolve_device
from ganeval.errors import RunFolderError, SpecError
from ganeval.evaluate import CONFIG_FILE, check_eval_inputs, evaluate_trainer, read_metrics, write_config
from ganeval.lock import FolderLock
from ganeval.progress import Progress
from ganeval.results import write_results
from ganeval.spec import BenchSpec, RunSpec
from ganeval.train.checkpoint import ensure_writable
from ganeval.train.trainer import CellTrainer

log = logging.getLogger(__name__)
SPEC_FILE = "spec.toml"
ENV_FILE = "env.json"


@dataclass
class BenchOutcome:
    out_dir: Path
    trained: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)
    wall_time_s: float = 0.0


def default_out_dir(spec: BenchSpec, root: Path = Path("runs")) -> Path:
    """``runs/bench-<hash>``: the same spec always maps to the same folder, so re-running the same
    command resumes it, and a different spec never lands on top of another's runs."""
    digest = hashlib.sha256(spec.to_toml().encode()).hexdigest()[:8]
    return root / f"bench-{digest}"


def run_dir_for(out_dir: Path, run: RunSpec, seed: int) -> Path:
    return Path(out_dir) / run.benchmark / run.cell_name / f"seed-{seed}"


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _git_dirty() -> bool | None:
    """Whether ganeval's own sources differ from that commit (a report must not claim a commit it
    did not run)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "."], cwd=here,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip()) if out.returncode == 0 else None


def environment(device: torch.device) -> dict[str, Any]:
    import numpy

    info: dict[str, Any] = {
        "ganeval": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "device": str(device),
        "device_name": device_name(device),
        "cpu_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "git_commit": _git_commit(),
        "git_dirty": _git_dirty(),
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        import torch_fidelity

        info["torch_fidelity"] = torch_fidelity.__version__
    except ImportError:  # pragma: no cover - a dependency, but the bench does not need it
        pass
    return info


def _existing_config(run_dir: Path) -> dict[str, Any] | None:
    try:
        return fileio.read_json(run_dir / CONFIG_FILE)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}


def check_run_folder(run_dir: Path, run: RunSpec, seed: int) -> None:
    """Refuse to resume a run folder trained with another configuration (or from another bench).

    Evaluation settings may differ: such a run is re-evaluated from its checkpoints, not retrained.
    """
    existing = _existing_config(run_dir)
    if existing is None:
        return
    wanted = {**run.train_config(), "seed": seed}
    have = {k: existing.get(k) for k in wanted} if existing else {}
    if have != wanted:
        changed = sorted(k for k in wanted if have.get(k) != wanted[k])
        raise RunFolderError(
            f"{run_dir} holds a run with a different configuration ({', '.join(changed) or 'unreadable'}); "
            "use another --out, or --no-resume to retrain it")


def preflight(spec: BenchSpec, out_dir: Path, resume: bool) -> None:
    """Check every run folder and every evaluation input before anything is written."""
    for run in spec.cells():
        check_eval_inputs(run)
    if resume:
        for run in spec.cells():
            for seed in spec.seeds:
                check_run_folder(run_dir_for(out_dir, run, seed), run, seed)


def _clear_run(run_dir: Path) -> None:
    for name in ("checkpoints", "eval"):
        shutil.rmtree(run_dir / name, ignore_errors=True)
    for name in ("metrics.json", "trace.csv", "events.json", "samples.png", CONFIG_FILE):
        (run_dir / name).unlink(missing_ok=True)


def run_cell(run: RunSpec, dirs: dict[int, Path], device: torch.device, resume: bool, batch_seeds: bool,
             progress: Progress) -> tuple[int, int]:
    """Train and evaluate the unfinished seed-runs of one cell (``dirs``: seed -> run folder).

    Returns (seed-runs trained, seed-runs already complete)."""
    todo = [s for s, d in dirs.items() if not (resume and read_metrics(d, run.eval_config()) is not None)]
    if not todo:
        return 0, len(dirs)
    for s in todo:
        if not resume:
            _clear_run(dirs[s])
        write_config(dirs[s], run, s)
    groups = [todo] if batch_seeds else [[s] for s in todo]
    for group in groups:
        trainer = CellTrainer(run, group, [dirs[s] for s in group], device)
        if resume:
            trainer.resume()
        curve = (lambda t=trainer: evaluate_trainer(t, final=False)) if run.eval_checkpoints else None
        trainer.train(on_steps=lambda n, k=len(group): progress.advance(n * k), on_checkpoint=curve)
        seeds = ", ".join(str(s) for s in group)
        progress.phase(f"evaluating {run.benchmark}/{run.cell_name} (seed {seeds})")
        evaluate_trainer(trainer)
    return len(todo), len(dirs) - len(todo)


def train_run(run: RunSpec, seed: int, run_dir: Path, device: str = "auto", resume: bool = True) -> dict[str, Any]:
    """One seed-run into ``run_dir`` (``ganeval train``); returns its metrics document."""
    torch_device = resolve_device(device)
    run_dir = Path(run_dir)
    ensure_writable(run_dir)
    with FolderLock(run_dir):
        if resume:
            check_run_folder(run_dir, run, seed)
        run_cell(run, {seed: run_dir}, torch_device, resume, True, Progress())
    doc = read_metrics(run_dir)
    assert doc is not None
    return doc


def _cell_summary(run: RunSpec, seeds: list[int], out_dir: Path) -> str:
    docs = [read_metrics(run_dir_for(out_dir, run, s)) for s in seeds]
    parts = []
    for key in ("modes_covered", "hq_rate", "kl"):
        vals = [d["metrics"].get(key) for d in docs if d and d["metrics"].get(key) is not None]
        if vals:
            parts.append(f"{key} {sum(vals) / len(vals):.3g}")
    return ", ".join(parts)


EXECUTORS = ("local", "ray")


def run_bench(spec: BenchSpec, out_dir: Path, resume: bool = True, progress: Progress | None = None,
              executor: str = "local", address: str | None = None) -> BenchOutcome:
    """Run every cell of ``spec`` into ``out_dir`` (resuming what is there), then aggregate.

    ``executor``: ``local`` runs the cells one after another in this process; ``ray`` runs each
    cell as a Ray task (``address``: a running cluster, else a local Ray). One bench per folder:
    a lock file stops a second one. A cell that runs out of memory is reported and the bench goes
    on (``outcome.failures``)."""
    if executor not in EXECUTORS:
        raise SpecError(f"unknown executor {executor!r}; use {' or '.join(EXECUTORS)}")
    progress = progress or Progress()
    spec.validate()
    device = resolve_device(spec.device) if executor == "local" else None
    if executor == "ray":
        from ganeval.ray_executor import _require_ray

        _require_ray()
    out_dir = Path(out_dir)
    ensure_writable(out_dir)
    with FolderLock(out_dir):
        preflight(spec, out_dir, resume)
        t0 = time.perf_counter()
        fileio.write_text(out_dir / SPEC_FILE, spec.to_toml())
        env = environment(device or resolve_device("auto" if spec.device == "auto" else spec.device))
        env["executor"] = executor
        fileio.write_json(out_dir / ENV_FILE, env)
        outcome = BenchOutcome(out_dir)
        cells = spec.cells()
        remaining = 0
        for run in cells:
            pending = [s for s in spec.seeds
                       if not (resume and read_metrics(run_dir_for(out_dir, run, s), run.eval_config()))]
            remaining += run.steps * len(pending)
        progress.start(remaining, len(cells))

        def done(run: RunSpec, trained: int, skipped: int, error: str | None) -> None:
            name = f"{run.benchmark}/{run.cell_name}"
            if error is not None:
                log.error("%s: %s", run.cell_key, error)
                outcome.failures.append(f"{run.cell_key}: {error}")
                progress.cell_done(name, f"FAILED: {error}")
                return
            outcome.trained += trained
            outcome.skipped += skipped
            progress.cell_done(name, ("skipped (done) — " if not trained else "") + _cell_summary(run, spec.seeds, out_dir))

        jobs = [(run, {seed: run_dir_for(out_dir, run, seed) for seed in spec.seeds}) for run in cells]
        try:
            if executor == "ray":
                from ganeval.ray_executor import run_cells

                for run, dirs in jobs:
                    if not resume:
                        for d in dirs.values():
                            _clear_run(d)
                run_cells(jobs, spec.device, resume, spec.batch_seeds, address, done)
            else:
                for run, dirs in jobs:
                    progress.cell_started(f"{run.benchmark}/{run.cell_name}", len(spec.seeds))
                    try:
                        trained, skipped = run_cell(run, dirs, device, resume, spec.batch_seeds, progress)
                    except torch.OutOfMemoryError as exc:
                        if device.type == "cuda":
                            torch.cuda.empty_cache()
                        done(run, 0, 0, f"out of memory ({str(exc).splitlines()[0]})")
                        continue
                    done(run, trained, skipped, None)
        finally:
            progress.close()
        outcome.wall_time_s = time.perf_counter() - t0
        env["wall_time_s"] = outcome.wall_time_s
        env["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        fileio.write_json(out_dir / ENV_FILE, env)
        write_results(out_dir)
    return outcome
