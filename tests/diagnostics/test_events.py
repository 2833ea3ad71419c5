"""Each detector fires on a trace built to trigger it, and stays quiet on one that must not."""

import math
import random
import statistics

import pytest

from ganeval.diagnostics import events as ev
from ganeval.diagnostics.events import Thresholds, detect_events

TH = Thresholds()


def healthy(n=400, seed=0):
    r = random.Random(seed)
    rows = []
    for i in range(n):
        rows.append({"step": i * 10, "d_loss": 1.2 + 0.05 * r.gauss(0, 1), "g_loss": 0.8 + 0.05 * r.gauss(0, 1),
                     "penalty": 0.0, "d_grad_norm": 1.0 * math.exp(0.2 * r.gauss(0, 1)),
                     "g_grad_norm": 0.5 * math.exp(0.2 * r.gauss(0, 1)), "d_real_above_fake": 0.6 + 0.05 * r.random(),
                     "sample_diversity": 0.9 + 0.05 * r.random(), "d_param_norm": 10.0, "g_param_norm": 10.0})
    return rows


def kinds(rows, **kw):
    return [e["kind"] for e in detect_events(rows, **kw)]


def test_a_healthy_noisy_trace_has_no_event():
    for seed in range(5):
        assert kinds(healthy(seed=seed)) == []


def test_divergence():
    rows = healthy()
    rows[123]["g_loss"] = float("nan")
    rows[124]["d_param_norm"] = float("inf")
    events = detect_events(rows)
    assert events[0]["kind"] == ev.DIVERGENCE and events[0]["step"] == 1230
    assert events[0]["evidence"]["non_finite"] == ["g_loss"]


def test_a_nan_in_an_optional_column_is_not_divergence():
    rows = healthy()
    for r in rows:
        r["sample_diversity"] = float("nan")
    assert kinds(rows) == []


def test_exploding_gradients():
    rows = healthy()
    rows[200]["d_grad_norm"] = 50.0
    events = [e for e in detect_events(rows) if e["kind"] == ev.EXPLODING]
    assert len(events) == 1 and events[0]["step"] == 2000 and events[0]["evidence"]["network"] == "D"
    assert events[0]["thresholds"]["explode_factor"] == 10.0
    rows[200]["d_grad_norm"] = 5.0  # 5x the median is within the default factor
    assert ev.EXPLODING not in kinds(rows)


def test_vanishing_generator_gradients_need_a_winning_discriminator():
    rows = healthy()
    for r in rows[100:130]:
        r["g_grad_norm"] = 1e-7
    assert ev.VANISHING not in kinds(rows)  # D is not separating: just small gradients
    for r in rows[100:130]:
        r["d_real_above_fake"] = 1.0
    events = [e for e in detect_events(rows) if e["kind"] == ev.VANISHING]
    assert events and events[0]["step"] == 1000
    # the evidence is what was measured over the window, not the threshold restated
    assert events[0]["evidence"] == {"g_grad_norm_max": 1e-7, "d_real_above_fake_min": 1.0, "steps": "1000–1190",
                                     "logged_steps": 20}
    assert ev.VANISHING not in kinds(rows, th=Thresholds(vanish_patience=40))


def test_discriminator_overpowering():
    rows = healthy()
    for r in rows[300:360]:
        r["d_real_above_fake"] = 1.0
    events = [e for e in detect_events(rows) if e["kind"] == ev.OVERPOWERING]
    assert events and events[0]["step"] == 3000
    for r in rows[300:360:10]:
        r["d_real_above_fake"] = 0.9  # interrupted: never 50 logged steps in a row
    assert ev.OVERPOWERING not in kinds(rows)


def test_oscillation():
    rows = healthy()
    for i, r in enumerate(rows[100:220]):
        r["g_loss"] = 0.8 + (0.6 if i % 2 else -0.6)
    events = [e for e in detect_events(rows) if e["kind"] == ev.OSCILLATION]
    # dated where the swings began (row 100's jump), not at the start of the first flagged window
    assert events and events[0]["step"] == 1000
    evidence = events[0]["evidence"]  # the measured window, at or past the thresholds
    assert evidence["flip_rate"] >= 0.85 and evidence["amplitude_over_level"] > 0.1
    assert evidence["window_start"] >= 1000


def test_oscillation_that_starts_mid_window_is_dated_at_its_start():
    for onset in (107, 113, 121):  # the flagged windows start every 15 rows: none of these
        rows = healthy()
        for i, r in enumerate(rows[onset:onset + 120]):
            r["g_loss"] = 0.8 + (0.6 if i % 2 else -0.6)
        events = [e for e in detect_events(rows) if e["kind"] == ev.OSCILLATION]
        assert events[0]["step"] == onset * 10, onset


def test_white_noise_is_not_oscillation():
    r = random.Random(3)
    rows = healthy(2000)
    for row in rows:
        row["g_loss"] = 1.0 + r.gauss(0, 1)  # large noise: flips 2/3 of the time
    assert ev.OSCILLATION not in kinds(rows)


def _every_step(n=1200, seed=0, spacing=1):
    """healthy() logged every ``spacing`` steps (trace_every=1: every step)."""
    rows = healthy(n, seed)
    for i, r in enumerate(rows):
        r["step"] = i * spacing
    return rows


@pytest.mark.parametrize("spacing", [1, 3])
def test_the_two_step_rhythm_of_a_healthy_alternating_loop_is_not_oscillation(spacing):
    """A loop that steps G and D in turn (PyTorch-GAN's gan.py traced every step) has a G loss that
    alternates from one step to the next: flips nearly every row, swings of 30-75 % of its level.
    Logged every odd number of steps it shows as row-to-row alternation; it is not a failure."""
    for seed in range(3):
        r = random.Random(seed)
        rows = _every_step(seed=seed, spacing=spacing)
        for row in rows[100:]:  # the rhythm sets in once D has learned something (gan.py: steps 60-200)
            swing = 0.3 if row["step"] % 2 else -0.3
            row["g_loss"] = 0.9 + swing * (1 + 0.3 * r.gauss(0, 1)) + 0.05 * r.gauss(0, 1)
        assert ev.OSCILLATION not in kinds(rows), (spacing, seed)


def test_a_swing_over_four_steps_is_still_oscillation_when_every_step_is_logged():
    rows = _every_step()
    for i, r in enumerate(rows[300:700]):
        r["g_loss"] = 0.8 + (0.6 if (i // 2) % 2 else -0.6)  # up two steps, down two steps
    events = [e for e in detect_events(rows) if e["kind"] == ev.OSCILLATION]
    assert events and 300 <= events[0]["step"] <= 302 and events[0]["end"] >= 690


def test_white_noise_logged_every_step_is_not_oscillation():
    r = random.Random(3)
    rows = _every_step(2000)
    for row in rows:
        row["g_loss"] = 1.0 + r.gauss(0, 1)
    assert ev.OSCILLATION not in kinds(rows)


def test_mode_collapse_from_low_diversity():
    rows = healthy()
    for r in rows[250:280]:
        r["sample_diversity"] = 0.02
    events = [e for e in detect_events(rows) if e["kind"] == ev.MODE_COLLAPSE]
    assert events and events[0]["step"] == 2500


def test_mode_collapse_from_coverage_dropping_over_checkpoints():
    checkpoints = [(1000, {"modes_covered": 6.0}), (2000, {"modes_covered": 8.0}), (3000, {"modes_covered": 3.0})]
    events = detect_events(healthy(), checkpoint_metrics=checkpoints)
    assert [(e["kind"], e["step"]) for e in events] == [(ev.MODE_COLLAPSE, 3000)]
    steady = [(1000, {"modes_covered": 6.0}), (2000, {"modes_covered": 8.0}), (3000, {"modes_covered": 7.0})]
    assert detect_events(healthy(), checkpoint_metrics=steady) == []




def test_weight_norm_growth_is_measured_against_the_first_row():
    rows = healthy()
    for i, r in enumerate(rows):
        r["d_param_norm"] = 10.0 * 1.01 ** i  # 1.01**231 = 9.97, 1.01**232 = 10.07
    events = [e for e in detect_events(rows) if e["kind"] == ev.WEIGHTS]
    assert [(e["step"], e["evidence"]["network"]) for e in events] == [(2320, "D")]
    assert events[0]["evidence"]["growth"] == pytest.approx(1.01 ** 232)
    assert ev.WEIGHTS not in kinds(rows, th=Thresholds(weight_growth=60.0))  # 1.01**399 = 52.9
    rows = healthy()
    rows[50]["g_param_norm"] = float("inf")
    assert [(e["kind"], e["step"]) for e in detect_events(rows) if e["kind"] == ev.WEIGHTS] == [(ev.WEIGHTS, 500)]


def test_weights_starting_near_zero_use_the_floor():
    rows = healthy()
    for i, r in enumerate(rows):
        r["g_param_norm"] = 0.01 + 0.02 * i / len(rows)  # x3 from a tiny start: not an explosion
    assert ev.WEIGHTS not in kinds(rows)
    rows[-1]["g_param_norm"] = 10.5  # above 10 x the floor of 1
    assert ev.WEIGHTS in kinds(rows)


def test_saturation_from_ties_or_a_pinned_output():
    for column, value in (("d_tied", 0.95), ("d_out_std", 0.0)):
        rows = healthy()
        for r in rows:
            r.update(d_tied=0.0, d_out_std=0.5, d_real=0.3, d_fake=-0.2)
        for r in rows[40:52]:
            r[column] = value
        events = [e for e in detect_events(rows) if e["kind"] == ev.SATURATION]
        assert [e["step"] for e in events] == [400], column
        rows[45][column] = 0.0 if column == "d_tied" else 0.1  # interrupted: only 6 and 5 in a row
        assert ev.SATURATION not in kinds(rows), column
    rows = healthy()
    for r in rows:
        r.update(d_tied=0.5, d_out_std=50.0, d_real=5e6, d_fake=5e6)
    assert ev.SATURATION not in kinds(rows)  # half the pairs tie (below 0.9); spread 1e-5 of the level
    for r in rows:
        r["d_out_std"] = 4.0  # a spread of 4 around 5e6 is 8e-7 relative: pinned in float32
    assert ev.SATURATION in kinds(rows)


def test_dead_gradients_need_both_networks_at_zero():
    rows = healthy()
    for r in rows[60:75]:
        r["d_grad_norm"] = 0.0
    assert ev.DEAD not in kinds(rows)  # D alone: not dead
    for r in rows[60:75]:
        r["g_grad_norm"] = 0.0
    events = [e for e in detect_events(rows) if e["kind"] == ev.DEAD]
    assert [e["step"] for e in events] == [600] and events[0]["evidence"]["logged_steps"] == 10
    rows[65]["g_grad_norm"] = 1e-3
    assert ev.DEAD not in kinds(rows)


def test_every_kind_is_registered_and_the_healthy_trace_has_the_new_columns_quiet():
    assert {ev.WEIGHTS, ev.SATURATION, ev.DEAD} <= set(ev.KINDS) and len(set(ev.KINDS)) == len(ev.KINDS)
    rows = healthy()
    for r in rows:
        r.update(d_tied=0.0, d_out_std=0.3, d_real=0.2, d_fake=-0.1)
    assert kinds(rows) == []


# --- intervals, start-up transients, explosions that matter (issue 26) ---------------------------
def test_every_event_has_an_interval_and_says_whether_it_is_still_open():
    rows = healthy()
    for r in rows[100:130]:
        r["sample_diversity"] = 0.02
    for r in rows[300:]:
        r["sample_diversity"] = 0.01
    (event,) = detect_events(rows)
    assert (event["kind"], event["step"], event["end"], event["open"]) == (ev.MODE_COLLAPSE, 1000, 3990, True)
    assert event["episodes"] == [[1000, 1290], [3000, 3990]]
    for r in rows[300:]:
        r["sample_diversity"] = 0.9  # recovered: the event is closed at its last low row
    (event,) = detect_events(rows)
    assert (event["end"], event["open"], event["episodes"]) == (1290, False, [[1000, 1290]])


def near_zero_start(n=400, recover=60, seed=0):
    """A healthy run whose G starts near zero: one point (low diversity), perfectly separated by
    D, G's gradient growing x1.25 a row from 1e-4 until it levels off at about 1."""
    rows = healthy(n, seed)
    for i, r in enumerate(rows[:recover]):
        r["sample_diversity"] = 0.001 * 1.1 ** min(i, 40)  # at most 0.045
        r["d_real_above_fake"] = 1.0
        r["g_grad_norm"] = min(1e-4 * 1.25 ** i, r["g_grad_norm"])
    return rows


def test_a_generator_starting_near_zero_is_a_start_up_transient_not_an_event():
    rows = near_zero_start()
    found = ev.detect(rows)
    assert found.events == []
    assert {e["kind"] for e in found.transients} == {ev.MODE_COLLAPSE, ev.OVERPOWERING}
    assert all(e["step"] == 0 and not e["open"] and e["startup"] for e in found.transients)
    # the same start that never recovers is a failure: dated at step 0, still open at the end
    rows = near_zero_start(recover=400)
    kinds_open = {(e["kind"], e["step"], e["open"]) for e in detect_events(rows)}
    assert {(ev.MODE_COLLAPSE, 0, True), (ev.OVERPOWERING, 0, True)} <= kinds_open
    # and a collapse that begins after the start-up rows is an event even though it recovers
    rows = healthy()
    for r in rows[25:60]:
        r["sample_diversity"] = 0.01
    assert [(e["kind"], e["step"], e["open"]) for e in detect_events(rows)] == [(ev.MODE_COLLAPSE, 250, False)]


def test_a_gross_blow_up_at_step_0_is_dated_step_0():
    rows = healthy()
    rows[0]["d_grad_norm"] = 3e15  # no history at all: the ceiling alone decides
    events = [e for e in detect_events(rows) if e["kind"] == ev.EXPLODING]
    assert [(e["step"], e["evidence"]["network"]) for e in events] == [(0, "D")]
    assert ev.EXPLODING not in kinds(healthy(), th=Thresholds(explode_ceiling=1e6))


def test_noise_on_a_vanished_gradient_is_not_an_explosion():
    rows = healthy()
    r = random.Random(1)
    for row in rows[100:]:
        row["g_grad_norm"] = 1.3e-5 * math.exp(0.3 * r.gauss(0, 1))
    rows[250]["g_grad_norm"] = 2.7e-4  # 20x the recent median, but 2e-3 of G's early scale
    assert ev.EXPLODING not in kinds(rows)
    rows[250]["g_grad_norm"] = 20.0  # 40x the early scale: an explosion
    events = [e for e in detect_events(rows) if e["kind"] == ev.EXPLODING]
    assert [(e["step"], e["end"]) for e in events] == [(2500, 2500)]
    assert events[0]["evidence"]["early_scale"] == pytest.approx(statistics.median(
        x["g_grad_norm"] for x in healthy()[:10]))


def test_steady_growth_is_not_an_explosion_a_jump_is():
    rows = healthy()
    for i, row in enumerate(rows[100:150]):
        row["d_grad_norm"] = 1.0 * 1.3 ** i  # x1.3 a row: 10x the median within a few rows, never a jump
    for row in rows[150:]:
        row["d_grad_norm"] = 1.3 ** 49
    assert ev.EXPLODING not in kinds(rows)
