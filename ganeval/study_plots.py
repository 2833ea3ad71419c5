"""Figures of a hyperparameter study (matplotlib, Agg, PNG written atomically).

* :func:`sensitivity_figure`: a metric against a swept value, median over seeds and the seeds'
  range as a band, one line per loss; each seed-run a dot, a run that fails the success
  criterion hollow, a diverged run a red cross at the metric's worst value;
* :func:`best_of_k_figure`: Lucic et al.'s expected best setting score among k settings, with the
  bootstrap band;
* :func:`profile_figure`: performance profiles of normalised scores across benchmarks.

Each returns whether it drew anything (a figure with nothing to show is not written).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ganeval import study  # noqa: E402
from ganeval.metrics.catalog import METRICS  # noqa: E402
from ganeval.plots import save_figure  # noqa: E402
from ganeval.results import score_failed_seeds  # noqa: E402

__all__ = ["best_of_k_figure", "is_log_scaled", "profile_figure", "sensitivity_figure"]


def _label(frame: pd.DataFrame) -> pd.Series:
    return study._cell_names(frame)


def _numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def is_log_scaled(values: Sequence[Any]) -> bool:
    """Whether a swept key reads best on a log axis: numeric, positive, spanning >= 10x."""
    v = pd.to_numeric(pd.Series(list(values)), errors="coerce").dropna()
    return len(v) > 1 and bool((v > 0).all()) and float(v.max()) / float(v.min()) >= 10


def sensitivity_figure(frame: pd.DataFrame, benchmark: str, key: str, path: Path,
                       metrics: Sequence[str] | None = None,
                       criteria: Mapping[str, study.SuccessCriterion] | None = None,
                       log: bool | None = None, label: str | None = None) -> bool:
    """One panel per metric: ``metric`` against ``key`` on ``benchmark``. With several swept keys,
    each x value pools the seeds of every setting that has it (the marginal over the others).
    ``label``: what the axis calls the key (``"lr_d = lr_g"`` for a tied sweep)."""
    part = frame[frame["benchmark"] == benchmark]
    if part.empty or key not in part.columns:
        return False
    metrics = [m for m in (metrics or ("modes_covered", "hq_rate", "kl")) if m in part.columns]
    if not metrics:
        return False
    crit = study._criteria_for(part, criteria)[benchmark]
    success = crit.evaluate(part)
    diverged = part["status"].eq("diverged") if "status" in part.columns else pd.Series(False, index=part.index)
    scored = score_failed_seeds(part)
    raw_x = part[key].map(lambda v: tuple(v) if isinstance(v, list) else v)
    numeric = _numeric(raw_x)
    levels = sorted(raw_x.unique(), key=lambda v: (str(type(v)), v)) if not numeric else sorted(raw_x.unique())
    if numeric:
        xpos = raw_x.astype(float)
    else:
        xpos = raw_x.map({v: i for i, v in enumerate(levels)}).astype(float)
    log = is_log_scaled(levels) if log is None else log
    labels = _label(part)
    cells = list(dict.fromkeys(labels))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 3.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        values = pd.to_numeric(scored[metric], errors="coerce")
        for i, cell in enumerate(cells):
            color = colors[i % len(colors)]
            mine = labels == cell
            xs = sorted(xpos[mine].unique())
            med = [values[mine & (xpos == x)].median() for x in xs]
            lo = [values[mine & (xpos == x)].min() for x in xs]
            hi = [values[mine & (xpos == x)].max() for x in xs]
            ax.plot(xs, med, "-o", color=color, ms=3.5, lw=1.4, label=cell)
            ax.fill_between(xs, lo, hi, color=color, alpha=0.15, lw=0)
            jitter = _jitter(xpos[mine], log, len(cells), i)
            good = mine & success & ~diverged
            bad = mine & ~success & ~diverged
            ax.scatter(jitter[good[mine].to_numpy()], values[good], s=10, color=color, alpha=0.8, zorder=3)
            ax.scatter(jitter[bad[mine].to_numpy()], values[bad], s=14, facecolors="none", edgecolors=color,
                       alpha=0.9, zorder=3)
            dv = mine & diverged
            if dv.any():
                ax.scatter(jitter[dv[mine].to_numpy()], values[dv], s=28, marker="x", color="tab:red", zorder=4)
        if log:
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(range(len(levels)), [_text(v) for v in levels])
        info = METRICS.get(metric) if metric in METRICS else None
        better = f" ({info.direction} is better)" if info and info.direction != "none" else ""
        ax.set_xlabel(label or key)
        ax.set_ylabel(metric + better)
        ax.grid(alpha=0.3)
    handles, names = axes[0][0].get_legend_handles_labels()
    marks = [plt.Line2D([], [], ls="", marker="o", color="0.3", ms=4, label="seed: success"),
             plt.Line2D([], [], ls="", marker="o", mfc="none", color="0.3", ms=4, label="seed: failure"),
             plt.Line2D([], [], ls="", marker="x", color="tab:red", ms=5, label="seed: diverged")]
    fig.legend(handles + marks, names + [m.get_label() for m in marks], loc="lower center",
               ncol=min(len(names) + 3, 6), fontsize=8, frameon=False, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(f"{benchmark}: sensitivity to {label or key} (median and range over seeds; success: {crit})", fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    save_figure(fig, path)
    return True


def _jitter(x: pd.Series, log: bool, n: int, i: int) -> np.ndarray:
    """Small horizontal offsets so that the seed dots of different losses do not overlap."""
    offset = (i - (n - 1) / 2) * 0.035
    arr = x.to_numpy(dtype=float)
    return arr * (10 ** offset) if log else arr + offset * (np.ptp(arr) if np.ptp(arr) > 0 else 1.0) * 0.5


def _text(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, tuple):
        return ",".join(_text(x) for x in v)
    return str(v)


def best_of_k_figure(frame: pd.DataFrame, benchmark: str, path: Path, metric: str = "modes_covered",
                     keys: Sequence[str] | None = None, n_boot: int = 1000, seed: int = 0) -> bool:
    """Expected best setting score (mean over seeds) among k settings drawn from the study, per loss,
    with a 95 % bootstrap band."""
    part = frame[frame["benchmark"] == benchmark]
    keys = study.infer_keys(part) if keys is None else list(keys)
    if part.empty or metric not in part.columns or not keys:
        return False
    higher = study._direction(metric) == "higher"
    labels = _label(part)
    fig, ax = plt.subplots(figsize=(5.4, 3.8))
    drawn = False
    for cell in dict.fromkeys(labels):
        scores = study.setting_scores(part[labels == cell], metric, keys).to_numpy(dtype=float)
        scores = scores[~np.isnan(scores)]
        if len(scores) == 0:
            continue
        band = study.best_of_k_band(scores, higher, n_boot=n_boot, seed=seed)
        line, = ax.plot(band.k, band.expected_best, "-o", ms=3.5, label=f"{cell} ({len(scores)} settings)")
        ax.fill_between(band.k, band.low, band.high, color=line.get_color(), alpha=0.15, lw=0)
        drawn = True
    if not drawn:
        plt.close(fig)
        return False
    ax.set_xlabel("k (settings tried)")
    ax.set_ylabel(f"expected best {metric}")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"{benchmark}: best of k settings (Lucic et al. 2018), 95 % bootstrap band", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    return True


def profile_figure(frame: pd.DataFrame, path: Path, metric: str = "modes_covered", n_boot: int = 500,
                   seed: int = 0) -> bool:
    """Fraction of runs whose normalised score exceeds tau (mean over benchmarks), per loss, with a
    stratified bootstrap band (Agarwal et al. 2021)."""
    if metric not in study.NORMALIZERS or metric not in frame.columns or frame.empty:
        return False
    prof = study.profile_frame(frame, metric, n_boot=n_boot, seed=seed)
    if prof.empty:
        return False
    fig, ax = plt.subplots(figsize=(5.4, 3.8))
    runs = study._cell_names(frame).value_counts()
    for (loss, variant), part in prof.groupby(["loss", "variant"], sort=False):
        name = loss if str(variant) in ("none", "", "nan") else f"{loss}+{variant}"
        line, = ax.plot(part.tau, part.fraction, label=f"{name} ({int(runs.get(name, 0))} runs)", lw=1.5)
        ax.fill_between(part.tau, part.low, part.high, color=line.get_color(), alpha=0.15, lw=0)
    benches = ", ".join(sorted(frame["benchmark"].unique()))
    ax.set_xlabel(f"tau (normalised {metric}: {_norm_text(metric)})")
    ax.set_ylabel("fraction of runs with score > tau")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"Performance profile over {benches}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    return True


def _norm_text(metric: str) -> str:
    return {"modes_covered": "fraction of modes", "hq_rate": "as is", "kl": "1 - KL / ln(modes)"}.get(metric, "")


