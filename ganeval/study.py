"""Statistics of a hyperparameter study: how a loss behaves over a neighbourhood of settings.

Input is a results frame (``results.csv``: one row per seed-run, columns ``benchmark``, ``loss``,
``variant``, ``seed``, the metrics, and one column per swept key such as ``lr_d``). The functions
are pure: frame or arrays in, numbers or frames out. What they compute, and from which paper:

* success rate over (setting x seed) for a per-benchmark :class:`SuccessCriterion`, with a
  Wilson (or Clopper-Pearson) binomial interval;
* the best-of-k curve of Lucic et al. 2018: the expected best setting score among k settings
  drawn without replacement from the study, exact by order statistics, with a bootstrap band;
* probability of improvement, interquartile mean with stratified bootstrap intervals, and
  performance profiles of normalised scores (Agarwal et al. 2021).

A failed seed-run (diverged, metric undefined) counts as its metric's worst value
(``results.score_failed_seeds``), never as a missing one, so a setting does not look better for
losing seeds; it is never a success.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ganeval.errors import GanevalError
from ganeval.metrics.catalog import METRICS
from ganeval.results import ID_COLUMNS, INFO_COLUMNS, score_failed_seeds
from ganeval.success import DEFAULT_SUCCESS, Condition, SuccessCriterion, default_criterion, parse_success  # noqa: F401

CELL = ["benchmark", "loss", "variant"]

__all__ = ["DEFAULT_SUCCESS", "NORMALIZERS", "Condition", "SuccessCriterion", "best_of_k", "best_of_k_band", "default_criterion",
           "infer_keys", "iqm", "iqm_interval", "normalized_scores", "parse_success", "performance_profile", "profile_frame",
           "probability_of_improvement", "improvement_matrix", "setting_scores", "success_flags", "success_rate",
           "success_table", "study_table", "wilson_interval"]


def wilson_interval(successes: int, n: int, level: float = 0.95, method: str = "wilson") -> tuple[float, float]:
    """Binomial interval of a success proportion (scipy's ``binomtest(...).proportion_ci``;
    ``method``: "wilson" or "exact" = Clopper-Pearson). NaN for n = 0."""
    if n == 0:
        return math.nan, math.nan
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(confidence_level=level, method=method)
    return float(ci.low), float(ci.high)


def _criteria_for(frame: pd.DataFrame, criteria: Mapping[str, SuccessCriterion] | None) -> dict[str, SuccessCriterion]:
    criteria = dict(criteria or {})
    for bench, rows in frame.groupby("benchmark", sort=False):
        if bench not in criteria:
            criteria[bench] = default_criterion(bench, rows)
    return criteria


def success_flags(frame: pd.DataFrame, criteria: Mapping[str, SuccessCriterion] | None = None) -> pd.Series:
    """``[rows]`` booleans: whether each seed-run met its benchmark's criterion (the default where
    ``criteria`` names none); a diverged run never did."""
    crit = _criteria_for(frame, criteria)
    ok = pd.Series(False, index=frame.index)
    for bench, rows in frame.groupby("benchmark", sort=False):
        ok.loc[rows.index] = crit[bench].evaluate(rows)
    return ok


def success_rate(frame: pd.DataFrame, criteria: Mapping[str, SuccessCriterion] | None = None,
                 by: Sequence[str] = tuple(CELL), level: float = 0.95, method: str = "wilson") -> pd.DataFrame:
    """Per group of ``by``: ``successes``, ``n`` (seed-runs over every setting), ``rate``,
    ``ci_low``, ``ci_high`` and the ``criterion`` applied."""
    _need(frame, ["benchmark", *by])
    crit = _criteria_for(frame, criteria)
    ok = success_flags(frame, crit)
    rows = []
    for key, idx in frame.groupby(list(by), sort=False, dropna=False).groups.items():
        key = key if isinstance(key, tuple) else (key,)
        k, n = int(ok.loc[idx].sum()), len(idx)
        lo, hi = wilson_interval(k, n, level, method)
        bench = frame.loc[idx[0], "benchmark"]
        rows.append({**dict(zip(by, key)), "successes": k, "n": n, "rate": k / n if n else math.nan,
                     "ci_low": lo, "ci_high": hi, "criterion": str(crit[bench])})
    return pd.DataFrame(rows)


# --- settings and their scores --------------------------------------------------------------
_NOT_KEYS = set(ID_COLUMNS) | set(INFO_COLUMNS) | {"run_dir", "extractor", "is_splits", "setting", "trial"}


def infer_keys(frame: pd.DataFrame) -> list[str]:
    """Swept-key columns: those that are not identity, info, metric or raw-metric columns."""
    return [c for c in frame.columns if c not in _NOT_KEYS and c not in METRICS and not c.startswith("raw_")]


def tied_keys(frame: pd.DataFrame, keys: Sequence[str]) -> list[list[str]]:
    """``keys`` grouped by the values they take together: keys equal on every run (a tied sweep,
    ``lr_d+lr_g``) form one group, so a report names them and plots them once."""
    groups: list[list[str]] = []
    for key in keys:
        column = frame[key].map(repr) if key in frame.columns else None
        for group in groups:
            if column is not None and frame[group[0]].map(repr).equals(column):
                group.append(key)
                break
        else:
            groups.append([key])
    return groups


def _need(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise GanevalError(f"study: the results have no column {', '.join(map(repr, missing))}")


def _direction(metric: str) -> str:
    direction = METRICS.get(metric).direction if metric in METRICS else "higher"
    if direction == "none":
        raise GanevalError(f"study: {metric!r} has no better direction, so no best or improvement")
    return direction


def setting_scores(frame: pd.DataFrame, metric: str, keys: Sequence[str], agg: str = "mean") -> pd.Series:
    """One score per setting (group of ``keys``): ``agg`` ("mean" or "median") of ``metric`` over its
    seeds, failed seeds counted as the metric's worst. With no keys the whole frame is one setting."""
    _need(frame, [metric, *keys])
    scored = score_failed_seeds(frame)
    values = pd.to_numeric(scored[metric], errors="coerce")
    if not keys:
        return pd.Series([getattr(values, agg)()], index=pd.Index(["all"], name="setting"))
    by = pd.DataFrame({k: scored[k].map(_hashable) for k in keys}, index=scored.index)
    return getattr(values.groupby([by[k] for k in keys], sort=True, dropna=False), agg)()


def _hashable(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


# --- best of k (Lucic et al. 2018) ----------------------------------------------------------
def best_of_k(scores: Sequence[float], higher_is_better: bool = True) -> np.ndarray:
    """``[n]``: entry k-1 is E[best of k settings drawn without replacement from ``scores``], exactly:
    with x_(1) <= ... <= x_(n), E[max of k] = sum_i x_(i) C(i-1, k-1) / C(n, k)."""
    x = np.asarray(scores, dtype=float)
    if x.ndim != 1 or len(x) == 0:
        raise GanevalError("best-of-k needs at least one setting score")
    if np.isnan(x).any():
        raise GanevalError("best-of-k: a setting score is undefined (NaN); score failed runs first")
    x = np.sort(x if higher_is_better else -x)
    n = len(x)
    i = np.arange(1, n + 1)
    out = np.empty(n)
    for k in range(1, n + 1):
        # C(i-1, k-1) / C(n, k) through log-gamma: exact enough and no overflow at n in the thousands
        with np.errstate(invalid="ignore"):
            logw = (_log_comb(i - 1, k - 1) - _log_comb(np.array([n]), k))
        w = np.where(i >= k, np.exp(logw), 0.0)
        out[k - 1] = float(np.dot(w, x))
    return out if higher_is_better else -out


def _log_comb(n: np.ndarray, k: int) -> np.ndarray:
    from scipy.special import gammaln

    n = np.asarray(n, dtype=float)
    return np.where(n >= k, gammaln(n + 1) - gammaln(k + 1) - gammaln(np.maximum(n - k, 0) + 1), -np.inf)


def best_of_k_band(scores: Sequence[float], higher_is_better: bool = True, level: float = 0.95,
                   n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """The best-of-k curve with a percentile bootstrap band: the settings are resampled with
    replacement and the exact curve recomputed. Columns ``k``, ``expected_best``, ``low``, ``high``."""
    x = np.asarray(scores, dtype=float)
    curve = best_of_k(x, higher_is_better)
    rng = np.random.default_rng(seed)
    n = len(x)
    boots = np.stack([best_of_k(x[rng.integers(0, n, n)], higher_is_better) for _ in range(n_boot)]) if n > 1 \
        else np.tile(curve, (1, 1))
    alpha = (1 - level) / 2
    return pd.DataFrame({"k": np.arange(1, n + 1), "expected_best": curve,
                         "low": np.quantile(boots, alpha, axis=0), "high": np.quantile(boots, 1 - alpha, axis=0)})


# --- probability of improvement, IQM, profiles (Agarwal et al. 2021) --------------------------
def _pi(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    x, y = np.moveaxis(x, axis, -1), np.moveaxis(y, axis, -1)
    gt = (x[..., :, None] > y[..., None, :]).mean(axis=(-1, -2))
    eq = (x[..., :, None] == y[..., None, :]).mean(axis=(-1, -2))
    return gt + 0.5 * eq


def _bootstrap(groups: Sequence[np.ndarray], stat: Callable[[list[np.ndarray]], np.ndarray], level: float,
               n_boot: int, seed: int) -> tuple[float, float]:
    """Percentile interval of ``stat(groups)`` by ``scipy.stats.bootstrap``, each group resampled
    within itself (stratified). ``stat`` takes arrays with the observations on the last axis. A
    group of one observation resamples to itself, so it is held fixed (scipy needs two); when every
    group has one, every resample is the data itself and the interval is the degenerate [stat, stat]."""
    free = [i for i, g in enumerate(groups) if len(g) >= 2]
    if not free:
        value = float(np.asarray(stat([np.asarray(g, dtype=float) for g in groups])))
        return value, value

    def statistic(*samples, axis=-1):
        moved = iter(np.moveaxis(s, axis, -1) for s in samples)
        first = np.moveaxis(samples[0], axis, -1)
        shape = first.shape[:-1]
        full = [next(moved) if i in free else np.broadcast_to(g, (*shape, len(g))) for i, g in enumerate(groups)]
        return stat(full)

    # resamples per vectorised call: keeps the pairwise comparisons of P(improvement) under ~50 MB
    pairs = max(1, int(np.prod([len(g) for g in groups[:2]])))
    batch = max(1, min(n_boot, 5_000_000 // pairs))
    res = stats.bootstrap([groups[i] for i in free], statistic, n_resamples=n_boot, confidence_level=level,
                          method="percentile", vectorized=True, paired=False, batch=batch,
                          rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def probability_of_improvement(x: Sequence[float] | Sequence[Sequence[float]],
                               y: Sequence[float] | Sequence[Sequence[float]], level: float = 0.95,
                               n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """P(X > Y) + P(X = Y) / 2 over all pairs of runs (higher is better; negate a lower-is-better
    metric first), with a percentile bootstrap interval (``scipy.stats.bootstrap``).

    ``x``, ``y``: one sequence of run scores each, or one per benchmark (stratified: the estimate
    is the mean over benchmarks, each benchmark's runs resampled within it). Returns
    (estimate, low, high)."""
    xs, ys = _strata(x), _strata(y)
    if len(xs) != len(ys):
        raise GanevalError("probability of improvement: x and y cover different numbers of benchmarks")
    m = len(xs)
    estimate = float(np.mean([_pi(a, b) for a, b in zip(xs, ys)]))
    groups = [g for pair in zip(xs, ys) for g in pair]
    lo, hi = _bootstrap(groups, lambda g: np.mean([_pi(g[2 * j], g[2 * j + 1]) for j in range(m)], axis=0),
                        level, n_boot, seed)
    return estimate, lo, hi


def _strata(values) -> list[np.ndarray]:
    values = list(values)
    if values and np.ndim(values[0]) == 0:
        values = [values]
    out = [np.asarray(v, dtype=float) for v in values]
    if not out or any(len(v) == 0 for v in out):
        raise GanevalError("a comparison needs at least one run on each side")
    if any(np.isnan(v).any() for v in out):
        raise GanevalError("a run score is undefined (NaN); score failed runs first")
    return out


def iqm(values: Sequence[float]) -> float:
    """Interquartile mean: the mean of the middle 50 % (``scipy.stats.trim_mean(x, 0.25)``)."""
    return float(stats.trim_mean(np.asarray(values, dtype=float), 0.25))


def iqm_interval(strata: Sequence[Sequence[float]] | Sequence[float], level: float = 0.95, n_boot: int = 2000,
                 seed: int = 0) -> tuple[float, float, float]:
    """IQM of the pooled runs of every stratum (benchmark), with a stratified percentile bootstrap
    interval: each stratum resampled within itself. Returns (estimate, low, high)."""
    groups = _strata(strata)
    estimate = iqm(np.concatenate(groups))
    lo, hi = _bootstrap(groups, lambda g: stats.trim_mean(np.concatenate(g, axis=-1), 0.25, axis=-1),
                        level, n_boot, seed)
    return estimate, lo, hi


def _log_modes(row) -> float:
    n = row.get("n_modes", math.nan)
    return math.log(n) if n and n > 1 else math.nan


#: Normalised scores in [0, 1], 1 best, comparable across benchmarks: the fraction of modes covered,
#: the high-quality rate, and 1 - KL / ln(modes) (0: all mass on one mode, or worse).
NORMALIZERS: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "modes_covered": lambda f: pd.to_numeric(f["modes_covered"]) / pd.to_numeric(f["n_modes"]),
    "hq_rate": lambda f: pd.to_numeric(f["hq_rate"]),
    "kl": lambda f: (1 - pd.to_numeric(f["kl"]) / np.log(pd.to_numeric(f["n_modes"]))).clip(lower=0.0),
}


def normalized_scores(frame: pd.DataFrame, metric: str = "modes_covered") -> pd.Series:
    """``metric`` normalised per :data:`NORMALIZERS` (failed seeds at the worst, so at 0)."""
    if metric not in NORMALIZERS:
        raise GanevalError(f"no normalisation for {metric!r} (normalisable: {', '.join(NORMALIZERS)})")
    scored = score_failed_seeds(frame)
    _need(scored, [metric] + (["n_modes"] if metric in ("modes_covered", "kl") else []))
    return NORMALIZERS[metric](scored).astype(float)


def performance_profile(scores: Mapping[str, Sequence[float]] | Sequence[Sequence[float]],
                        taus: Sequence[float]) -> np.ndarray:
    """Fraction of runs with normalised score > tau, for each tau: the mean over benchmarks
    (``scores``: one sequence per benchmark, or a mapping benchmark -> sequence) of the fraction of
    that benchmark's runs above tau, so each benchmark weighs the same (Agarwal et al. 2021)."""
    groups = _strata(list(scores.values()) if isinstance(scores, Mapping) else scores)
    t = np.asarray(taus, dtype=float)
    return np.mean([(g[None, :] > t[:, None]).mean(axis=1) for g in groups], axis=0)


def profile_frame(frame: pd.DataFrame, metric: str = "modes_covered", taus: Sequence[float] | None = None,
                  level: float = 0.95, n_boot: int = 500, seed: int = 0) -> pd.DataFrame:
    """Performance profile per (loss, variant) across the frame's benchmarks, with a stratified
    bootstrap band. Columns ``loss``, ``variant``, ``tau``, ``fraction``, ``low``, ``high``."""
    taus = np.linspace(0, 1, 51) if taus is None else np.asarray(taus, dtype=float)
    work = frame.assign(_score=normalized_scores(frame, metric).to_numpy())
    rng = np.random.default_rng(seed)
    rows = []
    for (loss, variant), part in work.groupby(["loss", "variant"], sort=False):
        groups = [g["_score"].to_numpy() for _, g in part.groupby("benchmark", sort=True)]
        curve = performance_profile(groups, taus)
        boots = np.stack([performance_profile([g[rng.integers(0, len(g), len(g))] for g in groups], taus)
                          for _ in range(n_boot)])
        lo, hi = np.quantile(boots, (1 - level) / 2, axis=0), np.quantile(boots, 1 - (1 - level) / 2, axis=0)
        rows += [{"loss": loss, "variant": variant, "tau": float(t), "fraction": float(c), "low": float(a),
                  "high": float(b)} for t, c, a, b in zip(taus, curve, lo, hi)]
    return pd.DataFrame(rows)


def improvement_matrix(frame: pd.DataFrame, metric: str, level: float = 0.95, n_boot: int = 2000,
                       seed: int = 0) -> pd.DataFrame:
    """P(row loss improves on column loss) over settings and seeds, stratified by benchmark (the
    mean over the benchmarks both were run on). Long form: ``x``, ``y``, ``p``, ``low``, ``high``;
    a loss with variants appears as "loss+variant"."""
    sign = 1.0 if _direction(metric) == "higher" else -1.0
    scored = score_failed_seeds(frame)
    _need(scored, [metric, *CELL])
    scored = scored.assign(_cell=_cell_names(scored), _v=sign * pd.to_numeric(scored[metric], errors="coerce"))
    cells = list(dict.fromkeys(scored["_cell"]))
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for i, a in enumerate(cells):
        for b in cells[i:]:
            xa, xb = [], []
            for _, part in scored.groupby("benchmark", sort=True):
                va, vb = part.loc[part._cell == a, "_v"].to_numpy(), part.loc[part._cell == b, "_v"].to_numpy()
                if len(va) and len(vb):
                    xa.append(va)
                    xb.append(vb)
            if not xa:
                continue
            if a == b:  # a loss against itself: 0.5 exactly, in every resample
                found[(a, a)] = {"p": 0.5, "low": 0.5, "high": 0.5, "benchmarks": len(xa)}
                continue
            p, lo, hi = probability_of_improvement(xa, xb, level, n_boot, seed)
            found[(a, b)] = {"p": p, "low": lo, "high": hi, "benchmarks": len(xa)}
            # P(b > a) = 1 - P(a > b) in every resample, so the interval mirrors too
            found[(b, a)] = {"p": 1 - p, "low": 1 - hi, "high": 1 - lo, "benchmarks": len(xa)}
    rows = [{"x": a, "y": b, **found[(a, b)]} for a in cells for b in cells if (a, b) in found]
    return pd.DataFrame(rows)


def _cell_names(frame: pd.DataFrame) -> pd.Series:
    variant = frame["variant"].fillna("none").astype(str)
    return frame["loss"].astype(str).where(variant.isin(["none", ""]), frame["loss"].astype(str) + "+" + variant)


# --- the study table ------------------------------------------------------------------------
def success_table(frame: pd.DataFrame, keys: Sequence[str], criteria=None, level: float = 0.95) -> pd.DataFrame:
    """Success rate per (cell, setting): what the sensitivity figure marks and what "working range"
    counts."""
    return success_rate(frame, criteria, by=(*CELL, *keys), level=level)


def study_table(frame: pd.DataFrame, keys: Sequence[str] | None = None, metrics: Sequence[str] | None = None,
                criteria: Mapping[str, SuccessCriterion] | None = None, level: float = 0.95, n_boot: int = 2000,
                seed: int = 0) -> pd.DataFrame:
    """One row per benchmark x loss x variant (``study.csv``):

    ``settings``, ``runs``; success ``successes``/``runs``, ``success_rate`` and its interval,
    ``criterion``; ``working_settings`` (settings where at least half the seeds succeed: the
    width of the working range); and per metric ``M``: ``M_median`` and ``M_iqm`` (with
    stratified-bootstrap interval) over every run, ``M_best`` (the best setting's mean over seeds),
    ``M_best_of_1`` (= the mean setting score, what one random setting gives in expectation) and
    ``M_best_setting``."""
    _need(frame, CELL)
    if frame.empty:
        raise GanevalError("study: the results are empty")
    keys = infer_keys(frame) if keys is None else list(keys)
    _need(frame, keys)
    if metrics is None:
        metrics = [m for m in ("modes_covered", "hq_rate", "kl", "fid", "modes_robust") if m in frame.columns]
    rates = success_rate(frame, criteria, level=level)
    per_setting = success_table(frame, keys, criteria, level) if keys else rates.assign()
    # scored once over the whole frame: whether a metric is computed is known per benchmark, so a cell
    # whose every run diverged still takes the worst values its benchmark's other cells define
    scored = score_failed_seeds(frame)
    rows = []
    for (bench, loss, variant), part in scored.groupby(CELL, sort=False):
        r = rates[(rates.benchmark == bench) & (rates.loss == loss) & (rates.variant == variant)].iloc[0]
        ps = per_setting[(per_setting.benchmark == bench) & (per_setting.loss == loss)
                         & (per_setting.variant == variant)]
        n_settings = len(setting_scores(part, metrics[0], keys)) if keys and metrics else 1
        row: dict[str, Any] = {"benchmark": bench, "loss": loss, "variant": variant, "settings": n_settings,
                               "runs": len(part), "successes": int(r.successes), "success_rate": float(r.rate),
                               "success_low": float(r.ci_low), "success_high": float(r.ci_high),
                               "criterion": r.criterion,
                               "working_settings": int((ps["rate"] >= 0.5).sum())}
        for m in metrics:
            direction = _direction(m)
            values = pd.to_numeric(scored.loc[part.index, m], errors="coerce").dropna().to_numpy()
            row[f"{m}_median"] = float(np.median(values)) if len(values) else math.nan
            est, lo, hi = iqm_interval([values], level, n_boot, seed) if len(values) else (math.nan,) * 3
            row.update({f"{m}_iqm": est, f"{m}_iqm_low": lo, f"{m}_iqm_high": hi})
            s = setting_scores(part, m, keys).dropna()
            if s.empty:  # no setting of this cell has a value (a metric its benchmark never computes)
                row.update({f"{m}_best": math.nan, f"{m}_best_of_1": math.nan, f"{m}_best_setting": ""})
                continue
            best = s.idxmax() if direction == "higher" else s.idxmin()
            row[f"{m}_best"] = float(s.loc[best])
            row[f"{m}_best_of_1"] = float(s.mean())
            row[f"{m}_best_setting"] = _setting_text(keys, best)
        rows.append(row)
    return pd.DataFrame(rows)


def _setting_text(keys: Sequence[str], index_value: Any) -> str:
    if not keys:
        return ""
    values = index_value if isinstance(index_value, tuple) else (index_value,)
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in zip(keys, values))
