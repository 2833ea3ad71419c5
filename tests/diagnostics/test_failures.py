"""Each way a GAN dies, on a real (small) training loop traced with GANTracer: the detector names
it and dates it at the step the loop itself shows it starting; healthy runs raise nothing."""

import math
import warnings

import pytest
import torch
from torch import nn

from ganeval import get_benchmark
from ganeval.diagnostics import GANTracer
from ganeval.diagnostics import events as ev
from ganeval.diagnostics.trace import read_trace


def dcgan_32(nz=16, ngf=8, ndf=8, nc=1):
    """pytorch/examples dcgan/main.py's networks for 32x32 images (one block fewer than its 64x64):
    D ends in a Sigmoid and is trained with BCELoss on its probabilities."""
    G = nn.Sequential(nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
                      nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
                      nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
                      nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())
    D = nn.Sequential(nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
                      nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, True),
                      nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, True),
                      nn.Conv2d(ndf * 4, 1, 4, 1, 0, bias=False), nn.Sigmoid())

    def init(m):  # the example's weights_init
        if "Conv" in type(m).__name__:
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif "BatchNorm" in type(m).__name__:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)

    return G.apply(init), D.apply(init)


def dcgan_loop(run_dir, lr_d, steps=14, B=16, nz=16):
    """pytorch/examples' DCGAN loop (Adam betas 0.5, BCELoss on D's probabilities) on 32x32 images;
    returns the events and, per step, what the loop itself saw."""
    torch.manual_seed(0)
    G, D = dcgan_32(nz)
    crit = nn.BCELoss()
    opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    seen = []
    with pytest.warns(UserWarning, match="Sigmoid"), GANTracer(G, D, run_dir, spectral_every=1) as tracer:
        for step in range(steps):
            real = torch.rand(B, 1, 32, 32) * 2 - 1  # the loop's failure does not depend on the data
            D.zero_grad()
            out_real = D(real).view(-1)
            err_real = crit(out_real, torch.ones(B))
            err_real.backward()
            fake = G(torch.randn(B, nz, 1, 1))
            out_fake = D(fake.detach()).view(-1)
            err_fake = crit(out_fake, torch.zeros(B))
            err_fake.backward()
            tracer.d_step(err_real + err_fake, out_real, out_fake, real=real, fake=fake.detach())
            d_grad = math.sqrt(sum(float(p.grad.square().sum()) for p in D.parameters()))
            d_weights = math.sqrt(sum(float(p.detach().square().sum()) for p in D.parameters()))
            opt_d.step()
            G.zero_grad()
            err_g = crit(D(fake).view(-1), torch.ones(B))
            err_g.backward()
            tracer.g_step(err_g)
            g_grad = math.sqrt(sum(float(p.grad.square().sum()) for p in G.parameters()))
            opt_g.step()
            tracer.step(step, opt_d, opt_g)
            seen.append({"pinned": bool((out_real == out_fake).all()), "d_grad": d_grad, "g_grad": g_grad,
                         "d_weights": d_weights})
    return tracer.close(), seen


def first(events, kind):
    found = [e for e in events if e["kind"] == kind]
    return found[0] if found else None


def test_a_discriminator_with_learning_rate_10_dies_and_every_symptom_is_dated(tmp_path):
    events, seen = dcgan_loop(tmp_path / "dead", lr_d=10.0)
    # what the loop itself shows: D's outputs tie, both gradients are exactly 0, D's weights explode
    died = next(i for i, s in enumerate(seen) if s["pinned"] and s["d_grad"] == 0 and s["g_grad"] == 0)
    assert died == 1 and all(s["pinned"] and s["d_grad"] == s["g_grad"] == 0 for s in seen[died:])
    grew = next(i for i, s in enumerate(seen) if s["d_weights"] > 10 * seen[0]["d_weights"])
    by_kind = {e["kind"]: e for e in events}
    assert by_kind[ev.SATURATION]["step"] == died and by_kind[ev.SATURATION]["evidence"]["d_tied_min"] == 1.0
    assert by_kind[ev.DEAD]["step"] == died
    assert by_kind[ev.DEAD]["evidence"]["d_grad_norm_max"] == by_kind[ev.DEAD]["evidence"]["g_grad_norm_max"] == 0
    assert by_kind[ev.WEIGHTS]["step"] == grew and by_kind[ev.WEIGHTS]["evidence"]["network"] == "D"
    assert by_kind[ev.WEIGHTS]["evidence"]["first_norm"] == pytest.approx(seen[0]["d_weights"], rel=1e-5)
    # the trace's rows match the loop's own numbers
    rows = read_trace(tmp_path / "dead" / "trace.csv")
    assert [r["d_tied"] for r in rows] == [1.0 if s["pinned"] else 0.0 for s in seen]
    assert [r["d_param_norm"] for r in rows] == pytest.approx([s["d_weights"] for s in seen], rel=1e-5)


def test_the_same_dcgan_at_a_sane_learning_rate_raises_nothing(tmp_path):
    events, seen = dcgan_loop(tmp_path / "fine", lr_d=2e-4)
    assert not any(s["pinned"] for s in seen)
    assert events == []


def ring_loop(run_dir, steps, make_g, lr_g=1e-3, lr_d=1e-3, lr_schedule=None, g_loss="ns", **tracer_kw):
    """A plain ring8 GAN loop (BCE on logits); ``make_g()`` builds G; ``lr_schedule(step)`` sets
    both learning rates (None: fixed); ``g_loss``: "ns" (non-saturating) or "minimax"."""
    torch.manual_seed(0)
    ring = get_benchmark("ring8")
    G = make_g()
    D = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
    opt_g = torch.optim.Adam(G.parameters(), lr_g) if list(G.parameters()) else None
    opt_d = torch.optim.Adam(D.parameters(), lr_d)
    bce = nn.functional.binary_cross_entropy_with_logits
    B = 64
    with GANTracer(G, D, run_dir, **tracer_kw) as tracer:
        for step in range(steps):
            if lr_schedule is not None:
                for opt in (opt_d, opt_g):
                    opt.param_groups[0]["lr"] = lr_schedule(step)
            real = ring.sample(B)
            fake = G(torch.randn(B, 4))
            real_logits, fake_logits = D(real).squeeze(1), D(fake.detach()).squeeze(1)
            d_loss = bce(real_logits, torch.ones(B)) + bce(fake_logits, torch.zeros(B))
            opt_d.zero_grad()
            d_loss.backward()
            tracer.d_step(d_loss, real_logits, fake_logits, real=real, fake=fake.detach())
            opt_d.step()
            logits = D(fake).squeeze(1)
            loss = bce(logits, torch.ones(B)) if g_loss == "ns" else -bce(logits, torch.zeros(B))
            G.zero_grad()
            loss.backward()
            tracer.g_step(loss)
            if opt_g is not None:
                opt_g.step()
            tracer.step(step, opt_d, opt_g)
    return tracer.close(), read_trace(run_dir / "trace.csv")


def mlp_g():
    return nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))


class ConstantG(nn.Module):
    """A generator that ignores z: a learned point (every sample the same)."""

    def __init__(self):
        super().__init__()
        self.point = nn.Parameter(torch.zeros(2))

    def forward(self, z):
        return self.point.expand(z.shape[0], 2)


def test_a_generator_that_ignores_z_is_mode_collapse_from_the_first_step(tmp_path):
    events, rows = ring_loop(tmp_path / "const", 40, ConstantG)
    assert all(r["sample_diversity"] < 1e-3 for r in rows)  # cdist of equal points: round-off only
    assert [(e["kind"], e["step"]) for e in events] == [(ev.MODE_COLLAPSE, 0)]


def test_a_learning_rate_blowing_up_explodes_then_diverges(tmp_path):
    # a schedule bug: from step 20 both learning rates grow 10x per step
    events, rows = ring_loop(tmp_path / "boom", 40, mlp_g, lr_schedule=lambda s: 1e-3 * 10.0 ** max(0, s - 19))
    non_finite = next(r["step"] for r in rows if not all(math.isfinite(r[k]) for k in ev.DIVERGENCE_COLUMNS))
    assert first(events, ev.DIVERGENCE)["step"] == non_finite
    weights = first(events, ev.WEIGHTS)
    norms = [r["d_param_norm"] for r in rows]
    grew = next(r["step"] for r in rows if not r["d_param_norm"] < 10 * norms[0] or not r["g_param_norm"] < 10 * rows[0]["g_param_norm"])
    assert weights["step"] == grew and 20 < grew <= non_finite
    assert 20 <= first(events, ev.EXPLODING)["step"] <= non_finite
    assert all(e["step"] >= 20 for e in events)  # nothing before the bug


def test_a_generator_that_never_steps_is_overpowered_then_its_gradient_vanishes(tmp_path):
    # G is never updated (a forgotten opt_g.step()) and uses the saturating minimax loss
    events, rows = ring_loop(tmp_path / "frozen", 300, mlp_g, lr_g=0.0, lr_d=1e-2, g_loss="minimax", trace_every=5)
    steps = [r["step"] for r in rows]

    def run_start(flag, patience):  # independent: the first row of the first long-enough run of flags
        for i in range(len(rows) - patience + 1):
            if all(flag(r) for r in rows[i:i + patience]) and (i == 0 or not flag(rows[i - 1])):
                return steps[i]

    over, vanish = first(events, ev.OVERPOWERING), first(events, ev.VANISHING)
    assert over["step"] == run_start(lambda r: r["d_real_above_fake"] >= 0.99, 50)
    assert vanish["step"] == run_start(lambda r: r["g_grad_norm"] < 1e-4 and r["d_real_above_fake"] >= 0.99, 20)
    assert vanish["step"] > 0 and vanish["evidence"]["g_grad_norm_max"] < 1e-4
    assert first(events, ev.DEAD) is None  # D's own gradient is small, not zero


def test_a_healthy_ring_run_raises_nothing(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # logits, increasing steps: no warning either
        events, rows = ring_loop(tmp_path / "ok", 300, mlp_g)
    assert len(rows) == 300 and events == []


def ganpy_models():
    """The shape of PyTorch-GAN's implementations/gan/gan.py (written here, not copied): an MLP G
    with BatchNorm1d (eps 0.8) and LeakyReLU 0.2 ending in Tanh; an MLP D ending in a Sigmoid."""
    def layer(i, o, bn):
        return [nn.Linear(i, o), *([nn.BatchNorm1d(o, 0.8)] if bn else []), nn.LeakyReLU(0.2, inplace=True)]

    G = nn.Sequential(*layer(100, 128, False), *layer(128, 256, True), *layer(256, 512, True),
                      *layer(512, 1024, True), nn.Linear(1024, 784), nn.Tanh())
    D = nn.Sequential(nn.Linear(784, 512), nn.LeakyReLU(0.2, inplace=True), nn.Linear(512, 256),
                      nn.LeakyReLU(0.2, inplace=True), nn.Linear(256, 1), nn.Sigmoid())
    return G, D


@pytest.mark.slow
def test_a_healthy_gan_py_loop_traced_every_step_raises_nothing(tmp_path, mnist):
    """gan.py's loop on MNIST (BCELoss on D's probabilities, Adam 2e-4, batch 64, G stepped before
    D), traced every step with D's logits: its G loss alternates from step to step, as a healthy
    alternating loop's does. That read as "oscillation" over steps 207-390; now nothing fires
    (the start-up transients of a fresh G aside), and no Sigmoid warning: logits are passed."""
    torch.manual_seed(0)
    G, D = ganpy_models()
    body, sigmoid = D[:-1], D[-1]
    images = mnist.train_images[:20000].float().div(255).mul(2).sub(1).view(-1, 784)
    bce = nn.BCELoss()
    opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    B, ones, zeros = 64, torch.ones(64, 1), torch.zeros(64, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with GANTracer(G, D, tmp_path / "ganpy", trace_every=1) as tracer:
            for step in range(400):
                real = images[torch.randint(len(images), (B,))]
                opt_g.zero_grad()
                fake = G(torch.randn(B, 100))
                g_loss = bce(sigmoid(body(fake)), ones)
                g_loss.backward()
                tracer.g_step(g_loss)
                opt_g.step()
                opt_d.zero_grad()
                real_logits, fake_logits = body(real), body(fake.detach())
                d_loss = (bce(sigmoid(real_logits), ones) + bce(sigmoid(fake_logits), zeros)) / 2
                d_loss.backward()
                tracer.d_step(d_loss, real_logits.view(-1), fake_logits.view(-1), real=real, fake=fake.detach())
                opt_d.step()
                tracer.step(step, opt_d, opt_g)
    rows = read_trace(tmp_path / "ganpy" / "trace.csv")
    g = [r["g_loss"] for r in rows[200:]]
    flips = sum((b - a) * (c - b) < 0 for a, b, c in zip(g, g[1:], g[2:])) / (len(g) - 2)
    assert flips > 0.75  # the loop does alternate step to step (white noise: 2/3)
    assert tracer.close() == []
