"""Optimizers by name (``optimizer = "adam"`` in a spec). A plugin registers its own with
:func:`register_optimizer`; the trainer builds one per network from the run's settings.

An optimizer updates seed-batched parameters (leading dimension = seeds) and must act on each
element alone — as Adam, RMSprop and SGD do — so that seed k trained among others matches seed k
trained alone. ``capturable`` is True on CUDA, where the step may be captured in a CUDA graph.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ganeval.registry import Registry
from ganeval.settings import Setting, register_entry


@dataclass(frozen=True)
class Optimizer:
    """``build(params, lr, run, capturable)`` -> a ``torch.optim.Optimizer``; ``run`` is the RunSpec
    (read ``run.betas`` or the optimizer's own settings from it).

    ``build_members(params, lrs, runs, capturable)``, optional: the same optimizer for a batched cell
    whose members differ in learning rate or betas (``lrs[k]`` and ``runs[k]`` are member k's); it
    must apply member k's values to slice k of every parameter. Without it, a study of ``lr_d``,
    ``lr_g`` or ``betas`` trains each value as a cell of its own."""

    name: str
    description: str
    build: Callable[[Sequence[nn.Parameter], float, object, bool], torch.optim.Optimizer]
    settings: tuple[Setting, ...] = field(default_factory=tuple)
    build_members: Callable[[Sequence[nn.Parameter], list[float], list, bool], torch.optim.Optimizer] | None = \
        field(default=None, kw_only=True)


OPTIMIZERS: Registry[Optimizer] = Registry("optimizer")


def register_optimizer(optimizer: Optimizer) -> Optimizer:
    return register_entry(OPTIMIZERS, optimizer, Optimizer)


def make_optimizer(run, params: Sequence[nn.Parameter], lr: float, capturable: bool) -> torch.optim.Optimizer:
    return OPTIMIZERS.get(run.optimizer).build(params, lr, run, capturable)


def make_member_optimizer(runs: Sequence, params: Sequence[nn.Parameter], lrs: Sequence[float],
                          capturable: bool) -> torch.optim.Optimizer:
    """The optimizer of a batched cell whose members (``runs``) differ in learning rate or betas."""
    entry = OPTIMIZERS.get(runs[0].optimizer)
    if entry.build_members is None:  # pragma: no cover - the cell grouping keeps such members apart
        raise ValueError(f"optimizer {entry.name!r} has no per-member form")
    return entry.build_members(params, list(lrs), list(runs), capturable)


def _member_adam(params, lrs, runs, capturable):
    from ganeval.member_optim import MemberAdam

    return MemberAdam(params, lr=lrs, betas=([r.betas[0] for r in runs], [r.betas[1] for r in runs]),
                      capturable=capturable)


def _member_rmsprop(params, lrs, runs, capturable):
    from ganeval.member_optim import MemberRMSprop

    return MemberRMSprop(params, lr=lrs, capturable=capturable)


register_optimizer(Optimizer(
    "adam", "Adam (Kingma & Ba 2015) with the run's betas",
    lambda params, lr, run, capturable: torch.optim.Adam(params, lr=lr, betas=tuple(run.betas), capturable=capturable),
    build_members=_member_adam))
register_optimizer(Optimizer(
    "rmsprop", "RMSprop (Tieleman & Hinton 2012), as WGAN with clipping prescribes",
    lambda params, lr, run, capturable: torch.optim.RMSprop(params, lr=lr, capturable=capturable),
    build_members=_member_rmsprop))
