"""Training events found in a trace: what went wrong, when, and on what evidence.

Each detector is a pure function of the trace rows (and, for mode collapse, of metrics evaluated
at checkpoints), with its thresholds as parameters whose defaults are documented in
:class:`Thresholds`. Every event records its step, its kind, the evidence and the thresholds used,
so a reader can disagree with a threshold without re-running anything.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

DIVERGENCE = "divergence"
EXPLODING = "exploding_gradients"
VANISHING = "vanishing_generator_gradients"
OVERPOWERING = "discriminator_overpowering"
OSCILLATION = "oscillation"
MODE_COLLAPSE = "mode_collapse"
KINDS = (DIVERGENCE, EXPLODING, VANISHING, OVERPOWERING, OSCILLATION, MODE_COLLAPSE)


@dataclass(frozen=True)
class Thresholds:
    """Detector parameters. Counts are in *logged* steps (rows of trace.csv)."""

    #: exploding: a gradient norm above ``explode_factor`` x the median of the previous
    #: ``explode_window`` logged norms (needs ``explode_min_history`` of them first).
    explode_factor: float = 10.0
    explode_window: int = 50
    explode_min_history: int = 10
    #: vanishing: G's gradient norm below ``vanish_floor`` while D ranks real above fake on at
    #: least ``separation`` of the batch, for ``vanish_patience`` logged steps in a row.
    vanish_floor: float = 1e-4
    separation: float = 0.99
    vanish_patience: int = 20
    #: overpowering: D ranks real above fake on at least ``separation`` of the batch for
    #: ``overpower_patience`` logged steps in a row.
    overpower_patience: int = 50
    #: oscillation: in ``osc_window`` logged steps the G-loss differences flip sign at least
    #: ``osc_flip_rate`` of the time with mean |difference| above ``osc_amplitude`` x mean |loss|,
    #: in ``osc_min_windows`` consecutive windows (white noise flips 2/3 of the time).
    osc_window: int = 30
    osc_flip_rate: float = 0.85
    osc_amplitude: float = 0.1
    osc_min_windows: int = 3
    #: mode collapse (images or points): generated-batch diversity below ``collapse_diversity`` x
    #: the real batch's for ``collapse_patience`` logged steps in a row ...
    collapse_diversity: float = 0.1
    collapse_patience: int = 20
    #: ... or modes covered at a checkpoint below ``collapse_drop`` x the best so far.
    collapse_drop: float = 0.5

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _series(rows: Sequence[dict[str, float]], key: str) -> list[tuple[int, float]]:
    return [(int(r["step"]), r[key]) for r in rows if key in r]


def _event(kind: str, step: int, evidence: dict[str, Any], thresholds: dict[str, Any]) -> dict[str, Any]:
    return {"step": int(step), "kind": kind, "evidence": evidence, "thresholds": thresholds}


#: Columns whose non-finite value means divergence (others, e.g. an unmeasured diversity, may be NaN).
DIVERGENCE_COLUMNS = ("d_loss", "g_loss", "penalty", "d_grad_norm", "g_grad_norm", "d_param_norm", "g_param_norm")


def detect_divergence(rows, th: Thresholds) -> list[dict[str, Any]]:
    for row in rows:
        bad = [k for k in DIVERGENCE_COLUMNS if k in row and not math.isfinite(row[k])]
        if bad:
            return [_event(DIVERGENCE, row["step"], {"non_finite": bad}, {})]
    return []


def detect_exploding(rows, th: Thresholds) -> list[dict[str, Any]]:
    events = []
    for key in ("d_grad_norm", "g_grad_norm"):
        history: list[float] = []
        for step, value in _series(rows, key):
            if not math.isfinite(value):
                break
            recent = history[-th.explode_window:]
            if len(recent) >= th.explode_min_history:
                median = statistics.median(recent)
                if median > 0 and value > th.explode_factor * median:
                    events.append(_event(EXPLODING, step, {"network": key[0].upper(), "norm": value,
                                                           "running_median": median},
                                         {"explode_factor": th.explode_factor, "explode_window": th.explode_window}))
                    break  # the first explosion per network is the event; later spikes follow from it
            history.append(value)
    return events


def _runs(flags: Sequence[tuple[int, bool]], patience: int) -> list[int]:
    """Steps at which ``flags`` has been true for ``patience`` consecutive entries (first of each run)."""
    starts, count, start = [], 0, None
    for step, flag in flags:
        if flag:
            count += 1
            start = step if count == 1 else start
            if count == patience:
                starts.append(start)
        else:
            count = 0
    return starts


def _observed(rows, start: int, n: int, **reductions: tuple[str, Any]) -> dict[str, Any]:
    """What the ``n`` logged rows from step ``start`` showed: ``name=(column, min|max)`` each, and
    the step span, so an event's evidence is the measurement, not a restatement of its threshold."""
    window = [r for r in rows if int(r["step"]) >= start][:n]
    out: dict[str, Any] = {name: float(fn(r[col] for r in window if col in r)) for name, (col, fn) in reductions.items()}
    out["steps"] = f"{start}–{int(window[-1]['step'])}" if window else str(start)
    out["logged_steps"] = len(window)
    return out


def detect_vanishing(rows, th: Thresholds) -> list[dict[str, Any]]:
    flags = [(int(r["step"]), r.get("g_grad_norm", math.inf) < th.vanish_floor
              and r.get("d_real_above_fake", 0.0) >= th.separation) for r in rows]
    return [_event(VANISHING, s, _observed(rows, s, th.vanish_patience, g_grad_norm_max=("g_grad_norm", max),
                                           d_real_above_fake_min=("d_real_above_fake", min)),
                   {"vanish_floor": th.vanish_floor, "separation": th.separation, "vanish_patience": th.vanish_patience})
            for s in _runs(flags, th.vanish_patience)[:1]]


def detect_overpowering(rows, th: Thresholds) -> list[dict[str, Any]]:
    flags = [(int(r["step"]), r.get("d_real_above_fake", 0.0) >= th.separation) for r in rows]
    return [_event(OVERPOWERING, s, _observed(rows, s, th.overpower_patience,
                                              d_real_above_fake_min=("d_real_above_fake", min)),
                   {"separation": th.separation, "overpower_patience": th.overpower_patience})
            for s in _runs(flags, th.overpower_patience)[:1]]


def detect_oscillation(rows, th: Thresholds) -> list[dict[str, Any]]:
    series = [(s, v) for s, v in _series(rows, "g_loss") if math.isfinite(v)]
    if len(series) < th.osc_window + 2:
        return []
    diffs = [(series[i][0], series[i][1] - series[i - 1][1]) for i in range(1, len(series))]
    flags, measured = [], {}
    for end in range(th.osc_window, len(diffs) + 1, max(1, th.osc_window // 2)):
        window = diffs[end - th.osc_window:end]
        flips = sum(1 for a, b in zip(window, window[1:]) if a[1] * b[1] < 0) / (len(window) - 1)
        level = sum(abs(v) for _, v in series[end - th.osc_window:end]) / th.osc_window
        amplitude = sum(abs(d) for _, d in window) / len(window)
        flags.append((window[0][0], flips >= th.osc_flip_rate and amplitude > th.osc_amplitude * max(level, 1e-12)))
        measured[window[0][0]] = {"series": "g_loss", "flip_rate": round(flips, 4),
                                  "amplitude_over_level": round(amplitude / max(level, 1e-12), 4)}
    return [_event(OSCILLATION, s, measured[s],
                   {"osc_window": th.osc_window, "osc_flip_rate": th.osc_flip_rate,
                    "osc_amplitude": th.osc_amplitude, "osc_min_windows": th.osc_min_windows})
            for s in _runs(flags, th.osc_min_windows)[:1]]


def detect_low_diversity(rows, th: Thresholds) -> list[dict[str, Any]]:
    flags = [(int(r["step"]), r.get("sample_diversity", math.inf) < th.collapse_diversity) for r in rows]
    return [_event(MODE_COLLAPSE, s, _observed(rows, s, th.collapse_patience,
                                               sample_diversity_max=("sample_diversity", max)),
                   {"collapse_diversity": th.collapse_diversity, "collapse_patience": th.collapse_patience})
            for s in _runs(flags, th.collapse_patience)[:1]]


def detect_coverage_drop(checkpoint_metrics: Sequence[tuple[int, dict[str, float]]], th: Thresholds,
                         key: str = "modes_covered") -> list[dict[str, Any]]:
    """Modes covered at a checkpoint falling below ``collapse_drop`` x the best earlier value."""
    best = None
    for step, metrics in sorted(checkpoint_metrics, key=lambda x: x[0]):
        value = metrics.get(key)
        if value is None or not math.isfinite(value):
            continue
        if best is not None and best > 1 and value < th.collapse_drop * best:
            return [_event(MODE_COLLAPSE, step, {key: value, "best_before": best}, {"collapse_drop": th.collapse_drop})]
        best = value if best is None else max(best, value)
    return []


def detect_events(rows: Sequence[dict[str, float]], th: Thresholds = Thresholds(),
                  checkpoint_metrics: Sequence[tuple[int, dict[str, float]]] = ()) -> list[dict[str, Any]]:
    """All events of one run, ordered by step."""
    events = []
    for detector in (detect_divergence, detect_exploding, detect_vanishing, detect_overpowering,
                     detect_oscillation, detect_low_diversity):
        events += detector(rows, th)
    events += detect_coverage_drop(checkpoint_metrics, th)
    return sorted(events, key=lambda e: (e["step"], KINDS.index(e["kind"])))
