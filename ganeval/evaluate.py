"""Evaluation stage: from a trained generator (in memory or from a checkpoint) to ``metrics.json``.

``metrics.json`` is written last and atomically; its presence (with the run's current evaluation
settings) means the seed-run is complete. Evaluating an unfinished run, or a checkpoint on the way,
writes ``eval/step-<n>.json`` instead, so partial results never pose as final ones.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import torch

from ganeval import fileio
from ganeval.diagnostics.trace import STEP, read_trace
from ganeval.errors import DataError, RunFolderError, SpecError
from ganeval.spec import RunSpec, check_run_value
from ganeval.train import checkpoint

METRICS_FILE = "metrics.json"
CONFIG_FILE = "config.json"
SAMPLES_FILE = "samples.png"
EVAL_DIR = "eval"
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
    except (TypeError, KeyError, AttributeError) as exc:
        raise RunFolderError(f"{path}: not a ganeval run config ({exc})") from None
    return run, int(seed)


def write_config(run_dir: Path, run: RunSpec, seed: int) -> None:
    fileio.write_json(Path(run_dir) / CONFIG_FILE, {**run.to_dict(), "seed": seed})


def read_metrics(run_dir: Path, eval_config: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The run's final metrics, or None if the run is not complete, the file is bad, or (given
    ``eval_config``) the metrics were computed under other evaluation settings."""
    try:
        doc = fileio.read_json(Path(run_dir) / METRICS_FILE)
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != RESULT_FORMAT or not isinstance(doc.get("metrics"), dict):
        return None
    if eval_config is not None and doc.get("eval_config") != eval_config:
        return None
    return doc


def check_eval_inputs(run: RunSpec) -> None:
    """Feature-extractor weights named by the spec must exist (and hold tensors only) before any
    training starts, not be discovered missing hours later at evaluation."""
    from ganeval.benchmarks import get_benchmark

    if run.lpips_weights:
        if not get_benchmark(run.benchmark).images:
            raise SpecError(f"{run.cell_key}: LPIPS needs an image benchmark; {run.benchmark} has points")
        from ganeval.metrics.lpips import load_weights

        load_weights(run.lpips_weights)
    if not run.fidelity:
        return
    if not get_benchmark(run.benchmark).images:
        raise SpecError(f"{run.cell_key}: FID/IS/KID need an image benchmark; {run.benchmark} has points "
                        "(its mode metrics are the measure there)")
    if run.extractor == "inception-v3-compat":
        if not run.extractor_weights:
            raise DataError("inception-v3-compat needs its weights file (--inception-weights PATH); "
                            "ganeval never downloads it")
        from ganeval.metrics.fidelity import check_inception_weights

        check_inception_weights(Path(run.extractor_weights))
    elif run.extractor_weights and not Path(run.extractor_weights).is_file():
        raise DataError(f"feature extractor weights not found: {run.extractor_weights}")


def compute_metrics(run: RunSpec, samples: torch.Tensor, device: torch.device,
                    modes: bool = True) -> tuple[dict[str, float], dict[str, Any]]:
    """Benchmark metrics (modes, unless ``modes=False``) and, if the run asks, fidelity metrics of
    one seed's samples. Returns (flat metrics, details: per-mode counts, the feature extractor, counts)."""
    from ganeval.benchmarks import get_benchmark

    bench = get_benchmark(run.benchmark)
    metrics: dict[str, float] = {}
    details: dict[str, Any] = {}
    if modes:
        metrics, counts = bench.evaluate_with_counts(samples[: run.eval_samples], **bench.eval_options(run))
        details["mode_counts"] = [int(c) for c in counts.tolist()]
    if run.fidelity:
        from ganeval.metrics.fidelity import fidelity_metrics

        out = fidelity_metrics(samples[: run.fidelity_samples], bench, tuple(run.fidelity), run.extractor,
                               run.extractor_weights or None, is_splits=run.is_splits, device=device)
        details.update({k: out.pop(k) for k in ("extractor", "n_generated", "n_real", "kid_subset_size", "is_splits")
                        if k in out})
        metrics.update(out)
    if run.lpips_weights:
        from ganeval.metrics.lpips import lpips_diversity

        n = min(len(samples), 2000)
        metrics.update(lpips_diversity(samples[:n], bench.real_uint8(n, "test"), run.lpips_weights))
    return metrics, details


def checkpoint_evaluations(run_dir: Path, eval_config: dict[str, Any]) -> list[tuple[int, dict[str, float]]]:
    """(step, metrics) of the run's checkpoint evaluations made with ``eval_config``, by step."""
    out = []
    for path in sorted((Path(run_dir) / EVAL_DIR).glob("step-*.json")):
        try:
            doc = fileio.read_json(path)
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and doc.get("eval_config") == eval_config and isinstance(doc.get("metrics"), dict):
            out.append((int(doc["step"]), {k: (math.nan if v is None else v) for k, v in doc["metrics"].items()}))
    return sorted(out)


def finalize_metrics(run: RunSpec, run_dir: Path, metrics: dict[str, float]) -> tuple[dict[str, float], list, int | None]:
    """Detect the run's events (writing events.json), add the stability summary, and blank the
    quality metrics of a diverged run. Returns (metrics, events, divergence step or None)."""
    from ganeval.diagnostics.events import DIVERGENCE, Thresholds
    from ganeval.diagnostics.stability import stability_summary
    from ganeval.diagnostics.tracer import write_events

    evals = checkpoint_evaluations(run_dir, run.eval_config())
    events = write_events(run_dir, Thresholds(), evals)
    rows = read_trace(Path(run_dir) / "trace.csv")
    summary = stability_summary(rows, events, [m.get("modes_covered") for _, m in evals], metrics.get("modes_covered"))
    diverged_step = next((e["step"] for e in events if e["kind"] == DIVERGENCE), None)
    if diverged_step is not None:  # a diverged generator's samples say nothing about the loss
        metrics = {k: (v if k in ("n_modes", "n_samples") else math.nan) for k, v in metrics.items()}
    return {**metrics, **summary}, events, diverged_step


def metrics_document(run: RunSpec, seed: int, step: int, metrics: dict[str, float], details: dict[str, Any],
                     run_dir: Path, train_time: float | None, eval_time: float, final: bool) -> dict[str, Any]:
    from ganeval.benchmarks import get_benchmark

    diverged_step = None
    if final:
        metrics, _, diverged_step = finalize_metrics(run, run_dir, metrics)
    else:
        bad = [r[STEP] for r in read_trace(Path(run_dir) / "trace.csv") if not math.isfinite(r.get("g_loss", 0.0))]
        diverged_step = int(bad[0]) if bad else None
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
        "eval_config": run.eval_config(),
        "eval_options": get_benchmark(run.benchmark).eval_options(run),
        "fidelity": {k: v for k, v in details.items() if k != "mode_counts"},
        "mode_counts": details.get("mode_counts"),
        "metrics": metrics,
    }


def evaluate_trainer(trainer, run: RunSpec | None = None, final: bool | None = None,
                     samples_figure: bool = True, modes: bool = True) -> list[dict[str, Any]]:
    """Evaluate every seed of ``trainer`` at its current step and write each run's results.

    ``run`` overrides the evaluation settings (default: the trainer's). A run at its last step
    gets ``samples.png`` and ``metrics.json`` (unless ``final=False``); any other step gets
    ``eval/step-<n>.json``. Returns the documents in seed order.
    """
    run = run or trainer.run
    bench = trainer.benchmark
    final = trainer.step >= run.steps if final is None else final
    t0 = time.perf_counter()
    n = max(run.eval_samples, run.fidelity_samples if run.fidelity else 0)
    samples = trainer.generate(n)
    # With a weight average, its samples are the run's metrics; the raw G's are kept beside them.
    raw = trainer.generate(n, raw=True) if final and trainer.G_ema is not None else None
    docs = []
    for k, run_dir in enumerate(trainer.run_dirs):
        t_seed = time.perf_counter()
        metrics, details = compute_metrics(run, samples[k], trainer.device, modes)
        raw_metrics = compute_metrics(run, raw[k], trainer.device, modes)[0] if raw is not None else None
        eval_time = (time.perf_counter() - t_seed) + (t_seed - t0) / trainer.S
        doc = metrics_document(run, trainer.seeds[k], trainer.step, metrics, details, run_dir, trainer.elapsed,
                               eval_time, final)
        if raw_metrics is not None:
            doc["raw_metrics"] = raw_metrics
        if final and samples_figure:
            bench.save_samples_figure(Path(run_dir) / SAMPLES_FILE, samples[k][:2500],
                                      f"{run.benchmark} · {run.cell_name} · seed {trainer.seeds[k]} · step {trainer.step}",
                                      run)
        if final:
            fileio.write_json(Path(run_dir) / METRICS_FILE, doc)
        else:
            fileio.write_json(Path(run_dir) / EVAL_DIR / f"step-{trainer.step}.json", doc)
        docs.append(doc)
    return docs


def evaluate_run_dir(run_dir: Path, step: int | None = None, device: torch.device | str = "cpu",
                     fidelity: list[str] | None = None, modes: bool = True,
                     extractor: str | None = None, extractor_weights: str | None = None,
                     lpips_weights: str | None = None) -> dict[str, Any]:
    """Re-evaluate one run folder from its checkpoint (the newest good one unless ``step``).

    With the run's own settings at its final step this rewrites ``metrics.json``; with other
    settings (``fidelity``, ``extractor``...) or at an earlier step it writes ``eval/step-<n>.json``.
    """
    from ganeval.train.trainer import CellTrainer

    run_dir = Path(run_dir)
    run, seed = read_config(run_dir)
    trainer = CellTrainer(run, [seed], [run_dir], torch.device(device))
    if step is not None and step not in checkpoint.list_steps(run_dir):
        steps = checkpoint.list_steps(run_dir)
        raise RunFolderError(f"{run_dir} has no checkpoint at step {step} (it has: {', '.join(map(str, steps)) or 'none'})")
    payload = (checkpoint.load(run_dir, step, trainer.config) if step is not None
               else checkpoint.latest(run_dir, trainer.config))
    if payload is None:
        raise RunFolderError(f"{run_dir} has no usable checkpoint to evaluate")
    trainer.load_payloads([payload])
    changes: dict[str, Any] = {}
    if fidelity is not None:
        changes["fidelity"] = check_run_value("fidelity", fidelity, "--metrics")
    if extractor is not None:
        changes["extractor"] = check_run_value("extractor", extractor, "--extractor")
    if extractor_weights is not None:
        changes["extractor_weights"] = extractor_weights
    if lpips_weights is not None:
        changes["lpips_weights"] = lpips_weights
    eval_run = dataclasses.replace(run, **changes)
    if (extractor is not None or extractor_weights is not None) and not eval_run.fidelity:
        raise SpecError(f"{run_dir} computes no FID/IS/KID (its benchmark is {run.benchmark}); "
                        "add --metrics fid,is,kid to choose some, or drop the extractor option")
    check_eval_inputs(eval_run)
    own = not changes and modes
    return evaluate_trainer(trainer, eval_run, final=own and trainer.step >= run.steps, samples_figure=own,
                            modes=modes)[0]
