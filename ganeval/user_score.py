"""``ganeval score``: metrics of samples a user already has, with no ganeval run folder.

The reference is a built-in benchmark (its mode metrics; for an image benchmark also FID / IS /
KID / precision-recall against its real test images), the user's own real images (FID / IS / KID /
precision-recall), the user's own real points (MMD and k-NN precision/recall on the coordinates,
:mod:`ganeval.metrics.points`) and/or the centres of the user's own Gaussian mixture (mode
metrics, :mod:`ganeval.metrics.modes`). The result is the same document a training run's
``metrics.json`` holds, so it can be written as a one-seed run (``write_score``) that ``ganeval
report`` tabulates and ``ganeval check`` guards. With the run's own GANTracer folder
(``--trace``), its events and stability summary (``n_events``, ``diverged``, gradient spreads) are
filed with the score by the same code as a trained seed-run's, so ``check`` guards them too.

Conventions, stated rather than guessed: images of another size than an image benchmark's are
refused unless ``resize=True`` (antialiased bilinear to the benchmark's size, recorded with the
score); the offline extractor ``ganeval-mnist`` reads 28x28 digits only (Inception-v3, from a local
weights file, reads any size).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ganeval import fileio, rundir
from ganeval.benchmarks import get_benchmark
from ganeval.diagnostics.events import DIVERGENCE
from ganeval.errors import SampleError, SpecError, arg, given
from ganeval.metrics.catalog import IS_SPLITS, MMD2, MMD_BANDWIDTH, PRECISION, RECALL
from ganeval.metrics.fidelity import ALL as FIDELITY
from ganeval.metrics.fidelity import EXTRACTOR, INCEPTION, fidelity_metrics
from ganeval.metrics.modes import gaussian_modes
from ganeval.metrics.points import MAX_POINTS, PRC_NEIGHBORHOOD, RAW_POINTS, SUBSAMPLE_SEED, point_metrics
from ganeval.scoring import mode_metrics, split_fidelity
from ganeval.user_samples import Samples

#: The benchmark name a score against the user's own real samples or mixture is filed under.
CUSTOM = rundir.CUSTOM_BENCHMARK
MODES = "modes"
MMD = "mmd"
#: What points get against the user's own real points (``prc``: precision/recall on the coordinates).
POINT_METRICS = (MMD, "prc")
POINT_KEYS = {MMD: (MMD2, MMD_BANDWIDTH), "prc": (PRECISION, RECALL)}
METRIC_CHOICES = (MODES, *FIDELITY, MMD)
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
        raise SampleError(f"{bench.name} samples are {'x'.join(map(str, want))}, got {_shape(data)}; pass {given('resize')} "
                          f"to resize them to {want[1]}x{want[2]} (antialiased bilinear), or score against {arg('real')}")
    return resize_images(data, want[1:]), {"resized_from": _shape(data), "resize": "bilinear, antialiased"}


def _check_extractor(extractor: str, images: torch.Tensor, what: str) -> None:
    if extractor == EXTRACTOR and tuple(images.shape[2:]) != (28, 28):
        raise SampleError(f"{what} are {_shape(images)}: the offline extractor {EXTRACTOR} reads 28x28 digits only; "
                          f"pass {arg('inception_weights')} ({INCEPTION} weights, any size) or {given('resize')} with "
                          f"{arg('benchmark')}")


@dataclass(frozen=True)
class Mixture:
    """A user's own Gaussian mixture (``--centers FILE [--std S]``): equal weights, isotropic
    ``std``; high quality within ``hq_sigmas`` std of the nearest centre, a mode covered with
    ``cover_threshold`` high-quality samples (the ring/grid protocol of DESIGN.md)."""

    centers: torch.Tensor  # [K, D] float64
    std: float
    source: dict[str, Any] = field(default_factory=dict)
    hq_sigmas: float = 3.0
    cover_threshold: int = 1

    def options(self) -> dict[str, Any]:
        return {"centers": self.source, "std": self.std, "weights": "equal", "hq_sigmas": self.hq_sigmas,
                "cover_threshold": self.cover_threshold}


def estimate_std(real: torch.Tensor, centers: torch.Tensor) -> float:
    """The isotropic std of a mixture from its real points ``[M, D]``: RMS distance to the nearest
    centre over sqrt(D) (E|x - c|^2 = D std^2 for an isotropic Gaussian)."""
    from ganeval.metrics.modes import nearest_center

    x = real.to(torch.float64)
    d2 = nearest_center(x, centers)[0].square()
    return float((d2.mean() / x.shape[1]).sqrt())


#: The largest ``--std``: the score records it, and every number ganeval writes must read back
#: (:data:`ganeval.fileio.MAX_NUMBER`); far beyond any mixture of float32 points.
MAX_STD = fileio.MAX_NUMBER


def make_mixture(centers: Samples, std: float | None = None, real: Samples | None = None) -> Mixture:
    """The mixture of ``--centers`` with ``--std``, or with a std estimated from ``--real`` points."""
    c = centers.data
    source = dict(centers.source)
    if std is None:
        if real is None or real.images:
            raise SpecError(f"{arg('centers')} needs {arg('std')} (the std of each mixture component), or "
                            f"{arg('real')} points to estimate it from")
        if real.data.shape[1] != c.shape[1]:
            raise SampleError(f"the centres are {c.shape[1]}-D, the real points {real.data.shape[1]}-D")
        std = estimate_std(real.data, c)
        source["std_from"] = "estimated from --real (RMS distance to the nearest centre / sqrt(D))"
    elif isinstance(std, bool) or not isinstance(std, (int, float)) or not (math.isfinite(std) and 0 < std <= MAX_STD):
        raise SpecError(f"{arg('std')} must be a positive number of at most {MAX_STD:g}, got {std!r:.60}")
    else:
        source["std_from"] = "--std"
    return Mixture(c, float(std), source)


def _wanted(samples: Samples, bench, real: Samples | None, mixture: Mixture | None,
            metrics: Sequence[str] | None) -> list[str]:
    """The metric groups to compute: those asked for, each checked to apply; default all that apply.
    Anything that cannot be scored is refused in one line."""
    images = samples.images
    if real is not None and real.images != images:
        raise SampleError(f"the samples are {'images' if images else 'points'} and the real reference "
                          f"{real.source.get('path')} is {'images' if real.images else 'points'}: score like with like")
    if mixture is not None and images:
        raise SampleError(f"{arg('centers')} gives the modes of points [N, D]; these samples are images")
    if mixture is not None and bench is not None:
        raise SpecError(f"{arg('centers')} replaces a built-in benchmark's modes: give {arg('benchmark')} or "
                        f"{arg('centers')}, not both")
    if not images and real is not None and real.data.shape[1] != samples.data.shape[1]:
        raise SampleError(f"the samples are {samples.data.shape[1]}-D points, the real ones {real.data.shape[1]}-D")
    if mixture is not None and mixture.centers.shape[1] != samples.data.shape[1]:
        raise SampleError(f"the samples are {samples.data.shape[1]}-D points, the centres "
                          f"{mixture.centers.shape[1]}-D")
    applicable = [MODES] if bench is not None or mixture is not None else []
    if images and (real is not None or (bench is not None and bench.images)):
        applicable += list(FIDELITY)
    if not images and real is not None:
        applicable += list(POINT_METRICS)
    wanted = list(metrics) if metrics else applicable
    for m in wanted:
        if m not in METRIC_CHOICES:
            raise SpecError(f"unknown metric {m!r}; choose from {', '.join(METRIC_CHOICES)}")
        if m not in applicable:
            if m == MODES:
                why = f"modes need a built-in benchmark ({arg('benchmark')}) or your mixture's centres ({arg('centers')})"
            elif m == MMD:
                why = f"the MMD compares points [N, D] with your own real points ({arg('real')})"
            elif images:
                why = f"FID/IS/KID/precision-recall need image references ({arg('real')} or an image benchmark)"
            else:
                why = (f"precision/recall of points need your own real points ({arg('real')})" if m == "prc" else
                       f"FID/IS/KID read images; points get mmd and prc against {arg('real')}")
            raise SpecError(f"cannot compute {m} here: {why}")
    if not wanted:
        raise SampleError(f"nothing to score these samples with: give {arg('benchmark')}, {arg('real')} or (points) "
                          f"{arg('centers')}")
    return wanted


@dataclass
class Trace:
    """A user's GANTracer folder (``--trace DIR``): its rows and events (events.json's, or detected
    from trace.csv with the default thresholds when the loop died before writing them)."""

    folder: Path
    rows: list[dict[str, float]]
    events: list[dict[str, Any]]
    thresholds: dict[str, Any]
    events_from: str
    #: the bytes of trace.csv that ``rows`` were parsed from (filed with the score as they were read)
    data: bytes = b""
    #: layers.json, read like every document and checked (None when there is none)
    layers: dict[str, Any] | None = None

    def describe(self) -> dict[str, Any]:
        return {"path": str(self.folder), "rows": len(self.rows), "sha256": fileio.sha256_bytes(self.data),
                "last_step": int(self.rows[-1]["step"]), "events_from": self.events_from,
                "thresholds": self.thresholds}


def read_user_trace(folder: Path) -> Trace:
    """The trace of ``folder``, or a one-line refusal saying what ``--trace`` takes."""
    from ganeval.diagnostics.events import Thresholds, detect_events
    from ganeval.diagnostics.trace import parse_trace
    from ganeval.errors import DataError

    folder = Path(folder)
    path = rundir.trace_path(folder)
    if not folder.is_dir():
        raise SampleError(f"{arg('trace')} {folder}: not a folder (give the folder GANTracer wrote)")
    if not path.is_file():
        raise SampleError(f"{arg('trace')} {folder}: no {rundir.TRACE_FILE} (give the folder GANTracer wrote)")
    try:
        data = fileio.read_bytes(path, what="a trace")  # read once: these bytes are parsed, hashed and filed
        rows = parse_trace(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SampleError(f"{path}: unreadable ({exc})") from None
    if not rows:
        raise SampleError(f"{path}: no readable rows (did the loop call tracer.step?)")
    layers = None
    layers_path = folder / rundir.LAYERS_FILE
    if os.path.lexists(layers_path):  # read like every other document: a regular file, bounded, checked
        try:
            layers = fileio.read_json(layers_path)
        except (OSError, ValueError, DataError) as exc:
            raise SampleError(f"{layers_path}: unreadable ({exc})") from None
        problem = rundir.layers_problem(layers)
        if problem:
            raise SampleError(f"{layers_path}: {problem} (GANTracer writes {{\"D\": [[layer, type], ...], \"G\": ...}})")
    events = rundir.read_events(folder)
    if events is not None:
        try:
            thresholds = fileio.read_json(rundir.events_path(folder)).get("thresholds") or {}
        except (OSError, ValueError, AttributeError):
            thresholds = {}
        return Trace(folder, rows, events, thresholds, rundir.EVENTS_FILE, data, layers)
    th = Thresholds()
    return Trace(folder, rows, detect_events(rows, th), th.to_dict(),
                 f"detected from {rundir.TRACE_FILE} ({rundir.EVENTS_FILE} missing or unreadable)", data, layers)


def _check_counts(n_generated: int, n_real: int) -> None:
    """FID, KID and precision-recall compare two sets of images: each needs 2 at least (a covariance)."""
    if min(n_generated, n_real) < 2:
        raise SampleError(f"FID/IS/KID/precision-recall need at least 2 images on each side, got {n_generated} "
                          f"generated and {n_real} real")


def score(samples: Samples, *, benchmark: str | None = None, real: Samples | None = None,
          mixture: Mixture | None = None, trace: Trace | None = None,
          metrics: Sequence[str] | None = None, inception_weights: str | Path | None = None,
          resize: bool = False, n_real: int = 10000, is_splits: int = IS_SPLITS, kid_subset_size: int = 1000,
          name: str = "samples", seed: int = 0, device: torch.device | str = "cpu",
          progress: Callable[[str], None] = lambda text: None) -> dict[str, Any]:
    """The evaluation document of ``samples`` (see the module docstring); ``metrics`` defaults to
    every metric that applies. ``mixture``: the modes of the user's own mixture (points).
    ``trace``: the run's own trace, whose events and stability summary are filed with the score
    exactly as a trained seed-run's are (:func:`ganeval.evaluate.stability_metrics`).
    ``progress(text)`` hears of each stage as it starts."""
    if benchmark is None and real is None and mixture is None:
        raise SpecError(f"score against a built-in benchmark ({arg('benchmark')}), your own real samples "
                        f"({arg('real')}) or your mixture's centres ({arg('centers')})")
    bench = get_benchmark(benchmark) if benchmark is not None else None
    wanted = _wanted(samples, bench, real, mixture, metrics)
    data, conversion = fit_to_benchmark(samples, bench, resize) if bench is not None else (samples.data, {})
    finite = samples.images or bool(torch.isfinite(data).all())
    diverged = trace is not None and any(e["kind"] == DIVERGENCE for e in trace.events)
    if not finite and not diverged:
        raise SampleError(f"{samples.source.get('path', 'samples')}: points contain NaN or infinite values"
                          + (" but the trace shows no divergence" if trace is not None else ""))
    doc_metrics: dict[str, float] = {}
    details: dict[str, Any] = {}
    eval_options: dict[str, Any] = {}
    if MODES in wanted and bench is not None:
        from ganeval.spec import RunSpec

        eval_options = bench.eval_options(RunSpec(benchmark=bench.name, loss=name))
        progress(f"mode metrics of {len(data)} samples on {bench.name}")
        doc_metrics, details = mode_metrics(bench, data, eval_options)
    elif MODES in wanted:
        eval_options = mixture.options()
        progress(f"mode metrics of {len(data)} samples on your mixture of {len(mixture.centers)} modes "
                 f"(std {mixture.std:.4g})")
        doc_metrics, counts = gaussian_modes(data, mixture.centers, mixture.std, hq_sigmas=mixture.hq_sigmas,
                                             cover_threshold=mixture.cover_threshold)
        details["mode_counts"] = [int(c) for c in counts.tolist()]
    point_groups = tuple(m for m in wanted if m in POINT_METRICS) if not samples.images else ()
    if point_groups:
        details["fidelity"] = {"extractor": RAW_POINTS, "n_generated": len(data), "n_real": len(real.data),
                               "kernel": "gaussian rbf, bandwidth = median pairwise distance of the real points",
                               "prc_neighborhood": PRC_NEIGHBORHOOD}
        if max(len(data), len(real.data)) > MAX_POINTS:  # the quadratic metrics on seeded random subsets
            details["fidelity"].update(
                n_generated_used=min(len(data), MAX_POINTS), n_real_used=min(len(real.data), MAX_POINTS),
                subsample=f"at most {MAX_POINTS} points a side, uniformly without replacement, seed {SUBSAMPLE_SEED}")
        if finite:
            progress(f"{', '.join(point_groups)} of {len(data)} points against {len(real.data)} real points")
            doc_metrics.update(point_metrics(data, real.data, point_groups))
        else:  # a diverged run's points: blanked below like every quality metric
            doc_metrics.update({k: math.nan for k in (POINT_KEYS["mmd"] if "mmd" in point_groups else ())
                                + (POINT_KEYS["prc"] if "prc" in point_groups else ())})
    fid_metrics = tuple(m for m in wanted if m in FIDELITY and samples.images)
    if fid_metrics:
        _check_counts(len(data), len(real.data) if real is not None else n_real)
        extractor = INCEPTION if inception_weights else EXTRACTOR
        _check_extractor(extractor, data, "samples")
        reference = None
        if real is not None:
            reference = real.data
            _check_extractor(extractor, reference, "real images")
            if extractor == EXTRACTOR and reference.shape[1] != data.shape[1]:
                raise SampleError(f"samples have {data.shape[1]} channel(s), the real images {reference.shape[1]}: "
                                  f"{EXTRACTOR} features differ per channel count")
        progress(f"{', '.join(fid_metrics)} with {extractor}: features of {len(data)} generated and "
                 f"{len(reference) if reference is not None else n_real} real images (the real ones cached for next time)")
        out, details["fidelity"] = split_fidelity(fidelity_metrics(
            data, bench, fid_metrics, extractor, inception_weights, n_real=n_real, kid_subset_size=kid_subset_size,
            is_splits=is_splits, device=device, real=reference))
        doc_metrics.update(out)
    diverged_step = None
    if trace is not None:
        from ganeval.evaluate import stability_metrics

        progress(f"events and stability summary of {len(trace.rows)} trace rows in {trace.folder}")
        doc_metrics, diverged_step = stability_metrics(trace.rows, trace.events, doc_metrics)
    doc = {
        "format": rundir.RESULT_FORMAT,
        "benchmark": bench.name if bench is not None else CUSTOM,
        "loss": name,
        "variant": "none",
        "seed": seed,
        "step": int(trace.rows[-1]["step"]) if trace is not None else 0,  # 0: the samples as given, untrained here
        "status": "diverged" if diverged_step is not None else "ok",
        "diverged_step": diverged_step,
        "train_time_s": None,
        "scored_by": "ganeval score",
        "source": {**samples.source, "n": len(samples.data), **conversion},
        "reference": {"benchmark": bench.name if bench is not None else None,
                      **({"real": real.source, "n_real": len(real.data)} if real is not None else {}),
                      **({"centers": mixture.source} if mixture is not None else {})},
        "eval_options": eval_options,
        "fidelity": details.get("fidelity", {}),
        "mode_counts": details.get("mode_counts"),
        "metrics": doc_metrics,
    }
    if trace is not None:
        doc["trace"] = trace.describe()
        doc["events"] = trace.events
    return doc


def write_score(out_dir: Path, doc: dict[str, Any], samples: torch.Tensor | None = None,
                trace: Trace | None = None) -> Path:
    """File ``doc`` as one seed-run of a bench-shaped folder (``OUT/<benchmark>/<name>/seed-<k>``),
    so ``ganeval report OUT`` and ``ganeval check OUT`` read it like a trained run; with the run's
    ``trace``, its trace.csv (the bytes read and scored) and its checked layers.json beside it.
    Returns the run folder."""
    from ganeval.spec import CellId

    cell = CellId.of(doc)
    with rundir.new_run(Path(out_dir), cell, int(doc["seed"])) as run_dir:  # never replaces a run; locked
        rundir.write_score_config(run_dir, {k: doc[k] for k in ("scored_by", "benchmark", "loss", "variant", "seed",
                                                                "source", "reference")})
        if samples is not None and doc["benchmark"] != CUSTOM:
            rundir.write_samples(run_dir, samples[: get_benchmark(doc["benchmark"]).figure_samples])
        if trace is not None:  # the run's own trace beside its score, for `ganeval report`
            fileio.write_bytes(rundir.trace_path(run_dir), trace.data)
            if trace.layers is not None:
                rundir.write_layers(run_dir, trace.layers)
            rundir.write_events(run_dir, trace.thresholds, doc["events"])
        rundir.write_metrics(run_dir, doc)
    return run_dir
