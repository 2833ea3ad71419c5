"""GANTracer on a user's own plain training loop, exactly as the README shows it."""

import json
import math

from conftest import user_loop
from ganeval.diagnostics.trace import read_trace


def test_a_user_loop_gets_a_trace_and_events(tmp_path):
    events, by_hand = user_loop(tmp_path / "mine", check_norms_at=40)
    rows = read_trace(tmp_path / "mine" / "trace.csv")
    assert [r["step"] for r in rows] == list(range(60))
    row = rows[40]
    assert math.isclose(row["d_grad_norm"], by_hand["d"], rel_tol=1e-5)
    assert math.isclose(row["d_grad_norm.0"], by_hand["d0"], rel_tol=1e-5)
    assert math.isclose(row["g_grad_norm.2"], by_hand["g2"], rel_tol=1e-5)
    assert row["lr_d"] == 1e-3 and 0 <= row["d_real_above_fake"] <= 1 and -1 <= row["r_t"] <= 1
    assert row["d_sigma.0"] > 0 and row["sample_diversity"] > 0
    doc = json.loads((tmp_path / "mine" / "events.json").read_text())
    assert doc["events"] == events and "explode_factor" in doc["thresholds"]


def test_trace_every_thins_the_rows(tmp_path):
    user_loop(tmp_path / "thin", steps=30, trace_every=10)
    assert [r["step"] for r in read_trace(tmp_path / "thin" / "trace.csv")] == [0, 10, 20]


def test_an_absurd_learning_rate_gives_a_divergence_event(tmp_path):
    events, _ = user_loop(tmp_path / "boom", steps=60, lr=1e9)
    assert events and events[0]["kind"] == "divergence"
