"""Training events found in a trace: what went wrong, from when to when, and on what evidence.

Each detector is a pure function of the trace rows (and, for mode collapse, of metrics evaluated
at checkpoints), with its thresholds as parameters whose defaults are documented in
:class:`Thresholds`. Every event records its kind, its interval, the evidence and the thresholds
used, so a reader can disagree with a threshold without re-running anything.

**Intervals.** An event is an *episode* of its condition: ``step`` is the logged step where the
evidence started to hold, ``end`` the last logged step where it still held, and ``open`` says it
still held at the run's last logged row (the run ended in that state: act on it). A kind that
comes back later is still one event (per network): ``episodes`` lists every episode as
``[start, end]`` (the first ten), ``end``/``open`` are those of the last one. The start is the
first row of the run of rows that met the condition for the whole patience (saturation, dead
gradients, vanishing, overpowering, low diversity), the first row past the threshold
(divergence, exploding gradients, exploding weights), the first step of the alternation that made
a window oscillate (which may lie before that window), or the first checkpoint showing the drop
(coverage).

**Start-up transients.** A healthy loop often *starts* in a state that would be a failure later: a
generator initialised near zero (weights N(0, 0.02)) puts every sample on one point (low
diversity), a fresh critic separates that point from the data perfectly (overpowering), and G's
gradient, vanishingly small at first, grows by orders of magnitude as G's weights grow (a "spike"
against the median of a handful of tiny early norms). These are the initial state, not something
that happened to the run, and they resolve by themselves. So an episode of a *soft* kind
(exploding gradients below the ceiling, vanishing, overpowering, oscillation, low diversity,
saturation, dead gradients) that begins within the run's first ``startup_rows`` logged rows and
has ended before the last row is a start-up transient: it is kept in ``events.json`` under
``transients`` (with its interval and evidence), drawn faintly, and not counted as an event. An
episode that begins there and never ends (a G that ignores z, a D that dies at step 1) is an
event, dated at its start. Hard evidence is never a transient: non-finite values (divergence),
weights grown past their threshold, and gradient norms above ``explode_ceiling`` are events from
the first row, and need no history, so a blow-up at step 0 is dated step 0.

**Gradient explosions against a meaningful scale.** A gradient norm explodes when it exceeds
``explode_factor`` x the larger of the median of its recent norms and its *early scale* (the median
of its first ``explode_min_history`` rows): noise on a gradient that has since vanished (2.7e-4
against a recent median of 1.3e-5, where the network started near 1) is not an explosion. It must
also be a jump (``explode_jump`` x the last few norms), not steady growth from a vanishing start,
and reach ``explode_floor`` (1): noise on a vanished or not yet grown gradient stays below it.
The episode lasts while the norm stays that far above its (moving) reference. Without history
(the first rows), only the ceiling applies.

The ways a GAN dies that these cover: non-finite values (divergence); a gradient spike
(exploding gradients); weights growing without bound (exploding weights, e.g. D's learning rate
far too high); D's outputs tied or pinned so that it no longer tells real from fake (D
saturation, e.g. a sigmoid D whose outputs are all exactly 1.0); no gradient reaching either
network (dead gradients, the same failure seen in the gradients); D winning with G's gradient
gone (vanishing), D winning for long (overpowering); G's loss swinging up and down row after row
(oscillation; the step-to-step alternation of a healthy alternating loop is not one);
G's samples losing diversity or modes (mode collapse).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
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
#: Kinds whose episode can be a start-up transient (see the module docstring).
SOFT_KINDS = (EXPLODING, VANISHING, OVERPOWERING, OSCILLATION, MODE_COLLAPSE, SATURATION, DEAD)
#: At most this many episodes are listed per event.
MAX_EPISODES = 10


@dataclass(frozen=True)
class Thresholds:
    """Detector parameters. Counts are in *logged* steps (rows of trace.csv)."""

    #: exploding: a gradient norm above ``explode_factor`` x max(the median of the previous
    #: ``explode_window`` logged norms, the median of the network's first ``explode_min_history``
    #: norms), once ``explode_min_history`` norms are logged; or, from the first row on, above
    #: ``explode_ceiling`` (no healthy GAN's gradient norm gets near 1e6).
    #: An explosion is also sudden: the norm must exceed ``explode_jump`` x the largest of the
    #: previous ``explode_jump_rows`` norms, so a gradient *growing* steadily from a vanishing start
    #: (x2 a row: a G initialised near zero) is not an explosion, a jump from its recent level is.
    explode_factor: float = 10.0
    explode_window: int = 50
    explode_min_history: int = 10
    explode_ceiling: float = 1e6
    #: ... and never below ``explode_floor``: a norm under 1 is no explosion whatever its ratio
    #: (on the mean-reduced losses of GAN loops the damaging ones are orders of magnitude above;
    #: below it live the noisy norms of a G whose gradient has vanished or has not grown yet).
    explode_floor: float = 1.0
    explode_jump: float = 3.0
    explode_jump_rows: int = 3
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
    #: in ``osc_min_windows`` consecutive windows (white noise flips 2/3 of the time). Where rows
    #: are an odd number of steps apart (trace_every=1), the G loss is first averaged over pairs
    #: of rows, so the step-to-step alternation of a healthy alternating loop is not counted, and
    #: the windows count those pairs (see ``_without_two_step_rhythm``).
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
    #: row holds the initial weights (the tracer measures the weights before the step's first
    #: update, also in a multi-critic loop); the floor keeps weights that start at (near) zero,
    #: e.g. a learned constant, from counting as growth. Healthy default-bench runs grow at most
    #: about 3x.
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
    #: start-up transients: an episode of a soft kind that begins within the first
    #: ``startup_rows`` logged rows and ends before the last row is the run's initial state, not
    #: an event (see the module docstring).
    startup_rows: int = 20

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Episode:
    """One stretch of rows where a condition held: logged steps ``start``..``end`` (inclusive),
    ``open`` when it still held at the run's last row; ``evidence`` measured at its start;
    ``hard``: evidence that is never a start-up transient (a ceiling, non-finite values)."""

    start: int
    end: int
    open: bool
    evidence: dict[str, Any]
    hard: bool = False


@dataclass
class Detected:
    """What :func:`detect` found: the events, and the start-up transients it set aside."""

    events: list[dict[str, Any]] = field(default_factory=list)
    transients: list[dict[str, Any]] = field(default_factory=list)


def _series(rows: Sequence[dict[str, float]], key: str) -> list[tuple[int, float]]:
    return [(int(r["step"]), r[key]) for r in rows if key in r]


def _episodes(flags: Sequence[tuple[int, bool]], patience: int, last_step: int,
              evidence: Callable[[int], dict[str, Any]] = lambda s: {}) -> list[Episode]:
    """Maximal runs of true ``flags`` lasting at least ``patience`` entries, as episodes."""
    out, run = [], []
    for step, flag in [*flags, (None, False)]:
        if flag:
            run.append(step)
            continue
        if len(run) >= patience:
            out.append(Episode(run[0], run[-1], run[-1] == last_step, evidence(run[0])))
        run = []
    return out


def _observed(rows, start: int, n: int, **reductions: tuple[str, Any]) -> dict[str, Any]:
    """What the ``n`` logged rows from step ``start`` showed: ``name=(column, min|max)`` each, and
    the step span, so an event's evidence is the measurement, not a restatement of its threshold."""
    window = [r for r in rows if int(r["step"]) >= start][:n]
    out: dict[str, Any] = {name: float(fn(r[col] for r in window if col in r)) for name, (col, fn) in reductions.items()}
    out["steps"] = f"{start}–{int(window[-1]['step'])}" if window else str(start)
    out["logged_steps"] = len(window)
    return out


def _last_step(rows) -> int:
    return int(rows[-1]["step"]) if rows else -1


#: Columns whose non-finite value means divergence (others, e.g. an unmeasured diversity, may be NaN).
DIVERGENCE_COLUMNS = ("d_loss", "g_loss", "penalty", "d_grad_norm", "g_grad_norm", "d_param_norm", "g_param_norm")


def _non_finite(row) -> list[str]:
    return [k for k in DIVERGENCE_COLUMNS if k in row and not math.isfinite(row[k])]


def episodes_divergence(rows, th: Thresholds) -> list[tuple[str | None, Episode]]:
    flags = [(int(r["step"]), bool(_non_finite(r))) for r in rows]
    by_step = {int(r["step"]): r for r in rows}
    found = _episodes(flags, 1, _last_step(rows), lambda s: {"non_finite": _non_finite(by_step[s])})
    for e in found:
        e.hard = True
    return [(None, e) for e in found]


def episodes_exploding(rows, th: Thresholds) -> list[tuple[str | None, Episode]]:
    """Per network: episodes of norms above the explosion threshold (see :class:`Thresholds`);
    an episode lasts while the norm stays above ``explode_factor`` x its reference (or is
    non-finite: the explosion went on to overflow)."""
    out = []
    last = _last_step(rows)
    for key in ("d_grad_norm", "g_grad_norm"):
        network = key[0].upper()
        history: list[float] = []
        early: float | None = None
        current: Episode | None = None
        for step, value in _series(rows, key):
            recent = history[-th.explode_window:]
            reference = None
            if len(history) >= th.explode_min_history:
                if early is None:
                    early = statistics.median(history[:th.explode_min_history])
                reference = max(statistics.median(recent), early)
            gross = math.isfinite(value) and value >= th.explode_ceiling
            above = gross or (reference is not None and reference > 0 and value > th.explode_factor * reference)
            if current is None and above and not gross:  # a new explosion must be a jump, not growth
                above = value > th.explode_jump * max(history[-th.explode_jump_rows:]) and value >= th.explode_floor
            if current is not None and (above or not math.isfinite(value)):
                current.end, current.open = step, step == last
                current.hard = current.hard or gross
            elif current is not None:
                out.append((network, current))
                current = None
            if current is None and above:
                evidence = {"network": network, "norm": value, "running_median": statistics.median(recent) if recent
                            else math.nan, "early_scale": early if early is not None else math.nan}
                if gross:
                    evidence["ceiling"] = th.explode_ceiling
                current = Episode(step, step, step == last, evidence, hard=gross)
            if math.isfinite(value):
                history.append(value)
        if current is not None:
            out.append((network, current))
    return out


def episodes_vanishing(rows, th: Thresholds) -> list[tuple[str | None, Episode]]:
    flags = [(int(r["step"]), r.get("g_grad_norm", math.inf) < th.vanish_floor
              and r.get("d_real_above_fake", 0.0) >= th.separation) for r in rows]
    return [(None, e) for e in _episodes(flags, th.vanish_patience, _last_step(rows), lambda s: _observed(
        rows, s, th.vanish_patience, g_grad_norm_max=("g_grad_norm", max),
        d_real_above_fake_min=("d_real_above_fake", min)))]


def episodes_overpowering(rows, th: Thresholds) -> list[tuple[str | None, Episode]]:
    flags = [(int(r["step"]), r.get("d_real_above_fake", 0.0) >= th.separation) for r in rows]
    return [(None, e) for e in _episodes(flags, th.overpower_patience, _last_step(rows), lambda s: _observed(
        rows, s, th.overpower_patience, d_real_above_fake_min=("d_real_above_fake", min)))]


def _without_two_step_rhythm(series: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """``series`` with the two-step rhythm of alternating updates taken out.

    A healthy loop that steps G and D in turn has a G loss that alternates from one step to the
    next (D has just moved against G, then G against D): that is how such a loop runs, not an
    oscillation. Logged every even number of steps, that rhythm is invisible (every row lands on
    the same phase); logged every odd number (trace_every=1, 3, ...) it makes consecutive rows
    alternate. So where rows lie an odd number of steps apart, consecutive rows are averaged in
    pairs (which cancels it exactly) and the detector reads the pairs: an oscillation is then a
    swing over at least four steps (two pairs). Even spacing is read as it is."""
    gaps = [b[0] - a[0] for a, b in zip(series, series[1:])]
    if not gaps or int(statistics.median(gaps)) % 2 == 0:
        return series
    return [(series[i][0], (series[i][1] + series[i + 1][1]) / 2) for i in range(0, len(series) - 1, 2)]


def episodes_oscillation(rows, th: Thresholds) -> list[tuple[str | None, Episode]]:
    series = _without_two_step_rhythm([(s, v) for s, v in _series(rows, "g_loss") if math.isfinite(v)])
    if len(series) < th.osc_window + 2:
        return []
    diffs = [(series[i][0], series[i][1] - series[i - 1][1]) for i in range(1, len(series))]
    windows = []  # (first step, flagged, measurement)
    for end in range(th.osc_window, len(diffs) + 1, max(1, th.osc_window // 2)):
        window = diffs[end - th.osc_window:end]
        flips = sum(1 for a, b in zip(window, window[1:]) if a[1] * b[1] < 0) / (len(window) - 1)
        level = sum(abs(v) for _, v in series[end - th.osc_window:end]) / th.osc_window
        amplitude = sum(abs(d) for _, d in window) / len(window)
        windows.append((window[0][0], flips >= th.osc_flip_rate and amplitude > th.osc_amplitude * max(level, 1e-12),
                        {"series": "g_loss", "flip_rate": round(flips, 4),
                         "amplitude_over_level": round(amplitude / max(level, 1e-12), 4),
                         "window_start": window[0][0], "end": end, "level": level, "last_step": window[-1][0]}))
    out, run = [], []
    last = _last_step(rows)
    for w in [*windows, (None, False, None)]:
        if w[1]:
            run.append(w)
            continue
        if len(run) >= th.osc_min_windows:
            m = run[0][2]
            start = _alternation_start(diffs, m["end"] - th.osc_window, m["end"],
                                       th.osc_amplitude * max(m["level"], 1e-12), th.osc_flip_rate)
            end = run[-1][2]["last_step"]
            out.append((None, Episode(start, end, end == last,
                                      {k: m[k] for k in ("series", "flip_rate", "amplitude_over_level", "window_start")})))
        run = []
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


def episodes_low_diversity(rows, th: Thresholds) -> list[tuple[str | None, Episode]]:
    flags = [(int(r["step"]), r.get("sample_diversity", math.inf) < th.collapse_diversity) for r in rows]
    return [(None, e) for e in _episodes(flags, th.collapse_patience, _last_step(rows), lambda s: _observed(
        rows, s, th.collapse_patience, sample_diversity_max=("sample_diversity", max)))]


def episodes_exploding_weights(rows, th: Thresholds) -> list[tuple[str | None, Episode]]:
    out = []
    last = _last_step(rows)
    for key in ("d_param_norm", "g_param_norm"):
        series = _series(rows, key)
        first = next((v for _, v in series if math.isfinite(v)), None)
        if first is None:
            continue
        reference = max(first, th.weight_floor)
        flags = [(step, not math.isfinite(value) or value > th.weight_growth * reference) for step, value in series]
        values = dict(series)
        network = key[0].upper()
        for e in _episodes(flags, 1, last, lambda s: {
                "network": network, "norm": values[s], "first_norm": first,
                "growth": values[s] / reference if math.isfinite(values[s]) else values[s]}):
            e.hard = True
            out.append((network, e))
    return out


def _saturated(row: dict[str, float], th: Thresholds) -> bool:
    tied = row.get("d_tied", 0.0)
    spread = row.get("d_out_std", math.inf)
    scale = max(1.0, abs(row.get("d_real", 0.0)), abs(row.get("d_fake", 0.0)))
    return tied >= th.saturation_tied or spread <= th.saturation_spread * scale


def episodes_saturation(rows, th: Thresholds) -> list[tuple[str | None, Episode]]:
    flags = [(int(r["step"]), _saturated(r, th)) for r in rows]
    return [(None, e) for e in _episodes(flags, th.saturation_patience, _last_step(rows), lambda s: _observed(
        rows, s, th.saturation_patience, d_tied_min=("d_tied", min), d_out_std_max=("d_out_std", max)))]


def episodes_dead_gradients(rows, th: Thresholds) -> list[tuple[str | None, Episode]]:
    flags = [(int(r["step"]), r.get("d_grad_norm", math.inf) <= th.dead_floor
              and r.get("g_grad_norm", math.inf) <= th.dead_floor) for r in rows]
    return [(None, e) for e in _episodes(flags, th.dead_patience, _last_step(rows), lambda s: _observed(
        rows, s, th.dead_patience, d_grad_norm_max=("d_grad_norm", max), g_grad_norm_max=("g_grad_norm", max)))]


def episodes_coverage_drop(checkpoint_metrics: Sequence[tuple[int, dict[str, float]]], th: Thresholds,
                           key: str = "modes_covered") -> list[tuple[str | None, Episode]]:
    """Modes covered at a checkpoint below ``collapse_drop`` x the best earlier value; the episode
    lasts over the checkpoints that stay below (open if the last one is)."""
    points = sorted(((s, m.get(key)) for s, m in checkpoint_metrics), key=lambda x: x[0])
    points = [(s, v) for s, v in points if v is not None and math.isfinite(v)]
    best, flags, evidence = None, [], {}
    for step, value in points:
        low = best is not None and best > 1 and value < th.collapse_drop * best
        flags.append((step, low))
        if low:
            evidence[step] = {key: value, "best_before": best}
        best = value if best is None else max(best, value)
    found = _episodes(flags, 1, points[-1][0] if points else -1, lambda s: evidence[s])
    for e in found:
        e.hard = True  # a drop from a best value cannot be the run's initial state
    return [(None, e) for e in found]


#: (kind, episode finder, thresholds recorded with it)
DETECTORS: tuple[tuple[str, Callable, tuple[str, ...]], ...] = (
    (DIVERGENCE, episodes_divergence, ()),
    (EXPLODING, episodes_exploding, ("explode_factor", "explode_window", "explode_min_history", "explode_ceiling",
                                     "explode_floor", "explode_jump", "explode_jump_rows")),
    (VANISHING, episodes_vanishing, ("vanish_floor", "separation", "vanish_patience")),
    (OVERPOWERING, episodes_overpowering, ("separation", "overpower_patience")),
    (OSCILLATION, episodes_oscillation, ("osc_window", "osc_flip_rate", "osc_amplitude", "osc_min_windows")),
    (MODE_COLLAPSE, episodes_low_diversity, ("collapse_diversity", "collapse_patience")),
    (WEIGHTS, episodes_exploding_weights, ("weight_growth", "weight_floor")),
    (SATURATION, episodes_saturation, ("saturation_tied", "saturation_spread", "saturation_patience")),
    (DEAD, episodes_dead_gradients, ("dead_floor", "dead_patience")),
)


def _as_event(kind: str, episodes: Sequence[Episode], thresholds: dict[str, Any]) -> dict[str, Any]:
    first, last = episodes[0], episodes[-1]
    return {"step": int(first.start), "end": int(last.end), "open": bool(last.open), "kind": kind,
            "evidence": first.evidence, "thresholds": thresholds,
            "episodes": [[int(e.start), int(e.end)] for e in episodes[:MAX_EPISODES]]}


def _is_transient(kind: str, episode: Episode, startup_end: int | None) -> bool:
    return (kind in SOFT_KINDS and not episode.hard and not episode.open
            and startup_end is not None and episode.start <= startup_end)


def detect(rows: Sequence[dict[str, float]], th: Thresholds = Thresholds(),
           checkpoint_metrics: Sequence[tuple[int, dict[str, float]]] = ()) -> Detected:
    """All events of one run, ordered by start step, and the start-up transients set aside."""
    startup = [int(r["step"]) for r in rows[:th.startup_rows]]
    startup_end = startup[-1] if startup else None
    found = Detected()
    groups: list[tuple[str, Callable, dict[str, Any], list[tuple[str | None, Episode]]]] = []
    for kind, finder, names in DETECTORS:
        groups.append((kind, finder, {n: getattr(th, n) for n in names}, finder(rows, th)))
    groups.append((MODE_COLLAPSE, episodes_coverage_drop, {"collapse_drop": th.collapse_drop},
                   episodes_coverage_drop(checkpoint_metrics, th)))
    for kind, _, thresholds, episodes in groups:
        for network in dict.fromkeys(n for n, _ in episodes):
            mine = [e for n, e in episodes if n == network]
            kept = [e for e in mine if not _is_transient(kind, e, startup_end)]
            for e in mine:
                if e not in kept:
                    transient = _as_event(kind, [e], thresholds)
                    transient["startup"] = True
                    found.transients.append(transient)
            if kept:
                found.events.append(_as_event(kind, kept, thresholds))
    order = {k: i for i, k in enumerate(KINDS)}
    found.events.sort(key=lambda e: (e["step"], order[e["kind"]]))
    found.transients.sort(key=lambda e: (e["step"], order[e["kind"]]))
    return found


def detect_events(rows: Sequence[dict[str, float]], th: Thresholds = Thresholds(),
                  checkpoint_metrics: Sequence[tuple[int, dict[str, float]]] = ()) -> list[dict[str, Any]]:
    """All events of one run, ordered by step (start-up transients left out; see :func:`detect`)."""
    return detect(rows, th, checkpoint_metrics).events


def interval_label(event: dict[str, Any]) -> str:
    """``120–480``, ``120–end (open)`` or ``120`` (a single row), from an event's interval."""
    start, end = int(event["step"]), event.get("end")
    if event.get("open"):
        return f"{start}– (still open)"
    if end is None or int(end) == start:
        return str(start)
    return f"{start}–{int(end)}"


def events_markdown(events: Sequence[dict[str, Any]], transients: Sequence[dict[str, Any]] = ()) -> str:
    """A markdown table of events (steps, kind, evidence), then the start-up transients set aside."""
    def table(items):
        lines = ["| steps | event | evidence |", "|---|---|---|"]
        for e in items:
            evidence = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in e["evidence"].items())
            network = e["evidence"].get("network")
            lines.append(f"| {interval_label(e)} | {e['kind'].replace('_', ' ')}{f' ({network})' if network else ''} "
                         f"| {evidence} |")
        return "\n".join(lines)

    out = table(events) if events else "No event detected."
    if transients:
        out += "\n\nStart-up transients (the run's initial state, resolved by itself; not counted as events):\n\n"
        out += table(transients)
    return out
