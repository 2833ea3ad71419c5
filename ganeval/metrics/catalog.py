"""Every metric ganeval reports, defined once: name, which direction is better, what it means.

Results, report and regression check all read these entries, so a metric cannot be "higher is
better" in one table and "lower is better" in another.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ganeval.registry import Registry

Direction = Literal["higher", "lower", "none"]
Group = Literal["quality", "fidelity", "stability", "context", "study"]
#: what one seed's value is, which decides the regression test it gets (see ganeval.regression):
#: a measurement (continuous), a 0/1 outcome (binary) or a number of occurrences (count).
Kind = Literal["continuous", "binary", "count"]


def _const(value: float) -> Callable[[Mapping[str, Any]], float]:
    return lambda row: value


def _log_modes(row: Mapping[str, Any]) -> float:
    """The largest KL a benchmark's modes allow: all mass on its lightest mode, -ln(min weight) (a
    weighted mixture records it as ``kl_max``), which is ln(modes) for equal weights."""
    top = row.get("kl_max")
    if isinstance(top, (int, float)) and math.isfinite(top):
        return float(top)
    n = row.get("n_modes")
    return math.log(n) if isinstance(n, (int, float)) and n >= 1 else math.nan


@dataclass(frozen=True)
class MetricInfo:
    """``group``: which table of the report shows it ("context" columns stay in results.csv only).

    ``worst``: the value a seed-run gets where the metric is undefined because the run failed
    (diverged, or no sample on any mode): its samples say nothing, which is the worst outcome, so a
    cell never looks better for losing seeds. None: such a seed stays undefined for this metric."""

    name: str
    direction: Direction
    description: str
    fmt: str = ".3f"
    group: Group = "quality"
    #: the range a value can take (intervals shown in reports are clipped to it)
    bounds: tuple[float, float] = (float("-inf"), float("inf"))
    kind: Kind = "continuous"
    worst: Callable[[Mapping[str, Any]], float] | None = None


METRICS: Registry[MetricInfo] = Registry("metric")


def register_metric(info: MetricInfo) -> MetricInfo:
    return METRICS.register(info.name, info)


MODES_COVERED = register_metric(MetricInfo(
    "modes_covered", "higher", "modes holding at least `cover_threshold` high-quality samples", ".1f",
    bounds=(0.0, float("inf")), worst=_const(0.0))).name
MODES_ROBUST = register_metric(MetricInfo(
    "modes_robust", "higher", "modes holding samples, estimated by deconvolving the classifier's measured misreads "
    "(stacked MNIST; see metrics.robust_modes)", ".1f",
    bounds=(0.0, float("inf")), worst=_const(0.0))).name
MODES_ROBUST_LOW = register_metric(MetricInfo(
    "modes_robust_low", "none", "lower end of modes_robust's 95 % bootstrap interval (samples and confusion resampled)",
    ".1f", "context")).name
MODES_ROBUST_HIGH = register_metric(MetricInfo(
    "modes_robust_high", "none", "upper end of modes_robust's 95 % bootstrap interval", ".1f", "context")).name
KL_DECONVOLVED = register_metric(MetricInfo(
    "kl_deconvolved", "none", "KL(p || uniform) of the mode masses deconvolved from the classifier's misreads "
    "(stacked MNIST; see metrics.robust_modes)", ".4f", "context")).name
N_MODES = register_metric(MetricInfo("n_modes", "none", "number of modes of the benchmark", ".0f", "context")).name
HQ_RATE = register_metric(MetricInfo(
    "hq_rate", "higher", "fraction of samples within `hq_sigmas` std of their nearest mode (MoG)",
    bounds=(0.0, 1.0), worst=_const(0.0))).name
KL = register_metric(MetricInfo(
    "kl", "lower", "reverse KL(p_gen || p_true) over modes; undefined when no sample is assigned to a mode, "
    "and then counted as its maximum (all mass on the lightest mode: ln(modes) for equal weights, `kl_max` for a "
    "weighted mixture), as for a diverged run",
    bounds=(0.0, float("inf")), worst=_log_modes)).name
KL_MAX = register_metric(MetricInfo(
    "kl_max", "none", "the largest KL the benchmark's weights allow, -ln(lightest weight): all samples on the "
    "lightest mode (a weighted mixture only; ln(modes) for equal weights); a failed seed's KL counts as this",
    ".4f", "context")).name
N_SAMPLES = register_metric(MetricInfo(
    "n_samples", "none", "generated samples the metrics were computed on", ".0f", "context")).name
MEAN_CONFIDENCE = register_metric(MetricInfo(
    "mean_confidence", "higher", "mean top-class probability of the MNIST classifier over generated digits",
    bounds=(0.0, 1.0))).name

# Fidelity metrics (torch-fidelity); their extractor's name is recorded with them.
FID = register_metric(MetricInfo("fid", "lower", "Fréchet distance between generated and real features",
                                 ".2f", "fidelity", worst=_const(math.inf))).name
#: Splits of the Inception Score everywhere in ganeval: the literature's convention (Salimans et al. 2016;
#: torch-fidelity's default), so an IS figure compares with papers. Every IS figure names its split count.
IS_SPLITS = 10
#: The image metrics computed through torch-fidelity, and the feature extractors that can compute
#: them (ganeval's offline MNIST classifier; Inception-v3 from a local weights file). Defined once.
FIDELITY_METRICS = ("fid", "is", "kid", "prc")
EXTRACTOR = "ganeval-mnist"
INCEPTION = "inception-v3-compat"
EXTRACTORS = (EXTRACTOR, INCEPTION)

IS_MEAN = register_metric(MetricInfo(
    "is_mean", "higher", "Inception Score exp(E KL(p(y|x) || p(y))), mean over `is_splits` splits", ".1f",
    "fidelity", worst=_const(1.0))).name
IS_STD = register_metric(MetricInfo("is_std", "none", "Inception Score, std over the splits", ".1f", "context")).name
KID_MEAN = register_metric(MetricInfo(
    "kid_mean", "lower", "kernel distance (cubic polynomial MMD^2), mean over subsets", ".4f", "fidelity",
    worst=_const(math.inf))).name
KID_STD = register_metric(MetricInfo("kid_std", "none", "kernel distance, std over subsets", ".4f", "context")).name
PRECISION = register_metric(MetricInfo(
    "precision", "higher", "fraction of generated samples inside the real feature manifold (k=3)", ".3f",
    "fidelity", (0.0, 1.0), worst=_const(0.0))).name
RECALL = register_metric(MetricInfo(
    "recall", "higher", "fraction of real samples inside the generated feature manifold (k=3)", ".3f",
    "fidelity", (0.0, 1.0), worst=_const(0.0))).name
DIVERSITY = register_metric(MetricInfo(
    "diversity", "none", "mean pairwise feature distance of generated samples / that of real ones (1 = as diverse)",
    ".3f", "fidelity")).name

# Distribution metrics of points against the user's own real points (ganeval.metrics.points).
MMD2 = register_metric(MetricInfo(
    "mmd2", "lower", "squared maximum mean discrepancy between generated and real points, unbiased estimate, "
    "Gaussian RBF kernel with bandwidth `mmd_bandwidth` (median pairwise distance of the real points); "
    "about 0 when both come from one distribution, and may then be slightly negative; at most 2, the value a "
    "failed seed counts as", ".4g", worst=_const(2.0))).name
MMD_BANDWIDTH = register_metric(MetricInfo(
    "mmd_bandwidth", "none", "bandwidth (sigma) of the Gaussian kernel of `mmd2`", ".4g", "context")).name

LPIPS_DIVERSITY = register_metric(MetricInfo(
    "lpips_diversity", "none", "mean pairwise LPIPS-alex distance of generated images / that of real ones "
    "(1 = as diverse; only with local LPIPS weights, `lpips_weights`)", ".3f", "fidelity")).name
LPIPS_GENERATED = register_metric(MetricInfo(
    "lpips_generated", "none", "mean LPIPS-alex distance between pairs of generated images", ".4f", "context")).name
LPIPS_REAL = register_metric(MetricInfo(
    "lpips_real", "none", "mean LPIPS-alex distance between pairs of real images", ".4f", "context")).name

# Stability summary of a run (ganeval.diagnostics.stability).
FIRST_EVENT_STEP = register_metric(MetricInfo(
    "first_event_step", "none", "step of the run's first training event (NaN: none)", ".0f", "stability")).name
N_EVENTS = register_metric(MetricInfo(
    "n_events", "lower", "training events detected (see events.json)", ".1f", "stability", (0.0, float("inf")),
    kind="count")).name
DIVERGED = register_metric(MetricInfo(
    "diverged", "lower", "1 if the run diverged (non-finite loss or weights); its mean is the fraction of seeds",
    ".2f", "stability", (0.0, 1.0), kind="binary")).name
D_SPREAD = register_metric(MetricInfo(
    "d_grad_spread", "lower", "std of log10 of D's gradient norm over the second half of training (decades)",
    ".3f", "stability")).name
G_SPREAD = register_metric(MetricInfo(
    "g_grad_spread", "lower", "std of log10 of G's gradient norm over the second half of training (decades)",
    ".3f", "stability")).name
# What a study's baseline tracks per loss, pooled over its settings (ganeval.regression.study_values);
# derived from results.csv and the success criteria, never a column of it.
MISSED = register_metric(MetricInfo(
    "missed", "lower", "1 if the seed-run missed its benchmark's success criterion; a study's baseline counts "
    "them per loss over every setting and seed", ".2f", "study", (0.0, 1.0), kind="binary")).name
BEST_MODES_COVERED = register_metric(MetricInfo(
    "best_modes_covered", "higher", "modes covered by the seeds of the loss's best setting (the best setting mean "
    "over seeds: best-of-k at k = every setting, Lucic et al. 2018)", ".1f", "study", (0.0, float("inf")),
    worst=lambda row: 0.0)).name
BEST_FINAL_GAP = register_metric(MetricInfo(
    "best_final_gap", "lower", "best modes covered at any evaluated checkpoint minus the final value", ".1f",
    "stability")).name


class MetricValues(Mapping[str, float]):
    """A result's metric values by name (``values["modes_covered"]`` -> 8.0), in the order they were
    computed, each with the direction the catalog says is better (:meth:`direction`): a notebook
    compares two results without looking up which way is up."""

    def __init__(self, values: Mapping[str, Any]):
        self._values = {str(k): math.nan if v is None else float(v) for k, v in values.items()}

    def __getitem__(self, name: str) -> float:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def direction(self, name: str) -> Direction:
        """``"higher"`` or ``"lower"`` is better, or ``"none"`` (context, such as ``n_modes``, and
        any metric the catalog does not know)."""
        if name not in self._values:
            raise KeyError(name)
        return METRICS.get(name).direction if name in METRICS else "none"

    @property
    def directions(self) -> dict[str, Direction]:
        return {name: self.direction(name) for name in self._values}

    def __repr__(self) -> str:
        return f"MetricValues({self._values!r})"
