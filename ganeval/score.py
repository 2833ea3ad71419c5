"""``ganeval score``: metrics of samples a user already has, with no ganeval run folder.

The reference is a built-in benchmark (its mode metrics; for an image benchmark also FID / IS /
KID / precision-recall against its real test images) and/or the user's own real images (FID / IS /
KID / precision-recall only: there are no known modes). The result is the same document a training
run's ``metrics.json`` holds, so it can be written as a one-seed run (``write_score``) that
``ganeval report`` tabulates and ``ganeval check`` guards.

Conventions, stated rather than guessed: images of another size than an image benchmark's are
refused unless ``resize=True`` (antialiased bilinear to the benchmark's size, recorded with the
score); the offline extractor ``ganeval-mnist`` reads 28x28 digits only (Inception-v3, from a local
weights file, reads any size).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ganeval import rundir
from ganeval.benchmarks import get_benchmark
from ganeval.errors import SampleError, SpecError
from ganeval.metrics.catalog import IS_SPLITS
from ganeval.metrics.fidelity import ALL as FIDELITY
from ganeval.metrics.fidelity import EXTRACTOR, INCEPTION, fidelity_metrics
from ganeval.user_samples import Samples

#: The benchmark name a score against the user's own real images is filed under.
CUSTOM = "custom"
MODES = "modes"
METRIC_CHOICES = (MODES, *FIDELITY)
#: Generated samples drawn from a generator when no count is given (the FID convention's 10k).
DEFAULT_SAMPLES = 10000


def resize_images(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 images resized to ``size`` (H, W) with antialiased bilinear interpolation."""
    x = torch.nn.functional.interpolate(images.float(), size=size, mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8)


def _shape(x: torch.Tensor) -> str:
    return "x".join(map(str, x.shape[1:]))


def fit_to_benchmark(samples: Samples, bench, resize: bool) -> tuple[torch.Tensor, dict[str, Any]]:
    """The samples in the benchmark's shape, or a one-line refusal saying what would fit."""
    data, want = samples.data, tuple(bench.data_shape)
    if not bench.images:
        if samples.images or tuple(data.shape[1:]) != want:
            raise SampleError(f"{bench.name} samples are points [N, {want[0]}], got [N, {_shape(data)}]")
        return data, {}
    if not samples.images:
        raise SampleError(f"{bench.name} samples are images [N, {'x'.join(map(str, want))}], got points [N, {_shape(data)}]")
    if data.shape[1] != want[0]:
        raise SampleError(f"{bench.name} samples have {want[0]} channels, got {data.shape[1]} ({_shape(data)}); "
                          "channels are never invented or dropped")
    if tuple(data.shape[2:]) == want[1:]:
        return data, {}
    if not resize:
        raise SampleError(f"{bench.name} samples are {'x'.join(map(str, want))}, got {_shape(data)}; pass --resize to "
                          f"resize them to {want[1]}x{want[2]} (antialiased bilinear), or score against --real")
    return resize_images(data, want[1:]), {"resized_from": _shape(data), "resize": "bilinear, antialiased"}


def _check_extractor(extractor: str, images: torch.Tensor, what: str) -> None:
    if extractor == EXTRACTOR and tuple(images.shape[2:]) != (28, 28):
        raise SampleError(f"{what} are {_shape(images)}: the offline extractor {EXTRACTOR} reads 28x28 digits only; "
                          f"pass --inception-weights PATH ({INCEPTION}, any size) or --resize with --benchmark")


def _check_counts(n_generated: int, n_real: int) -> None:
    """FID, KID and precision-recall compare two sets of images: each needs 2 at least (a covariance)."""
    if min(n_generated, n_real) < 2:
        raise SampleError(f"FID/IS/KID/precision-recall need at least 2 images on each side, got {n_generated} "
                          f"generated and {n_real} real")


def score(samples: Samples, *, benchmark: str | None = None, real: Samples | None = None,
          metrics: Sequence[str] | None = None, inception_weights: str | Path | None = None,
          resize: bool = False, n_real: int = 10000, is_splits: int = IS_SPLITS, kid_subset_size: int = 1000,
          name: str = "samples", seed: int = 0, device: torch.device | str = "cpu",
          progress: Callable[[str], None] = lambda text: None) -> dict[str, Any]:
    """The evaluation document of ``samples`` (see the module docstring); ``metrics`` defaults to
    every metric that applies. ``progress(text)`` hears of each stage as it starts."""
    if benchmark is None and real is None:
        raise SpecError("score against a built-in benchmark (--benchmark) or your own real images (--real)")
    bench = get_benchmark(benchmark) if benchmark is not None else None
    images = samples.images
    applicable = ([MODES] if bench is not None else []) + (
        list(FIDELITY) if images and (real is not None or bench.images) else [])
    wanted = list(metrics) if metrics else applicable
    for m in wanted:
        if m not in METRIC_CHOICES:
            raise SpecError(f"unknown metric {m!r}; choose from {', '.join(METRIC_CHOICES)}")
        if m not in applicable:
            why = ("modes need a built-in benchmark (--benchmark)" if m == MODES else
                   "FID/IS/KID/precision-recall need images and image references")
            raise SpecError(f"cannot compute {m} here: {why}")
    data, conversion = fit_to_benchmark(samples, bench, resize) if bench is not None else (samples.data, {})
    doc_metrics: dict[str, float] = {}
    details: dict[str, Any] = {}
    eval_options: dict[str, Any] = {}
    if MODES in wanted:
        from ganeval.spec import RunSpec

        eval_options = bench.eval_options(RunSpec(benchmark=bench.name, loss=name))
        progress(f"mode metrics of {len(data)} samples on {bench.name}")
        doc_metrics, counts = bench.evaluate_with_counts(data, **eval_options)
        details["mode_counts"] = [int(c) for c in counts.tolist()]
    fid_metrics = tuple(m for m in wanted if m in FIDELITY)
    if fid_metrics:
        _check_counts(len(data), len(real.data) if real is not None else n_real)
        extractor = INCEPTION if inception_weights else EXTRACTOR
        _check_extractor(extractor, data, "samples")
        reference = None
        if real is not None:
            if not real.images:
                raise SampleError(f"{real.source.get('path')}: the real reference must be images")
            reference = real.data
            _check_extractor(extractor, reference, "real images")
            if extractor == EXTRACTOR and reference.shape[1] != data.shape[1]:
                raise SampleError(f"samples have {data.shape[1]} channel(s), the real images {reference.shape[1]}: "
                                  f"{EXTRACTOR} features differ per channel count")
        progress(f"{', '.join(fid_metrics)} with {extractor}: features of {len(data)} generated and "
                 f"{len(reference) if reference is not None else n_real} real images (the real ones cached for next time)")
        out = fidelity_metrics(data, bench, fid_metrics, extractor, inception_weights, n_real=n_real,
                               kid_subset_size=kid_subset_size, is_splits=is_splits, device=device, real=reference)
        details["fidelity"] = {k: out.pop(k) for k in ("extractor", "n_generated", "n_real", "kid_subset_size",
                                                       "is_splits") if k in out}
        doc_metrics.update(out)
    return {
        "format": rundir.RESULT_FORMAT,
        "benchmark": bench.name if bench is not None else CUSTOM,
        "loss": name,
        "variant": "none",
        "seed": seed,
        "step": 0,  # not trained here: the samples as given
        "status": "ok",
        "diverged_step": None,
        "train_time_s": None,
        "scored_by": "ganeval score",
        "source": {**samples.source, "n": len(samples.data), **conversion},
        "reference": {"benchmark": bench.name if bench is not None else None,
                      **({"real": real.source, "n_real": len(real.data)} if real is not None else {})},
        "eval_options": eval_options,
        "fidelity": details.get("fidelity", {}),
        "mode_counts": details.get("mode_counts"),
        "metrics": doc_metrics,
    }


def write_score(out_dir: Path, doc: dict[str, Any], samples: torch.Tensor | None = None) -> Path:
    """File ``doc`` as one seed-run of a bench-shaped folder (``OUT/<benchmark>/<name>/seed-<k>``),
    so ``ganeval report OUT`` and ``ganeval check OUT`` read it like a trained run. Returns the run folder."""
    from ganeval.spec import CellId

    cell = CellId.of(doc)
    with rundir.new_run(Path(out_dir), cell, int(doc["seed"])) as run_dir:  # never replaces a run; locked
        rundir.write_score_config(run_dir, {k: doc[k] for k in ("scored_by", "benchmark", "loss", "variant", "seed",
                                                                "source", "reference")})
        if samples is not None and doc["benchmark"] != CUSTOM:
            rundir.write_samples(run_dir, samples[: get_benchmark(doc["benchmark"]).figure_samples])
        rundir.write_metrics(run_dir, doc)
    return run_dir
