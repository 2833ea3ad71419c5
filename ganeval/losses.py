"""GAN losses as small pure functions of discriminator outputs.

Every function takes raw discriminator outputs (logits) shaped ``[..., batch]`` and returns the
loss averaged over the batch, shaped ``[...]`` — one value per seed in the seed-batched trainer,
a scalar for a plain model. Nothing here knows about images, points or seeds: the gradient
penalty works on any sample shape ``[..., batch, *features]``.

The interface, for built-in losses and plugins alike: ``d_loss(real, fake)`` and
``g_loss(fake, real)``, where ``real`` / ``fake`` are D's outputs on the real batch and on
generated samples. ``real`` reaches the generator's loss only for losses that declare
``g_uses_real=True`` (relativistic losses); others get None, and the trainer saves D's extra pass.

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
from ganeval.settings import Setting, register_entry

Tensor = torch.Tensor


# --- non-saturating GAN (Goodfellow et al., 2014) ---------------------------------------------
def bce_d(real: Tensor, fake: Tensor) -> Tensor:
    """-log D(x) - log(1 - D(G(z))) with D = sigmoid(logit); softplus keeps it exact and stable."""
    return F.softplus(-real).mean(-1) + F.softplus(fake).mean(-1)


def bce_g(fake: Tensor, real: Tensor | None = None) -> Tensor:
    """Non-saturating generator loss -log D(G(z))."""
    return F.softplus(-fake).mean(-1)


# --- Wasserstein critic (Arjovsky et al., 2017; Gulrajani et al., 2017) -----------------------
def wasserstein_d(real: Tensor, fake: Tensor) -> Tensor:
    return fake.mean(-1) - real.mean(-1)


def wasserstein_g(fake: Tensor, real: Tensor | None = None) -> Tensor:
    return -fake.mean(-1)


# --- hinge (Lim & Ye, 2017; Miyato et al., 2018) ---------------------------------------------
def hinge_d(real: Tensor, fake: Tensor) -> Tensor:
    return F.relu(1.0 - real).mean(-1) + F.relu(1.0 + fake).mean(-1)


# hinge's generator loss is the Wasserstein one: -D(G(z)).
hinge_g = wasserstein_g


# --- least squares (Mao et al., 2017, a=0, b=c=1) -------------------------------------------
def lsgan_d(real: Tensor, fake: Tensor) -> Tensor:
    return 0.5 * (real - 1.0).square().mean(-1) + 0.5 * fake.square().mean(-1)


def lsgan_g(fake: Tensor, real: Tensor | None = None) -> Tensor:
    return 0.5 * (fake - 1.0).square().mean(-1)


# --- relativistic (Jolicoeur-Martineau 2018, "The relativistic discriminator") ----------------
def rsgan_d(real: Tensor, fake: Tensor) -> Tensor:
    """RSGAN: -log sigmoid(C(x_r) - C(x_f)), real and fake paired by position in the batch."""
    return F.softplus(-(real - fake)).mean(-1)


def rsgan_g(fake: Tensor, real: Tensor | None) -> Tensor:
    """RSGAN generator: -log sigmoid(C(x_f) - C(x_r))."""
    return F.softplus(-(fake - real)).mean(-1)


def ragan_d(real: Tensor, fake: Tensor) -> Tensor:
    """RaSGAN: each sample against the mean of the other kind,
    -E log sig(C(x_r) - E C(x_f)) - E log(1 - sig(C(x_f) - E C(x_r))) (Algorithm 2; the authors' code
    halves both players' losses, which Adam's update does not see)."""
    real_rel = real - fake.mean(-1, keepdim=True)
    fake_rel = fake - real.mean(-1, keepdim=True)
    return F.softplus(-real_rel).mean(-1) + F.softplus(fake_rel).mean(-1)


def ragan_g(fake: Tensor, real: Tensor | None) -> Tensor:
    """RaSGAN generator, the roles swapped: -E log(1 - sig(C(x_r) - E C(x_f))) - E log sig(C(x_f) - E C(x_r))."""
    real_rel = real - fake.mean(-1, keepdim=True)
    fake_rel = fake - real.mean(-1, keepdim=True)
    return F.softplus(real_rel).mean(-1) + F.softplus(-fake_rel).mean(-1)


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

    ``d_loss(real, fake)`` and ``g_loss(fake, real)`` map D's outputs ``[..., batch]`` to ``[...]``
    (see the module docstring); ``g_uses_real``: the generator's loss needs D's outputs on the real
    batch (else it gets None). ``settings``: the loss's own knobs (:class:`ganeval.Setting`), passed
    to both functions as keywords (``d_loss(real, fake, smooth=0.9)``). ``defaults`` keys are setting
    names (``n_critic``, ``gp_weight``, ``optimizer``, ``betas``, ...), merged into every run of the loss.
    ``state``: values the loss keeps across steps, ``{name: initial value}``; the trainer holds each
    as a tensor ``[members, ...]``, passes the dict as ``state=`` to both functions (update it in
    place), and checkpoints, slices and restacks it per member like the optimizer's state.
    """

    name: str
    description: str
    paper: str
    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[[Tensor, Tensor | None], Tensor]
    defaults: dict[str, Any] = field(default_factory=dict)
    g_uses_real: bool = field(default=False, kw_only=True)
    settings: tuple[Setting, ...] = field(default_factory=tuple, kw_only=True)
    state: dict[str, Any] = field(default_factory=dict, kw_only=True)


LOSSES: Registry[Loss] = Registry("loss")


def register_loss(loss: Loss) -> Loss:
    """Make ``loss`` available by name to benches, specs and every command (the plugin interface)."""
    if not callable(getattr(loss, "d_loss", None)) or not callable(getattr(loss, "g_loss", None)):
        raise TypeError(f"loss {getattr(loss, 'name', loss)!r}: d_loss and g_loss must be callables")
    return register_entry(LOSSES, loss, Loss)


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
register_loss(Loss(
    "rsgan", "relativistic standard GAN: D judges whether a real sample is more realistic than a fake one",
    "Jolicoeur-Martineau 2018, eq. (7)-(8) (Adam lr 2e-4, betas 0.5 / 0.999, n_D = 1)",
    rsgan_d, rsgan_g, {"n_critic": 1, "optimizer": "adam", "betas": [0.5, 0.999]}, g_uses_real=True,
))
register_loss(Loss(
    "ragan", "relativistic average standard GAN (RaSGAN): each sample against the mean of the other kind",
    "Jolicoeur-Martineau 2018, Algorithm 2 (Adam lr 2e-4, betas 0.5 / 0.999, n_D = 1)",
    ragan_d, ragan_g, {"n_critic": 1, "optimizer": "adam", "betas": [0.5, 0.999]}, g_uses_real=True,
))
