"""Every metric a run asks for, computed from one seed's samples: no run folder, no trainer.

The benchmark's own mode metrics, FID / IS / KID / precision / recall through torch-fidelity
(when the run asks), and LPIPS diversity (when it names local weights). :func:`check_inputs`
checks the weights those need before any training starts, not hours later at evaluation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ganeval.benchmarks import get_benchmark
from ganeval.errors import DataError, SpecError


def check_inputs(run) -> None:
    """Feature-extractor weights named by ``run`` (a RunSpec) must exist and hold tensors only."""
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


#: What torch-fidelity's results say about how they were computed (kept beside the metrics).
FIDELITY_DETAILS = ("extractor", "n_generated", "n_real", "kid_subset_size", "is_splits")


def mode_metrics(bench, samples: torch.Tensor, options: dict[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
    """A benchmark's mode metrics of ``samples`` and ``{"mode_counts": [...]}``: the one way a trained
    run and a user's scored samples get them."""
    metrics, counts = bench.evaluate_with_counts(samples, **options)
    return metrics, {"mode_counts": [int(c) for c in counts.tolist()]}


def split_fidelity(out: dict[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
    """torch-fidelity's results as (metrics, how they were computed)."""
    details = {k: out[k] for k in FIDELITY_DETAILS if k in out}
    return {k: v for k, v in out.items() if k not in FIDELITY_DETAILS}, details


def score_samples(run, samples: torch.Tensor, device: torch.device,
                  modes: bool = True) -> tuple[dict[str, float], dict[str, Any]]:
    """Metrics of ``samples [N, *data_shape]`` under ``run``'s evaluation settings.

    Returns (flat metrics, details: per-mode counts, the feature extractor and sample counts).
    ``modes=False`` skips the benchmark's mode metrics."""
    bench = get_benchmark(run.benchmark)
    metrics: dict[str, float] = {}
    details: dict[str, Any] = {}
    if modes:
        metrics, details = mode_metrics(bench, samples[: run.eval_samples], bench.eval_options(run))
    if run.fidelity:
        from ganeval.metrics.fidelity import fidelity_metrics

        out, how = split_fidelity(fidelity_metrics(samples[: run.fidelity_samples], bench, tuple(run.fidelity),
                                                   run.extractor, run.extractor_weights or None,
                                                   is_splits=run.is_splits, device=device))
        details.update(how)
        metrics.update(out)
    if run.lpips_weights:
        from ganeval.metrics.lpips import lpips_diversity

        n = min(len(samples), 2000)
        metrics.update(lpips_diversity(samples[:n], bench.real_uint8(n, "test"), run.lpips_weights))
    return metrics, details
