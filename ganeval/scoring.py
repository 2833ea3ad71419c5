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


def score_samples(run, samples: torch.Tensor, device: torch.device,
                  modes: bool = True) -> tuple[dict[str, float], dict[str, Any]]:
    """Metrics of ``samples [N, *data_shape]`` under ``run``'s evaluation settings.

    Returns (flat metrics, details: per-mode counts, the feature extractor and sample counts).
    ``modes=False`` skips the benchmark's mode metrics."""
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
