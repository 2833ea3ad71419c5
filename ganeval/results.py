"""Reading run folders back and aggregating them: ``results.csv`` (one row per seed-run) and
per-cell summaries (mean, std and n over seeds) as pandas DataFrames."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from ganeval.errors import GanevalError
from ganeval.intervals import metric_interval, t_interval  # noqa: F401  (t_interval: for the scripts)
from ganeval.metrics.catalog import KL, METRICS, MODES_COVERED, N_MODES
from ganeval.rundir import find_run_dirs, read_metrics

ID_COLUMNS = ["benchmark", "loss", "variant", "seed"]
INFO_COLUMNS = ["status", "step", "diverged_step", "train_time_s"]


def collect(bench_dir: Path) -> pd.DataFrame:
    """One row per complete seed-run: identity, status, timings, then every metric as a column.

    A study's runs also get one column per swept key (its value; empty for a run the key does not
    apply to) after ``variant``, and a ``setting`` column: the run's whole setting as JSON text, the
    identity that tables group by."""
    rows: list[dict[str, Any]] = []
    keys: dict[str, None] = {}
    for run_dir in find_run_dirs(bench_dir):
        doc = read_metrics(run_dir)
        if doc is None:
            continue
        row = {k: doc.get(k) for k in ID_COLUMNS + INFO_COLUMNS}
        setting = doc.get("setting") or {}
        if setting:
            row[SETTING] = setting_json(setting)
            for key, value in setting.items():
                keys.setdefault(key)
                row[key] = value
        fidelity = doc.get("fidelity") or {}
        if fidelity.get("extractor"):
            row["extractor"] = fidelity["extractor"]
        if "is_splits" in fidelity:  # an IS figure is only comparable at the same split count
            row["is_splits"] = fidelity["is_splits"]
        for name, value in doc["metrics"].items():
            row[name] = math.nan if value is None else value
        for name, value in (doc.get("raw_metrics") or {}).items():  # the raw G beside its weight average
            row[f"raw_{name}"] = math.nan if value is None else value
        row["run_dir"] = str(run_dir.relative_to(bench_dir))
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=ID_COLUMNS + INFO_COLUMNS)
    if keys:  # the swept keys after the cell's identity, the setting's JSON last but the folder
        order = ["benchmark", "loss", "variant", *keys]
        rest = [c for c in frame.columns if c not in order and c not in (SETTING, "run_dir")]
        frame = frame[[*order, *rest, SETTING, "run_dir"]]
        frame[SETTING] = frame[SETTING].fillna("")
        frame["_order"] = [_setting_order(row, list(keys)) for _, row in frame.iterrows()]
        frame = frame.sort_values(["benchmark", "loss", "variant", "_order", "seed"], kind="stable")
        return frame.drop(columns="_order").reset_index(drop=True)
    return frame.sort_values(ID_COLUMNS, kind="stable").reset_index(drop=True)


#: The column naming a study's setting (JSON text; empty outside a study).
SETTING = "setting"


def setting_json(setting: dict[str, Any]) -> str:
    """A setting as the one text ``results.csv`` identifies it by (keys in the study's order)."""
    return json.dumps(setting, separators=(", ", ": "))


def _setting_order(row: pd.Series, keys: list[str]) -> tuple:
    """Rows of one cell in the order of their settings' values (numbers by value, not as text)."""
    out = []
    for key in keys:
        value = row.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out.append((1, float(value), "") if value == value else (0, 0.0, ""))
        elif value is None:
            out.append((0, 0.0, ""))
        else:
            out.append((2, 0.0, json.dumps(value)))
    return tuple(out)


def setting_keys(frame: pd.DataFrame) -> list[str]:
    """The swept keys of a results frame, in its column order (those its settings name)."""
    if SETTING not in frame.columns:
        return []
    keys: dict[str, None] = {}
    for text in frame[SETTING].dropna():
        if text:
            keys.update(dict.fromkeys(json.loads(text)))
    return [c for c in frame.columns if c in keys]


def score_failed_seeds(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with each failed seed's undefined metrics set to their worst value (the catalog's
    ``worst``): a seed that diverged, or a KL left undefined because no sample landed on any mode.

    A failed seed is a bad result, not a missing one: dropping it would let a cell look better for
    losing its worst seeds. Only metrics the benchmark does compute are filled (modes covered and KL
    wherever there are modes; others where some seed-run of the benchmark has a value), so a metric
    a run never asked for stays absent.
    ``results.csv`` keeps the raw values; tables and the regression check use these.
    Every metric column comes back as float64 (:func:`numeric_metrics`)."""
    frame = numeric_metrics(frame)
    if frame.empty or "benchmark" not in frame.columns:
        return frame
    diverged = frame["status"] == "diverged" if "status" in frame.columns else pd.Series(False, index=frame.index)
    for name in metric_columns(frame):
        worst = METRICS.get(name).worst
        if worst is None:
            continue
        failed = diverged.copy()
        if name == KL and MODES_COVERED in frame.columns:  # no sample on any mode: nothing to compare
            failed |= frame[MODES_COVERED] == 0
        computed = frame.groupby("benchmark")[name].transform(lambda v: v.notna().any())
        if name in (MODES_COVERED, KL) and N_MODES in frame.columns:  # every benchmark with modes has them
            computed |= frame[N_MODES].notna()
        fill = failed & frame[name].isna() & computed
        if fill.any():
            frame.loc[fill, name] = [worst(row) for _, row in frame[fill].iterrows()]
    return frame


def numeric_metrics(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every metric column as float64.

    Tables come back from disk with whatever dtype pandas infers: ``pd.read_csv`` of a
    ``results.csv`` whose modes are all whole numbers, or ``metrics.json`` files holding ``7`` rather
    than ``7.0``, give integer columns; hand-built frames may give object columns. An integer column
    cannot hold the worst values a failed seed takes (∞, ln modes) and pandas 3 refuses even an empty
    assignment into one, so every computation works on floats. A value that is not a number at all is
    an error naming the column, never silently made undefined."""
    frame = frame.copy()
    for name in metric_columns(frame):
        column = frame[name]
        if column.dtype == "float64":
            continue
        numbers = pd.to_numeric(column, errors="coerce")
        bad = numbers.isna() & column.notna()
        if bad.any():
            raise GanevalError(f"results: metric column {name!r} holds {column[bad].iloc[0]!r}, which is not a number")
        frame[name] = numbers.astype("float64")
    return frame


def incomplete_runs(bench_dir: Path) -> list[Path]:
    return [d for d in find_run_dirs(bench_dir) if read_metrics(d) is None]


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """Columns of ``frame`` that are registered metrics, in registry order."""
    return [name for name in METRICS.names() if name in frame.columns]


# Rows never average across benches or feature extractors: numbers from different extractors are
# not comparable, so each extractor gets its own row.
SUMMARY_KEYS = ["bench", "benchmark", "loss", "variant", "setting", "extractor"]


def summarize(frame: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """Per (benchmark, loss, variant) — and per ``bench`` when several benches are compared — the
    mean, sample std, 95 % interval and n (values) over seeds of every metric, failed seeds
    counted with their worst value (:func:`score_failed_seeds`). The interval is one for
    proportions for counts and shares (modes covered, high-quality rate, diverged), the t-interval
    for the rest (:mod:`ganeval.intervals`).

    Columns are a MultiIndex (metric, statistic); ``("runs", "n")`` and ``("runs", "diverged")``
    come first. Rows keep the frame's order of first appearance.
    """
    metrics = metrics if metrics is not None else metric_columns(frame)
    keys = [k for k in SUMMARY_KEYS if k in frame.columns]
    frame = score_failed_seeds(frame)
    for key in ("extractor", SETTING):
        if key in keys:
            frame[key] = frame[key].fillna("")
    groups = frame.groupby(keys, sort=False)
    # first appearance, spelled out: pandas 2.2's ``groups.groups`` is sorted even with sort=False
    first_seen = list(dict.fromkeys(frame[keys].itertuples(index=False, name=None)))
    out = pd.DataFrame(index=pd.MultiIndex.from_tuples(first_seen, names=keys))
    out[("runs", "n")] = groups.size()
    out[("runs", "diverged")] = groups["status"].apply(lambda s: int((s == "diverged").sum()))
    for m in metrics:
        values = groups[m]
        out[(m, "mean")] = values.mean()
        out[(m, "std")] = values.std(ddof=1)
        ci = groups.apply(lambda rows, m=m: metric_interval(m, rows), include_groups=False)
        out[(m, "ci_low")] = ci.map(lambda c: c[0])
        out[(m, "ci_high")] = ci.map(lambda c: c[1])
        out[(m, "n")] = values.count()
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    return out


def flat_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary with one column per (metric, statistic), named ``metric.statistic``; a study's
    setting as one column per swept key."""
    flat = summary.copy()
    flat.columns = [f"{m}.{stat}" for m, stat in summary.columns]
    flat = flat.reset_index()
    if SETTING in flat.columns:
        settings = [json.loads(text) if text else {} for text in flat[SETTING]]
        keys = list(dict.fromkeys(k for s in settings for k in s))
        at = flat.columns.get_loc(SETTING)
        for i, key in enumerate(keys):
            flat.insert(at + 1 + i, key, [s.get(key) for s in settings])
        flat = flat.drop(columns=SETTING)
    return flat
