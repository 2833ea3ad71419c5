"""Training events found in a trace: what went wrong, when, and on what evidence.

Each detector is a pure function of the trace rows (and, for mode collapse, of metrics evaluated
at checkpoints), with its thresholds as parameters whose defaults are documented in
:class:`Thresholds`. Every event records its step, its kind, the evidence and the thresholds used,
so a reader can disagree with a threshold without re-running anything.

An event is dated at the logged step where its evidence started to hold: the first row of the
run of rows that met the condition for the whole patience (saturation, dead gradients, vanishing,
overpowering, low diversity), the first row past the threshold (divergence, exploding gradients,
exploding weights), the first step of the alternation that made a window oscillate (which may lie
before that window), or the first checkpoint showing the drop (coverage).

The ways a GAN dies that these cover: non-finite values (divergence); a gradient spike
(exploding gradients); weights growing without bound (exploding weights, e.g. D's learning rate
far too high); D's outputs tied or pinned so that it no longer tells real from fake (D
saturation, e.g. a sigmoid D whose outputs are all exactly 1.0); no gradient reaching either
network (dead gradients, the same failure seen in the gradients); D winning with G's gradient
gone (vanishing), D winning for long (overpowering); G's loss flipping every step (oscillation);
G's samples losing diversity or modes (mode collapse).
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
WEIGHTS = "exploding_weights"
SATURATION = "discriminator_saturation"
DEAD = "dead_gradients"
KINDS = (DIVERGENCE, EXPLODING, VANISHING, OVERPOWERING, OSCILLATION, MODE_COLLAPSE, WEIGHTS, SATURATION, DEAD)


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
    #: exploding weights: a network's weight norm (``d_param_norm`` / ``g_param_norm``) above
    #: ``weight_growth`` x max(its first logged value, ``weight_floor``), or non-finite. The first
    #: row holds the initial weights (the tracer measures the weights the step's gradients were
    #: taken at); the floor keeps weights that start at (near) zero, e.g. a learned constant, from
    #: counting as growth. Healthy default-bench runs grow at most about 3x.
    weight_growth: float = 10.0
    weight_floor: float = 1.0
    #: D saturation: D's outputs on real and fake equal on at least ``saturation_tied`` of the
    #: batch (``d_tied``), or their spread over real and fake together (``d_out_std``) at most
    #: ``saturation_spread`` x max(1, |mean output|), for ``saturation_patience`` logged steps in a
    #: row. Continuous outputs never tie; saturated sigmoid probabilities (all exactly 1.0) do.
    saturation_tied: float = 0.9
    saturation_spread: float = 1e-6
    saturation_patience: int = 10
    #: dead gradients: D's and G's gradient norms both at most ``dead_floor`` (float32 round-off
    #: of nothing: saturated layers give exact zeros) for ``dead_patience`` logged steps in a row.
    dead_floor: float = 1e-8
    dead_patience: int = 10

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
                                  "amplitude_over_level": round(amplitude / max(level, 1e-12), 4),
                                  "window_start": window[0][0], "end": end, "level": level}
    out = []
    for s in _runs(flags, th.osc_min_windows)[:1]:
        m = measured[s]
        evidence = {k: m[k] for k in ("series", "flip_rate", "amplitude_over_level", "window_start")}
        out.append(_event(OSCILLATION, _alternation_start(diffs, m["end"] - th.osc_window, m["end"],
                                                          th.osc_amplitude * max(m["level"], 1e-12), th.osc_flip_rate),
                          evidence, {"osc_window": th.osc_window, "osc_flip_rate": th.osc_flip_rate,
                                     "osc_amplitude": th.osc_amplitude, "osc_min_windows": th.osc_min_windows}))
    return out


def _alternation_start(diffs: Sequence[tuple[int, float]], lo: int, hi: int, amplitude: float,
                       flip_rate: float) -> int:
    """Step where the oscillation of the flagged window ``diffs[lo:hi]`` began: the first large
    swing (a difference above ``amplitude`` reversing a large one) from which the window's swings
    keep a rate of at least ``flip_rate`` to its end, followed back past the window's start while
    the swings go on. The step is that of the first difference of the swing (the step the loss
    first jumped at)."""
    def swings(i: int) -> bool:
        return (i >= 1 and diffs[i][1] * diffs[i - 1][1] < 0
                and abs(diffs[i][1]) > amplitude and abs(diffs[i - 1][1]) > amplitude)

    flags = [swings(i) for i in range(lo, hi)]
    first = next((lo + k for k in range(len(flags))
                  if flags[k] and sum(flags[k:]) >= flip_rate * (len(flags) - k)), None)
    if first is None:
        return diffs[lo][0]
    while first >= 2 and swings(first - 1):  # the swings began before the window
        first -= 1
    return diffs[first - 1][0]


def detect_low_diversity(rows, th: Thresholds) -> list[dict[str, Any]]:
    flags = [(int(r["step"]), r.get("sample_diversity", math.inf) < th.collapse_diversity) for r in rows]
    return [_event(MODE_COLLAPSE, s, _observed(rows, s, th.collapse_patience,
                                               sample_diversity_max=("sample_diversity", max)),
                   {"collapse_diversity": th.collapse_diversity, "collapse_patience": th.collapse_patience})
            for s in _runs(flags, th.collapse_patience)[:1]]


def detect_exploding_weights(rows, th: Thresholds) -> list[dict[str, Any]]:
    events = []
    for key in ("d_param_norm", "g_param_norm"):
        series = _series(rows, key)
        first = next((v for _, v in series if math.isfinite(v)), None)
        if first is None:
            continue
        reference = max(first, th.weight_floor)
        for step, value in series:
            if not math.isfinite(value) or value > th.weight_growth * reference:
                events.append(_event(WEIGHTS, step, {"network": key[0].upper(), "norm": value, "first_norm": first,
                                                     "growth": value / reference if math.isfinite(value) else value},
                                     {"weight_growth": th.weight_growth, "weight_floor": th.weight_floor}))
                break
    return events


def _saturated(row: dict[str, float], th: Thresholds) -> bool:
    tied = row.get("d_tied", 0.0)
    spread = row.get("d_out_std", math.inf)
    scale = max(1.0, abs(row.get("d_real", 0.0)), abs(row.get("d_fake", 0.0)))
    return tied >= th.saturation_tied or spread <= th.saturation_spread * scale


def detect_saturation(rows, th: Thresholds) -> list[dict[str, Any]]:
    flags = [(int(r["step"]), _saturated(r, th)) for r in rows]
    return [_event(SATURATION, s, _observed(rows, s, th.saturation_patience, d_tied_min=("d_tied", min),
                                            d_out_std_max=("d_out_std", max)),
                   {"saturation_tied": th.saturation_tied, "saturation_spread": th.saturation_spread,
                    "saturation_patience": th.saturation_patience})
            for s in _runs(flags, th.saturation_patience)[:1]]


def detect_dead_gradients(rows, th: Thresholds) -> list[dict[str, Any]]:
    flags = [(int(r["step"]), r.get("d_grad_norm", math.inf) <= th.dead_floor
              and r.get("g_grad_norm", math.inf) <= th.dead_floor) for r in rows]
    return [_event(DEAD, s, _observed(rows, s, th.dead_patience, d_grad_norm_max=("d_grad_norm", max),
                                      g_grad_norm_max=("g_grad_norm", max)),
                   {"dead_floor": th.dead_floor, "dead_patience": th.dead_patience})
            for s in _runs(flags, th.dead_patience)[:1]]


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
                     detect_oscillation, detect_low_diversity, detect_exploding_weights, detect_saturation,
                     detect_dead_gradients):
        events += detector(rows, th)
    events += detect_coverage_drop(checkpoint_metrics, th)
    return sorted(events, key=lambda e: (e["step"], KINDS.index(e["kind"])))
