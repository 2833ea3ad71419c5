"""The bench: expand a BenchSpec into cells, hand them to an executor, aggregate what they wrote.

Resume rule: a seed-run with a valid ``metrics.json`` is done and skipped; any other seed-run
continues from the newest checkpoint its whole cell shares. Nothing here trusts a run folder whose
``config.json`` differs from what the spec now asks for: that is an error before any work starts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import platform
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ganeval import __version__, rundir
from ganeval.device import device_name, resolve_device
from ganeval.errors import RunFolderError, arg, given
from ganeval.executors import CellJob, CellOutcome, Member, get_executor
from ganeval.progress import Progress
from ganeval.spec import BenchSpec, CellId, RunSpec, with_new_defaults

log = logging.getLogger(__name__)


@dataclass
class BenchOutcome:
    out_dir: Path
    trained: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)
    wall_time_s: float = 0.0


def bench_out_dir(spec: BenchSpec, spec_file: Path | None = None) -> Path:
    """Where a bench goes when no folder is named: the bench folder whose own ``spec.toml`` is
    being re-run (so it resumes there), else :func:`default_out_dir`."""
    if spec_file is not None and Path(spec_file).name == rundir.SPEC_FILE \
            and (Path(spec_file).parent / rundir.ENV_FILE).is_file():
        return Path(spec_file).parent
    return default_out_dir(spec)


def default_out_dir(spec: BenchSpec, root: Path = Path("runs")) -> Path:
    """``runs/bench-<hash>``: the same spec always maps to the same folder, so re-running the same
    command resumes it, and a different spec never lands on top of another's runs. A search's
    trial count is not part of the hash: re-running with more ``--trials`` extends the same study
    (its first trials are the same settings, already trained)."""
    import dataclasses

    keyed = dataclasses.replace(spec, search={k: v for k, v in spec.search.items() if k != "trials"})
    digest = hashlib.sha256(keyed.to_toml().encode()).hexdigest()[:8]
    return root / f"bench-{digest}"


def _git(*args: str) -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def environment(device: torch.device | None, requested: str) -> dict[str, Any]:
    """What ``env.json`` records. ``device`` is None when the cells run elsewhere (Ray): the
    request is recorded, and each cell's actual device is added as it finishes."""
    import numpy

    status = _git("status", "--porcelain", "--untracked-files=no", "--", ".")
    info: dict[str, Any] = {
        "ganeval": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "device": str(device) if device is not None else requested,
        "device_name": device_name(device) if device is not None else f"resolved on each worker ({requested})",
        "cpu_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "git_commit": _git("rev-parse", "HEAD") or None,
        # whether ganeval's own sources differ from that commit (a report must not claim a commit it did not run)
        "git_dirty": bool(status) if status is not None else None,
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        import torch_fidelity

        info["torch_fidelity"] = torch_fidelity.__version__
    except ImportError:  # pragma: no cover - a dependency, but the bench does not need it
        pass
    return info


def check_run_folder(run_dir: Path, run: RunSpec, seed: int) -> None:
    """Refuse to resume a run folder trained with another configuration (or from another bench).

    Evaluation settings may differ: such a run is re-evaluated from its checkpoints, not retrained.
    """
    existing = rundir.read_raw_config(run_dir)
    if existing is None:
        return
    wanted = {**run.train_config(), "seed": seed}
    existing = with_new_defaults(existing) if isinstance(existing, dict) and existing else {}
    have = {k: existing.get(k) for k in wanted} if existing else {}
    if have != wanted:
        changed = sorted(k for k in wanted if have.get(k) != wanted[k])
        raise RunFolderError(
            f"{run_dir} holds a run with a different configuration ({', '.join(changed) or 'unreadable'}); "
            f"use another {arg('out')}, or {given('resume', False)} to retrain it")


def jobs_for(spec: BenchSpec, out_dir: Path, resume: bool, ship_plugins: bool = False) -> list[CellJob]:
    """One job per batched cell: each grid cell's runs (one per study setting, or one) over the
    seeds, runs that differ only in batchable settings sharing a job as members
    (:mod:`ganeval.train.members`); ``ship_plugins``: the cells run in other processes, which need
    the plugins."""
    from ganeval.plugins import shipped
    from ganeval.train.members import group_runs

    plugins = shipped(spec.plugins, spec.benchmarks) if ship_plugins else []
    runs = spec.runs()
    by_cell: dict[CellId, list[RunSpec]] = {}
    for run in runs:
        by_cell.setdefault(CellId.of(run).base, []).append(run)
    jobs, folders = [], {}
    for cell_runs in by_cell.values():
        for group in group_runs(cell_runs):
            members = []
            for i in group:
                cell = CellId.of(cell_runs[i])
                folder = rundir.run_dir(out_dir, cell, spec.seeds[0]).parent
                if folders.setdefault(folder, cell) != cell:  # e.g. a loss named like another's setting folder
                    raise RunFolderError(f"{folders[folder].key} and {cell.key} would share the folder {folder}")
                members += [Member(cell_runs[i], s, rundir.seed_dir(folder, s)) for s in spec.seeds]
            jobs.append(CellJob(members, resume, spec.batch_seeds, spec.device, plugins))
    return jobs


def preflight(jobs: list[CellJob], device: torch.device | None = None) -> None:
    """Check every evaluation input, model, run folder and (on ``device``, where the cells run
    here) every cell's memory before anything is written."""
    from ganeval.feasibility import check_memory, check_model
    from ganeval.scoring import check_inputs

    for job in jobs:
        check_model(job.run)
        check_inputs(job.run)
    if device is not None:
        for job in jobs:
            pending = job.pending()
            if pending:
                check_memory(job.run, len(pending) if job.batch_seeds else 1, device)
    for job in jobs:
        if job.resume:
            for m in job.members:
                check_run_folder(m.dir, m.run, m.seed)


def run_cell(job: CellJob, progress: Progress) -> CellOutcome:
    """Train and evaluate the unfinished members of one cell: the body every executor runs."""
    from ganeval.evaluate import evaluate_generators
    from ganeval.train.trainer import CellTrainer

    run = job.run
    device = resolve_device(job.device)
    todo = job.pending()
    if not todo:
        return CellOutcome(trained=0, skipped=len(job.members), device=str(device))
    for m in todo:
        rundir.write_config(m.dir, m.run, m.seed)
    for group in [todo] if job.batch_seeds else [[m] for m in todo]:
        runs, seeds, dirs = [m.run for m in group], [m.seed for m in group], [m.dir for m in group]
        trainer = CellTrainer(runs, seeds, dirs, device)
        if job.resume:
            trainer.resume()
            if run.eval_checkpoints:
                _recompute_lost_evals(runs, seeds, dirs, trainer.step, device)
        curve = (lambda t=trainer, g=dirs: evaluate_generators(t.generators(), g, final=False)) \
            if run.eval_checkpoints else None
        trainer.train(on_steps=lambda n, k=len(group): _advance(progress, n * k), on_checkpoint=curve)
        progress.phase(f"evaluating {job.name} ({_members_text(group)})")
        evaluate_generators(trainer.generators(), dirs)
    return CellOutcome(trained=len(todo), skipped=len(job.members) - len(todo), device=str(device))


def _advance(progress: Progress, seed_steps: int) -> None:
    from ganeval.interrupts import check

    check()  # an interruption Python swallowed in a finalizer stops the cell here
    progress.advance(seed_steps)


def _members_text(members: list[Member]) -> str:
    settings = len({CellId.of(m.run) for m in members})
    seeds = ", ".join(map(str, dict.fromkeys(m.seed for m in members)))
    return f"seed {seeds}" if settings == 1 else f"{settings} settings x seed {seeds}"


def _recompute_lost_evals(runs: list[RunSpec], seeds: list[int], dirs: list[Path], upto: int,
                          device: torch.device) -> None:
    """Checkpoint evaluations a kill lost (it struck between a checkpoint and its evaluation),
    recomputed from those checkpoints with the members batched as in training, so a resumed run has
    exactly the evaluations an uninterrupted one has."""
    from ganeval.evaluate import evaluate_generators
    from ganeval.train.trainer import CellTrainer

    run = runs[0]
    done = [{step for step, _ in rundir.read_evals(d, run.eval_config())} for d in dirs]
    common = set.intersection(*(set(rundir.checkpoint_steps(d)) for d in dirs))
    for step in sorted(t for t in common if t <= upto and t < run.steps and not all(t in d for d in done)):
        log.info("recomputing the evaluation of step %d that an interrupted run lost", step)
        trainer = CellTrainer(runs, seeds, dirs, device)
        trainer.load_payloads([rundir.load_checkpoint(d, step, r.train_config()) for d, r in zip(dirs, runs)])
        evaluate_generators(trainer.generators(), dirs, final=False)


def train_run(run: RunSpec, seed: int, run_dir: Path, device: str = "auto", resume: bool = True) -> dict[str, Any]:
    """One seed-run into ``run_dir`` (``ganeval train``); returns its metrics document."""
    resolve_device(device)
    run_dir = Path(run_dir)
    job = CellJob([Member(run, seed, run_dir)], resume, True, device)
    bench_dir = rundir.enclosing_bench(run_dir)
    with contextlib.ExitStack() as locks:
        locks.enter_context(rundir.new_folder_unless_valid(run_dir, allow_run=True))
        if bench_dir is not None:  # a run folder of a bench: no bench may write it meanwhile
            locks.enter_context(rundir.folder_lock(bench_dir))
        locks.enter_context(rundir.folder_lock(run_dir))
        rundir.clean_stray_temp(run_dir)
        preflight([job], resolve_device(device))
        if not resume:
            rundir.clear_run(run_dir)
        run_cell(job, Progress())
    doc = rundir.read_metrics(run_dir)
    assert doc is not None
    return doc


def _announce_large_grid(jobs: list[CellJob], device: torch.device, threads: int | None = None,
                         side_by_side: int = 1) -> None:
    """Before a large grid starts: how long it will take at the rate measured here, now, with each
    cell on ``threads`` torch threads and ``side_by_side`` cells at a time (local workers)."""
    from ganeval.feasibility import LARGE_GRID, estimate_time, format_duration

    cells = [(job.run, len(job.pending())) for job in jobs]
    seed_steps = sum(run.steps * n for run, n in cells)
    if seed_steps > LARGE_GRID:
        before = torch.get_num_threads()
        torch.set_num_threads(threads or before)
        try:
            seconds = estimate_time(cells, device) / max(1, side_by_side)
        finally:
            torch.set_num_threads(before)
        study = any(m.run.swept for job in jobs for m in job.members)
        what = (f"{seed_steps:,} member-steps ({sum(n for _, n in cells):,} members: settings x seeds)" if study
                else f"{seed_steps:,} seed-steps")
        how = f"{side_by_side} cells at a time, " if side_by_side > 1 else ""
        log.warning("large grid: %s in %d cells; estimated training time on %s: %s (%smeasured now on a few steps of "
                    "each batched cell; evaluation not included)", what, len(jobs), device_name(device),
                    format_duration(seconds), how)


def _cell_summary(job: CellJob) -> str:
    """The cell's means as the results table computes them (per setting, for a job that batches a
    study's settings): a seed whose value is undefined (it diverged, or no sample landed on a mode)
    counts with the metric's worst value, and the line says how many did."""
    by_setting: dict[CellId, list[Path]] = {}
    for m in job.members:
        by_setting.setdefault(CellId.of(m.run), []).append(m.dir)
    if len(by_setting) == 1:
        return _means_text(job.dirs)
    parts = [f"{sweep_label(cell)}: {text}" for cell, dirs in by_setting.items() if (text := _means_text(dirs))]
    return "; ".join(parts)


def sweep_label(cell: CellId) -> str:
    from ganeval.sweep import setting_label

    return setting_label(cell.setting_dict)


def _means_text(dirs: list[Path]) -> str:
    import pandas as pd

    from ganeval.metrics.catalog import METRICS
    from ganeval.results import score_failed_seeds

    docs = [d for d in (rundir.read_metrics(p) for p in dirs) if d]
    if not docs:
        return ""
    rows = [{"benchmark": d.get("benchmark"), "status": d.get("status"),
             **{k: (float("nan") if v is None else v) for k, v in d["metrics"].items()}} for d in docs]
    raw = pd.DataFrame(rows)
    scored = score_failed_seeds(raw)
    parts = []
    for key in ("modes_covered", "hq_rate", "kl"):
        if key not in scored.columns or scored[key].notna().sum() == 0:
            continue
        text = f"{key} {scored[key].mean():.3g}"
        filled = raw[key].isna() & scored[key].notna()
        if filled.any():
            worst = METRICS.get(key).worst(scored[filled].iloc[0].to_dict())
            text += f" ({int(filled.sum())} of {len(scored)} seeds undefined, counted as the worst, {worst:.3g})"
        parts.append(text)
    from ganeval.metrics.modes import OFF_MODES_NOTE, mostly_off_modes

    if "hq_rate" in scored.columns and mostly_off_modes(scored["hq_rate"].mean()):  # as the table's † says
        parts.append(f"† {OFF_MODES_NOTE}")
    return ", ".join(parts)


def _warn_on_other_threads(out_dir: Path, threads: int | None, jobs: list[CellJob]) -> None:
    """A bench resumed with another thread count per cell than it started with: its unfinished
    convolutional cells will not match an uninterrupted run to the last bit (the MLP benchmarks do)."""
    before = rundir.read_env(out_dir).get("threads_per_cell") if (out_dir / rundir.ENV_FILE).is_file() else None
    started = [m for job in jobs for m in job.pending() if rundir.checkpoint_steps(m.dir)]
    if before is not None and threads is not None and before != threads and started:
        log.warning("this bench started with %d torch thread(s) per cell and resumes with %d (--workers or the "
                    "machine changed): a convolution's last bits can depend on it, so resumed convolutional runs "
                    "may differ slightly from an uninterrupted one", before, threads)


def run_bench(spec: BenchSpec, out_dir: Path, resume: bool = True, progress: Progress | None = None,
              executor: str = "local", address: str | None = None, workers: int | str | None = None) -> BenchOutcome:
    """Run every cell of ``spec`` into ``out_dir`` (resuming what is there), then write ``results.csv``.

    ``executor`` names how cells run (``local``: on this machine, in this process or, with
    ``workers`` (a count, or ``auto``: one per CPU core), side by side in worker processes; ``ray``:
    Ray tasks, ``address`` a running cluster, else a local Ray). One bench per folder: a lock
    refuses a second one. A cell that fails is reported (``outcome.failures``) and the bench goes on."""
    from ganeval.results import collect

    progress = progress or Progress()
    spec.validate()
    runner = get_executor(executor, address, workers)
    device = resolve_device(spec.device) if runner.runs_here else None
    out_dir = Path(out_dir)
    with rundir.new_folder_unless_valid(out_dir), rundir.folder_lock(out_dir):
        rundir.clean_stray_temp(out_dir)
        rundir.check_plugins_unchanged(out_dir, spec.plugin_sha256, resume)  # before anything is written
        jobs = jobs_for(spec, out_dir, resume, ship_plugins=runner.ships_plugins)
        preflight(jobs, device)
        threads = runner.cell_threads(jobs)
        if device is not None:
            _announce_large_grid(jobs, device, threads, runner.cells_at_once(jobs))
        t0 = time.perf_counter()
        if resume:
            _warn_on_other_threads(out_dir, threads, jobs)
        rundir.write_spec(out_dir, spec.to_toml())
        env = environment(device, spec.device)
        env["executor"] = executor
        if workers is not None:
            env["workers"] = str(workers)
        if threads is not None:
            env["threads_per_cell"] = threads
        rundir.write_env(out_dir, env)
        if not resume:
            for job in jobs:
                for d in job.dirs:
                    rundir.clear_run(d)
        outcome = BenchOutcome(out_dir)
        devices: set[str] = set()
        progress.start(sum(job.run.steps * len(job.pending()) for job in jobs), len(jobs))

        def done(job: CellJob, result: CellOutcome) -> None:
            if result.device:
                devices.add(result.device)
            if result.error is not None:
                log.error("%s: %s", job.name, result.error)
                outcome.failures.append(f"{job.name}: {result.error}")
                progress.cell_done(job.name, f"FAILED: {result.error}")
                return
            outcome.trained += result.trained
            outcome.skipped += result.skipped
            progress.cell_done(job.name, ("skipped (done) — " if not result.trained else "") + _cell_summary(job))

        try:
            runner.run(jobs, run_cell, done, progress)
        finally:
            progress.close()
        outcome.wall_time_s = time.perf_counter() - t0
        env["wall_time_s"] = outcome.wall_time_s
        env["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        if device is None:
            env["cell_devices"] = sorted(devices)
        rundir.write_env(out_dir, env)
        rundir.write_results(out_dir, collect(out_dir))
    return outcome
