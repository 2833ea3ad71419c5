"""Evaluation stage: from trained generators (live, or loaded from a checkpoint) to the run folder.

Orchestration only: metrics come from :func:`ganeval.scoring.score_samples` (samples in,
numbers out), files go through :mod:`ganeval.rundir`. A run at its last step gets
``samples.png``, ``samples.pt`` (what the report draws), ``events.json`` and, last,
``metrics.json``; any other step gets ``eval/step-<n>.json``, so partial results never pose as
final ones.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ganeval import rundir
from ganeval.benchmarks import get_benchmark
from ganeval.diagnostics.trace import STEP, read_trace
from ganeval.errors import SpecError, arg, given
from ganeval.generator import Generators, load_generators
from ganeval.scoring import check_inputs, score_samples
from ganeval.spec import CellId, RunSpec, check_run_value


def finalize_metrics(run: RunSpec, run_dir: Path, metrics: dict[str, float]) -> tuple[dict[str, float], int | None]:
    """Detect the run's events (writing events.json), add the stability summary, and blank the
    quality metrics of a diverged run. Returns (metrics, divergence step or None)."""
    from ganeval.diagnostics.events import Thresholds
    from ganeval.diagnostics.tracer import detect_and_write_events

    evals = rundir.read_evals(run_dir, run.eval_config())
    events = detect_and_write_events(run_dir, Thresholds(), evals, tensorboard=run.tensorboard)
    rows = read_trace(rundir.trace_path(run_dir))
    return stability_metrics(rows, events, metrics, evals)


def stability_metrics(rows: Sequence[dict[str, float]], events: Sequence[dict[str, Any]], metrics: dict[str, float],
                      evals: Sequence[tuple[int, dict[str, float]]] = ()) -> tuple[dict[str, float], int | None]:
    """``metrics`` with the run's stability summary (from its trace rows, events and checkpoint
    evaluations) and the divergence step or None; a diverged run's quality metrics are blanked.
    The one path of a trained seed-run and of a scored one with its own trace (``score --trace``)."""
    from ganeval.diagnostics.events import DIVERGENCE
    from ganeval.diagnostics.stability import stability_summary

    summary = stability_summary(rows, events, [m.get("modes_covered") for _, m in evals], metrics.get("modes_covered"))
    diverged_step = next((e["step"] for e in events if e["kind"] == DIVERGENCE), None)
    if diverged_step is not None:  # a diverged generator's samples say nothing about the loss
        metrics = {k: (v if k in ("n_modes", "n_samples", "kl_max") else math.nan) for k, v in metrics.items()}
    return {**metrics, **summary}, diverged_step


def _first_nonfinite_step(run_dir: Path) -> int | None:
    bad = [r[STEP] for r in read_trace(rundir.trace_path(run_dir)) if not math.isfinite(r.get("g_loss", 0.0))]
    return int(bad[0]) if bad else None


def metrics_document(run: RunSpec, seed: int, step: int, metrics: dict[str, float], details: dict[str, Any],
                     diverged_step: int | None, train_time: float | None, eval_time: float,
                     setting: dict[str, Any] | None = None) -> dict[str, Any]:
    """The document of ``metrics.json`` and ``eval/step-<n>.json``; ``setting``: the study setting
    the run trained (default: ``run``'s own), part of its identity."""
    setting = run.setting if setting is None else setting
    return {
        "format": rundir.RESULT_FORMAT,
        "benchmark": run.benchmark,
        "loss": run.loss,
        "variant": run.variant,
        **({"setting": setting} if setting else {}),
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


def evaluate_generators(gens: Generators, run_dirs: Sequence[Path], run: RunSpec | None = None,
                        final: bool | None = None, samples_figure: bool = True,
                        modes: bool = True) -> list[dict[str, Any]]:
    """Evaluate every seed of ``gens`` at its step and write each run's results to ``run_dirs``.

    ``run`` overrides the evaluation settings (default: the generators' own). A run at its last
    step is final (unless ``final=False``). Returns the documents in seed order.
    """
    run = run or gens.run
    bench = get_benchmark(run.benchmark)
    final = gens.step >= run.steps if final is None else final
    t0 = time.perf_counter()
    n = max(run.eval_samples, run.fidelity_samples if run.fidelity else 0)
    samples = gens.sample(n)
    # With a weight average, its samples are the run's metrics; the raw G's are kept beside them.
    raw = gens.sample(n, raw=True) if final and gens.G_ema is not None else None
    docs = []
    for k, run_dir in enumerate(run_dirs):
        t_seed = time.perf_counter()
        metrics, details = score_samples(run, samples[k], gens.device, modes)
        raw_metrics = score_samples(run, raw[k], gens.device, modes)[0] if raw is not None else None
        eval_time = (time.perf_counter() - t_seed) + (t_seed - t0) / len(gens.seeds)
        if final:
            metrics, diverged_step = finalize_metrics(run, run_dir, metrics)
        else:
            diverged_step = _first_nonfinite_step(run_dir)
        doc = metrics_document(run, gens.seeds[k], gens.step, metrics, details, diverged_step, gens.elapsed, eval_time,
                               setting=gens.member_run(k).setting)
        if raw_metrics is not None:
            doc["raw_metrics"] = raw_metrics
        if final and samples_figure:
            shown = samples[k][: bench.figure_samples]
            bench.save_samples_figure(rundir.samples_figure_path(run_dir), shown,
                                      f"{run.benchmark} · {CellId.of(gens.member_run(k)).label} · seed {gens.seeds[k]} · "
                                      f"step {gens.step}",
                                      run)
            rundir.write_samples(run_dir, shown)
        if final:
            rundir.write_metrics(run_dir, doc)
        else:
            rundir.write_eval(run_dir, gens.step, doc)
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
    run_dir = Path(run_dir)
    rundir.read_config(run_dir)  # not a run folder: said before any lock is taken in it
    bench = rundir.enclosing_bench(run_dir)
    if bench is not None:  # a mixture the bench's spec declares (data, not code) is its benchmark here too
        from ganeval.spec import declare_bench_mixtures

        declare_bench_mixtures(bench / rundir.SPEC_FILE)
    with rundir.writing(run_dir):  # the run's lock and its bench's: never beside a bench that trains it
        return _evaluate_run_dir(run_dir, step, device, fidelity, modes, extractor, extractor_weights, lpips_weights)


def _evaluate_run_dir(run_dir: Path, step: int | None, device: torch.device | str, fidelity: list[str] | None,
                      modes: bool, extractor: str | None, extractor_weights: str | None,
                      lpips_weights: str | None) -> dict[str, Any]:
    gens = load_generators(run_dir, step, device)
    run = gens.run
    changes: dict[str, Any] = {}
    if fidelity is not None:
        changes["fidelity"] = check_run_value("fidelity", fidelity, arg("metrics"))
    if extractor is not None:
        changes["extractor"] = check_run_value("extractor", extractor, "--extractor")
    if extractor_weights is not None:
        changes["extractor_weights"] = extractor_weights
    if lpips_weights is not None:
        changes["lpips_weights"] = lpips_weights
    eval_run = dataclasses.replace(run, **changes)
    if (extractor is not None or extractor_weights is not None) and not eval_run.fidelity:
        raise SpecError(f"{run_dir} computes no FID/IS/KID (its benchmark is {run.benchmark}); "
                        f"add {given('metrics', 'fid,is,kid')} to choose some, or drop the extractor option")
    check_inputs(eval_run)
    own = not changes and modes
    return evaluate_generators(gens, [run_dir], eval_run, final=own and gens.step >= run.steps,
                               samples_figure=own, modes=modes)[0]


def evaluate_run(run_dir: Path, step: int | None = None, device: str = "cpu", metrics: list[str] | None = None,
                 inception_weights: Path | None = None, lpips_weights: Path | None = None) -> dict[str, Any]:
    """``ganeval eval``: :func:`evaluate_run_dir` with metrics named as on the command line
    (``fid``, ``is``, ``kid``, ``prc`` and/or ``modes``; default: the run's own)."""
    from ganeval.device import resolve_device
    from ganeval.metrics.catalog import FIDELITY_METRICS
    from ganeval.registry import unknown_name_message

    fidelity, modes = None, True
    if metrics is not None:
        for name in metrics:
            if name not in (*FIDELITY_METRICS, "modes"):
                raise SpecError(f"{arg('metrics')}: " + unknown_name_message("metric", name, [*FIDELITY_METRICS, "modes"]))
        modes = "modes" in metrics
        fidelity = [n for n in metrics if n != "modes"]
    return evaluate_run_dir(run_dir, step, resolve_device(device), fidelity=fidelity, modes=modes,
                            extractor="inception-v3-compat" if inception_weights else None,
                            extractor_weights=str(inception_weights) if inception_weights else None,
                            lpips_weights=str(lpips_weights) if lpips_weights else None)
