"""Aggregation over seeds against numbers computed by hand."""

import math

import pandas as pd
import pytest

from ganeval.results import score_failed_seeds, summarize, t_interval


def frame():
    return pd.DataFrame({
        "benchmark": ["ring8"] * 5, "loss": ["bce", "bce", "bce", "hinge", "hinge"], "variant": ["none"] * 5,
        "seed": [0, 1, 2, 0, 1], "status": ["ok", "ok", "ok", "ok", "diverged"],
        "modes_covered": [1.0, 2.0, 4.0, 8.0, math.nan], "kl": [0.5, 0.5, 0.5, 0.1, math.nan], "n_modes": [8.0] * 5,
    })


def test_mean_std_and_95_interval_by_hand():
    # kl (the t-interval): 0.2, 0.5, 1.1 -> mean 0.6, sample std, t(0.975, df=2) = 4.302653
    f = frame()
    f.loc[:2, "kl"] = [0.2, 0.5, 1.1]
    mean, std = 0.6, math.sqrt(((0.2 - 0.6) ** 2 + (0.5 - 0.6) ** 2 + (1.1 - 0.6) ** 2) / 2)
    half = 4.302652729749464 * std / math.sqrt(3)
    s = summarize(f, ["modes_covered", "kl"])
    bce = s.loc[("ring8", "bce", "none")]
    assert bce[("kl", "mean")] == pytest.approx(mean, rel=1e-12) and bce[("kl", "std")] == pytest.approx(std, rel=1e-12)
    assert (bce[("kl", "ci_low")], bce[("kl", "ci_high")]) == pytest.approx((mean - half, mean + half), rel=1e-9)
    assert (bce[("runs", "n")], bce[("runs", "diverged")], bce[("modes_covered", "n")]) == (3, 0, 3)
    # modes covered (1, 2, 4 of 8: a count): Clopper-Pearson at Korn & Graubard's effective number of
    # trials, by hand: p = 7/24, var = s^2 / 3 of the proportions, n_eff = p(1-p)/var (below 3 x 8),
    # times (z / t_2)^2; the interval of p n_eff successes in n_eff trials, times 8
    from scipy import stats

    p = 7 / 24
    var = (((1 / 8 - p) ** 2 + (2 / 8 - p) ** 2 + (4 / 8 - p) ** 2) / 2) / 3
    n_eff = min(24, p * (1 - p) / var) * (1.959963984540054 / 4.302652729749464) ** 2
    lo = stats.beta.ppf(0.025, p * n_eff, n_eff - p * n_eff + 1) * 8
    hi = stats.beta.ppf(0.975, p * n_eff + 1, n_eff - p * n_eff) * 8
    assert bce[("modes_covered", "mean")] == pytest.approx(7 / 3, rel=1e-12)
    assert (bce[("modes_covered", "ci_low")], bce[("modes_covered", "ci_high")]) == pytest.approx((lo, hi), rel=1e-9)
    assert 0 <= lo < 7 / 3 < hi <= 8
    # identical seeds: a t-interval collapses onto the mean (kl); a count's interval does not
    same = summarize(frame(), ["modes_covered", "kl"]).loc[("ring8", "bce", "none")]
    assert same[("kl", "std")] == 0 and same[("kl", "ci_low")] == same[("kl", "ci_high")] == pytest.approx(0.5)


def test_a_diverged_seed_counts_with_the_worst_value_not_as_missing():
    hinge = summarize(frame(), ["modes_covered", "kl"]).loc[("ring8", "hinge", "none")]
    assert (hinge[("runs", "n")], hinge[("runs", "diverged")], hinge[("modes_covered", "n")]) == (2, 1, 2)
    assert hinge[("modes_covered", "mean")] == 4.0  # (8 + 0) / 2, not 8 from the one seed left
    assert hinge[("kl", "mean")] == pytest.approx((0.1 + math.log(8)) / 2)  # KL at its maximum, ln(modes)
    raw = frame()
    scored = score_failed_seeds(raw)
    assert math.isnan(raw.loc[4, "modes_covered"]) and scored.loc[4, "modes_covered"] == 0.0  # input untouched


def test_a_kl_undefined_for_want_of_any_sample_on_a_mode_is_its_maximum():
    f = frame()
    f.loc[0, ["modes_covered", "kl"]] = [0.0, math.nan]  # not diverged: its samples simply missed every mode
    assert score_failed_seeds(f).loc[0, "kl"] == pytest.approx(math.log(8))
    f["fid"] = math.nan  # a metric no run computed stays absent, diverged or not
    assert score_failed_seeds(f)["fid"].isna().all()
    f["kl"], f["modes_covered"], f["status"] = math.nan, 0.0, "diverged"  # every seed dead: KL still exists
    assert score_failed_seeds(f)["kl"].tolist() == pytest.approx([math.log(8)] * len(f))


def test_a_single_value_has_no_interval():
    assert all(math.isnan(x) for x in t_interval(pd.Series([3.0])))


def test_a_studys_rows_carry_their_setting_in_value_order_and_group_by_it(tmp_path):
    from ganeval import rundir
    from ganeval.results import collect, flat_summary, setting_keys
    from ganeval.spec import CellId

    # written in an order that text sorting gets wrong (1e-05 sorts after 0.0001 as text)
    for lr, modes in ((1e-3, 6.0), (1e-05, 1.0), (1e-4, 3.0)):
        for seed in (0, 1):
            cell = CellId("ring8", "bce", setting=(("lr_d", lr),))
            doc = {"format": rundir.RESULT_FORMAT, "benchmark": "ring8", "loss": "bce", "variant": "none",
                   "setting": {"lr_d": lr}, "seed": seed, "step": 10, "status": "ok",
                   "metrics": {"modes_covered": modes + seed, "n_modes": 8.0}}
            run_dir = rundir.run_dir(tmp_path, cell, seed)
            (run_dir).mkdir(parents=True)
            (run_dir / "config.json").write_text("{}")
            rundir.write_metrics(run_dir, doc)
    frame = collect(tmp_path)
    assert list(frame["lr_d"]) == [1e-05, 1e-05, 1e-4, 1e-4, 1e-3, 1e-3]
    assert setting_keys(frame) == ["lr_d"] and frame["setting"].iloc[0] == '{"lr_d": 1e-05}'
    summary = summarize(frame, ["modes_covered"])
    assert list(summary[("modes_covered", "mean")]) == [1.5, 3.5, 6.5]
    flat = flat_summary(summary)
    assert list(flat["lr_d"]) == [1e-05, 1e-4, 1e-3] and "setting" not in flat.columns
    assert CellId.of(frame.iloc[0]).key == "ring8/bce [lr_d=1e-05]"


# --- tables as a user has them: read back by pandas, integers where the values are whole ----------
EXAMPLE = __import__("pathlib").Path(__file__).resolve().parents[1] / "reports/examples/default-bench/results.csv"


def test_a_results_csv_read_by_pandas_has_integer_metric_columns_and_is_scored():
    """pandas reads the committed example's whole-number columns as int64; under pandas 3 filling
    failed seeds into such a column raised ``TypeError: Invalid value '[]' for dtype 'int64'``."""
    raw = pd.read_csv(EXAMPLE)
    assert raw["modes_covered"].dtype == "int64" and raw["n_events"].dtype == "int64"  # the case under test
    scored = score_failed_seeds(raw)
    assert scored["modes_covered"].dtype == "float64"
    assert scored["modes_covered"].tolist() == raw["modes_covered"].astype(float).tolist()
    summary = summarize(raw, ["modes_covered", "n_events"])
    by_hand = raw[(raw.benchmark == "ring8") & (raw.loss == "hinge")]["modes_covered"]
    assert summary.loc[("ring8", "hinge", "none"), ("modes_covered", "mean")] == pytest.approx(by_hand.mean())


def test_object_metric_columns_are_numbers_and_a_non_number_is_named():
    from ganeval.errors import GanevalError

    f = frame()
    f["modes_covered"] = pd.Series([1, 2, 4, 8, None], dtype=object)
    scored = score_failed_seeds(f)
    assert scored["modes_covered"].tolist() == [1.0, 2.0, 4.0, 8.0, 0.0]  # the diverged seed at its worst
    f["kl"] = pd.Series([0.5, "oops", 0.5, 0.1, None], dtype=object)
    with pytest.raises(GanevalError, match="'kl' holds 'oops'"):
        score_failed_seeds(f)
