"""ganeval: diagnostics and evaluation for GAN training stability.

The Python API (the CLI only parses flags for these)::

    import ganeval
    result = ganeval.bench(losses="bce,hinge", benchmarks="ring8", seeds=3, out="runs/mine")
    result.results                       # one row per seed-run (pandas)
    ganeval.report("runs/mine")          # report.md with tables and figures
    ganeval.check("runs/mine", baseline="baseline.json").failed
    ganeval.score("samples.npy", benchmark="ring8").metrics["modes_covered"]
    ganeval.score(generator=G, latent=64, n=2500, benchmark="ring8")   # an nn.Module or callable
    ganeval.baseline("runs/mine", "baseline.json")                      # then check(..., baseline=)
    ganeval.evaluate("runs/mine/ring8/bce/seed-0", step=1000)           # one run at a checkpoint
    ganeval.registries().losses                                         # what `ganeval list` prints

Bring your own loss, stabilizer, model, benchmark, optimizer or executor with ``register_*`` (in
a notebook, or in a plugin file loaded with ``plugins=[...]`` / ``--plugin``); their settings are
declared with :class:`Setting`. (``ganeval.api.train`` trains one run; ``ganeval.train`` is the
trainer's package.) ``get_benchmark(name)`` gives a benchmark's real samples and
evaluator for any generator.
"""

__version__ = "0.1.0"

import ganeval.evaluate  # noqa: E402, F401 - loaded before the function `evaluate` below takes its name here
from ganeval.api import (  # noqa: E402
    BaselineResult,
    BenchResult,
    CheckResult,
    EvalResult,
    Registries,
    ReportResult,
    ScoreResult,
    Verdict,
    baseline,
    bench,
    check,
    evaluate,
    registries,
    report,
    score,
)
from ganeval.metrics.catalog import MetricValues  # noqa: E402
from ganeval.benchmarks import Benchmark, GaussianMixture, get_benchmark, register_benchmark  # noqa: E402
from ganeval.diagnostics import GANTracer  # noqa: E402
from ganeval.errors import GanevalError  # noqa: E402
from ganeval.executors import Executor, register_executor  # noqa: E402
from ganeval.losses import Loss, register_loss  # noqa: E402
from ganeval.models import ModelFamily, register_model  # noqa: E402
from ganeval.optimizers import Optimizer, register_optimizer  # noqa: E402
from ganeval.plugins import load_plugin  # noqa: E402
from ganeval.settings import Setting  # noqa: E402
from ganeval.variants import StepContext, Variant, per_member, register_variant  # noqa: E402

__all__ = [
    "BaselineResult", "Benchmark", "BenchResult", "CheckResult", "EvalResult", "Executor", "GANTracer", "GanevalError",
    "GaussianMixture", "Loss", "MetricValues", "ModelFamily", "Optimizer", "Registries", "ReportResult", "ScoreResult",
    "Setting", "StepContext", "Variant", "Verdict", "__version__", "baseline", "bench", "check", "evaluate",
    "get_benchmark", "load_plugin", "per_member", "register_benchmark", "register_executor", "register_loss",
    "register_model", "register_optimizer", "register_variant", "registries", "report", "score",
]
