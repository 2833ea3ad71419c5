"""Study statistics against values computed by hand on small tables, and known answers."""

import math

import numpy as np
import pandas as pd
import pytest

from ganeval.errors import GanevalError, SpecError
from ganeval.study import (
    Condition, best_of_k, best_of_k_band, default_criterion, improvement_matrix, infer_keys,
    iqm, iqm_interval, normalized_scores, parse_success, performance_profile, probability_of_improvement,
    profile_frame, setting_scores, study_table, success_rate, wilson_interval,
)

NAN = math.nan


def study_frame():
    """ring8 (8 modes), bce and hinge, lr_d in {1e-4, 1e-3}, seeds 0 and 1.

    ring8's default criterion: modes_covered >= 7 and hq_rate >= 0.5.
      bce   1e-4 s0: 8 modes, hq 0.9 -> success      hinge 1e-4 s0: 8, 0.7 -> success
      bce   1e-4 s1: 7, hq 0.4       -> fail (hq)    hinge 1e-4 s1: 7, 0.5 -> success (boundary)
      bce   1e-3 s0: 6, hq 0.8       -> fail (modes) hinge 1e-3 s0: 7, 0.6 -> success
      bce   1e-3 s1: diverged        -> fail         hinge 1e-3 s1: 5, 0.9 -> fail
    """
    rows = [
        ("bce", 1e-4, 0, "ok", 8, 0.9, 0.1), ("bce", 1e-4, 1, "ok", 7, 0.4, 0.3),
        ("bce", 1e-3, 0, "ok", 6, 0.8, 0.5), ("bce", 1e-3, 1, "diverged", NAN, NAN, NAN),
        ("hinge", 1e-4, 0, "ok", 8, 0.7, 0.05), ("hinge", 1e-4, 1, "ok", 7, 0.5, 0.2),
        ("hinge", 1e-3, 0, "ok", 7, 0.6, 0.25), ("hinge", 1e-3, 1, "ok", 5, 0.9, 0.9),
    ]
    return pd.DataFrame([{"benchmark": "ring8", "loss": loss, "variant": "none", "seed": seed, "status": status,
                          "step": 100, "lr_d": lr, "modes_covered": m, "n_modes": 8, "hq_rate": hq, "kl": kl,
                          "run_dir": f"ring8/{loss}/lr_d-{lr:.0e}/seed-{seed}"}
                         for loss, lr, seed, status, m, hq, kl in rows])


# Wilson 95 % (z = 1.959964, z^2 = 3.841459), n = 4:
#   centre = (p + z^2/8) / (1 + z^2/4) = (p + 0.480182) / 1.960365
#   half   = z / 1.960365 * sqrt(p(1-p)/4 + z^2/64)
#   p = 1/4: sqrt(0.046875 + 0.060023) = 0.326953, half = 0.326886, centre = 0.372481 -> [0.045595, 0.699367]
#   p = 3/4: centre = 0.627519 -> [0.300633, 0.954405] (up to the rounding of these hand figures)
WILSON_1_OF_4 = (0.045595, 0.699367)
WILSON_3_OF_4 = (0.300633, 0.954405)


def test_wilson_interval_by_hand():
    assert wilson_interval(1, 4) == pytest.approx(WILSON_1_OF_4, abs=2e-5)
    assert wilson_interval(3, 4) == pytest.approx(WILSON_3_OF_4, abs=2e-5)
    # Clopper-Pearson at 0 of n: [0, 1 - (alpha/2)^(1/n)] = [0, 1 - 0.025^(1/4)] = [0, 0.602364]
    assert wilson_interval(0, 4, method="exact") == pytest.approx((0.0, 1 - 0.025 ** 0.25), abs=1e-6)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_success_rate_by_hand():
    rates = success_rate(study_frame()).set_index("loss")
    assert rates.loc["bce", "successes"] == 1 and rates.loc["bce", "n"] == 4
    assert rates.loc["hinge", "successes"] == 3 and rates.loc["hinge", "rate"] == 0.75
    assert (rates.loc["bce", "ci_low"], rates.loc["bce", "ci_high"]) == pytest.approx(WILSON_1_OF_4, abs=2e-5)
    assert rates.loc["bce", "criterion"] == "modes_covered >= 7 and hq_rate >= 0.5"


def test_a_diverged_run_is_never_a_success_even_with_good_metrics():
    frame = study_frame()
    frame.loc[0, "status"] = "diverged"  # bce 1e-4 seed 0 had 8 modes and hq 0.9
    assert success_rate(frame).set_index("loss").loc["bce", "successes"] == 0


def test_success_criteria_from_the_spec():
    crit = parse_success({"ring8": {"modes_covered": ">= 8", "hq_rate": 0.6}, "grid25": {"kl": 0.5}})
    assert str(crit["ring8"]) == "modes_covered >= 8 and hq_rate >= 0.6"
    assert str(crit["grid25"]) == "kl <= 0.5"  # a bare number: "at most" for lower-is-better
    rates = success_rate(study_frame(), crit).set_index("loss")
    # modes >= 8 and hq >= 0.6: bce 1e-4 s0 (8, 0.9) and hinge 1e-4 s0 (8, 0.7) only
    assert rates.loc["bce", "successes"] == 1 and rates.loc["hinge", "successes"] == 1
    assert Condition("kl", "<", 0.3).holds(pd.Series([0.1, 0.3, NAN])).tolist() == [True, False, False]


@pytest.mark.parametrize("table,message", [
    ({"ring8": {"modes_coverd": ">= 7"}}, "'modes_coverd' is not a metric"),
    ({"ring8": {"modes_covered": "=> 7"}}, "a comparison such as"),
    ({"ring8": {"modes_covered": ">= seven"}}, "a comparison such as"),
    ({"ring8": {"n_modes": 3}}, "no better direction"),
    ({"ring8": {}}, "[success.ring8]"),
    ({"ring8": 7}, "[success.ring8]"),
])
def test_bad_success_criteria_are_refused(table, message):
    with pytest.raises(SpecError) as err:
        parse_success(table)
    assert message in str(err.value)


def test_default_criteria():
    assert str(default_criterion("grid25")) == "modes_covered >= 20 and hq_rate >= 0.5"
    # any benchmark with modes: >= ceil(0.8 * modes) covered: 12 modes -> 10
    other = pd.DataFrame({"n_modes": [12, 12], "modes_covered": [3, 4], "hq_rate": [0.5, 0.6]})
    assert str(default_criterion("ring12", other)) == "modes_covered >= 10 and hq_rate >= 0.5"
    with pytest.raises(GanevalError, match=r"\[success.mnist\]"):
        default_criterion("mnist", pd.DataFrame({"fid": [1.0]}))


# --- best of k -------------------------------------------------------------------------------
def test_best_of_k_by_hand():
    # x = 1, 2, 3, 4. k=1: mean = 2.5. k=2: the 6 pairs' maxima 2,3,4,3,4,4 sum to 20 -> 10/3.
    # k=3: the 4 triples' maxima 3,4,4,4 -> 15/4. k=4: 4.
    assert best_of_k([3, 1, 4, 2]) == pytest.approx([2.5, 10 / 3, 3.75, 4.0])
    # lower is better: minima. k=2: 1,1,1,2,2,3 -> 10/6; k=3: 1,1,1,2 -> 5/4
    assert best_of_k([3, 1, 4, 2], higher_is_better=False) == pytest.approx([2.5, 10 / 6, 1.25, 1.0])
    # ties: 5, 5, 1; every pair holds a 5 -> k=2 gives 5
    assert best_of_k([5, 5, 1]) == pytest.approx([11 / 3, 5.0, 5.0])


def test_best_of_k_known_answers():
    x = np.random.default_rng(0).normal(size=40)
    curve = best_of_k(x)
    assert curve[-1] == pytest.approx(x.max()) and curve[0] == pytest.approx(x.mean())
    assert np.all(np.diff(curve) >= -1e-12)  # more settings never lower the expected best
    # against brute force over every 3-subset of 8 values
    y = np.array([0.3, 2.0, -1.0, 0.7, 0.7, 5.0, 1.1, -0.2])
    from itertools import combinations
    brute = np.mean([max(c) for c in combinations(y, 3)])
    assert best_of_k(y)[2] == pytest.approx(brute)
    with pytest.raises(GanevalError, match="NaN"):
        best_of_k([1.0, NAN])


def test_best_of_k_band():
    band = best_of_k_band([1.0, 2.0, 3.0, 4.0, 10.0], n_boot=500)
    assert list(band.k) == [1, 2, 3, 4, 5]
    assert np.all(band.low <= band.high)
    assert band.expected_best.iloc[0] == pytest.approx(4.0)
    flat = best_of_k_band([2.0, 2.0, 2.0], n_boot=200)  # nothing to resample: a band of width 0
    assert np.allclose(flat.low, 2.0) and np.allclose(flat.high, 2.0)


def test_setting_scores_count_failed_seeds_as_worst():
    s = setting_scores(study_frame().query("loss == 'bce'"), "modes_covered", ["lr_d"])
    # lr 1e-3: seeds 6 and diverged (0 modes) -> 3; lr 1e-4: (8 + 7) / 2 = 7.5
    assert s.to_dict() == {1e-3: 3.0, 1e-4: 7.5}
    assert infer_keys(study_frame()) == ["lr_d"]


# --- probability of improvement --------------------------------------------------------------
def test_probability_of_improvement_by_hand():
    # X = 1, 2, 3 against Y = 2, 2: x=1 wins none, x=2 ties twice (2 * 0.5), x=3 wins twice -> 3/6
    assert probability_of_improvement([1, 2, 3], [2, 2])[0] == pytest.approx(0.5)
    # X = 3, 4 against Y = 1, 2, 3: x=3: 2 wins + a tie = 2.5; x=4: 3 wins -> 5.5/6
    p, lo, hi = probability_of_improvement([3, 4], [1, 2, 3], n_boot=500)
    assert p == pytest.approx(5.5 / 6) and lo <= p <= hi <= 1.0
    # a loss against itself: exactly 0.5, whatever the values
    x = np.random.default_rng(1).normal(size=9)
    assert probability_of_improvement(x, x)[0] == 0.5


def test_probability_of_improvement_is_stratified_by_benchmark():
    # Two benchmarks; on each X beats Y in every pair -> 1 with a zero-width interval
    p, lo, hi = probability_of_improvement([[1, 1], [5, 6]], [[0, 0], [4, 4]], n_boot=300)
    assert (p, lo, hi) == (1.0, 1.0, 1.0)
    # the mean over benchmarks, not over pooled pairs: benchmark A gives 1, benchmark B gives 0
    assert probability_of_improvement([[1, 1], [0, 0]], [[0, 0], [1, 1]])[0] == 0.5


def test_improvement_matrix_by_hand():
    m = improvement_matrix(study_frame(), "modes_covered", n_boot=300).set_index(["x", "y"])
    # scored modes: bce 8, 7, 6, 0 (diverged); hinge 8, 7, 7, 5. Pairs (bce over hinge):
    #   8: tie 8, beats 7, 7, 5 -> 3.5;  7: loses to 8, ties 7, 7, beats 5 -> 2
    #   6: beats 5 only -> 1;            0: nothing -> 0.        6.5 / 16 = 0.40625
    assert m.loc[("bce", "hinge"), "p"] == pytest.approx(0.40625)
    assert m.loc[("hinge", "bce"), "p"] == pytest.approx(1 - 0.40625)
    assert m.loc[("bce", "bce"), "p"] == 0.5
    low, high = m.loc[("bce", "hinge"), ["low", "high"]]
    assert 0 <= low <= 0.40625 <= high <= 1
    # KL is lower-is-better: bce KL 0.1, 0.3, 0.5, ln 8 against hinge 0.05, 0.2, 0.25, 0.9.
    #   0.1 is below 0.2, 0.25, 0.9 (3); 0.3 and 0.5 below 0.9 (1 each); ln 8 below none -> 5/16
    k = improvement_matrix(study_frame(), "kl", n_boot=100).set_index(["x", "y"])
    assert k.loc[("bce", "hinge"), "p"] == pytest.approx(5 / 16)


# --- IQM and profiles ------------------------------------------------------------------------
def test_iqm_by_hand():
    assert iqm([1, 2, 3, 4, 5, 6, 7, 8]) == 4.5  # mean of 3, 4, 5, 6
    assert iqm([1, 2, 3, 4, 5, 100]) == 3.5      # trims int(0.25 * 6) = 1 each end: mean of 2..5
    assert iqm([8, 7, 6, 0]) == 6.5


def test_iqm_interval_is_stratified():
    # strata {0, 0} and {1, 1}: every stratified resample pools to 0, 0, 1, 1 -> IQM 0.5 always;
    # resampling the pooled four values without strata would not be constant.
    est, lo, hi = iqm_interval([[0, 0], [1, 1]], n_boot=300)
    assert (est, lo, hi) == (0.5, 0.5, 0.5)
    est, lo, hi = iqm_interval([[1, 2, 3, 4], [5, 6, 7, 8]], n_boot=500)
    assert est == 4.5 and lo < est < hi
    est, lo, hi = iqm_interval([[3.0], [1.0, 2.0]], n_boot=100)  # a one-run stratum is held fixed
    assert est == pytest.approx(2.0) and lo <= est <= hi


def test_performance_profile_by_hand():
    # benchmark A: 0.2, 0.6, 1.0; B: 0.5, 0.9. tau = 0.5: A 2/3, B 1/2 (0.5 is not > 0.5) -> 7/12
    prof = performance_profile({"A": [0.2, 0.6, 1.0], "B": [0.5, 0.9]}, [0.0, 0.5, 1.0])
    assert prof == pytest.approx([1.0, 7 / 12, 0.0])


def test_normalized_scores():
    frame = study_frame()
    modes = normalized_scores(frame, "modes_covered")
    assert modes.iloc[0] == 1.0 and modes.iloc[1] == 7 / 8 and modes.iloc[3] == 0.0  # diverged -> worst
    kl = normalized_scores(frame, "kl")
    assert kl.iloc[0] == pytest.approx(1 - 0.1 / math.log(8)) and kl.iloc[3] == pytest.approx(0.0)
    prof = profile_frame(frame, "modes_covered", taus=[0.8], n_boot=100).set_index("loss")
    # fraction of modes: bce 1, 7/8, 6/8, 0 -> above 0.8: 2 of 4; hinge 1, 7/8, 7/8, 5/8 -> 3 of 4
    assert prof.loc["bce", "fraction"] == 0.5 and prof.loc["hinge", "fraction"] == 0.75


# --- the study table -------------------------------------------------------------------------
def test_study_table_by_hand():
    table = study_table(study_frame(), n_boot=300).set_index("loss")
    bce, hinge = table.loc["bce"], table.loc["hinge"]
    assert (bce.settings, bce.runs, bce.successes) == (2, 4, 1)
    assert (bce.success_low, bce.success_high) == pytest.approx(WILSON_1_OF_4, abs=2e-5)
    # working settings (at least half the seeds succeed): bce 1e-4 (1 of 2); hinge 1e-4 (2/2), 1e-3 (1/2)
    assert bce.working_settings == 1 and hinge.working_settings == 2
    assert bce.modes_covered_median == 6.5 and bce.modes_covered_iqm == 6.5 and hinge.modes_covered_iqm == 7.0
    # setting means: bce 1e-4 -> 7.5, 1e-3 -> 3; the best is 7.5, one random setting 5.25
    assert bce.modes_covered_best == 7.5 and bce.modes_covered_best_of_1 == 5.25
    assert bce.modes_covered_best_setting == "lr_d=0.0001"
    # KL (lower is better): hinge settings 1e-4 -> 0.125, 1e-3 -> 0.575: best 0.125 at 1e-4
    assert hinge.kl_best == pytest.approx(0.125) and hinge.kl_best_setting == "lr_d=0.0001"
    assert set(table.columns) >= {"criterion", "success_rate", "hq_rate_iqm_low", "kl_iqm_high"}


def test_study_table_refuses_bad_input_clearly():
    with pytest.raises(GanevalError, match="no column 'lr_g'"):
        study_table(study_frame(), keys=["lr_g"])
    with pytest.raises(GanevalError, match="empty"):
        study_table(study_frame().iloc[0:0])


def test_improvement_intervals_mirror_and_large_studies_stay_cheap():
    m = improvement_matrix(study_frame(), "modes_covered", n_boot=300).set_index(["x", "y"])
    ab, ba = m.loc[("bce", "hinge")], m.loc[("hinge", "bce")]
    assert ba.low == pytest.approx(1 - ab.high) and ba.high == pytest.approx(1 - ab.low)
    assert (m.loc[("hinge", "hinge"), "low"], m.loc[("hinge", "hinge"), "high"]) == (0.5, 0.5)
    # 300 runs a side (100 settings x 3 seeds): computed in memory-bounded batches
    rng = np.random.default_rng(0)
    p, lo, hi = probability_of_improvement(rng.normal(0.3, 1, 300), rng.normal(0, 1, 300), n_boot=500)
    assert 0.5 < lo < p < hi < 0.7


def test_rows_whose_swept_key_is_missing_are_kept():
    frame = study_frame()
    frame["n_critic"] = [1, 1, 1, 1, np.nan, np.nan, np.nan, np.nan]  # swept for bce only
    rates = success_rate(frame, by=("loss", "n_critic"))
    assert rates.n.sum() == 8


def test_a_benchmark_without_modes_uses_the_spec_criterion():
    frame = pd.DataFrame({"benchmark": "mnist", "loss": ["bce"] * 4, "variant": "none", "seed": [0, 1, 0, 1],
                          "lr_d": [1e-4, 1e-4, 1e-3, 1e-3], "fid": [25.0, 40.0, 28.0, 31.0]})
    table = study_table(frame, criteria=parse_success({"mnist": {"fid": 30}}), n_boot=100).iloc[0]
    # fid <= 30: 25 and 28 -> 2 of 4; settings 1e-4 (1/2) and 1e-3 (1/2) both "work"; lower is better:
    # setting means 32.5 (1e-4) and 29.5 (1e-3) -> best 29.5 at 1e-3
    assert (table.successes, table.working_settings, table.criterion) == (2, 2, "fid <= 30")
    assert table.fid_best == 29.5 and table.fid_best_setting == "lr_d=0.001"
    with pytest.raises(GanevalError, match=r"\[success.mnist\]"):
        study_table(frame, n_boot=100)


# --- tables as a user has them --------------------------------------------------------------------
EXAMPLE = __import__("pathlib").Path(__file__).resolve().parent.parent / "reports/examples/default-bench/results.csv"


def test_a_study_of_a_results_csv_read_by_pandas_with_a_loss_that_diverged_everywhere():
    """The committed example read by ``pd.read_csv`` (integer columns), its ring8 bce cell diverged on
    every seed: that cell's metrics take their worst values (0 modes, hq 0, KL ln 8), known because
    ring8's other cells compute them; it crashed with ``Encountered all NA values``."""
    frame = pd.read_csv(EXAMPLE)
    dead = (frame.benchmark == "ring8") & (frame.loss == "bce")
    frame.loc[dead, "status"] = "diverged"
    frame["modes_covered"] = frame["modes_covered"].astype(float)
    frame.loc[dead, ["modes_covered", "kl", "hq_rate"]] = NAN
    table = study_table(frame, keys=[], n_boot=100).set_index(["benchmark", "loss"])
    row = table.loc[("ring8", "bce")]
    assert (row.successes, row.runs, row.settings) == (0, 3, 1)
    assert row.modes_covered_best == 0.0 and row.hq_rate_best == 0.0 and row.kl_best == pytest.approx(math.log(8))
    assert row.modes_covered_iqm_low == row.modes_covered_iqm_high == 0.0  # three equal worst values
    grid = frame[(frame.benchmark == "grid25") & (frame.loss == "hinge")]
    assert table.loc[("grid25", "hinge")].modes_covered_median == float(np.median(grid.modes_covered))


def test_a_one_setting_study():
    frame = pd.read_csv(EXAMPLE).assign(lr_d=1e-3)  # one value of the swept key
    table = study_table(frame, keys=["lr_d"], n_boot=100)
    assert (table.settings == 1).all()
    assert (table.modes_covered_best_setting == "lr_d=0.001").all()
    assert (table.modes_covered_best == table.modes_covered_best_of_1).all()  # best of one setting is itself


def test_one_run_per_side_has_the_degenerate_interval():
    """Every resample of one run is that run: the interval is [p, p], not undefined."""
    assert probability_of_improvement([3.0], [2.0], n_boot=50) == (1.0, 1.0, 1.0)
    assert probability_of_improvement([2.0], [2.0], n_boot=50) == (0.5, 0.5, 0.5)
    assert probability_of_improvement([[3.0], [1.0]], [[2.0], [1.0]], n_boot=50) == (0.75, 0.75, 0.75)
    assert iqm_interval([[3.0]], n_boot=50) == (3.0, 3.0, 3.0)
