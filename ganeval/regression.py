"""Regression check for CI: compare a bench's aggregated metrics with a baseline file.

A tracked metric is ``BENCHMARK/LOSS[/VARIANT]/METRIC``. It *regresses* when its mean over seeds
moved in the bad direction by more than its tolerance **and**, where both sides have at least two
seeds, a one-sided Welch t-test across seeds says the move is unlikely to be seed noise:
p < ``alpha`` / (number of tracked metrics) — a Bonferroni correction, since checking thirty
metrics at 5 % each would raise a false alarm on most runs. Tolerances are absolute, relative to
the baseline mean, or in units of the baseline's seed spread (std), each with an absolute floor. A
tracked metric missing on either side fails with a message, never passes silently.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ganeval import __version__, fileio
from ganeval.errors import SpecError
from ganeval.metrics.catalog import METRICS
from ganeval.results import collect, metric_columns
from ganeval.spec import CellId

BASELINE_FORMAT = 1
TOLERANCE_KINDS = ("absolute", "relative", "spread")

#: Default tolerances of ``ganeval baseline init`` (kind, value, absolute floor). Seed spread is the
#: natural unit for most metrics; the floors keep a zero-spread baseline from failing on any change.
DEFAULT_TOLERANCES: dict[str, tuple[str, float, float]] = {
    "modes_covered": ("spread", 2.0, 1.0),
    "hq_rate": ("spread", 2.0, 0.05),
    "kl": ("spread", 2.0, 0.1),
    "mean_confidence": ("spread", 2.0, 0.02),
    "fid": ("relative", 0.1, 0.0),
    "is_mean": ("relative", 0.1, 0.0),
    "kid_mean": ("spread", 2.0, 0.005),
    "precision": ("spread", 2.0, 0.05),
    "recall": ("spread", 2.0, 0.05),
    "diverged": ("absolute", 0.34, 0.0),
    "n_events": ("absolute", 1.0, 0.0),
}
DEFAULT_TRACKED = tuple(DEFAULT_TOLERANCES)


def seed_values(frame: pd.DataFrame) -> dict[str, list[float]]:
    """``cell/metric`` -> per-seed values (NaN kept) of every registered metric with a direction."""
    out: dict[str, list[float]] = {}
    metrics = [m for m in metric_columns(frame) if METRICS.get(m).direction != "none"]
    for _, row in frame.iterrows():
        for m in metrics:
            out.setdefault(f"{CellId.of(row).key}/{m}", []).append(float(row[m]))
    return out


def _finite(values: list[float]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def _stats(values: list[float]) -> tuple[float, float, int]:
    v = _finite(values)
    if not v:
        return math.nan, math.nan, 0
    mean = sum(v) / len(v)
    std = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else math.nan
    return mean, std, len(v)


def tolerance_amount(tol: dict[str, Any], base_mean: float, base_std: float) -> float:
    kind, value, floor = tol["kind"], float(tol["value"]), float(tol.get("floor", 0.0))
    if kind == "absolute":
        amount = value
    elif kind == "relative":
        amount = value * abs(base_mean)
    else:  # spread
        amount = value * base_std if math.isfinite(base_std) else 0.0
    return max(amount, floor)


def make_baseline(bench_dir: Path, tracked: list[str] | None = None,
                  tolerances: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """A baseline document from a bench folder. ``tracked``: metric names (all cells) to track,
    default :data:`DEFAULT_TRACKED`; ``tolerances``: per key overrides kept from an older baseline."""
    frame = collect(bench_dir)
    if frame.empty:
        raise SpecError(f"{bench_dir} has no complete runs to make a baseline from")
    values = seed_values(frame)
    names = set(tracked if tracked is not None else DEFAULT_TRACKED)
    doc = {"format": BASELINE_FORMAT, "ganeval": __version__, "source": str(bench_dir),
           "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "metrics": {}}
    for key, vals in sorted(values.items()):
        metric = key.rsplit("/", 1)[1]
        if tolerances is not None:
            if key not in tolerances:
                continue
            tol = tolerances[key]
        elif metric in names:
            kind, value, floor = DEFAULT_TOLERANCES.get(metric, ("spread", 2.0, 0.0))
            tol = {"kind": kind, "value": value, "floor": floor}
        else:
            continue
        mean, std, n = _stats(vals)
        doc["metrics"][key] = {"direction": METRICS.get(metric).direction, "values": vals, "mean": mean,
                               "std": std, "n": n, "tolerance": tol}
    if tolerances is not None:
        for key in tolerances:
            if key not in doc["metrics"]:
                raise SpecError(f"cannot update the baseline: {key} is tracked but the bench has no value for it")
    return doc


def load_baseline(path: Path) -> dict[str, Any]:
    try:
        doc = fileio.read_json(path)
    except FileNotFoundError:
        raise SpecError(f"baseline file not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise SpecError(f"{path}: not a JSON baseline ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("metrics"), dict):
        raise SpecError(f"{path}: not a ganeval baseline (no 'metrics' table)")
    if doc.get("format", BASELINE_FORMAT) > BASELINE_FORMAT:
        raise SpecError(f"{path}: baseline format {doc['format']} is newer than this ganeval understands")
    for key, entry in doc["metrics"].items():
        metric = key.rsplit("/", 1)[-1]
        if key.count("/") not in (2, 3) or metric not in METRICS:
            raise SpecError(f"{path}: {key!r} does not name a known metric (BENCHMARK/LOSS[/VARIANT]/METRIC)")
        tol = entry.get("tolerance", {}) if isinstance(entry, dict) else {}
        if tol.get("kind") not in TOLERANCE_KINDS or not isinstance(tol.get("value"), (int, float)):
            raise SpecError(f"{path}: {key}: tolerance needs a kind ({', '.join(TOLERANCE_KINDS)}) and a value")
        if not isinstance(entry.get("values"), list):
            raise SpecError(f"{path}: {key}: 'values' (per-seed baseline values) missing")
    return doc


@dataclass
class Verdict:
    key: str
    direction: str
    baseline: float
    now: float
    tolerance: float
    p_value: float
    verdict: str  # ok | better | worse | missing
    message: str

    @property
    def failed(self) -> bool:
        return self.verdict in ("worse", "missing")


def _p_value(base: list[float], now: list[float], direction: str) -> float:
    """One-sided Welch t-test that ``now`` is worse than ``base``; NaN if it cannot be computed."""
    from scipy import stats

    b, n = _finite(base), _finite(now)
    if len(b) < 2 or len(n) < 2:
        return math.nan
    alternative = "less" if direction == "higher" else "greater"
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore")
        p = stats.ttest_ind(n, b, equal_var=False, alternative=alternative).pvalue
    return float(p)


def check(bench_dir: Path, baseline: dict[str, Any], alpha: float = 0.05) -> list[Verdict]:
    """One verdict per tracked metric of ``baseline`` (see the module docstring)."""
    frame = collect(bench_dir)
    values = seed_values(frame) if not frame.empty else {}
    verdicts = []
    level = alpha / max(len(baseline["metrics"]), 1)
    for key, entry in sorted(baseline["metrics"].items()):
        metric = key.rsplit("/", 1)[1]
        direction = METRICS.get(metric).direction
        b_mean, b_std, b_n = _stats(entry["values"])
        tol = tolerance_amount(entry["tolerance"], b_mean, b_std)
        if key not in values:
            verdicts.append(Verdict(key, direction, b_mean, math.nan, tol, math.nan, "missing",
                                    f"{key}: tracked by the baseline but absent from {bench_dir} "
                                    "(renamed metric, or a cell that did not run?)"))
            continue
        now = values[key]
        n_mean, _, n_n = _stats(now)
        if n_n == 0:
            verdicts.append(Verdict(key, direction, b_mean, math.nan, tol, math.nan, "missing",
                                    f"{key}: no finite value now ({len(now)} of {len(now)} seeds undefined, "
                                    "e.g. diverged)"))
            continue
        if b_n == 0:
            verdicts.append(Verdict(key, direction, math.nan, n_mean, tol, math.nan, "missing",
                                    f"{key}: the baseline has no finite value to compare with"))
            continue
        worse_by = (b_mean - n_mean) if direction == "higher" else (n_mean - b_mean)
        p = _p_value(entry["values"], now, direction)
        significant = math.isnan(p) or p < level
        if worse_by > tol and significant:
            verdict = "worse"
            msg = (f"{key}: {b_mean:.4g} -> {n_mean:.4g}, worse by {worse_by:.4g} (tolerance {tol:.4g}"
                   + (f", p = {p:.3g} < {level:.2g}" if not math.isnan(p) else "") + ")")
        elif -worse_by > tol:
            verdict, msg = "better", f"{key}: {b_mean:.4g} -> {n_mean:.4g}, better by {-worse_by:.4g}"
        else:
            verdict = "ok"
            msg = f"{key}: {b_mean:.4g} -> {n_mean:.4g}" + (
                f" (moved {worse_by:.4g} the wrong way, within noise: p = {p:.3g})" if worse_by > tol else "")
        verdicts.append(Verdict(key, direction, b_mean, n_mean, tol, p, verdict, msg))
    return verdicts
