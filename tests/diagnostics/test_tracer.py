"""GANTracer on a user's own plain training loop, exactly as the README shows it."""

import json
import math

import torch
from torch import nn

from ganeval import get_benchmark
from ganeval.diagnostics import GANTracer
from ganeval.diagnostics.trace import read_trace


def user_loop(run_dir, steps=60, lr=1e-3, trace_every=1, check_norms_at=None):
    torch.manual_seed(0)
    ring = get_benchmark("ring8")
    G = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2))
    D = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1))
    opt_g = torch.optim.Adam(G.parameters(), lr)
    opt_d = torch.optim.Adam(D.parameters(), lr)
    bce = nn.functional.binary_cross_entropy_with_logits
    by_hand = {}
    tracer = GANTracer(G, D, run_dir, trace_every=trace_every, spectral_every=1)
    for step in range(steps):
        real = ring.sample(64)
        fake = G(torch.randn(64, 4))
        real_logits, fake_logits = D(real).squeeze(1), D(fake.detach()).squeeze(1)
        d_loss = bce(real_logits, torch.ones(64)) + bce(fake_logits, torch.zeros(64))
        opt_d.zero_grad()
        d_loss.backward()
        tracer.d_step(d_loss, real_logits, fake_logits, real=real, fake=fake)
        if step == check_norms_at:
            by_hand["d0"] = float(torch.linalg.vector_norm(torch.cat([D[0].weight.grad.flatten(), D[0].bias.grad.flatten()])))
            by_hand["d"] = float(torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in D.parameters()])))
        opt_d.step()
        g_loss = bce(D(fake).squeeze(1), torch.ones(64))
        opt_g.zero_grad()
        g_loss.backward()
        tracer.g_step(g_loss)
        if step == check_norms_at:
            by_hand["g2"] = float(torch.linalg.vector_norm(torch.cat([G[2].weight.grad.flatten(), G[2].bias.grad.flatten()])))
        opt_g.step()
        tracer.step(step, opt_d, opt_g)
    return tracer.close(), by_hand


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
