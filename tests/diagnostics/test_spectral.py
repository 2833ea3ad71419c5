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
