"""Evaluation stage: from a trained generator (in memory or from a checkpoint) to ``metrics.json``.

``metrics.json`` is written last and atomically; its presence means the seed-run is complete.
Evaluating an unfinished run writes ``eval/step-<n>.json`` instead, so partial results never pose
as final ones.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch

from ganeval import fileio
from ganeval.diagnostics.trace import STEP, WALL_TIME, read_trace
from ganeval.errors import RunFolderError
from ganeval.spec import RunSpec, check_run_value
from ganeval.train import checkpoint

METRICS_FILE = "metrics.json"
CONFIG_FILE = "config.json"
SAMPLES_FILE = "samples.png"
RESULT_FORMAT = 1


def read_config(run_dir: Path) -> tuple[RunSpec, int]:
    """The RunSpec and seed of a run folder, from its ``config.json``."""
    path = Path(run_dir) / CONFIG_FILE
    try:
        doc = fileio.read_json(path)
    except FileNotFoundError:
        raise RunFolderError(f"{run_dir} is not a ganeval run folder (no {CONFIG_FILE})") from None
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{path}: unreadable ({exc})") from None
    try:
        seed = doc.pop("seed")
        run = RunSpec(**doc)
        for key in doc:
            if key not in ("benchmark", "loss", "variant"):
                check_run_value(key, getattr(run, key), str(path))
    except (TypeError, KeyError) as exc:
        raise RunFolderError(f"{path}: not a ganeval run config ({exc})") from None
    return run, int(seed)


def write_config(run_dir: Path, run: RunSpec, seed: int) -> None:
    fileio.write_json(Path(run_dir) / CONFIG_FILE, {**run.to_dict(), "seed": seed})


def first_nonfinite_step(trace_rows: list[dict[str, float]]) -> int | None:
    for row in trace_rows:
        if any(not math.isfinite(v) for k, v in row.items() if k not in (STEP, WALL_TIME)):
            return int(row[STEP])
    return None


def read_metrics(run_dir: Path) -> dict[str, Any] | None:
    """The run's final metrics document, or None if the run is not complete (or the file is bad)."""
    try:
        doc = fileio.read_json(Path(run_dir) / METRICS_FILE)
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != RESULT_FORMAT or not isinstance(doc.get("metrics"), dict):
        return None
    return doc


def metrics_document(run: RunSpec, seed: int, step: int, metrics: dict[str, float], run_dir: Path,
                     train_time: float | None, eval_time: float) -> dict[str, Any]:
    trace_rows = read_trace(Path(run_dir) / "trace.csv")
    diverged_step = first_nonfinite_step(trace_rows)
    from ganeval.benchmarks import get_benchmark

    return {
        "format": RESULT_FORMAT,
        "benchmark": run.benchmark,
        "loss": run.loss,
        "variant": run.variant,
        "seed": seed,
        "step": step,
        "status": "diverged" if diverged_step is not None else "ok",
        "diverged_step": diverged_step,
        "train_time_s": train_time,
        "eval_time_s": eval_time,
        "eval_options": get_benchmark(run.benchmark).eval_options(run),
        "metrics": metrics,
    }


def evaluate_trainer(trainer, write_final: bool = True, samples_figure: bool = True) -> list[dict[str, Any]]:
    """Evaluate every seed of ``trainer`` at its current step and write each run's results.

    Writes ``samples.png`` then ``metrics.json`` (if the run reached its last step and
    ``write_final``) or ``eval/step-<n>.json``. Returns the documents in seed order.
    """
    run, bench = trainer.run, trainer.benchmark
    t0 = time.perf_counter()
    samples = trainer.generate(run.eval_samples)
    options = bench.eval_options(run)
    docs = []
    for k, run_dir in enumerate(trainer.run_dirs):
        metrics = bench.evaluate(samples[k], **options)
        eval_time = (time.perf_counter() - t0) / trainer.S
        doc = metrics_document(run, trainer.seeds[k], trainer.step, metrics, run_dir, trainer.elapsed, eval_time)
        final = trainer.step >= run.steps
        if samples_figure and final:
            bench.save_samples_figure(Path(run_dir) / SAMPLES_FILE, samples[k][: min(len(samples[k]), 2500)],
                                      f"{run.benchmark} · {run.cell_name} · seed {trainer.seeds[k]} · step {trainer.step}",
                                      run)
        if final and write_final:
            fileio.write_json(Path(run_dir) / METRICS_FILE, doc)
        else:
            fileio.write_json(Path(run_dir) / "eval" / f"step-{trainer.step}.json", doc)
        docs.append(doc)
    return docs


def evaluate_run_dir(run_dir: Path, step: int | None = None, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Re-evaluate one run folder from its checkpoint (the newest good one unless ``step``)."""
    from ganeval.train.trainer import CellTrainer

    run_dir = Path(run_dir)
    run, seed = read_config(run_dir)
    trainer = CellTrainer(run, [seed], [run_dir], torch.device(device))
    payload = (checkpoint.load(run_dir, step, trainer.config) if step is not None
               else checkpoint.latest(run_dir, trainer.config))
    if payload is None:
        raise RunFolderError(f"{run_dir} has no usable checkpoint to evaluate")
    trainer.load_payloads([payload])
    return evaluate_trainer(trainer)[0]
