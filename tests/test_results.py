"""Aggregation over seeds against numbers computed by hand."""

import math

import pandas as pd
import pytest

from ganeval.results import summarize, t_interval


def frame():
    return pd.DataFrame({
        "benchmark": ["ring8"] * 5, "loss": ["bce", "bce", "bce", "hinge", "hinge"], "variant": ["none"] * 5,
        "seed": [0, 1, 2, 0, 1], "status": ["ok", "ok", "ok", "ok", "diverged"],
        "modes_covered": [1.0, 2.0, 4.0, 8.0, math.nan], "kl": [0.5, 0.5, 0.5, 0.1, math.nan],
    })


def test_mean_std_and_95_interval_by_hand():
    # bce: 1, 2, 4 -> mean 7/3, sample std sqrt(7/3), t(0.975, df=2) = 4.302653, half = t * std / sqrt(3)
    mean, std = 7 / 3, math.sqrt(7 / 3)
    half = 4.302652729749464 * std / math.sqrt(3)
    s = summarize(frame(), ["modes_covered", "kl"])
    bce = s.loc[("ring8", "bce", "none")]
    assert bce[("modes_covered", "mean")] == pytest.approx(mean, rel=1e-12)
    assert bce[("modes_covered", "std")] == pytest.approx(std, rel=1e-12)
    assert bce[("modes_covered", "ci_low")] == pytest.approx(mean - half, rel=1e-9)
    assert bce[("modes_covered", "ci_high")] == pytest.approx(mean + half, rel=1e-9)
    assert (bce[("runs", "n")], bce[("runs", "diverged")], bce[("modes_covered", "n")]) == (3, 0, 3)
    # identical seeds: zero spread, the interval collapses onto the mean
    assert bce[("kl", "std")] == 0 and bce[("kl", "ci_low")] == bce[("kl", "ci_high")] == pytest.approx(0.5)


def test_a_diverged_seed_is_counted_and_a_single_value_has_no_interval():
    hinge = summarize(frame(), ["modes_covered"]).loc[("ring8", "hinge", "none")]
    assert (hinge[("runs", "n")], hinge[("runs", "diverged")], hinge[("modes_covered", "n")]) == (2, 1, 1)
    assert hinge[("modes_covered", "mean")] == 8.0
    assert math.isnan(hinge[("modes_covered", "std")]) and math.isnan(hinge[("modes_covered", "ci_low")])
    assert all(math.isnan(x) for x in t_interval(pd.Series([3.0])))
