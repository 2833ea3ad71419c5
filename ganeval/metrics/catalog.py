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
