"""The 95 % intervals of the report's tables: one method per kind of metric, each stated.

Every table shows a cell's mean over seeds with an interval. A t-interval assumes the seeds' values
are roughly normal; a bounded metric near its bound is not (8, 8, 8 modes of 8 give a t-interval
of width 0; 8, 8, 5 one reaching 10.8 modes), and clipping it at the bound hides that instead of
fixing it. So the metrics that are counts or proportions get an interval for proportions:

* **modes covered** (a count of the benchmark's ``n_modes``) and **high-quality rate** (a share of
  ``n_samples`` generated samples): Clopper–Pearson with the effective sample size of Korn &
  Graubard (1998, *Survey Methodology* 24(2), "Confidence intervals for proportions with small
  expected number of positive counts estimated from survey data"). The seeds are clusters of
  trials (modes, or samples): p = the mean proportion over seeds; its variance is estimated from
  the seeds (s^2 / n), so seeds that disagree widen the interval; the effective number of trials
  p (1 - p) / var is capped at the nominal number (n x trials; also when every seed agrees), and
  scaled by (z / t_{n-1})^2 for the few seeds the variance was estimated from. The interval of
  that many Bernoulli trials (exact, Clopper–Pearson), times the scale, lies within [0, n_modes]
  or [0, 1] by construction.
* **diverged** (0 or 1 per seed): the exact Clopper–Pearson interval of the diverged seeds out of n.
* every other metric: the Student-t interval of the mean over seeds; where a metric has bounds
  (KL, FID, ... cannot be negative), the report cuts the interval there and says so.

The stated coverage is simulated in ``tests/test_intervals.py`` (seeds drawn from beta-binomial
models of the metrics). It holds (at least 93 % for a 95 % interval) wherever the seeds vary
moderately, and it cannot hold with 3 or 5 seeds where seeds split into far-apart groups (some
collapse, some do not) or are extremely skewed: no interval computed from 3 values can know about
a group none of them fell in. The t-interval fails there as well, and more often elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd

#: metric -> (column holding the number of trials per seed, or a constant; the value's scale, a
#: column or a constant): the metrics whose interval is one for proportions.
PROPORTIONS: dict[str, tuple[str | float, str | float]] = {
    "modes_covered": ("n_modes", "n_modes"),
    "hq_rate": ("n_samples", 1.0),
    "diverged": (1.0, 1.0),
}


def t_interval(values: Sequence[float] | pd.Series, level: float = 0.95) -> tuple[float, float]:
    """Two-sided Student-t confidence interval of the mean over seeds (NaN with fewer than 2)."""
    from scipy import stats

    v = pd.Series(values, dtype=float).dropna()
    n = len(v)
    if n < 2:
        return math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * float(v.std(ddof=1)) / math.sqrt(n)
    return float(v.mean()) - half, float(v.mean()) + half


def clopper_pearson(successes: float, trials: float, level: float = 0.95) -> tuple[float, float]:
    """The exact binomial interval of a proportion, ``successes`` of ``trials`` (both may be
    fractional: effective counts), from the beta quantiles."""
    from scipy import stats

    a = 1 - level
    lo = 0.0 if successes <= 0 else float(stats.beta.ppf(a / 2, successes, trials - successes + 1))
    hi = 1.0 if successes >= trials else float(stats.beta.ppf(1 - a / 2, successes + 1, trials - successes))
    return lo, hi


def proportion_interval(proportions: Sequence[float], trials: float, level: float = 0.95) -> tuple[float, float]:
    """Interval of the mean of per-seed ``proportions`` in [0, 1], each of ``trials`` trials
    (Korn & Graubard's effective-sample-size Clopper–Pearson; see the module docstring). One trial
    per seed (a 0/1 outcome) is the exact Clopper–Pearson interval of the count. NaN with fewer than
    two seeds, as the t-interval."""
    y = np.asarray([p for p in proportions if p is not None and math.isfinite(p)], dtype=float)
    n = len(y)
    if n < 2 or not trials > 0:
        return math.nan, math.nan
    y = np.clip(y, 0.0, 1.0)
    p = float(y.mean())
    if trials == 1:  # one outcome per seed: nothing clusters, the count is binomial
        return clopper_pearson(float(y.sum()), float(n), level)
    nominal = n * float(trials)
    var = float(y.var(ddof=1)) / n
    effective = min(nominal, p * (1 - p) / var) if var > 0 and 0 < p < 1 else nominal
    effective *= _df_factor(level, n)
    return clopper_pearson(p * effective, effective, level)


@lru_cache(maxsize=256)
def _df_factor(level: float, n: int) -> float:
    """(z / t_{n-1})^2: Korn & Graubard's shrinking of the effective trials for a variance
    estimated from ``n`` seeds."""
    from scipy import stats

    return (float(stats.norm.ppf(0.5 + level / 2)) / float(stats.t.ppf(0.5 + level / 2, n - 1))) ** 2


def metric_interval(metric: str, rows: pd.DataFrame, level: float = 0.95) -> tuple[float, float]:
    """The interval of ``metric``'s mean over the seed-runs ``rows`` of one cell (the rows carry
    ``n_modes`` / ``n_samples`` where the metric needs them): for proportions where the trials are
    known, else the t-interval."""
    values = pd.to_numeric(rows[metric], errors="coerce") if metric in rows else pd.Series(dtype=float)
    if metric not in PROPORTIONS:
        return t_interval(values, level)
    trials_of, scale_of = PROPORTIONS[metric]
    trials = _constant(rows, trials_of)
    scale = _constant(rows, scale_of)
    if not (math.isfinite(trials) and math.isfinite(scale) and scale > 0):
        return t_interval(values, level)  # a benchmark that does not say how many (scored by an older ganeval)
    lo, hi = proportion_interval((values.dropna() / scale).tolist(), trials, level)
    return lo * scale, hi * scale


def _constant(rows: pd.DataFrame, source: str | float) -> float:
    """A number, or the one value of a column over the cell's rows (NaN if absent or not one value)."""
    if not isinstance(source, str):
        return float(source)
    if source not in rows:
        return math.nan
    values = pd.to_numeric(rows[source], errors="coerce").dropna().unique()
    return float(values[0]) if len(values) == 1 else math.nan
