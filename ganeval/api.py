"""The Python API: what the ``ganeval`` command does, as functions with typed keywords.

``from ganeval import bench, score, report, check`` — a notebook calls these, and the CLI only
parses flags for them. Every function loads the plugins it is given (and the installed
``ganeval.plugins`` entry points) before it resolves a name, and raises :class:`GanevalError`
subclasses on bad input. Nothing here prints: progress goes to the ``progress`` object or callback
a caller passes, warnings come back in the result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch

from ganeval.bench_report import ReportResult, bench_report
from ganeval.errors import RunFolderError, SpecError, arg
from ganeval.metrics.catalog import IS_SPLITS, MetricValues
from ganeval.plugins import load_plugins
from ganeval.regression import Verdict

if TYPE_CHECKING:
    from ganeval.benchmarks import Benchmark
    from ganeval.executors import Executor
    from ganeval.losses import Loss
    from ganeval.metrics.catalog import MetricInfo
    from ganeval.models import ModelFamily
    from ganeval.optimizers import Optimizer
    from ganeval.plugins import Plugin
    from ganeval.variants import Variant

Names = str | Sequence[str]
_PATH = (str, Path)


def _names(value: Names | None, what: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, str) and not (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)):
        raise SpecError(f"{what} must be names, as 'a,b' or a list of strings, got {_shown(value)}")
    names = [v.strip() for v in value.split(",")] if isinstance(value, str) else [v.strip() for v in value]
    names = [n for n in names if n]
    if not names:
        raise SpecError(f"{what}: give at least one name")
    return names


# --- every keyword checked: a wrong type is one SpecError, never a bare TypeError or ValueError ------
def _shown(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a user object whose repr fails
        text = f"<{type(value).__name__}>"
    return f"{type(value).__name__} {text[:60]}"


def _expect(name: str, value: Any, types: tuple[type, ...], what: str, optional: bool = False) -> Any:
    """``value`` if it is one of ``types`` (a bool is not an int here); else a SpecError naming the
    keyword, what it takes and what it got."""
    if value is None and optional:
        return value
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise SpecError(f"{name} must be {what}{' or None' if optional else ''}, got {_shown(value)}")
    return value


def _count(name: str, value: Any, optional: bool = False) -> Any:
    """A positive integer keyword."""
    _expect(name, value, (int,), "a positive integer", optional)
    if value is not None and value <= 0:
        raise SpecError(f"{name} must be positive, got {value}")
    return value


def _texts(name: str, value: Any) -> list[str]:
    """``KEY=VALUE`` texts: one string is one text (never its characters), or a list of strings."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{name} must be a string or a list of strings, got {_shown(value)}")
    return list(value)


def _run_options(sets: Any, set_pairs: Any, steps: Any, batch_size: Any, device: Any, inception_weights: Any,
                 plugins: Any) -> tuple[list[str], list[str]]:
    """The keywords ``bench`` and ``train`` share, checked; returns (set_pairs, plugins) as lists."""
    from ganeval.plugins import as_refs

    _expect("sets", sets, (dict,), "a dict of settings ({'lr_d': 2e-4}; KEY=VALUE texts go in set_pairs)", True)
    if sets is not None and not all(isinstance(k, str) for k in sets):
        raise SpecError(f"sets: keys must be setting names (strings), got {_shown(list(sets))}")
    _count("steps", steps, True)
    _count("batch_size", batch_size, True)
    _expect("device", device, (str,), "'auto', 'cpu' or 'cuda'", True)
    _expect("inception_weights", inception_weights, _PATH, "a path", True)
    return _texts("set_pairs", set_pairs), as_refs(plugins)


# --- bench -----------------------------------------------------------------------------------------
@dataclass
class BenchResult:
    """What :func:`bench` did: the folder, the seed-runs trained and skipped, failed cells (one line
    each), the results table (one row per seed-run) and the report written (None with report=False)."""

    out_dir: Path
    trained: int
    skipped: int
    failures: list[str]
    wall_time_s: float
    results: pd.DataFrame
    report: Path | None = None
    #: a study's statistics (``study.csv``: success rates, best settings, IQM per loss), with report=True
    study: pd.DataFrame | None = None


def bench(losses: Names | None = None, benchmarks: Names | None = None, *, variants: Names | None = None,
          seeds: int | Sequence[int] | None = None, spec: str | Path | None = None, protocol: str | None = None,
          sets: dict[str, Any] | None = None, set_pairs: Sequence[str] = (), steps: int | None = None,
          batch_size: int | None = None, device: str | None = None, inception_weights: str | Path | None = None,
          plugins: Sequence[str] = (), sweep: Sequence[str] | Mapping[str, Sequence[Any]] = (),
          search: Sequence[str] | Mapping[str, str] = (), trials: int | None = None, search_seed: int | None = None,
          success: Mapping[str, Mapping[str, Any]] | None = None, out: str | Path | None = None, resume: bool = True, report: bool = True,
          executor: str = "local", address: str | None = None, workers: int | str | None = 1, progress=None,
          load_spec_plugins: bool = False) -> BenchResult:
    """Train every (benchmark, loss, variant) cell over seeds, evaluate, write ``results.csv`` (and
    ``report.md``). Defaults: ring8 and grid25, bce, wgan-gp and hinge, 3 seeds.

    ``spec``/``protocol``: a spec file or a shipped protocol (``ganeval list``); the other arguments
    override it. ``sets``: any run setting by name (``{"lr_d": 2e-4}``); ``set_pairs``: the same as
    ``KEY=VALUE`` text. ``plugins``: ``.py`` files or module names that register losses, stabilizers,
    ... ``sweep``: a hyperparameter grid, ``{"lr_d": [1e-4, 1e-3], "lr_d+lr_g": [...]}`` or
    ``["lr_d=1e-4,1e-3"]`` as on the command line; ``search``: a random search, ``{"lr_d":
    "1e-5:1e-2:log"}`` or ``["lr_d=1e-5:1e-2:log"]``, with ``trials`` settings drawn from a Sobol
    sequence seeded by ``search_seed`` (a search inside each grid point when both are given);
    ``success``: what a successful seed-run is, per benchmark (``{"ring8": {"modes_covered": ">= 7"}}``),
    for the study's success rates. Every
    cell trains every setting over the seeds; settings that leave the step's structure alone
    (learning rates, betas, penalty weights, ...) train as members of one batched model.
    ``load_spec_plugins``: also run the plugins the ``spec`` file names (their recorded SHA-256
    checked before they run); otherwise a spec naming plugins not given in ``plugins`` is refused.
    ``out``: the bench folder (default: the bench whose ``spec.toml`` ``spec`` is, else
    ``runs/bench-<spec hash>``); an unfinished bench there resumes. ``workers``: how many worker
    processes the local executor runs cells in, side by side (``"auto"``: one per CPU core, as the
    command line does; the numbers do not change). Workers are fresh processes: they see ganeval's
    own components and those of ``plugins`` files and modules, not ones registered in this session
    (a notebook's ``register_loss``), so the default here is 1, this process; a script that asks
    for workers runs its bench under ``if __name__ == "__main__":`` (workers are spawned, and
    Python's spawn imports the script's top level). ``progress``: a
    :class:`ganeval.progress.Progress` (default: silent).
    """
    from ganeval import rundir
    from ganeval.bench_report import build_report, study_table
    from ganeval.results import collect
    from ganeval.runner import bench_out_dir, run_bench
    from ganeval.spec import build_spec, parse_seeds

    set_pairs, plugins = _run_options(sets, set_pairs, steps, batch_size, device, inception_weights, plugins)
    _expect("spec", spec, _PATH, "a path", True)
    _expect("protocol", protocol, (str,), "a protocol name", True)
    _expect("out", out, _PATH, "a folder", True)
    for key, flag in (("resume", resume), ("report", report), ("load_spec_plugins", load_spec_plugins)):
        _expect(key, flag, (bool,), "True or False")
    _expect("executor", executor, (str,), "an executor name")
    _expect("address", address, (str,), "a Ray address", True)
    if workers is not None:
        from ganeval.executors.local import parse_workers

        parse_workers(workers)
    if seeds is not None and not isinstance(seeds, (int, list, tuple, range)) or isinstance(seeds, bool):
        raise SpecError(f"seeds must be a count or a list of integers, got {_shown(seeds)}")
    resolved = build_spec(
        spec_file=Path(spec) if spec is not None else None, protocol=protocol, losses=_names(losses, "losses"),
        benchmarks=_names(benchmarks, "benchmarks"), variants=_names(variants, "variants"),
        seeds=parse_seeds(list(seeds) if isinstance(seeds, (list, tuple, range)) else seeds, "seeds")
        if seeds is not None else None,
        device=device, sets=sets, set_pairs=set_pairs, steps=steps, batch_size=batch_size,
        inception_weights=Path(inception_weights) if inception_weights is not None else None, plugins=plugins,
        sweep=sweep, search=search, trials=trials, search_seed=search_seed, success=success,
        load_spec_plugins=load_spec_plugins)
    out_dir = Path(out) if out is not None else bench_out_dir(resolved, Path(spec) if spec is not None else None)
    outcome = run_bench(resolved, out_dir, resume=resume, progress=progress, executor=executor, address=address,
                        workers=workers if executor == "local" or workers not in (1, None) else None)
    frame = collect(out_dir)
    path = build_report(out_dir, refresh_results=False, collected={out_dir: frame}) if report else None
    table = study_table(out_dir, rundir.read_spec(out_dir)) if report else None
    return BenchResult(out_dir, outcome.trained, outcome.skipped, outcome.failures, outcome.wall_time_s, frame, path,
                       table)


def train(benchmark: str = "ring8", loss: str = "bce", *, variant: str = "none", seed: int = 0,
          sets: dict[str, Any] | None = None, set_pairs: Sequence[str] = (), steps: int | None = None,
          batch_size: int | None = None, device: str | None = None, inception_weights: str | Path | None = None,
          plugins: Sequence[str] = (), out: str | Path | None = None, resume: bool = True
          ) -> tuple[Path, dict[str, Any]]:
    """One seed-run into a run folder (default ``runs/train/BENCH/CELL/seed-K``), then evaluated.
    Returns (run folder, its metrics document)."""
    from ganeval import rundir
    from ganeval.runner import train_run
    from ganeval.spec import CellId, build_spec

    set_pairs, plugins = _run_options(sets, set_pairs, steps, batch_size, device, inception_weights, plugins)
    for key, value in (("benchmark", benchmark), ("loss", loss), ("variant", variant)):
        _expect(key, value, (str,), "a name")
    _expect("seed", seed, (int,), "an integer")
    _expect("out", out, _PATH, "a folder", True)
    _expect("resume", resume, (bool,), "True or False")
    spec = build_spec(losses=[loss], benchmarks=[benchmark], variants=[variant], seeds=[seed], device=device,
                      sets=sets, set_pairs=set_pairs, steps=steps, batch_size=batch_size,
                      inception_weights=Path(inception_weights) if inception_weights is not None else None,
                      plugins=plugins)
    run = spec.cells()[0]
    run_dir = Path(out) if out is not None else rundir.run_dir(Path("runs") / "train", CellId.of(run), seed)
    return run_dir, train_run(run, seed, run_dir, spec.device, resume)


# --- score -----------------------------------------------------------------------------------------
@dataclass
class ScoreResult:
    """The evaluation document of scored samples (the same as a run's ``metrics.json``) and, with
    ``out``, the seed-run folder it was filed as."""

    doc: dict[str, Any]
    filed: Path | None = None

    @property
    def metrics(self) -> MetricValues:
        """Metric values by name, each with its better direction (``.direction(name)``)."""
        return MetricValues(self.doc.get("metrics") or {})


#: What ``score(generator=...)`` takes: a ``MODULE:NAME`` / ``FILE.py:NAME`` / TorchScript text, or an
#: ``nn.Module`` or callable in memory mapping a latent batch ``[B, *latent]`` to samples ``[B, ...]``.
GeneratorLike = str | torch.nn.Module | Callable[[torch.Tensor], torch.Tensor]


def score(samples: str | Path | torch.Tensor | None = None, *, generator: GeneratorLike | None = None,
          latent: str | int = "normal:100", n: int | None = None, seed: int = 0, benchmark: str | None = None,
          real: str | Path | torch.Tensor | None = None, centers: str | Path | None = None, std: float | None = None,
          trace: str | Path | None = None, metrics: Names | None = None,
          inception_weights: str | Path | None = None, pixel_range: str = "-1,1", resize: bool = False,
          n_real: int = 10000, is_splits: int = IS_SPLITS, kid_subset_size: int = 1000, batch_size: int = 500,
          name: str | None = None, out: str | Path | None = None, device: str = "cpu", plugins: Sequence[str] = (),
          progress: Callable[[str], None] = lambda text: None) -> ScoreResult:
    """Score samples you already have, or a generator's, with no run folder.

    What is scored: ``samples`` (a folder of images, a tensor file or a tensor) or ``generator``.
    Against what: a built-in ``benchmark`` (its mode metrics, + FID/IS/KID/PRC for images), your own
    real images or points (``real``) and/or your own mixture's centres (``centers``, with ``std`` or
    a std estimated from ``real`` points).

    Args:
        samples: points ``[N, D]`` or images ``[N, C, H, W]`` (uint8, or floats in ``pixel_range``),
            as a tensor, a ``.npy``/``.npz``/``.pt`` file or a folder of PNG/JPEG images.
        generator: instead of ``samples``: an ``nn.Module`` or any callable mapping a batch of
            latents ``[B, *latent size]`` to ``B`` samples (points ``[B, D]`` or images
            ``[B, C, H, W]``); or, as on the command line, ``"module:NAME"``, ``"file.py:NAME"``
            (imported: this runs that code) or a TorchScript file. It is called on batches of at
            most ``batch_size`` latents under ``torch.no_grad()``; a module runs in eval mode on its
            own device (it is never moved, and its train/eval modes are restored afterwards), a
            plain callable gets latents on ``device``. A callable of a count can be wrapped:
            ``generator=lambda z: sample(len(z))``.
        latent: the generator's latent distribution and size, ``"normal:100"``, ``"uniform:100x1x1"``
            (uniform on (-1, 1)), or an int ``k`` for ``"normal:k"``.
        n: how many samples to draw from ``generator`` (default 10,000); not with ``samples``.
        seed: seed of the latents (drawn on the CPU, so a seed gives the same latents on any
            device); also the seed the score is filed under with ``out``.
        benchmark: a built-in benchmark's name (``ganeval.registries().benchmarks``).
        real: your own real images or points (a tensor or a path, as ``samples``).
        centers: a file of your own mixture's centres ``[K, D]``; ``std``: its components' std.
        trace: a GANTracer folder whose events and stability summary are filed with the score.
        metrics: names among modes, fid, is, kid, prc, mmd (default: all that apply).
        inception_weights: FID/IS/KID with torch-fidelity's Inception-v3 from these weights.
        pixel_range: the range of float pixels, ``"-1,1"`` or ``"0,1"``.
        resize: resize images to the benchmark's size instead of refusing other sizes.
        n_real: the number of real samples of a benchmark's reference set.
        is_splits: the IS convention: the number of splits (10, the papers').
        kid_subset_size: the KID convention: the subset size (capped at the sample counts).
        batch_size: latents per generator call.
        name: the name the score is filed and tabulated under (default: from the source).
        out: also file the score as ``OUT/<benchmark>/<name>/seed-<seed>`` for :func:`report`
            and :func:`check`.
        device: where metrics are computed (``"cpu"``, ``"cuda"``, ``"auto"``).
        plugins: plugin files or modules to load first.
        progress: called with one line of text per stage.

    Returns:
        A :class:`ScoreResult`: ``metrics`` (name -> value, each with its better direction), the
        whole evaluation document ``doc`` (the same as a seed-run's ``metrics.json``) and the
        seed-run folder it was ``filed`` as (with ``out``).

    Raises:
        GanevalError: on any bad input, in one line: a wrong type, a generator whose output is not
            one sample per latent, samples of the wrong shape, NaN or infinite points.
    """
    from ganeval import user_samples
    from ganeval.device import resolve_device
    from ganeval.user_score import DEFAULT_SAMPLES, make_mixture, read_user_trace, write_score
    from ganeval.user_score import score as score_document

    _expect("samples", samples, (*_PATH, torch.Tensor), "a path or a tensor", True)
    _expect("real", real, (*_PATH, torch.Tensor), "a path or a tensor", True)
    if generator is not None and not isinstance(generator, str) and not callable(generator):
        raise SpecError(f"generator must be an nn.Module, a callable mapping latents to samples or a "
                        f"'module:NAME' text, got {_shown(generator)}")
    for key, value in (("benchmark", benchmark), ("name", name)):
        _expect(key, value, (str,), "a string", True)
    for key, value in (("centers", centers), ("trace", trace), ("inception_weights", inception_weights), ("out", out)):
        _expect(key, value, _PATH, "a path", True)
    _expect("latent", latent, (str, int), "DIST:SIZE, e.g. 'normal:100', or a size")
    _count("n", n, True)
    _expect("seed", seed, (int,), "an integer")
    _expect("std", std, (int, float), "a number", True)
    _expect("pixel_range", pixel_range, (str,), "'-1,1' or '0,1'")
    _expect("resize", resize, (bool,), "True or False")
    for key, value in (("n_real", n_real), ("is_splits", is_splits), ("kid_subset_size", kid_subset_size),
                       ("batch_size", batch_size)):
        _count(key, value)
    _expect("device", device, (str,), "'auto', 'cpu' or 'cuda'")
    if not callable(progress):
        raise SpecError(f"progress must be a callable taking one string, got {_shown(progress)}")
    load_plugins(plugins)
    if (samples is None) == (generator is None):
        raise SpecError(f"give {arg('samples')} (a folder of images, a tensor file or a tensor) or {arg('generator')}, "
                        "not both or neither")
    if benchmark is None and real is None and centers is None:
        raise SpecError(f"score against {arg('benchmark')} NAME, {arg('real')} PATH (your own real images or points) "
                        f"and/or {arg('centers')} FILE (your own mixture's centres)")
    if std is not None and centers is None:
        raise SpecError(f"{arg('std')} is the std of the mixture given by {arg('centers')}")
    user_trace = read_user_trace(Path(trace)) if trace is not None else None
    if benchmark is not None:
        from ganeval.benchmarks import get_benchmark

        get_benchmark(benchmark)  # an unknown name fails before any work
    if inception_weights is not None:
        from ganeval.metrics.fidelity import check_inception_weights

        check_inception_weights(Path(inception_weights))
    dev = resolve_device(device)
    default_name = (Path(generator.rpartition(":")[2] or generator).stem if isinstance(generator, str)
                    else _object_name(generator) if generator is not None
                    else "samples" if isinstance(samples, torch.Tensor)
                    else Path(samples).resolve().name if Path(samples).is_dir() else Path(samples).stem)
    name = name or default_name or "samples"
    if out is not None:  # before the work: a bad name, a finished run or a running bench there is refused now
        from ganeval.rundir import CUSTOM_BENCHMARK, check_new_run
        from ganeval.spec import CellId

        check_new_run(Path(out), CellId(benchmark or CUSTOM_BENCHMARK, name), seed)
    if generator is not None:
        lat = _latent(latent)
        if isinstance(generator, str):
            G, source = user_samples.load_generator(generator), user_samples.describe_generator(generator, lat, seed)
        else:
            G, source = generator, {"kind": "generator", "generator": f"{_object_name(generator)} (in memory)",
                                    "latent": str(lat), "seed": seed}
        # a module in memory is fed where it lives (never moved); a loaded one or a callable, on `device`
        own = user_samples.module_device(G) if not isinstance(generator, str) else None
        progress(f"drawing {n or DEFAULT_SAMPLES} samples from {source['generator']} ({lat}, seed {seed})")
        with user_samples.evaluating(G):
            data = user_samples.generate(G, lat, n or DEFAULT_SAMPLES, seed, batch_size, pixel_range,
                                         own if own is not None else dev)
        given = user_samples.Samples(data, source)
    else:
        if n is not None:
            raise SpecError(f"{arg('n')} draws from {arg('generator')}; {arg('samples')} are scored as given")
        given = _as_samples(samples, pixel_range, allow_nonfinite=user_trace is not None)
    reference = _as_samples(real, pixel_range) if real is not None else None
    mixture = make_mixture(user_samples.load_centers(Path(centers)), std, reference) if centers is not None else None
    doc = score_document(given, benchmark=benchmark, real=reference, mixture=mixture, trace=user_trace,
                         metrics=_names(metrics, "metrics"),
                            inception_weights=str(inception_weights) if inception_weights else None, resize=resize,
                            n_real=n_real, is_splits=is_splits, kid_subset_size=kid_subset_size,
                            name=name, seed=seed, device=dev, progress=progress)
    filed = write_score(Path(out), doc, given.data, user_trace) if out is not None else None
    return ScoreResult(doc, filed)


def _latent(latent: str | int):
    from ganeval import user_samples

    if isinstance(latent, int):
        if latent < 1 or latent > user_samples.MAX_LATENT:
            raise SpecError(f"latent must be a size in [1, {user_samples.MAX_LATENT:,}] or DIST:SIZE, got {latent}")
        return user_samples.Latent("normal", (latent,))
    return user_samples.Latent.parse(latent)


def _object_name(obj: Any) -> str:
    """The name a generator in memory is filed under: its function's or its class's, if a plain word."""
    name = getattr(obj, "__name__", None) or type(obj).__name__
    return name if name.isidentifier() else "generator"


def _as_samples(value: str | Path | torch.Tensor, pixel_range: str, allow_nonfinite: bool = False):
    from ganeval import user_samples

    if isinstance(value, torch.Tensor):
        return user_samples.Samples(user_samples.as_samples(value, pixel_range, "tensor", allow_nonfinite=allow_nonfinite),
                                    {"kind": "tensor"})
    return user_samples.load_samples(Path(value), pixel_range, allow_nonfinite=allow_nonfinite)


# --- report ----------------------------------------------------------------------------------------
def report(folders: str | Path | Sequence[str | Path], *, output: str | Path | None = None, fmt: str | None = None,
           plugins: Sequence[str] = ()) -> ReportResult:
    """Rebuild ``results.csv`` and ``report.md`` from bench folders (the disk only), several side by
    side; or, for traced run folders (``trace.csv``, e.g. from GANTracer), their curves and events.
    ``fmt`` (md, csv, latex, json): only the comparison table, written to ``output`` if given."""
    import contextlib

    from ganeval.rundir import REPORT_FILE, check_output, is_report, writing

    from ganeval.tables import FORMATS

    if not isinstance(folders, _PATH) and not (isinstance(folders, (list, tuple))
                                                and all(isinstance(f, _PATH) for f in folders)):
        raise SpecError(f"folders must be a folder or a list of folders, got {_shown(folders)}")
    _expect("output", output, _PATH, "a file", True)
    if fmt is not None and fmt not in FORMATS:
        raise SpecError(f"fmt must be one of {', '.join(FORMATS)} or None, got {_shown(fmt)}")
    load_plugins(plugins)
    dirs = [Path(folders)] if isinstance(folders, (str, Path)) else [Path(f) for f in folders]
    if not dirs:
        raise SpecError("give at least one folder")
    if fmt is None:
        for d in dirs:
            _refuse_a_published_copy(d)
    if output is not None:  # before any figure is written: never into a run folder, never over another file
        check_output(Path(output), arg("output"), default=dirs[0] / REPORT_FILE if len(dirs) == 1 else None,
                     replaceable=is_report if fmt is None else lambda head: True)  # a table: checked as written
    # report.md and results.csv go into each folder: no bench may write it meanwhile
    with writing(*[d for d in dirs if d.is_dir()]) if fmt is None else contextlib.nullcontext():
        return bench_report(dirs, Path(output) if output is not None else None, fmt)


def _refuse_a_published_copy(folder: Path) -> None:
    """A folder holding a results table with rows but no seed-run folders is a copy of a bench's
    results (e.g. a committed ``reports/studies/NAME``): rebuilding it from its (absent) seed-runs
    would replace its tables with empty ones, so it is refused before anything is written."""
    from ganeval import fileio
    from ganeval.rundir import RESULTS_FILE, find_run_dirs

    table = folder / RESULTS_FILE
    if not table.is_file() or find_run_dirs(folder):
        return
    try:
        rows = fileio.read_text(table, what="results table").count("\n") - 1
    except Exception:  # noqa: BLE001 - an unreadable table is not a published one; the report says why
        return
    if rows > 0:
        raise RunFolderError(f"{folder}: {RESULTS_FILE} has {rows} rows but the folder holds no seed-run folders "
                             "(a copy of a bench's results?); nothing rebuilt, nothing replaced")


# --- check -----------------------------------------------------------------------------------------
@dataclass
class CheckResult:
    """The verdict on every tracked metric; ``failed`` lists those that regressed."""

    verdicts: list[Verdict]
    alpha: float
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.failed]


def check(bench_dir: str | Path, *, baseline: str | Path, alpha: float = 0.05, tolerances: Sequence[str] = (),
          plugins: Sequence[str] = ()) -> CheckResult:
    """Compare a bench with a baseline file: a tracked metric regresses when it got worse beyond its
    tolerance and a test across seeds (Bonferroni over the tracked metrics at ``alpha``) says seed
    noise is an unlikely explanation. ``tolerances``: ``METRIC=VALUE[%]`` overrides for this check."""
    from ganeval.regression import (apply_tolerances, guard_warnings, load_baseline, parse_tolerances,
                                    settings_warnings)
    from ganeval.regression import check as run_check
    from ganeval.rundir import check_bench_dir, require_readable, spec_warning

    _expect("bench_dir", bench_dir, _PATH, "a folder")
    _expect("baseline", baseline, _PATH, "a file")
    _expect("alpha", alpha, (int, float), "a number")
    tolerances = _texts("tolerances", tolerances)
    load_plugins(plugins)
    if not 0 < alpha < 1:
        raise SpecError(f"alpha must lie strictly between 0 and 1, got {alpha}")
    bench_dir = check_bench_dir(Path(bench_dir))
    require_readable(bench_dir)  # a seed-run that cannot be read is never silently left out of a guard
    warning = spec_warning(bench_dir)
    base = apply_tolerances(load_baseline(Path(baseline)), parse_tolerances(list(tolerances)))
    warnings = ([warning] if warning else []) + settings_warnings(base, bench_dir)
    verdicts = run_check(bench_dir, base, alpha)
    return CheckResult(verdicts, alpha, warnings + guard_warnings(base, alpha, verdicts))


# --- evaluate --------------------------------------------------------------------------------------
@dataclass
class EvalResult:
    """The evaluation document of a run folder at one checkpoint (``metrics.json``'s form) and the
    warnings about its bench (e.g. plugins its spec names that were not loaded)."""

    doc: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    @property
    def metrics(self) -> MetricValues:
        """Metric values by name, each with its better direction (``.direction(name)``)."""
        return MetricValues(self.doc.get("metrics") or {})


def evaluate(run_dir: str | Path, *, step: int | None = None, metrics: Names | None = None,
             inception_weights: str | Path | None = None, lpips_weights: str | Path | None = None,
             device: str = "cpu", plugins: Sequence[str] = ()) -> EvalResult:
    """Re-evaluate a finished or partial seed-run from its checkpoint (``ganeval eval``).

    With the run's own settings at its last step this rewrites ``metrics.json``; otherwise the
    document goes to ``RUN_DIR/eval/step-<n>.json``.

    Args:
        run_dir: a seed-run folder (``BENCH/<benchmark>/<cell>/seed-<k>`` or one of :func:`train`).
        step: the checkpoint step to evaluate (default: the newest good one).
        metrics: ``fid``, ``is``, ``kid``, ``prc`` and/or ``modes`` (default: the run's own).
        inception_weights: FID/IS/KID with torch-fidelity's Inception-v3 from these weights (never
            downloaded) instead of the offline ganeval-mnist extractor.
        lpips_weights: also LPIPS diversity; a folder with ``alexnet-owt-7be5be79.pth`` and lpips'
            ``alex.pth``.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        plugins: plugin files or modules to load first.

    Returns:
        An :class:`EvalResult`: ``metrics`` (name -> value, with directions), the document ``doc``
        and ``warnings``.
    """
    from ganeval.evaluate import evaluate_run
    from ganeval.rundir import SPEC_FILE, enclosing_bench, spec_warning

    _expect("run_dir", run_dir, _PATH, "a folder")
    _expect("step", step, (int,), "a checkpoint step (an integer)", True)
    for key, value in (("inception_weights", inception_weights), ("lpips_weights", lpips_weights)):
        _expect(key, value, _PATH, "a path", True)
    _expect("device", device, (str,), "'auto', 'cpu' or 'cuda'")
    load_plugins(plugins)
    run_dir = Path(run_dir)
    bench_dir = enclosing_bench(run_dir) if run_dir.is_dir() else None
    warning = spec_warning(bench_dir) if bench_dir is not None and (bench_dir / SPEC_FILE).is_file() else None
    doc = evaluate_run(run_dir, step, device, metrics=_names(metrics, "metrics"),
                       inception_weights=Path(inception_weights) if inception_weights is not None else None,
                       lpips_weights=Path(lpips_weights) if lpips_weights is not None else None)
    return EvalResult(doc, [warning] if warning else [])


# --- baseline --------------------------------------------------------------------------------------
@dataclass
class BaselineResult:
    """The baseline file written, its document (tracked metrics with their seed values and
    tolerances) and the warnings about what it can and cannot guard."""

    path: Path
    doc: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    @property
    def tracked(self) -> list[str]:
        """The tracked keys, ``BENCHMARK/CELL/METRIC``."""
        return list(self.doc["metrics"])


def baseline(bench_dir: str | Path, output: str | Path, *, update: bool = False, metrics: Names | None = None,
             retrack: bool = False, tolerances: Sequence[str] = (), plugins: Sequence[str] = ()) -> BaselineResult:
    """Write a baseline for :func:`check` from a bench (``ganeval baseline init``, and
    ``ganeval check --update``).

    Args:
        bench_dir: the bench folder whose seed-runs the baseline records.
        output: the baseline file. A new one is never written over an existing file; with
            ``update`` an earlier baseline there is replaced (atomically).
        update: refresh the baseline at ``output``, keeping its tracked metrics and tolerances.
        metrics: for a new baseline, the metrics to track in every cell (default: those of the
            quality and stability set the bench has).
        retrack: with ``update``, track the default metric set again.
        tolerances: ``METRIC=VALUE[%]`` texts instead of the default tolerances (VALUE in the
            metric's units, VALUE% relative to the baseline mean; METRIC may be a full key).
        plugins: plugin files or modules to load first.

    Returns:
        A :class:`BaselineResult`: the file, its document and warnings (a spec's plugins not
        loaded, metrics the bench's seed count cannot guard).
    """
    from ganeval.regression import guard_warnings, init_baseline, update_baseline
    from ganeval.rundir import check_bench_dir, spec_warning

    _expect("bench_dir", bench_dir, _PATH, "a folder")
    _expect("output", output, _PATH, "a file")
    _expect("update", update, (bool,), "True or False")
    _expect("retrack", retrack, (bool,), "True or False")
    tolerances = _texts("tolerances", tolerances)
    tracked = _names(metrics, "metrics")
    if update and tracked is not None:
        raise SpecError(f"{arg('metrics')} chooses what a new baseline tracks; an update keeps the tracked metrics "
                        f"(or, with {arg('retrack')}, tracks the default set again)")
    if retrack and not update:
        raise SpecError(f"{arg('retrack')} goes with {arg('update')}")
    load_plugins(plugins)
    folder = check_bench_dir(Path(bench_dir))
    if update:
        doc = update_baseline(folder, Path(output), retrack, tolerances)
    else:
        doc = init_baseline(folder, Path(output), tracked, tolerances)
    warning = spec_warning(folder)
    return BaselineResult(Path(output), doc, ([warning] if warning else []) + guard_warnings(doc))


# --- registries ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Registries:
    """Everything that can be named (``ganeval list``): each registry's entries by name, in
    registration order, as registered objects (their ``description``, defaults, ...)."""

    losses: dict[str, Loss]
    benchmarks: dict[str, Benchmark]
    variants: dict[str, Variant]
    models: dict[str, ModelFamily]
    optimizers: dict[str, Optimizer]
    #: executor factories by name (``local``, ``ray``, a plugin's)
    executors: dict[str, Callable[..., Executor]]
    #: settings declared by plugins, by name (each with its ``setting`` and ``owner``)
    settings: dict[str, Any]
    metrics: dict[str, MetricInfo]
    #: shipped protocols: name -> one-line summary
    protocols: dict[str, str]
    #: the plugins loaded in this process
    plugins: list[Plugin]


def registries(*, plugins: Sequence[str] = ()) -> Registries:
    """What losses, benchmarks, variants, models, optimizers, executors, plugin settings, metrics
    and protocols can be named, after loading ``plugins`` (``ganeval list``).

    Args:
        plugins: plugin files or modules to load first (their entries are listed too).

    Returns:
        A :class:`Registries` (``registries().losses["hinge"].description``).
    """
    from ganeval.benchmarks import BENCHMARKS, get_benchmark
    from ganeval.executors import EXECUTORS
    from ganeval.losses import LOSSES
    from ganeval.metrics.catalog import METRICS
    from ganeval.models import MODELS
    from ganeval.optimizers import OPTIMIZERS
    from ganeval.plugins import loaded_plugins
    from ganeval.protocols import protocol_names, protocol_summary
    from ganeval.settings import SETTINGS
    from ganeval.variants import VARIANTS

    load_plugins(plugins)
    return Registries(
        losses=dict(LOSSES.items()), benchmarks={name: get_benchmark(name) for name in BENCHMARKS.names()},
        variants=dict(VARIANTS.items()), models=dict(MODELS.items()), optimizers=dict(OPTIMIZERS.items()),
        executors=dict(EXECUTORS.items()), settings=dict(SETTINGS.items()), metrics=dict(METRICS.items()),
        protocols={name: protocol_summary(name) for name in protocol_names()}, plugins=loaded_plugins())
