import math

import pytest
import torch

from ganeval.errors import UnknownNameError
from ganeval.losses import LOSSES, get_loss, gradient_penalty, r1_penalty


def sp(x):  # softplus by hand
    return math.log1p(math.exp(x))


REAL = torch.tensor([[2.0, -1.0]])
FAKE = torch.tensor([[0.5, -3.0]])


@pytest.mark.parametrize("name, d_expected, g_expected", [
    ("bce", (sp(-2) + sp(1)) / 2 + (sp(0.5) + sp(-3)) / 2, (sp(-0.5) + sp(3)) / 2),
    ("wgan-gp", (0.5 - 3) / 2 - (2 - 1) / 2, -(0.5 - 3) / 2),
    ("wgan", (0.5 - 3) / 2 - (2 - 1) / 2, -(0.5 - 3) / 2),
    ("hinge", (max(0, 1 - 2) + max(0, 1 + 1)) / 2 + (max(0, 1 + 0.5) + max(0, 1 - 3)) / 2, -(0.5 - 3) / 2),
    ("lsgan", 0.5 * ((2 - 1) ** 2 + (-1 - 1) ** 2) / 2 + 0.5 * (0.5**2 + 3**2) / 2,
     0.5 * ((0.5 - 1) ** 2 + (-3 - 1) ** 2) / 2),
    # relativistic: real and fake paired by position (RSGAN); each against the other kind's mean
    # (RaSGAN: mean real 0.5, mean fake -1.25, so real - mean fake = [3.25, 0.25], fake - mean real = [0, -3.5])
    ("rsgan", (sp(-(2 - 0.5)) + sp(-(-1 + 3))) / 2, (sp(-(0.5 - 2)) + sp(-(-3 + 1))) / 2),
    ("ragan", (sp(-3.25) + sp(-0.25)) / 2 + (sp(0) + sp(-3.5)) / 2, (sp(3.25) + sp(0.25)) / 2 + (sp(-0) + sp(3.5)) / 2),
])
def test_losses_match_hand_computation(name, d_expected, g_expected):
    loss = get_loss(name)
    d = loss.d_loss(REAL, FAKE)
    g = loss.g_loss(FAKE, REAL if loss.g_uses_real else None)
    assert d.shape == (1,) and g.shape == (1,)
    assert float(d) == pytest.approx(d_expected, rel=1e-6)
    assert float(g) == pytest.approx(g_expected, rel=1e-6)


def test_bce_is_stable_for_huge_logits():
    loss = get_loss("bce")
    d = loss.d_loss(torch.tensor([[1e4]]), torch.tensor([[-1e4]]))
    g = loss.g_loss(torch.tensor([[-1e4]]))
    assert float(d) == 0.0 and float(g) == pytest.approx(1e4)


def test_losses_reduce_only_the_batch_dimension():
    for name in LOSSES.names():
        loss = get_loss(name)
        real, fake = torch.randn(5, 7), torch.randn(5, 7)
        assert loss.d_loss(real, fake).shape == (5,)
        # seed k's loss uses only seed k's outputs
        assert torch.allclose(loss.d_loss(real, fake)[2], loss.d_loss(real[2:3], fake[2:3])[0])
        g = loss.g_loss(fake, real if loss.g_uses_real else None)
        assert g.shape == (5,) and torch.allclose(g[2], loss.g_loss(fake[2:3], real[2:3] if loss.g_uses_real else None)[0])


def test_relativistic_generators_see_the_real_batch_in_training():
    """rsgan's G gradient depends on D(real): with D(real) shifted, G's loss changes (an interface
    that passed only D(fake) could not compute it)."""
    fake = torch.tensor([[0.5, -3.0]])
    for name in ("rsgan", "ragan"):
        loss = get_loss(name)
        assert loss.g_uses_real
        assert float(loss.g_loss(fake, torch.tensor([[2.0, -1.0]]))) != float(loss.g_loss(fake, torch.tensor([[5.0, 4.0]])))


def test_gradient_penalty_of_a_linear_critic_is_known():
    # D(x) = w . x has gradient w everywhere: penalty = (||w|| - 1)^2, whatever the samples.
    w = torch.tensor([3.0, 4.0])

    def critic(x):
        return (x * w).sum(-1)

    real, fake = torch.randn(2, 6, 2), torch.randn(2, 6, 2)
    alpha = torch.rand(2, 6)
    assert torch.allclose(gradient_penalty(critic, real, fake, alpha), torch.full((2,), 16.0))


def test_gradient_penalty_handles_image_shapes():
    w = torch.randn(3, 4, 4)

    def critic(x):
        return (x * w).flatten(-3).sum(-1)

    real, fake = torch.randn(2, 5, 3, 4, 4), torch.randn(2, 5, 3, 4, 4)
    pen = gradient_penalty(critic, real, fake, torch.rand(2, 5))
    assert torch.allclose(pen, torch.full((2,), (float(w.norm()) - 1) ** 2), rtol=1e-5)


def test_r1_penalty_is_squared_gradient_norm_on_reals():
    def critic(x):
        return (x**2).sum(-1)  # gradient 2x, squared norm 4||x||^2

    real = torch.randn(1, 8, 2)
    expected = (4 * (real**2).sum(-1)).mean(-1)
    assert torch.allclose(r1_penalty(critic, real, batch_dims=2), expected)


def test_unknown_loss_names_the_valid_ones():
    with pytest.raises(UnknownNameError, match="did you mean 'hinge'.*valid: bce"):
        get_loss("hinje")
