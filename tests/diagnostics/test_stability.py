"""The per-run stability summary against hand-computed values."""

import math
import statistics

import pytest

from ganeval.diagnostics.stability import stability_summary


def test_spread_gap_and_event_counts_by_hand():
    # 6 rows; the second half (rows 3-5) has D norms 1, 10, 100 -> log10 0, 1, 2 -> population std sqrt(2/3)
    rows = [{"step": 10 * i, "d_grad_norm": d, "g_grad_norm": g}
            for i, (d, g) in enumerate([(5.0, 1.0), (5.0, 1.0), (5.0, 1.0), (1.0, 0.1), (10.0, 0.1), (100.0, 0.0)])]
    events = [{"step": 40, "kind": "oscillation"}, {"step": 30, "kind": "exploding_gradients"}]
    out = stability_summary(rows, events, checkpoint_values=[5.0, 8.0, 7.0], final_value=6.0)
    assert out["d_grad_spread"] == pytest.approx(math.sqrt(2 / 3), rel=1e-12)
    assert out["g_grad_spread"] == 0.0  # 0.1, 0.1 (the zero norm has no log and is left out)
    assert out["best_final_gap"] == 2.0  # best checkpoint 8 vs final 6
    assert (out["n_events"], out["first_event_step"], out["diverged"]) == (2.0, 30.0, 0.0)
    assert statistics.pstdev([0, 1, 2]) == pytest.approx(out["d_grad_spread"])


def test_a_diverged_run_and_a_run_without_checkpoints():
    out = stability_summary([{"step": 0, "d_grad_norm": float("nan")}], [{"step": 0, "kind": "divergence"}], [], 3.0)
    assert out["diverged"] == 1.0 and out["n_events"] == 1.0
    assert math.isnan(out["best_final_gap"]) and math.isnan(out["d_grad_spread"])
