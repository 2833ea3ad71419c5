"""GAN losses as small pure functions of discriminator outputs.

Every function takes raw discriminator outputs (logits) shaped ``[..., batch]`` and returns the
loss averaged over the batch, shaped ``[...]`` — one value per seed in the seed-batched trainer,
a scalar for a plain model. Nothing here knows about images, points or seeds: the gradient
penalty works on any sample shape ``[..., batch, *features]``.

``LOSSES`` maps names to :class:`Loss` entries; each entry carries the hyper-parameters its paper
prescribes, which the spec resolution writes into every run's config.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from ganeval.registry import Registry

Tensor = torch.Tensor


# --- non-saturating GAN (Goodfellow et al., 2014) ---------------------------------------------
def bce_d(real: Tensor, fake: Tensor) -> Tensor:
    """-log D(x) - log(1 - D(G(z))) with D = sigmoid(logit); softplus keeps it exact and stable."""
    return F.softplus(-real).mean(-1) + F.softplus(fake).mean(-1)


def bce_g(fake: Tensor) -> Tensor:
    """Non-saturating generator loss -log D(G(z))."""
    return F.softplus(-fake).mean(-1)


# --- Wasserstein critic (Arjovsky et al., 2017; Gulrajani et al., 2017) -----------------------
def wasserstein_d(real: Tensor, fake: Tensor) -> Tensor:
    return fake.mean(-1) - real.mean(-1)


def wasserstein_g(fake: Tensor) -> Tensor:
    return -fake.mean(-1)


# --- hinge (Lim & Ye, 2017; Miyato et al., 2018) ---------------------------------------------
def hinge_d(real: Tensor, fake: Tensor) -> Tensor:
    return F.relu(1.0 - real).mean(-1) + F.relu(1.0 + fake).mean(-1)


# hinge's generator loss is the Wasserstein one: -D(G(z)).
hinge_g = wasserstein_g


# --- least squares (Mao et al., 2017, a=0, b=c=1) -------------------------------------------
def lsgan_d(real: Tensor, fake: Tensor) -> Tensor:
    return 0.5 * (real - 1.0).square().mean(-1) + 0.5 * fake.square().mean(-1)


def lsgan_g(fake: Tensor) -> Tensor:
    return 0.5 * (fake - 1.0).square().mean(-1)


# --- penalties -------------------------------------------------------------------------------
def _per_sample_grad_norm(outputs: Tensor, inputs: Tensor, batch_dims: int) -> Tensor:
    (grad,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
    return torch.linalg.vector_norm(grad.flatten(batch_dims), dim=-1)


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, alpha: Tensor) -> Tensor:
    """WGAN-GP's two-sided penalty E[(||grad D(x_hat)|| - 1)^2] on x_hat = a*real + (1-a)*fake.

    ``real``/``fake``: ``[..., batch, *features]``; ``alpha``: ``[..., batch]`` uniform on (0, 1).
    Returns ``[...]``. The norm is taken per sample over all feature dimensions.
    """
    batch_dims = alpha.dim()
    a = alpha.reshape(*alpha.shape, *([1] * (real.dim() - batch_dims)))
    x_hat = (a * real.detach() + (1.0 - a) * fake.detach()).requires_grad_(True)
    norms = _per_sample_grad_norm(critic(x_hat), x_hat, batch_dims)
    return (norms - 1.0).square().mean(-1)


def r1_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, batch_dims: int) -> Tensor:
    """R1 (Mescheder et al., 2018): E[||grad D(x)||^2] on real samples, without the gamma/2 factor.

    ``real``: ``[..., batch, *features]`` with ``batch_dims`` leading dims (seeds and batch).
    """
    x = real.detach().requires_grad_(True)
    norms = _per_sample_grad_norm(critic(x), x, batch_dims)
    return norms.square().mean(-1)


# --- registry ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Loss:
    """One GAN objective: D and G losses plus the training hyper-parameters its paper prescribes.

    ``defaults`` keys are RunSpec field names (``n_critic``, ``gp_weight``, ``clip_value``,
    ``optimizer``, ``betas``) so they merge into a run's resolved configuration unchanged.
    """

    name: str
    description: str
    paper: str
    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[[Tensor], Tensor]
    defaults: dict[str, Any] = field(default_factory=dict)


LOSSES: Registry[Loss] = Registry("loss")


def register_loss(loss: Loss) -> Loss:
    return LOSSES.register(loss.name, loss)


def get_loss(name: str) -> Loss:
    return LOSSES.get(name)


register_loss(Loss(
    "bce", "non-saturating GAN: binary cross-entropy on D, -log D(G(z)) for G",
    "Goodfellow et al. 2014; Adam betas from Radford et al. 2016 (DCGAN)",
    bce_d, bce_g, {"n_critic": 1, "optimizer": "adam", "betas": [0.5, 0.999]},
))
register_loss(Loss(
    "wgan-gp", "Wasserstein critic with gradient penalty (lambda 10, 5 critic steps per G step)",
    "Gulrajani et al. 2017, Algorithm 1 (lambda=10, n_critic=5, Adam betas 0 / 0.9; no batch norm in the critic)",
    wasserstein_d, wasserstein_g,
    {"n_critic": 5, "gp_weight": 10.0, "optimizer": "adam", "betas": [0.0, 0.9], "d_batchnorm": False},
))
register_loss(Loss(
    "hinge", "hinge loss on D, -D(G(z)) for G",
    "Lim & Ye 2017; Miyato et al. 2018 (SNGAN: n_dis=1, Adam betas 0.5 / 0.999)",
    hinge_d, hinge_g, {"n_critic": 1, "optimizer": "adam", "betas": [0.5, 0.999]},
))
register_loss(Loss(
    "wgan", "Wasserstein critic with weight clipping (c=0.01, 5 critic steps, RMSProp)",
    "Arjovsky et al. 2017, Algorithm 1 (c=0.01, n_critic=5, RMSProp lr 5e-5)",
    wasserstein_d, wasserstein_g, {"n_critic": 5, "clip_value": 0.01, "optimizer": "rmsprop", "lr_d": 5e-5, "lr_g": 5e-5},
))
register_loss(Loss(
    "lsgan", "least squares GAN (a=0, b=c=1)",
    "Mao et al. 2017 (Adam beta1 0.5)",
    lsgan_d, lsgan_g, {"n_critic": 1, "optimizer": "adam", "betas": [0.5, 0.999]},
))
