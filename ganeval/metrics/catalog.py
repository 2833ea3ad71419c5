"""Every metric ganeval reports, defined once: name, which direction is better, what it means.

Results, report and regression check all read these entries, so a metric cannot be "higher is
better" in one table and "lower is better" in another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ganeval.registry import Registry

Direction = Literal["higher", "lower", "none"]


@dataclass(frozen=True)
class MetricInfo:
    name: str
    direction: Direction
    description: str
    fmt: str = ".3f"


METRICS: Registry[MetricInfo] = Registry("metric")


def register_metric(info: MetricInfo) -> MetricInfo:
    return METRICS.register(info.name, info)


def get_metric(name: str) -> MetricInfo:
    return METRICS.get(name)


MODES_COVERED = register_metric(MetricInfo(
    "modes_covered", "higher", "modes holding at least `cover_threshold` high-quality samples", ".1f")).name
N_MODES = register_metric(MetricInfo("n_modes", "none", "number of modes of the benchmark", ".0f")).name
HQ_RATE = register_metric(MetricInfo(
    "hq_rate", "higher", "fraction of samples within `hq_sigmas` std of their nearest mode (MoG)")).name
KL = register_metric(MetricInfo(
    "kl", "lower", "reverse KL(p_gen || p_true) over modes; NaN when no sample is assigned to a mode")).name
N_SAMPLES = register_metric(MetricInfo("n_samples", "none", "generated samples the metrics were computed on", ".0f")).name
MEAN_CONFIDENCE = register_metric(MetricInfo(
    "mean_confidence", "higher", "mean top-class probability of the MNIST classifier over generated digits")).name

# Fidelity metrics (torch-fidelity); their extractor's name is recorded with them.
FID = register_metric(MetricInfo("fid", "lower", "Fréchet distance between generated and real features")).name
IS_MEAN = register_metric(MetricInfo(
    "is_mean", "higher", "Inception Score exp(E KL(p(y|x) || p(y))), mean over 10 splits")).name
IS_STD = register_metric(MetricInfo("is_std", "none", "Inception Score, std over the 10 splits")).name
KID_MEAN = register_metric(MetricInfo(
    "kid_mean", "lower", "kernel distance (cubic polynomial MMD^2), mean over subsets", ".4f")).name
KID_STD = register_metric(MetricInfo("kid_std", "none", "kernel distance, std over subsets", ".4f")).name
PRECISION = register_metric(MetricInfo(
    "precision", "higher", "fraction of generated samples inside the real feature manifold (k=3)")).name
RECALL = register_metric(MetricInfo(
    "recall", "higher", "fraction of real samples inside the generated feature manifold (k=3)")).name
DIVERSITY = register_metric(MetricInfo(
    "diversity", "none", "mean pairwise feature distance of generated samples / that of real ones (1 = as diverse)")).name
