"""The tables' intervals: within their metric's bounds, by the stated method, and with the stated
coverage, simulated over thousands of seeded draws of seeds whose true mean is known."""

import math

import numpy as np
import pandas as pd
import pytest

from ganeval.intervals import clopper_pearson, metric_interval, proportion_interval, t_interval

#: (seeds, trials per seed, true mean proportion, beta concentration of the seeds' own proportions
#: or None for none): seeds that vary moderately, as the default bench's do (ring8 bce at 10,000
#: steps: modes 7.3 ± 0.6 of 8, high-quality rate 0.876 ± 0.054, i.e. concentrations of 20-40).
BENIGN = [(n, trials, m, c) for n in (3, 5, 10) for trials in (8, 2500) for m in (0.2, 0.5, 0.9)
          for c in (None, 20)]


def _draws(rng, n, trials, m, c, draws):
    """``[draws, n]`` per-seed proportions: a seed's own proportion from Beta(m c, (1 - m) c) (or m),
    then that many successes of ``trials`` (modes covered of 8 or 25; high-quality samples of 2,500)."""
    p = np.full((draws, n), m) if c is None else rng.beta(m * c, (1 - m) * c, (draws, n))
    return rng.binomial(trials, p) / trials


def _coverage(method, props, m):
    hits = widths = 0
    for y in props:
        lo, hi = method(y)
        hits += lo <= m <= hi
        widths += hi - lo
    return hits / len(props), widths / len(props)


def test_the_proportion_interval_has_its_stated_coverage_where_seeds_vary_moderately():
    """95 % intervals: at least 92 % coverage in each of 36 settings (3, 5, 10 seeds; 8 or 2,500
    trials; means 0.2-0.9; seeds equal or beta-binomial; 300 draws each, so ±2.5 points of
    simulation error), 95 % or more pooled over the 10,800 draws; the t-interval cut at the bounds
    misses far more often near a bound, where seeds agree."""
    rng = np.random.default_rng(20240)
    pooled, worst_t = [], 1.0
    for n, trials, m, c in BENIGN:
        props = _draws(rng, n, trials, m, c, 300)
        cov, _ = _coverage(lambda y: proportion_interval(y, trials), props, m)
        assert cov >= 0.92, (n, trials, m, c, cov)
        pooled.append(cov)
        t_cov, _ = _coverage(lambda y: tuple(np.clip(t_interval(y), 0, 1)), props, m)
        worst_t = min(worst_t, t_cov)
    assert np.mean(pooled) >= 0.95
    assert worst_t < 0.85  # what it replaces (e.g. 3 seeds at 90 % of 8 modes, seeds equal)


def test_where_seeds_split_into_far_apart_groups_few_seeds_cannot_cover_and_the_docs_say_so():
    """30 % of the seeds fail (a high-quality rate of 5 %), 70 % work (95 %): 3 seeds all land in
    one group a third of the time, and no interval from those 3 values reaches the true mean then.
    The module docstring states this limit; the simulation measures it (and 10 seeds recover)."""
    rng = np.random.default_rng(7)
    truth = 0.3 * 0.05 + 0.7 * 0.95
    covs = {}
    for n in (3, 10):
        groups = np.where(rng.random((1000, n)) < 0.3, 0.05, 0.95)
        props = rng.binomial(2500, groups) / 2500
        covs[n], _ = _coverage(lambda y: proportion_interval(y, 2500), props, truth)
    assert covs[3] < 0.8 and covs[10] >= 0.93


def test_intervals_stay_within_the_metrics_bounds():
    rng = np.random.default_rng(1)
    for _ in range(2000):
        n = int(rng.integers(2, 8))
        trials = int(rng.choice([1, 8, 25, 2500]))
        y = rng.binomial(trials, rng.beta(0.5, 0.5, n)) / trials
        lo, hi = proportion_interval(y, trials)
        assert 0.0 <= lo <= y.mean() <= hi <= 1.0


def test_the_issues_examples():
    """8, 8, 8 of 8 modes: a t-interval of width 0, now a real one below 8; 8, 8, 5: a t-interval
    reaching 10.8 modes, now within 8; a high-quality rate near 0 stays above 0."""
    frame = pd.DataFrame({"modes_covered": [8.0, 8.0, 8.0], "n_modes": 8.0, "hq_rate": [0.01, 0.012, 0.009],
                          "n_samples": 2500.0})
    lo, hi = metric_interval("modes_covered", frame)
    assert 3 < lo < 8 and hi == 8  # 3 seeds that agree cannot rule out a cell whose seeds sometimes collapse
    frame["modes_covered"] = [8.0, 8.0, 5.0]
    assert t_interval(frame["modes_covered"])[1] > 10.5
    lo, hi = metric_interval("modes_covered", frame)
    assert 0 <= lo < 7 < hi <= 8
    lo, hi = metric_interval("hq_rate", frame)
    assert 0 < lo < 0.0103 < hi < 0.05


def test_a_zero_one_metric_gets_the_exact_interval_of_its_count():
    frame = pd.DataFrame({"diverged": [0.0, 1.0, 0.0, 0.0]})
    assert metric_interval("diverged", frame) == pytest.approx(clopper_pearson(1, 4))
    assert clopper_pearson(0, 4) == pytest.approx((0.0, 1 - 0.025 ** (1 / 4)))


def test_other_metrics_and_cells_without_trial_counts_keep_the_t_interval():
    frame = pd.DataFrame({"kl": [0.2, 0.5, 1.1], "modes_covered": [3.0, 4.0, 5.0]})
    assert metric_interval("kl", frame) == pytest.approx(t_interval(frame["kl"]))
    assert metric_interval("modes_covered", frame) == pytest.approx(t_interval(frame["modes_covered"]))
    assert all(math.isnan(x) for x in proportion_interval([0.5], 8))  # one seed: no interval
