"""The study section: its tables carry the hand-checked numbers, its figures are linked and exist."""

import numpy as np
import pandas as pd
import pytest

from ganeval.study_report import study_markdown, write_study_csv

from test_study import study_frame
from test_study_plots import sweep_frame


def test_study_markdown_carries_the_statistics(tmp_path):
    text = study_markdown(study_frame(), tmp_path, n_boot=300)
    assert "## Study" in text and "`lr_d` (2 values)" in text
    assert "| ring8 | bce | 1/4 | 25 % | [5 %, 70 %] | 1/2 | `modes_covered >= 7 and hq_rate >= 0.5` |" in text
    assert "| ring8 | hinge | 3/4 | 75 % | [30 %, 95 %] | 2/2 |" in text
    assert "0.41 [" in text and "0.59 [" in text  # P(bce > hinge) = 6.5/16, its complement
    for line in text.splitlines():
        if line.startswith("!["):
            rel = line.split("](")[1].rstrip(")")
            assert (tmp_path / rel).exists(), rel
    assert "sensitivity-lr_d.png" in text and "best-of-k.png" in text and "study-profile" in text


def test_a_tied_sweep_is_named_and_plotted_once(tmp_path):
    """lr_d+lr_g: two columns that are equal on every run are one swept quantity, not two."""
    from ganeval.study import tied_keys

    frame = study_frame()
    frame["lr_g"] = frame["lr_d"]
    assert tied_keys(frame, ["lr_d", "lr_g"]) == [["lr_d", "lr_g"]]
    frame2 = frame.assign(lr_g=frame["lr_d"].iloc[::-1].to_numpy())  # same values, not tied
    assert tied_keys(frame2, ["lr_d", "lr_g"]) == [["lr_d"], ["lr_g"]]
    text = study_markdown(frame, tmp_path, n_boot=100)
    assert "`lr_d` = `lr_g` (2 values, tied)" in text
    figures = [line for line in text.splitlines() if "sensitivity" in line]
    assert figures == ["![ring8: sensitivity to lr_d = lr_g](figures/ring8-sensitivity-lr_d+lr_g.png)"]
    assert (tmp_path / "figures" / "ring8-sensitivity-lr_d+lr_g.png").exists()


def test_study_markdown_without_figures_writes_nothing(tmp_path):
    text = study_markdown(sweep_frame(), tmp_path, figures=False, n_boot=100)
    assert "### Figures" not in text and not list(tmp_path.iterdir())
    assert "| grid25 | wgan-gp |" in text


def test_study_csv_has_one_row_per_cell(tmp_path):
    table = write_study_csv(sweep_frame(), tmp_path / "study.csv", n_boot=100)
    back = pd.read_csv(tmp_path / "study.csv")
    assert len(back) == len(table) == 2 * 3
    assert list(back.columns[:4]) == ["benchmark", "loss", "variant", "settings"]
    assert (back.settings == 4).all() and (back.runs == 12).all()


# --- study.csv recomputed from results.csv by independent code ------------------------------------
def results_csv(tmp_path):
    """A study's results.csv as a bench writes it, with the cases a sceptic tries: ties, diverged
    seed-runs, a loss that fails everywhere (lsgan), and a benchmark studied at one setting only."""
    import math

    rng = np.random.default_rng(3)
    rows = []
    for loss in ("bce", "hinge", "lsgan"):
        for lr in (1e-4, 1e-3, 1e-2):
            for seed in range(3):
                if loss == "lsgan" or (loss == "bce" and lr == 1e-2 and seed < 2):
                    status, modes, hq, kl = "diverged", math.nan, math.nan, math.nan
                else:
                    modes = float(rng.choice([6, 7, 8]))  # ties on purpose
                    hq = float(rng.choice([0.4, 0.5, 0.7]))
                    status, kl = "ok", float(rng.choice([0.1, 0.2]))
                rows.append({"benchmark": "ring8", "loss": loss, "variant": "none", "lr_d": lr, "seed": seed,
                             "status": status, "modes_covered": modes, "n_modes": 8, "kl": kl, "hq_rate": hq,
                             "setting": f'{{"lr_d": {lr}}}'})
    for loss, modes in (("bce", [20, 22, 25]), ("hinge", [19, 20, 21])):
        for seed, m in enumerate(modes):
            rows.append({"benchmark": "grid25", "loss": loss, "variant": "none", "lr_d": 1e-3, "seed": seed,
                         "status": "ok", "modes_covered": float(m), "n_modes": 25, "kl": 0.3, "hq_rate": 0.6,
                         "setting": '{"lr_d": 0.001}'})
    path = tmp_path / "results.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def wilson_by_hand(k, n, z=1.959963984540054):
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def iqm_by_hand(values):
    x = np.sort(np.asarray(values, dtype=float))
    cut = int(0.25 * len(x))  # scipy's trim_mean cuts conservatively: floor
    return x[cut:len(x) - cut].mean()


def test_every_statistic_of_study_csv_is_recomputed_from_results_csv(tmp_path):
    frame = pd.read_csv(results_csv(tmp_path))  # as a user reads the file, integer columns and all
    table = write_study_csv(frame, tmp_path / "study.csv", keys=["lr_d"], n_boot=500, seed=11)
    back = pd.read_csv(tmp_path / "study.csv")
    assert len(back) == 5 and (back.bootstrap_seed == 11).all() and (back.bootstrap_resamples == 500).all()
    crit = {"ring8": (7, 0.5), "grid25": (20, 0.5)}
    for _, row in back.iterrows():
        part = frame[(frame.benchmark == row.benchmark) & (frame.loss == row.loss)]
        dead = part.status.eq("diverged")
        modes = np.where(dead, 0.0, part.modes_covered)          # a failed run counts as the worst ...
        hq = np.where(dead, 0.0, part.hq_rate)
        kl = np.where(dead, np.log(part.n_modes), part.kl)        # ... never as missing
        need_modes, need_hq = crit[row.benchmark]
        ok = (~dead) & (part.modes_covered >= need_modes) & (part.hq_rate >= need_hq)
        assert (row.runs, row.successes, row.settings) == (len(part), int(ok.sum()), part.lr_d.nunique())
        assert row.success_rate == pytest.approx(ok.mean(), abs=1e-6)
        lo, hi = wilson_by_hand(int(ok.sum()), len(part))
        assert (row.success_low, row.success_high) == pytest.approx((max(lo, 0), min(hi, 1)), rel=1e-5, abs=1e-6)
        per_setting = pd.Series(ok.to_numpy()).groupby(part.lr_d.to_numpy()).mean()
        assert row.working_settings == int((per_setting >= 0.5).sum())
        for name, values, better in (("modes_covered", modes, max), ("hq_rate", hq, max), ("kl", kl, min)):
            assert row[f"{name}_median"] == pytest.approx(np.median(values), rel=1e-5, abs=1e-6)
            assert row[f"{name}_iqm"] == pytest.approx(iqm_by_hand(values), rel=1e-5, abs=1e-6)
            means = pd.Series(values).groupby(part.lr_d.to_numpy()).mean()
            assert row[f"{name}_best"] == pytest.approx(better(means), rel=1e-5, abs=1e-6)
            assert row[f"{name}_best_of_1"] == pytest.approx(means.mean(), rel=1e-5, abs=1e-6)
            assert row[f"{name}_iqm_low"] - 1e-9 <= row[f"{name}_iqm"] <= row[f"{name}_iqm_high"] + 1e-9 \
                or np.isnan(row[f"{name}_iqm_low"])
    lsgan = back[(back.loss == "lsgan")].iloc[0]
    assert (lsgan.successes, lsgan.working_settings, lsgan.modes_covered_best) == (0, 0, 0.0)
    assert lsgan.kl_best == pytest.approx(np.log(8))
    grid = back[back.benchmark == "grid25"]
    assert (grid.settings == 1).all() and (grid.modes_covered_best == grid.modes_covered_best_of_1).all()
    # the bootstrap is the recorded seed's: the same seed again gives the same numbers, another does not
    again = write_study_csv(frame, tmp_path / "again.csv", keys=["lr_d"], n_boot=500, seed=11)
    pd.testing.assert_frame_equal(table, again)
    other = write_study_csv(frame, tmp_path / "other.csv", keys=["lr_d"], n_boot=500, seed=12)
    assert not np.allclose(other.modes_covered_iqm_low.fillna(-1), table.modes_covered_iqm_low.fillna(-1)) or \
        not np.allclose(other.modes_covered_iqm_high.fillna(-1), table.modes_covered_iqm_high.fillna(-1))


def test_the_sentences_say_no_more_than_the_intervals(tmp_path):
    from ganeval.study import study_table
    from ganeval.study_report import study_sentences

    frame = pd.read_csv(results_csv(tmp_path))
    table = study_table(frame, ["lr_d"], n_boot=300)
    ring8, grid25 = study_sentences(frame, table, ["lr_d"], n_boot=300)
    assert ring8.startswith("**ring8**: of 3 settings") and "lsgan at 0" in ring8
    assert "P(hinge > bce)" in ring8 or "P(bce > hinge)" in ring8
    # grid25: 3 runs a side whose modes overlap: the interval holds 0.5, so no winner is named
    assert "cannot tell" in grid25 and "does better" not in grid25
    # a clear difference is named, with its interval
    clear = frame.copy()
    worse = (clear.benchmark == "grid25") & (clear.loss == "hinge")
    clear.loc[worse, "modes_covered"] = [1.0, 2.0, 3.0]
    extra = clear[clear.benchmark == "grid25"].assign(seed=lambda f: f.seed + 3)
    clear = pd.concat([clear, extra, extra.assign(seed=lambda f: f.seed + 3)], ignore_index=True)
    table = study_table(clear, ["lr_d"], n_boot=300)
    grid25 = study_sentences(clear, table, ["lr_d"], n_boot=300)[1]
    assert "bce does better than hinge: P(bce > hinge) = 1.00 [1.00, 1.00]" in grid25


def test_the_wilson_intervals_stated_coverage_is_what_the_report_says():
    """Exact coverage (binomial sums, no simulation noise) of the 95 % Wilson interval at study
    sizes: about 95 % on average over the true rate, dipping to 83-86 % near 0 or 1 -- the range
    the report states."""
    from scipy import stats

    from ganeval.study import wilson_interval

    for n, low_dip in ((6, 0.83), (15, 0.84), (30, 0.86)):
        ks = np.arange(n + 1)
        bounds = np.array([wilson_interval(int(k), n) for k in ks])
        ps = np.linspace(0.001, 0.999, 999)
        cover = np.array([stats.binom.pmf(ks, n, p)[(bounds[:, 0] <= p) & (p <= bounds[:, 1])].sum() for p in ps])
        assert 0.945 <= cover.mean() <= 0.96, n
        assert low_dip - 0.01 <= cover.min() <= low_dip + 0.02, (n, cover.min())


def test_the_percentile_bootstraps_measured_coverage_is_what_the_report_says():
    """Coverage of the 95 % percentile bootstrap intervals the study reports, simulated (seeded):
    the IQM of 15 runs and P(improvement) of 15 against 15 runs. The report states these figures."""
    from scipy.stats import norm

    from ganeval.study import iqm_interval, probability_of_improvement

    rng = np.random.default_rng(5)
    sims = 300
    iqm_hits = pi_hits = 0
    truth = norm.cdf(0.5 / np.sqrt(2))  # P(X > Y) for X ~ N(0.5, 1), Y ~ N(0, 1)
    for i in range(sims):
        x = rng.normal(size=15)
        _, lo, hi = iqm_interval([x], n_boot=400, seed=i)
        iqm_hits += lo <= 0 <= hi  # the IQM of a symmetric distribution is its centre
        _, lo, hi = probability_of_improvement(rng.normal(0.5, 1, 15), rng.normal(0, 1, 15), n_boot=400, seed=i)
        pi_hits += lo <= truth <= hi
    # binomial margin: 3 standard errors at 300 draws is about 0.045
    assert 0.88 <= iqm_hits / sims <= 0.99, iqm_hits / sims
    assert 0.85 <= pi_hits / sims <= 0.97, pi_hits / sims
