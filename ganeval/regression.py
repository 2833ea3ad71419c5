"""Regression check for CI: compare a bench's per-seed metrics with a baseline file.

A tracked metric is ``BENCHMARK/LOSS[/VARIANT]/METRIC``. It *regresses* when it moved in the bad
direction by more than its tolerance **and** a one-sided test across seeds says seed noise is an
unlikely explanation: p < ``alpha`` / (number of tracked metrics), a Bonferroni correction, since
checking thirty metrics at 5 % each would raise a false alarm on most runs.

The two have separate jobs. Noise is the test's job; the tolerance is the smallest change that
matters, so it never grows with the baseline's seed spread (a spread-sized tolerance let a total
collapse of 5.83 ± 2.93 modes to 0 pass at p = 0.0023). Defaults (:data:`DEFAULT_TOLERANCES`) are
relative where a metric's scale varies with the benchmark or the model (modes covered, the
high-quality rate, KL, FID, precision...: losing every high-quality sample is a regression at any
level) and absolute where the unit itself means something (a third of the seeds diverging, one
more event per seed, a decade of gradient spread). The ``spread`` kind is still read from older
baselines. The test depends on what one seed's value is (``kind`` in :mod:`ganeval.metrics.catalog`):

- **continuous** (modes covered, high-quality rate, KL, FID, ...): the mean over seeds, with a
  one-sided Welch t-test (unequal spreads; seed counts may differ). Where a side holds an infinitely
  bad value (a failed seed's FID), means and spreads say nothing, and the test is Fisher's exact
  test on the number of such seeds.
- **binary** (``diverged``: 0 or 1 per seed): the number of seeds with the outcome, with a one-sided
  Fisher exact test on the 2x2 table of seeds. A t-test on 0/1 values against a baseline with no
  diverged seed has zero variance on one side and reports p ~ 0.1 for two seeds in three: it is
  the wrong tool for counts of rare outcomes at a few seeds; the exact test is exact at any count.
- **count** (``n_events``: events per seed): total events now vs in the baseline, with an exact
  test of two Poisson rates (conditional binomial: given the total, events now follow
  Binomial(total, seeds now / all seeds) when the rate per seed is unchanged).

**The stated level holds for every verdict.** Each test runs at the Bonferroni level, and a
baseline without any occurrence gets no exception: an earlier rule failed any rise beyond the
tolerance from a zero baseline whatever the test said, and with nothing changed (new seeds, same
code) it failed a 20 %-per-seed divergence rate in 5.3 % of checks at 3 seeds and 8.6 % at 5, up
to 24 times the per-metric level. The exact tests are conditional and so never exceed their level
at any true rate; the price is that a few seeds cannot show some changes at all (at 3 seeds against
3, even every seed diverging gives Fisher p = 0.05), and such metrics are named as *cannot be
guarded* (:func:`guard_warnings`) instead of passing in silence. The one verdict without a level is
a side with a single seed (or no spread on either side): no test is possible, and the tolerance
alone decides (the level shows as NaN).

A seed that failed is a bad result, not a missing one: before any comparison, metrics it left
undefined take their worst value (:func:`ganeval.results.score_failed_seeds`). A tracked metric
missing on either side fails with a message, never passes silently.

Power is stated, not hoped for: :func:`detectable` is the smallest worsening that the check flags
with 80 % power, computed for the rule actually applied (moved beyond the tolerance *and* the test
below its level), with the baseline's seed spread or rate taken as the truth and both the baseline's
and the bench's seeds drawn anew (:func:`power`): for means, the Welch test's power integrated over
the two sample variances (its degrees of freedom vary with them, so no single noncentral t is
right at 3 seeds); for binary and count metrics, an exact sum over the outcomes. It is infinite
where no worsening reaches 80 %.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ganeval import __version__, fileio, schema
from ganeval.errors import SpecError, arg, speaking_cli
from ganeval.metrics.catalog import METRICS, Direction
from ganeval.results import collect, metric_columns, score_failed_seeds
from ganeval.rundir import check_output, require_readable
from ganeval.spec import CellId
from ganeval.tables import fmt_number

BASELINE_FORMAT = 1
TOLERANCE_KINDS = ("absolute", "relative", "spread")
POWER = 0.8

#: Default tolerances of ``ganeval baseline init`` (kind, value, absolute floor): the smallest change
#: that matters, independent of the baseline's seed spread (see the module docstring). A floor only
#: where a good baseline sits near 0 and a relative tolerance would shrink to nothing.
DEFAULT_TOLERANCES: dict[str, tuple[str, float, float]] = {
    "modes_covered": ("relative", 0.05, 0.0),
    "modes_robust": ("relative", 0.05, 0.0),
    "hq_rate": ("relative", 0.1, 0.0),
    "kl": ("relative", 0.1, 0.05),
    "mean_confidence": ("absolute", 0.02, 0.0),
    "fid": ("relative", 0.1, 0.0),
    "is_mean": ("relative", 0.1, 0.0),
    "kid_mean": ("relative", 0.1, 0.001),
    "precision": ("relative", 0.1, 0.0),
    "recall": ("relative", 0.1, 0.0),
    "mmd2": ("relative", 0.1, 0.001),
    "diverged": ("absolute", 0.34, 0.0),
    "n_events": ("absolute", 1.0, 0.0),
    "missed": ("absolute", 0.2, 0.0),
    "best_modes_covered": ("relative", 0.05, 0.0),
    "d_grad_spread": ("absolute", 0.1, 0.0),
    "g_grad_spread": ("absolute", 0.1, 0.0),
}
#: The tolerance of a tracked metric without a default (a plugin's metric, say).
FALLBACK_TOLERANCE = ("relative", 0.1, 0.0)
DEFAULT_TRACKED = tuple(DEFAULT_TOLERANCES)
TESTS = {"continuous": "Welch t-test", "binary": "Fisher exact test", "count": "exact Poisson rate test"}


def seed_values(frame: pd.DataFrame) -> dict[str, list[float]]:
    """``cell/metric`` -> per-seed values (failed seeds scored, NaN where still undefined) of every
    registered metric with a direction."""
    out: dict[str, list[float]] = {}
    frame = score_failed_seeds(frame)
    metrics = [m for m in metric_columns(frame) if METRICS.get(m).direction != "none"]
    for _, row in frame.iterrows():
        for m in metrics:
            out.setdefault(f"{CellId.of(row).key}/{m}", []).append(float(row[m]))
    return out


#: What a baseline of a study bench tracks by default: per loss, pooled over its settings and seeds.
STUDY_TRACKED = ("missed", "best_modes_covered")


def study_values(bench_dir: Path, frame: pd.DataFrame) -> dict[str, list[float]]:
    """For a bench with a sweep or search (its ``spec.toml`` says), per (benchmark, loss, variant):
    ``cell/missed``, one 0/1 per seed-run over every setting (1: it missed the spec's ``[success]``
    criterion, or the default one), and ``cell/best_modes_covered``, the values of the seeds of the
    cell's best setting (best mean over seeds: best-of-k at k = every setting). Empty otherwise."""
    from ganeval.results import setting_keys
    from ganeval.rundir import read_spec
    from ganeval.study import parse_success, setting_scores, success_flags

    spec = read_spec(bench_dir)
    if frame.empty or not (spec.get("sweep") or spec.get("search")):
        return {}
    criteria = parse_success(spec.get("success") or {})
    keys = setting_keys(frame)
    missed = ~success_flags(frame, criteria)
    scored = score_failed_seeds(frame)
    out: dict[str, list[float]] = {}
    for (bench, loss, variant), part in frame.groupby(["benchmark", "loss", "variant"], sort=False):
        cell = CellId(bench, loss, variant if isinstance(variant, str) and variant else "none").key
        out[f"{cell}/missed"] = [float(v) for v in missed.loc[part.index]]
        if "modes_covered" in part.columns and keys:
            means = setting_scores(part, "modes_covered", keys)
            best = means.idxmax()
            best = best if isinstance(best, tuple) else (best,)
            at = pd.Series(True, index=part.index)
            for key, value in zip(keys, best):
                column = part[key].map(lambda v: tuple(v) if isinstance(v, list) else v)
                at &= column.isna() if isinstance(value, float) and math.isnan(value) else column.eq(value)
            out[f"{cell}/best_modes_covered"] = [float(v) for v in scored.loc[part.index[at], "modes_covered"]]
    return out


def _defined(values: list[float]) -> list[float]:
    """Values that are numbers (an infinitely bad FID is one; an undefined value is not)."""
    return [v for v in values if v is not None and not math.isnan(v)]


def _stats(values: list[float]) -> tuple[float, float, int]:
    v = _defined(values)
    if not v:
        return math.nan, math.nan, 0
    mean = sum(v) / len(v)
    if len(v) < 2 or math.isinf(mean):
        return mean, math.nan, len(v)
    return mean, math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1)), len(v)


def tolerance_amount(tol: dict[str, Any], base_mean: float, base_std: float) -> float:
    kind, value, floor = tol["kind"], float(tol["value"]), float(tol.get("floor", 0.0))
    if kind == "absolute":
        amount = value
    elif kind == "relative":
        amount = value * abs(base_mean)
    else:  # spread
        amount = value * base_std if math.isfinite(base_std) else 0.0
    return max(amount, floor)


def parse_tolerance(text: str) -> tuple[str, dict[str, Any]]:
    """``METRIC=VALUE`` (absolute, in the metric's units) or ``METRIC=VALUE%`` (relative to the
    baseline's mean) -> (METRIC, tolerance). METRIC is a metric name (every cell) or a full key
    ``BENCHMARK/LOSS[/VARIANT]/METRIC`` (one cell)."""
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value:
        raise SpecError(f"{arg('tolerances')} must be METRIC=VALUE or METRIC=VALUE% (e.g. modes_covered=1, hq_rate=10%), "
                        f"got {text!r}")
    metric = name.rsplit("/", 1)[-1]
    if "/" in name and name.count("/") not in (2, 3):
        raise SpecError(f"{arg('tolerances')} {text!r}: {name!r} is neither a metric nor BENCHMARK/LOSS[/VARIANT]/METRIC")
    info = METRICS.get(metric)
    if info.direction == "none":
        raise SpecError(f"{arg('tolerances')} {text!r}: {metric} has no better direction, so it is never tracked")
    relative = value.endswith("%")
    number = value[:-1] if relative else value
    amount = float(number) if len(number) <= 400 and _DECIMAL.fullmatch(number) else math.nan
    if not math.isfinite(amount) or amount < 0:
        raise SpecError(f"{arg('tolerances')} {text!r}: the value must be a number >= 0 in decimal digits (with % for "
                        "relative)")
    if amount > fileio.MAX_NUMBER:  # the baseline it is written into could not be read back
        raise SpecError(f"{arg('tolerances')} {text!r}: the value must be at most {fileio.MAX_NUMBER:g}")
    if relative:
        return name, {"kind": "relative", "value": amount / 100, "floor": 0.0}
    return name, {"kind": "absolute", "value": amount, "floor": 0.0}


#: A tolerance's number: ASCII decimal digits with an optional fraction and exponent (no ``1_0``,
#: no full-width digits, no ``inf`` or ``nan``), as every number on the command line.
_DECIMAL = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def parse_tolerances(texts: list[str] | tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Several ``--tolerance`` options; naming one metric or key twice is an error."""
    out: dict[str, dict[str, Any]] = {}
    for text in texts:
        name, tol = parse_tolerance(text)
        if name in out:
            raise SpecError(f"{arg('tolerances')} sets {name} twice")
        out[name] = tol
    return out


def _override(key: str, overrides: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The tolerance ``overrides`` give ``key``: its own entry first, then its metric's."""
    return overrides.get(key) or overrides.get(key.rsplit("/", 1)[1])


def _unused_overrides(keys, overrides: dict[str, dict[str, Any]], where: str) -> None:
    keys = list(keys)
    for name in overrides:
        if not any(k == name or k.rsplit("/", 1)[1] == name for k in keys):
            raise SpecError(f"{arg('tolerances')} {name}: {where} tracks no such metric "
                            f"(tracked: {', '.join(sorted({k.rsplit('/', 1)[1] for k in keys})) or 'none'})")


def apply_tolerances(baseline: dict[str, Any], overrides: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``baseline`` with the tolerances of ``overrides`` (``check --tolerance``); an override
    naming a metric the baseline does not track is an error, never ignored."""
    _unused_overrides(baseline["metrics"], overrides, "the baseline")
    metrics = {key: ({**entry, "tolerance": tol} if (tol := _override(key, overrides)) else entry)
               for key, entry in baseline["metrics"].items()}
    return {**baseline, "metrics": metrics}


def default_tolerance(metric: str) -> dict[str, Any]:
    kind, value, floor = DEFAULT_TOLERANCES.get(metric, FALLBACK_TOLERANCE)
    return {"kind": kind, "value": value, "floor": floor}


def make_baseline(bench_dir: Path, tracked: list[str] | None = None,
                  tolerances: dict[str, dict[str, Any]] | None = None,
                  overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """A baseline document from a bench folder.

    ``tracked``: metric names to track in every cell, default :data:`DEFAULT_TRACKED` (those of
    the defaults that a cell has values for). A metric asked for by name that some cell has no value
    for is an error naming the metric and the cell, never silently dropped. ``tolerances``: per key,
    kept from an older baseline (``check --update``: the same keys are tracked). ``overrides``:
    ``--tolerance`` settings by metric name or key (see :func:`parse_tolerance`)."""
    frame = collect(bench_dir)
    if frame.empty:
        raise SpecError(f"{bench_dir} has no complete runs to make a baseline from")
    values = seed_values(frame)
    cells = sorted({CellId.of(row).key for _, row in frame.iterrows()})
    study = study_values(bench_dir, frame)  # a study is guarded per loss over its settings
    values.update(study)
    study_cells = sorted({key.rsplit("/", 1)[0] for key in study})
    if tracked is not None:
        for metric in dict.fromkeys(tracked):
            info = METRICS.get(metric)
            if info.direction == "none":
                raise SpecError(f"cannot track {metric}: it has no better direction (a context column)")
            if metric in STUDY_TRACKED and not study:
                raise SpecError(f"cannot track {metric}: it is tracked for a study (a bench with {arg('sweep')} or "
                                f"{arg('search')})")
            lacking = [c for c in (study_cells if metric in STUDY_TRACKED else cells)
                       if not _defined(values.get(f"{c}/{metric}", []))]
            if lacking:
                how = "`ganeval score --trace DIR`" if speaking_cli() else "score(..., trace=DIR)"
                hint = (f" (scored without {arg('trace')}? {how} files a GANTracer run's events and stability "
                        "summary)" if info.group == "stability" else "")
                raise SpecError(f"cannot track {metric}: no seed-run of {', '.join(lacking)} has a value for it"
                                f"{hint}")
    names = set(tracked if tracked is not None else (STUDY_TRACKED if study else DEFAULT_TRACKED))
    doc = {"format": BASELINE_FORMAT, "ganeval": __version__, "source": str(bench_dir),
           "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "metrics": {}}
    for key, vals in sorted(values.items()):
        metric = key.rsplit("/", 1)[1]
        if tolerances is not None:
            if key not in tolerances:
                continue
            tol = tolerances[key]
        elif metric in names and _defined(vals):
            tol = default_tolerance(metric)
        else:
            continue
        if overrides:
            tol = _override(key, overrides) or tol
        mean, std, n = _stats(vals)
        doc["metrics"][key] = {"direction": METRICS.get(metric).direction, "values": vals, "mean": mean,
                               "std": std, "n": n, "tolerance": tol}
    if tolerances is not None:
        for key in tolerances:
            if key not in doc["metrics"]:
                raise SpecError(f"cannot update the baseline: {key} is tracked but the bench has no value for it")
    if overrides:
        _unused_overrides(doc["metrics"], overrides, "this baseline")
    cells = {key.rsplit("/", 1)[0] for key in doc["metrics"]}
    doc["settings"] = {key: values for key, values in cell_settings(bench_dir).items() if key in cells}
    return doc


def cell_settings(bench_dir: Path) -> dict[str, dict[str, Any]]:
    """Each trained cell's training settings (``config.json`` less the seed and evaluation-only
    fields), so a check can say when a bench was trained otherwise than its baseline; scored
    samples (``ganeval score``) have none."""
    from ganeval.rundir import find_run_dirs, read_raw_config
    from ganeval.spec import OUTPUT_FIELDS, is_eval_field

    out: dict[str, dict[str, Any]] = {}
    for run_dir in find_run_dirs(bench_dir):
        config = read_raw_config(run_dir)
        if isinstance(config, dict) and config and "scored_by" not in config:
            out.setdefault(CellId.of(config).key, {k: v for k, v in config.items() if k != "seed"
                                                   and not is_eval_field(k) and k not in OUTPUT_FIELDS})
    return out


def settings_warnings(baseline: dict[str, Any], bench_dir: Path) -> list[str]:
    """One line per tracked cell whose training settings differ from those the baseline recorded:
    such a check compares two setups, which a pass or a fail says nothing about by itself."""
    recorded = baseline.get("settings")
    if not isinstance(recorded, dict):
        return []  # a baseline from before settings were recorded
    now, lines = cell_settings(bench_dir), []
    for key, then in sorted(recorded.items()):
        if key not in now or not isinstance(then, dict):
            continue
        changed = sorted(k for k in set(then) | set(now[key]) if then.get(k) != now[key].get(k))
        if changed:
            shown = ", ".join(f"{k} {then.get(k)!r} -> {now[key].get(k)!r}" for k in changed[:4])
            lines.append(f"{key} was trained with other settings than the baseline ({shown}"
                         f"{', ...' if len(changed) > 4 else ''}): the check compares two setups")
    return lines


def load_baseline(path: Path) -> dict[str, Any]:
    try:
        doc = fileio.read_json(path)
    except FileNotFoundError:
        raise SpecError(f"baseline file not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise SpecError(f"{path}: not a JSON baseline ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("metrics"), dict):
        raise SpecError(f"{path}: not a ganeval baseline (no 'metrics' table)")
    found = schema.value_problem("format", doc.get("format", BASELINE_FORMAT), (int,))
    if found:
        raise SpecError(f"{path}: {found}")
    if doc.get("format", BASELINE_FORMAT) > BASELINE_FORMAT:
        raise SpecError(f"{path}: baseline format {doc['format']} is newer than this ganeval understands")
    for key, entry in doc["metrics"].items():
        metric = key.rsplit("/", 1)[-1]
        if key.count("/") not in (2, 3) or metric not in METRICS:
            raise SpecError(f"{path}: {key!r} does not name a known metric (BENCHMARK/LOSS[/VARIANT]/METRIC)")
        if isinstance(entry, dict) and "values" not in entry:
            raise SpecError(f"{path}: {key}: 'values' (per-seed baseline values) missing")
        found = (schema.problem(entry, schema.BASELINE_ENTRY)
                 or schema.items_problem("values", entry["values"], (*schema.NUMBER, schema.NONE))
                 or schema.problem(entry["tolerance"], schema.TOLERANCE))
        if found:
            raise SpecError(f"{path}: {key}: {found}")
        if entry["tolerance"]["kind"] not in TOLERANCE_KINDS:
            raise SpecError(f"{path}: {key}: tolerance kind must be one of {', '.join(TOLERANCE_KINDS)}")
    return doc


# --- the tests ------------------------------------------------------------------------------------
def _quiet(fn, *args, **kwargs):
    from scipy import stats  # noqa: F401 - imported here so the module loads without scipy's cost

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _p_value(base: list[float], now: list[float], direction: str) -> float:
    """One-sided Welch t-test that ``now`` is worse than ``base``; NaN if it cannot be computed (a
    side with one seed). Both sides without any spread: 0 if ``now`` is worse, else 1 (the limit of
    the test as the spreads shrink; scipy returns NaN there)."""
    from scipy import stats

    b, n = _defined(base), _defined(now)
    if len(b) < 2 or len(n) < 2:
        return math.nan
    if max(b) == min(b) and max(n) == min(n):
        worse = n[0] < b[0] if direction == "higher" else n[0] > b[0]
        return 0.0 if worse else 1.0
    alternative = "less" if direction == "higher" else "greater"
    return float(_quiet(stats.ttest_ind, n, b, equal_var=False, alternative=alternative).pvalue)


def fisher_p(k_now: int, n_now: int, k_base: int, n_base: int) -> float:
    """One-sided Fisher exact test that the outcome is more frequent now than in the baseline."""
    from scipy import stats

    table = [[k_now, n_now - k_now], [k_base, n_base - k_base]]
    return float(stats.fisher_exact(table, alternative="greater").pvalue)


def poisson_p(k_now: int, n_now: int, k_base: int, n_base: int) -> float:
    """One-sided exact test that events per seed are more frequent now (conditional binomial)."""
    from scipy import stats

    total = k_now + k_base
    if total == 0:
        return 1.0
    return float(stats.binomtest(k_now, total, n_now / (n_now + n_base), alternative="greater").pvalue)


def _counts(values: list[float]) -> tuple[int, int]:
    """(occurrences, seeds) of a binary or count metric's per-seed values."""
    v = _defined(values)
    return int(round(sum(v))), len(v)


def _infinitely_bad(values: list[float], direction: str) -> int:
    """Seeds whose value is infinitely bad (a failed seed's FID or KID)."""
    bad = -math.inf if direction == "higher" else math.inf
    return sum(1 for v in _defined(values) if v == bad)


# --- power: what the check can see -----------------------------------------------------------------
#: quantile points per sample variance in the Welch power integral (64 x 64 pairs: the power is then
#: within 0.001 of a million-draw simulation at 3 to 20 seeds)
POWER_GRID = 64


def _welch_power(shift: float, sigma: float, n_base: int, n_now: int, tol: float, level: float) -> float:
    """P(flagged) when the bench's mean is worse than the baseline's by ``shift``: both sides normal
    with standard deviation ``sigma``, flagged when the mean moved beyond ``tol`` and Welch's
    one-sided p < ``level``.

    The difference of means D ~ N(shift, sigma² (1/n_base + 1/n_now)) is independent of the two
    sample variances, which set both the standard error and the Welch–Satterthwaite degrees of
    freedom; Welch rejects when D > t(1 - level, df) · SE. So the power is the mean, over the joint
    distribution of the two sample variances (a grid of their chi-square quantiles), of
    P(D > max(tol, t · SE))."""
    return float(_welch_power_curve(sigma, n_base, n_now, tol, level)(shift))


def _welch_power_curve(sigma: float, n_base: int, n_now: int, tol: float, level: float):
    import numpy as np
    from scipy import stats

    u = (np.arange(POWER_GRID) + 0.5) / POWER_GRID
    a = (stats.chi2.ppf(u, n_base - 1) / (n_base - 1))[:, None] / n_base  # S_base² / (sigma² n_base)
    b = (stats.chi2.ppf(u, n_now - 1) / (n_now - 1))[None, :] / n_now
    df = (a + b) ** 2 / (a ** 2 / (n_base - 1) + b ** 2 / (n_now - 1))
    threshold = np.maximum(tol, stats.t.ppf(1 - level, df) * sigma * np.sqrt(a + b)).ravel()
    spread = sigma * math.sqrt(1 / n_base + 1 / n_now)
    return lambda shift: float(stats.norm.cdf((shift - threshold) / spread).mean())


def _first_flagged(kind: str, k_base: int, n_base: int, n_now: int, tol: float, level: float) -> float:
    """The smallest count now that the check flags against ``k_base`` in the baseline (flagging is
    monotone in it); inf if none (binary: none up to every seed)."""
    import numpy as np
    from scipy import stats

    top = n_now if kind == "binary" else max(64, 4 * (k_base + 1) * n_now)
    while True:
        k = np.arange(top + 1)
        rise = k / n_now - k_base / n_base > tol
        if kind == "binary":  # hypergeometric tail: P(X >= k) of k + k_base outcomes among all seeds
            p = stats.hypergeom.sf(k - 1, n_base + n_now, k + k_base, n_now)
        else:  # binomial tail given the total (poisson_p)
            p = np.where(k + k_base > 0, stats.binom.sf(k - 1, k + k_base, n_now / (n_now + n_base)), 1.0)
        hit = np.flatnonzero(rise & (p < level))
        if hit.size:
            return float(hit[0])
        if kind == "binary" or top > 10 ** 7:
            return math.inf
        top *= 4


def _discrete_power_curve(kind: str, rate: float, n_base: int, n_now: int, tol: float, level: float):
    """``rate_now -> P(flagged)`` with the baseline's seeds drawn at ``rate`` per seed (binomial for
    binary, Poisson for count) and the bench's at ``rate_now``: an exact sum over the outcomes."""
    import numpy as np
    from scipy import stats

    if kind == "binary":
        k_base = np.arange(n_base + 1)
        p_base = stats.binom.pmf(k_base, n_base, rate)
    else:
        top = int(stats.poisson.ppf(1 - 1e-12, n_base * rate)) if rate > 0 else 0
        k_base = np.arange(top + 1)
        p_base = stats.poisson.pmf(k_base, n_base * rate)
    first = np.array([_first_flagged(kind, int(k), n_base, n_now, tol, level) for k in k_base])
    finite = np.isfinite(first)

    def curve(rate_now: float) -> float:
        if kind == "binary":
            tail = stats.binom.sf(first[finite] - 1, n_now, min(rate_now, 1.0))
        else:
            tail = stats.poisson.sf(first[finite] - 1, n_now * rate_now)
        return float((p_base[finite] * tail).sum())

    return curve


def power(kind: str, base: list[float], n_now: int, tol: float, level: float, worse_by: float) -> float:
    """P(the check flags the metric) at ``n_now`` seeds when the truth got worse by ``worse_by``
    (a mean, or a fraction or rate per seed), the baseline's seed spread or rate taken as the truth
    and the baseline's ``len(base)`` seeds drawn anew as well (see the module docstring). NaN where
    no test is possible (a side with one seed)."""
    if kind == "continuous":
        _, std, n_base = _stats(base)
        if n_base < 2 or n_now < 2 or not math.isfinite(std):
            return math.nan
        if std == 0:
            return 1.0 if worse_by > tol else 0.0
        return _welch_power(worse_by, std, n_base, n_now, tol, level)
    k_base, n_base = _counts(base)
    if n_base == 0 or n_now == 0:
        return math.nan
    rate = k_base / n_base
    return _discrete_power_curve(kind, rate, n_base, n_now, tol, level)(rate + worse_by)


def detectable(kind: str, base: list[float], n_now: int, tol: float, level: float) -> float:
    """The smallest worsening (in the metric's units: a mean, or a fraction or rate per seed) that
    the check flags with 80 % power at ``n_now`` seeds (:func:`power`). Infinite where no worsening
    reaches it (a binary metric at few seeds: even every seed failing); the tolerance itself where no
    test is possible (one seed on a side) or the baseline has no spread, since the tolerance alone
    then decides; NaN where the baseline holds an infinitely bad value (no spread to plan with)."""
    if kind == "continuous":
        mean, std, n_base = _stats(base)
        return _detectable_shift(std, n_base, n_now, tol, level) if math.isfinite(mean) else math.nan
    k_base, n_base = _counts(base)
    if n_base == 0 or n_now == 0:
        return math.inf
    return _detectable_rise(kind, k_base / n_base, n_base, n_now, tol, level)


def _detectable_shift(std: float, n_base: int, n_now: int, tol: float, level: float) -> float:
    """:func:`detectable` of a mean whose seeds spread by ``std``."""
    from scipy import optimize

    if n_base < 2 or n_now < 2 or not std > 0:
        return tol
    curve = _welch_power_curve(std, n_base, n_now, tol, level)
    top = tol + std
    while curve(top) < POWER:
        top = tol + 2 * (top - tol)
    return float(optimize.brentq(lambda d: curve(d) - POWER, tol, top, xtol=1e-9 * top, rtol=1e-10))


def _detectable_rise(kind: str, rate: float, n_base: int, n_now: int, tol: float, level: float) -> float:
    """:func:`detectable` of a binary or count metric at ``rate`` per seed in the baseline."""
    from scipy import optimize

    curve = _discrete_power_curve(kind, rate, n_base, n_now, tol, level)
    if kind == "binary":
        if rate >= 1 or curve(1.0) < POWER:
            return math.inf
        return float(optimize.brentq(lambda r: curve(r) - POWER, rate, 1.0, xtol=1e-12)) - rate
    top = max(2 * rate, rate + tol + 1.0)
    while curve(top) < POWER:
        top = rate + 2 * (top - rate)
    return float(optimize.brentq(lambda r: curve(r) - POWER, rate, top, xtol=1e-12)) - rate


#: a tracked metric's outcome: within tolerance, better, worse beyond tolerance (a regression), or
#: missing from the bench (also a failure: a guard never passes by losing what it guards)
Outcome = Literal["ok", "better", "worse", "missing"]


@dataclass
class Verdict:
    """The check of one tracked metric (``key`` = ``BENCHMARK/LOSS[-VARIANT]/METRIC``): its baseline
    and current means, the tolerance in the metric's units, the test's p-value, the ``verdict`` and
    its one-line ``message``; ``failed`` when worse or missing."""

    key: str
    direction: Direction
    baseline: float
    now: float
    tolerance: float
    p_value: float
    verdict: Outcome
    message: str
    test: str = ""
    detectable: float = math.nan  # the smallest worsening this check flags with 80 % power (detectable())
    level: float = math.nan  # the level the test's p was held to; NaN where no test decided
    guarded: bool = True  # False: at these seed counts the check cannot flag this metric (guard_warnings)
    seeds: int = 0  # the bench's seeds with a value

    @property
    def failed(self) -> bool:
        return self.verdict in ("worse", "missing")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "failed": self.failed}


def _units(key: str) -> tuple[str, str]:
    """What one value of a tracked metric is: a seed's, or for a study's ``missed`` a run's (each
    setting × seed)."""
    return ("runs", "run") if key.rsplit("/", 1)[-1] == "missed" else ("seeds", "seed")


def _describe(kind: str, values: list[float], unit: str = "seeds") -> str:
    if kind == "binary":
        k, n = _counts(values)
        return f"{k} of {n} {unit}"
    if kind == "count":
        k, n = _counts(values)
        return f"{k} in {n} {unit} ({k / n:.3g} per {unit[:-1]})" if n else "none"
    mean, _, n = _stats(values)
    return f"{mean:.4g} (mean of {n})"


def compare(key: str, base: list[float], now: list[float], tol_spec: dict[str, Any], level: float,
            diverged_now: int = 0, with_power: bool = True) -> Verdict:
    """The verdict on one tracked metric (see the module docstring). ``with_power=False`` skips the
    power figure (``detectable`` stays NaN and ``guarded`` True): the verdict is the same, and
    simulations of many checks need only that."""
    metric = key.rsplit("/", 1)[1]
    info = METRICS.get(metric)
    direction, kind = info.direction, info.kind
    b_mean, b_std, b_n = _stats(base)
    n_mean, _, n_n = _stats(now)
    tol = tolerance_amount(tol_spec, b_mean, b_std)
    test = TESTS[kind]
    if n_n == 0:
        return Verdict(key, direction, b_mean, math.nan, tol, math.nan, "missing",
                       f"{key}: no value now ({len(now)} of {len(now)} {_units(key)[0]} undefined)", test)
    if b_n == 0:
        return Verdict(key, direction, math.nan, n_mean, tol, math.nan, "missing",
                       f"{key}: the baseline has no value to compare with", test)
    can_detect, guarded = math.nan, True
    if with_power:
        can_detect = detectable(kind, base, n_n, tol, level)
        guarded = _guarded(kind, base, n_n, tol, can_detect, key)
    worse_by = (b_mean - n_mean) if direction == "higher" else (n_mean - b_mean)
    if math.isnan(worse_by):  # both infinitely bad: no change
        worse_by = 0.0
    if kind == "continuous":
        bad_base, bad_now = _infinitely_bad(base, direction), _infinitely_bad(now, direction)
        if bad_base or bad_now:  # failed seeds' infinite values: compare how many seeds failed
            test = "Fisher exact test (seeds at ∞)"
            p = fisher_p(bad_now, n_n, bad_base, b_n)
        else:
            p = _p_value(base, now, direction)
    else:
        k_base, _ = _counts(base)
        k_now, _ = _counts(now)
        p = (fisher_p if kind == "binary" else poisson_p)(k_now, n_n, k_base, b_n)
    tested = not math.isnan(p)
    used = level if tested else math.nan
    significant = p < level if tested else True  # no test possible: the tolerance alone decides
    moved = f"{_describe(kind, base, _units(key)[0])} -> {_describe(kind, now, _units(key)[0])}"
    if kind == "continuous" and diverged_now:
        moved += f", {diverged_now} diverged seed(s) counted as the worst value"
    stat = f"{test} p = {p:.3g} < {level:.2g}" if tested else "one seed on a side: no test, the tolerance decides"
    if worse_by > tol and significant:
        return Verdict(key, direction, b_mean, n_mean, tol, p, "worse",
                       f"{key}: {moved}, worse by {worse_by:.4g} (tolerance {tol:.4g}; {stat})", test, can_detect,
                       used, guarded, n_n)
    if -worse_by > tol:
        return Verdict(key, direction, b_mean, n_mean, tol, p, "better",
                       f"{key}: {moved}, better by {-worse_by:.4g}", test, can_detect, used, guarded, n_n)
    note = ""
    if worse_by > tol:
        note = f" (moved {worse_by:.4g} the wrong way, within noise: {test} p = {p:.3g} >= {level:.2g})"
    elif worse_by > 0 and kind != "continuous" and tested:
        note = f" (within the tolerance {tol:.4g}; {test} p = {p:.3g})"
    return Verdict(key, direction, b_mean, n_mean, tol, p, "ok", f"{key}: {moved}{note}", test, can_detect, used,
                   guarded, n_n)


def _guarded(kind: str, base: list[float], n_now: int, tol: float, can_detect: float, key: str) -> bool:
    """Whether the check can flag the metric's worst case at these seed counts with 80 % power:
    every seed failing (binary: ``can_detect`` finite), or a total collapse to its worst value
    (continuous, where the catalog defines one and the benchmark is known)."""
    if kind == "binary":
        return math.isfinite(can_detect)
    if kind == "count" or math.isnan(can_detect):
        return True
    info = METRICS.get(key.rsplit("/", 1)[1])
    mean, _, _ = _stats(base)
    if info.worst is None:
        return True
    room = abs(mean - info.worst(_benchmark_row(key)))
    return not math.isfinite(room) or can_detect < room


def check(bench_dir: Path, baseline: dict[str, Any], alpha: float = 0.05) -> list[Verdict]:
    """One verdict per tracked metric of ``baseline`` (see the module docstring)."""
    frame = collect(bench_dir)
    values = seed_values(frame) if not frame.empty else {}
    values.update(study_values(bench_dir, frame))
    diverged: dict[str, int] = {}
    if not frame.empty and "status" in frame.columns:
        for _, row in frame.iterrows():
            key = CellId.of(row).key
            diverged[key] = diverged.get(key, 0) + int(row["status"] == "diverged")
    level = alpha / max(len(baseline["metrics"]), 1)
    verdicts = []
    for key, entry in sorted(baseline["metrics"].items()):
        if key not in values:
            metric = key.rsplit("/", 1)[1]
            b_mean, b_std, _ = _stats(entry["values"])
            verdicts.append(Verdict(key, METRICS.get(metric).direction, b_mean, math.nan,
                                    tolerance_amount(entry["tolerance"], b_mean, b_std), math.nan, "missing",
                                    f"{key}: tracked by the baseline but absent from {bench_dir} "
                                    "(renamed metric, or a cell that did not run?)"))
            continue
        verdicts.append(compare(key, entry["values"], values[key], entry["tolerance"], level,
                                diverged.get(key.rsplit("/", 1)[0], 0)))
    return verdicts


def guard_warnings(baseline: dict[str, Any], alpha: float = 0.05, verdicts: list[Verdict] | None = None) -> list[str]:
    """Metrics the check cannot guard at the baseline's seed count (or, given a check's
    ``verdicts``, at the bench's): a continuous metric whose total collapse (its worst value) would
    not be flagged with 80 % power, a binary one that even every seed failing would not (at 3 seeds
    against 3 no level below 0.05 can be reached). Each line says why and what would fix it."""
    level = alpha / max(len(baseline["metrics"]), 1)
    seeds_now = {v.key: v.seeds for v in verdicts or [] if v.verdict != "missing"}
    moved = {v.key: v for v in verdicts or []}
    out = []
    for key, entry in sorted(baseline["metrics"].items()):
        info = METRICS.get(key.rsplit("/", 1)[1])
        values = entry["values"]
        mean, std, n = _stats(values)
        if info.kind == "count" or n == 0 or (verdicts is not None and key not in seeds_now):
            continue
        n_now = seeds_now.get(key, n)
        tol = tolerance_amount(entry["tolerance"], mean, std)
        can = detectable(info.kind, values, n_now, tol, level)
        if _guarded(info.kind, values, n_now, tol, can, key):
            continue
        units, unit = _units(key)
        seeds = f"{n} {units}" if n_now == n else f"{n} baseline and {n_now} bench {units}"
        if info.kind == "binary":
            k, _ = _counts(values)
            best = fisher_p(n_now, n_now, k, n)
            head = (f"{key} cannot be guarded with {seeds}: even {f'every {unit}' if n_now > 1 else f'the {unit}'} "
                    f"failing ({k} of {n} -> {n_now} of {n_now}) gives Fisher p = {best:.3g}"
                    + (f", above the level {level:.2g}" if best >= level else
                       f", and is flagged less than {POWER:.0%} of the time at this rate"))
            need = next((m for m in range(n + 1, 201)
                         if math.isfinite(_detectable_rise("binary", k / n, m, m, tol, level))), None)
        else:
            worst = info.worst(_benchmark_row(key))
            room = abs(mean - worst)
            head = (f"{key} cannot be guarded with {seeds}: a total collapse ({mean:.4g} -> {worst:.4g}) is a "
                    f"worsening of {room:.4g}, and the check flags only worsenings above {_num(can)} with 80 % power")
            if tol >= room:
                out.append(f"{head} (its tolerance, {tol:.4g}, is already that large: lower it)")
                continue
            need = next((m for m in range(max(n, 2) + 1, 201)
                         if _detectable_shift(std, m, m, tol, level) < room), None)
        fix = (f"about {need} {units} (baseline and bench alike) would guard it" if need
               else f"more than 200 {units} would be needed")
        v = moved.get(key)
        if v is not None and v.verdict == "ok" and "the wrong way" in v.message:
            fix += f"; this check: {v.message.split(': ', 1)[1]}"
        out.append(f"{head}; {fix}")
    return out


def _benchmark_row(key: str) -> dict[str, float]:
    """What a metric's worst value depends on, for a tracked key's benchmark: its number of modes
    and, for a weighted mixture, its largest KL (NaN for a benchmark this ganeval lacks)."""
    from ganeval.benchmarks import BENCHMARKS, get_benchmark

    bench = key.split("/", 1)[0]
    if bench not in BENCHMARKS:
        return {"n_modes": math.nan}
    b = get_benchmark(bench)
    kl_max = getattr(b, "kl_max", None)
    return {"n_modes": float(b.n_modes), **({"kl_max": float(kl_max)} if kl_max is not None else {})}


def power_table(baseline: dict[str, Any], seeds: tuple[int, ...] = (3, 5, 10, 20), alpha: float = 0.05
                ) -> list[list[str]]:
    """Rows (metric, baseline mean ± std, tolerance, the worsening flagged with 80 % power with k
    seeds in the baseline and the bench alike, for each k of ``seeds``): the seed spread or rate of
    this baseline, at other seed counts."""
    level = alpha / max(len(baseline["metrics"]), 1)
    rows = []
    for key, entry in sorted(baseline["metrics"].items()):
        info = METRICS.get(key.rsplit("/", 1)[1])
        values = entry["values"]
        mean, std, n = _stats(values)
        tol = tolerance_amount(entry["tolerance"], mean, std)
        cells = []
        k_base, n_base = _counts(values)
        for k in seeds:
            if info.kind == "continuous":
                can = _detectable_shift(std, k, k, tol, level) if math.isfinite(mean) else math.nan
            else:
                can = _detectable_rise(info.kind, k_base / n_base, k, k, tol, level) if n_base else math.inf
            cells.append(_num(can))
        rows.append([key, f"{_num(mean)} ± {_num(std)}", _num(tol), *cells])
    return rows


def _num(x: float) -> str:
    return fmt_number(x, ".3g")


def init_baseline(bench_dir: Path, output: Path, tracked: list[str] | None = None,
                  tolerances: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """``ganeval baseline init``: a new baseline file from a bench (never over an existing one);
    ``tolerances``: ``METRIC=VALUE[%]`` texts instead of the defaults."""
    for m in tracked or []:
        METRICS.get(m)
    overrides = parse_tolerances(tolerances)
    require_readable(Path(bench_dir))
    output = Path(output)
    if output.exists() or output.is_symlink():
        refresh = "`ganeval check ... --update`" if speaking_cli() else "baseline(..., update=True)"
        raise SpecError(f"{output} exists; use {refresh} to refresh a baseline")
    check_output(output, arg("output"), kind="baseline")
    doc = make_baseline(Path(bench_dir), tracked, overrides=overrides)
    fileio.write_json(output, doc)
    return doc


def update_baseline(bench_dir: Path, baseline_file: Path, retrack: bool = False,
                    tolerances: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """``ganeval check --update``: a new baseline from this bench, written atomically, keeping the
    tracked metrics and tolerances of the old one (``retrack``: the default metric set again) but
    for the ``METRIC=VALUE[%]`` ``tolerances`` given."""
    overrides = parse_tolerances(tolerances)
    require_readable(Path(bench_dir))
    baseline_file = Path(baseline_file)
    check_output(baseline_file, arg("output"), replaceable=lambda head: True, kind="baseline")
    old = load_baseline(baseline_file) if os.path.lexists(baseline_file) else None  # only a baseline is replaced
    old = None if retrack else old
    doc = make_baseline(Path(bench_dir), tolerances={k: v["tolerance"] for k, v in old["metrics"].items()} if old else None,
                        overrides=overrides)
    fileio.write_json(baseline_file, doc)
    return doc
