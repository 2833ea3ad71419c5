"""Stabilizers as a grid axis. A variant is a named set of settings (``defaults``) from the paper
that introduced the trick, and optionally behaviour: a penalty term added to a player's loss, or a
change to a player's gradients before its update (``d_penalty``, ``g_penalty``, ``d_grads``,
``g_grads``). ``a+b`` composes variants. Built-in variants are settings the trainer and models read;
a plugin's stabilizer adds its behaviour through the hooks, which the trainer calls for every loss
and benchmark, seed-batched and on CUDA.

``ganeval list`` shows them; a spec file can change their settings in ``[variant.NAME]`` tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ganeval.errors import SpecError
from ganeval.registry import Registry
from ganeval.settings import Setting, register_entry

Tensor = torch.Tensor


@dataclass
class StepContext:
    """What a stabilizer's hook sees at one update of one player (all tensors seed-batched).

    ``real``: the real batch ``[S, B, *data]``; ``fake``: generated samples ``[S, B, *data]`` (with
    gradient to G in G's update); ``d_real`` / ``d_fake``: D's outputs on them ``[S, B']`` (``d_real``
    is None in G's update unless the loss uses it); ``step``: the generator step (an int, or a 0-d
    tensor under a CUDA graph); ``critic_step``: which of the n_critic D updates (0 for G);
    ``streams``: the per-seed random streams (:class:`ganeval.rng.SeedStreams`), to draw noise that
    is the same for seed k alone or batched: ``ctx.streams.uniform(ganeval.rng.PLUGIN + i, ctx.step,
    ctx.critic_step, (B,))`` or ``.normal(...)``, with purposes from ``rng.PLUGIN`` up. ``state``: the
    hook's own variant's state (its ``state`` declaration), tensors ``[S, ...]`` that persist across
    steps and checkpoints: update them in place (``ctx.state["avg"].lerp_(x, 0.01)``).
    """

    run: Any
    step: Any
    critic_step: int
    G: torch.nn.Module
    D: torch.nn.Module
    real: Tensor
    fake: Tensor
    d_real: Tensor | None
    d_fake: Tensor
    streams: Any
    state: dict[str, Tensor] | None = None


def per_member(value: Any, like: Tensor) -> Any:
    """A setting's value shaped to broadcast against ``like`` (member dimension first): a float
    stays a float; a per-member tensor ``[members]`` (a ``batchable`` setting that a study varies
    within one batched model) becomes ``[members, 1, ..., 1]``. Losses and penalties are already
    ``[members]`` and take the value as it is; samples and D's outputs need this:
    ``fake * ganeval.per_member(ctx.run.my_scale, fake)``."""
    if isinstance(value, Tensor):
        return value.to(like.dtype).view(-1, *([1] * (like.dim() - 1)))
    return value


Penalty = Callable[[StepContext], Tensor]  # -> [S], added to the player's loss
GradientHook = Callable[[StepContext, tuple[Tensor, ...]], tuple[Tensor, ...]]  # grads -> grads, per seed


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    paper: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)
    #: variants this one cannot be combined with (the reason is the message)
    conflicts: dict[str, str] = field(default_factory=dict)
    #: losses this variant makes no sense with, and why
    incompatible_losses: dict[str, str] = field(default_factory=dict)
    #: the variant's own settings (see :mod:`ganeval.settings`); these and the hooks are keywords only
    settings: tuple[Setting, ...] = field(default_factory=tuple, kw_only=True)
    d_penalty: Penalty | None = field(default=None, kw_only=True)
    g_penalty: Penalty | None = field(default=None, kw_only=True)
    #: gradients of D's (G's) parameters, in ``D.parameters()`` order, before the optimizer steps
    d_grads: GradientHook | None = field(default=None, kw_only=True)
    g_grads: GradientHook | None = field(default=None, kw_only=True)
    #: values the hooks keep across steps, ``{name: initial value}`` (see :class:`StepContext`)
    state: dict[str, Any] = field(default_factory=dict, kw_only=True)

    def __post_init__(self):
        for name in ("defaults", "conflicts", "incompatible_losses"):
            if not isinstance(getattr(self, name), dict):
                raise TypeError(f"variant {self.name!r}: {name} must be a dict, got {getattr(self, name)!r}")
        for name in ("d_penalty", "g_penalty", "d_grads", "g_grads"):
            if getattr(self, name) is not None and not callable(getattr(self, name)):
                raise TypeError(f"variant {self.name!r}: {name} must be a function, got {getattr(self, name)!r}")

    @property
    def has_hooks(self) -> bool:
        return any(h is not None for h in (self.d_penalty, self.g_penalty, self.d_grads, self.g_grads))


VARIANTS: Registry[Variant] = Registry("variant")


def register_variant(variant: Variant) -> Variant:
    """Make a stabilizer available by name (``--variants NAME``); the plugin interface."""
    return register_entry(VARIANTS, variant, Variant)


register_variant(Variant("none", "the loss as its paper defines it, no stabilizer"))
register_variant(Variant(
    "sn", "spectral normalization of every discriminator layer (one power iteration per step, per seed)",
    "Miyato et al. 2018", {"spectral_norm": True},
    incompatible_losses={"wgan": "weight clipping and spectral normalization both bound the critic's Lipschitz "
                                 "constant; together the clipping is meaningless"}))
register_variant(Variant(
    "r1", "R1 penalty gamma/2 E||grad D(x_real)||^2 (lazy: every r1_every generator steps, scaled by r1_every)",
    "Mescheder et al. 2018 (gamma = 10); lazy: Karras et al. 2020", {"r1_gamma": 10.0, "r1_every": 1}))
register_variant(Variant(
    "clip-grad", "clip each network's total gradient norm (per seed) to clip_grad",
    "Pascanu et al. 2013 (threshold 1 is a common choice)", {"clip_grad": 1.0}))
register_variant(Variant(
    "bn", "batch normalization in the generator's hidden layers (set d_batchnorm for D too)",
    "Ioffe & Szegedy 2015; Radford et al. 2016", {"g_batchnorm": True},
    conflicts={"no-bn": "bn adds batch norm that no-bn removes"}))
register_variant(Variant(
    "no-bn", "no batch normalization in G or D (where the model has it by default, e.g. DCGAN)",
    "", {"g_batchnorm": False, "d_batchnorm": False}, conflicts={"bn": "no-bn removes the batch norm that bn adds"}))
register_variant(Variant(
    "ttur", "two time-scale update rule: D learns 4x faster than G", "Heusel et al. 2017 (4e-4 / 1e-4)",
    {"lr_d": 4e-4, "lr_g": 1e-4}))
for _m in (2, 3, 4):
    register_variant(Variant(
        f"pac{_m}", f"packing: D judges {_m} samples at once, side by side on the first data axis (batch_size counts "
                    f"samples, so D sees batch_size / {_m} packs per step)",
        "Lin et al. 2018 (PacGAN)", {"pack": _m}))
register_variant(Variant(
    "ema", "evaluate an exponential moving average of G's weights (raw G's metrics kept beside it)",
    "Yazici et al. 2019; Karras et al. 2018 (beta = 0.999)", {"ema_beta": 0.999}))


def parse_variant(name: str, loss: str | None = None) -> list[Variant]:
    """``a+b`` -> [Variant a, Variant b]; ``none`` -> []. Unknown, repeated, conflicting parts, or a
    part that makes no sense with ``loss``, raise SpecError."""
    if not isinstance(name, str) or not name:
        raise SpecError(f"variant must be a non-empty name, got {name!r}")
    if name == "none":
        return []
    parts = name.split("+")
    if len(set(parts)) != len(parts):
        raise SpecError(f"variant {name!r} names a part twice")
    out = [VARIANTS.get(p) for p in parts]
    if any(v.name == "none" for v in out):
        raise SpecError(f"variant {name!r}: 'none' cannot be combined")
    for v in out:
        for other in out:
            if other.name in v.conflicts:
                raise SpecError(f"variant {name!r}: {v.name} and {other.name} cannot be combined ({v.conflicts[other.name]})")
        if loss is not None and loss in v.incompatible_losses:
            raise SpecError(f"variant {v.name!r} with loss {loss!r} is refused: {v.incompatible_losses[loss]}")
    return out


def apply_variant_defaults(name: str, values: dict[str, Any]) -> dict[str, Any]:
    values = dict(values)
    for variant in parse_variant(name):
        values.update(variant.defaults)
    return values


# --- LeCam (Tseng et al. 2021): a stabilizer with state, written through the public interface ----
def lecam_penalty(ctx: StepContext) -> Tensor:
    """LeCam regularization, lambda * (E[relu(D(x) - a_F)^2] + E[relu(a_R - D(G(z)))^2]), ``[S]``.

    a_R and a_F are moving averages of D's mean output on real and on generated samples, updated at
    every critic step before the penalty is taken, with decay ``lecam_decay`` (0 for the first
    ``lecam_start`` generator steps, so the averages start at the outputs themselves), as in the
    authors' BigGAN code (google/lecam-gan: ``lecam_reg`` and ``ema_losses``, decay 0.99,
    ``start_itr=1000``; lambda 0.3 for CIFAR-10). The averages are the variant's state: kept per
    seed and member, checkpointed and restored exactly."""
    state, run = ctx.state, ctx.run
    assert state is not None
    real_mean = ctx.d_real.detach().mean(-1)
    fake_mean = ctx.d_fake.detach().mean(-1)
    decay = run.lecam_decay
    step = ctx.step if isinstance(ctx.step, Tensor) else torch.tensor(ctx.step, device=real_mean.device)
    weight = torch.where(step < run.lecam_start, torch.ones_like(real_mean), 1.0 - torch.as_tensor(
        decay, dtype=real_mean.dtype, device=real_mean.device).expand_as(real_mean))
    state["ema_real"].lerp_(real_mean, weight)
    state["ema_fake"].lerp_(fake_mean, weight)
    reg = (torch.relu(ctx.d_real - state["ema_fake"].unsqueeze(-1)).square().mean(-1)
           + torch.relu(state["ema_real"].unsqueeze(-1) - ctx.d_fake).square().mean(-1))
    return run.lecam_weight * reg


register_variant(Variant(
    "lecam", "LeCam regularization: D's outputs on real data are pulled below the moving average of its outputs "
             "on generated data and vice versa (lecam_weight, lecam_decay; averages start after lecam_start steps)",
    "Tseng et al. 2021, 'Regularizing GANs under Limited Data' (lambda 0.3, decay 0.99, start 1000)",
    settings=(Setting("lecam_weight", float, 0.3, "lambda, the weight of the LeCam penalty in D's loss",
                      check=lambda v: None if v >= 0 else "must be >= 0", batchable=True),
              Setting("lecam_decay", float, 0.99, "decay of the moving averages of D's outputs",
                      check=lambda v: None if 0 <= v < 1 else "must be in [0, 1)", batchable=True),
              Setting("lecam_start", int, 1000, "generator steps before the averages start to average",
                      check=lambda v: None if 0 <= v <= 10**9 else "must be in [0, 1e9]")),
    state={"ema_real": 0.0, "ema_fake": 0.0},
    d_penalty=lecam_penalty,
))
