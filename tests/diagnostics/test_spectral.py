import pytest
import torch
from torch import nn

from ganeval.diagnostics.spectral import SpectralMonitor, spectral_weights


def test_power_iteration_is_within_one_percent_of_the_true_norm():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(30, 64), nn.ReLU(), nn.Conv2d(3, 16, 3), nn.Linear(64, 1))
    weights = spectral_weights(net)
    assert [n for n, _ in weights] == ["0", "2", "3"]
    mon = SpectralMonitor(weights, seeds=None)
    est = mon.estimate(iterations=30)[0]
    for (name, w), sigma in zip(weights, est):
        exact = torch.linalg.matrix_norm(w.detach().reshape(w.shape[0], -1), 2)
        assert abs(float(sigma) - float(exact)) / float(exact) < 0.01, name


def test_warm_start_tracks_with_one_iteration_per_call():
    torch.manual_seed(1)
    w = nn.Parameter(torch.randn(40, 20))
    mon = SpectralMonitor([("w", w)], seeds=None)
    for _ in range(40):
        est = mon.estimate()
    assert abs(float(est[0, 0]) / float(torch.linalg.matrix_norm(w.detach(), 2)) - 1) < 0.01


def test_seed_batched_weights_get_one_estimate_per_seed():
    torch.manual_seed(2)
    w = torch.randn(3, 16, 8)
    est = SpectralMonitor([("w", w)], seeds=3).estimate(iterations=50)
    exact = torch.linalg.matrix_norm(w, 2)
    assert torch.allclose(est[:, 0], exact, rtol=0.01)


# --- DCGAN-shaped discriminators: within 2% of the exact norm from the first estimate on -------------
def examples_dcgan_d(ndf=64, nc=3):
    """pytorch/examples dcgan/main.py's D for 64x64 images, with its N(0, 0.02) initialisation."""
    torch.manual_seed(0)
    D = nn.Sequential(nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
                      nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2),
                      nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2),
                      nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2),
                      nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False))
    for m in D.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
    return D


def exact_sigma(w, seeds):
    """Independent: the 2-norm of each (seed's) weight flattened to [out, in*k*k]."""
    w = w.detach()
    return torch.linalg.matrix_norm(w.flatten(1) if seeds is None else w.flatten(2), 2).reshape(-1)


def train_and_compare(D, x, seeds, steps=4):
    weights = spectral_weights(D, seeds)
    mon = SpectralMonitor(weights, seeds)
    opt = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    worst = []
    for _ in range(steps):
        opt.zero_grad()
        D(x).mean().backward()
        opt.step()
        est = mon.estimate()  # [S, layers]
        errors = [(est[:, i] / exact_sigma(w, seeds) - 1).abs().max() for i, (_, w) in enumerate(weights)]
        worst.append(max(float(e) for e in errors))
    return worst


def test_a_dcgan_discriminator_is_within_2_percent_from_the_first_step():
    D = examples_dcgan_d(ndf=32)  # 64x64 input, half the example's width to keep the test fast
    worst = train_and_compare(D, torch.randn(4, 3, 64, 64), seeds=None, steps=3)
    assert max(worst) < 0.02, worst
    # what one iteration from a random start (the old estimate) gives: about 20% under
    one = SpectralMonitor(spectral_weights(D), None)._iterate
    m = spectral_weights(D)[3][1].detach().flatten(1).unsqueeze(0)
    u = torch.nn.functional.normalize(torch.randn(1, m.shape[1]), dim=1)
    assert float(one(m, u, 1)) < 0.9 * float(exact_sigma(m[0], None))


def test_seed_batched_dcgan_discriminator_is_within_2_percent_per_seed():
    from ganeval.models.dcgan import DCGANDiscriminator

    gens = [torch.Generator().manual_seed(s) for s in (0, 1, 2)]
    D = DCGANDiscriminator(gens, (3, 28, 28), base=64)
    assert [n for n, _ in spectral_weights(D)] == ["conv1", "conv2", "bn2", "fc"]  # [S, C] looks 2-D ...
    assert [n for n, _ in spectral_weights(D, seeds=3)] == ["conv1", "conv2", "fc"]  # ... but is a vector per seed
    worst = train_and_compare(D, torch.randn(3, 8, 3, 28, 28), seeds=3)
    assert max(worst) < 0.02, worst


def test_a_resumed_monitor_does_not_converge_again():
    torch.manual_seed(3)
    w = torch.randn(64, 256)
    a = SpectralMonitor([("w", w)], None)
    first = a.estimate()
    b = SpectralMonitor([("w", w)], None)
    b._u[0].copy_(a._u[0])
    b.converged = True
    assert torch.equal(a.estimate(), b.estimate())  # same vectors, same warm iterations
    assert float(first[0, 0]) == pytest.approx(float(torch.linalg.matrix_norm(w, 2)), rel=0.005)
